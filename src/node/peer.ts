/**
 * A connection to one remote node, seen from the local node: send, ping, rpc, GenServer call and
 * cast. The peer owns its pending calls (one PendingCall each); every one rejects with NODE_DOWN
 * when the connection ends.
 */
import type { Socket } from 'node:net';
import { Connection, type ConnectionOptions } from '../distribution/connection.js';
import { type Control, Op } from '../distribution/control.js';
import { DFLAG } from '../distribution/flags.js';
import type { HandshakeResult } from '../distribution/handshake.js';
import { ErldistError } from '../errors.js';
import { Atom, Pid, Reference, type Term, Tuple, atom } from '../term/index.js';
import { type WaitOptions, waitFor } from '../wait.js';
import { refKey } from './keys.js';
import type { Mailbox, Monitor } from './mailbox.js';
import { type Answers, type CallSlot, PendingCall, WAIT } from './pending.js';

/** What a peer needs from its local node. */
export interface PeerHost<Node> {
  /** The local node, as users see it (`peer.node`). */
  readonly node: Node;
  readonly nodeAtom: Atom;
  /** The pid that sends calls and receives their replies. */
  readonly callerPid: Pid;
  readonly connectionOptions: ConnectionOptions;
  makeRef(): Reference;
  /** A message that arrived on this peer's connection. */
  dispatch(peer: Peer<Node>, control: Control, payload: Term | undefined): void;
  /** The connection ended. */
  peerDown(peer: Peer<Node>, error: ErldistError): void;
  warning(err: unknown): void;
  /** Records a link or monitor a SPAWN_REPLY confirmed. */
  addLink(box: Mailbox, pid: Pid): void;
  addMonitor(box: Mailbox, target: Pid, node: string, ref: Reference): Monitor;
  /** Closes the local node (for a peer made by `connect()`, which owns its node). */
  closeNode(): Promise<void>;
}

export interface CallOptions extends WaitOptions {}

export interface SpawnOptions extends WaitOptions {
  /** The mailbox that links to or monitors the new process (needed for `link` and `monitor`). */
  box?: Mailbox;
  link?: boolean;
  monitor?: boolean;
}

export interface Spawned {
  pid: Pid;
  /** When `monitor` was asked: the DOWN also arrives in `box` as `{'DOWN', Ref, process, Pid, Reason}`. */
  monitor?: Monitor;
}

const DEFAULT_CALL_TIMEOUT = 5000;
const CALL = atom('call');
const USER = atom('user');
const BADRPC = atom('badrpc');
const GEN_CALL = atom('$gen_call');
const GEN_CAST = atom('$gen_cast');
const IS_AUTH = atom('is_auth');
const YES = atom('yes');
const NOPROC = atom('noproc');
const NOCONNECTION = atom('noconnection');
const ERPC = atom('erpc');
const EXECUTE_CALL = atom('execute_call');
const MONITOR = atom('monitor');
const LINK = atom('link');
const RETURN = atom('return');
const THROW = atom('throw');
const EXIT = atom('exit');
const ERROR = atom('error');
const EXIT_TAG = atom('EXIT');

/** A process on the peer: a pid, or a registered name given as a string or an atom. */
export type Destination = Pid | string | Atom;

export class Peer<Node = unknown> {
  /** The remote node's name. */
  readonly name: string;
  /** The flags both sides agreed on in the handshake. */
  readonly flags: bigint;
  readonly creation: number;
  /** The local node this connection belongs to. */
  readonly node: Node;
  readonly #host: PeerHost<Node>;
  readonly #connection: Connection;
  /** Calls waiting for an answer from this peer, by their reference. */
  readonly #calls = new Map<string, CallSlot>();
  #downError: ErldistError | undefined;
  #ownsNode = false;

  /** @internal */
  constructor(host: PeerHost<Node>, name: string, socket: Socket, handshake: HandshakeResult) {
    this.#host = host;
    this.node = host.node;
    this.name = name;
    this.flags = handshake.flags;
    this.creation = handshake.peerCreation;
    this.#connection = new Connection(socket, handshake, host.connectionOptions, {
      onMessage: (control, payload) => {
        try {
          host.dispatch(this, control, payload);
        } catch (err) {
          // A message we fail to handle must not take the host process down.
          host.warning(err);
        }
      },
      onClose: (error) => this.#onClose(error),
    });
  }

  get isClosed(): boolean {
    return this.#downError !== undefined;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    const node = (this.node as { name?: string }).name;
    return `Peer { name: '${this.name}', node: '${node}'${this.isClosed ? ', closed' : ''} }`;
  }

  /** Bytes waiting to be written to this peer. */
  get buffered(): number {
    return this.#connection.buffered;
  }

  /** Resolves once the connection's write buffer is below the high-water mark. */
  drain(options: WaitOptions = {}): Promise<void> {
    return this.#connection.drain(options);
  }

  /** @internal Sends a control message; throws NODE_DOWN when the connection is gone. */
  sendControl(control: Control, payload?: Term): boolean {
    if (this.#downError) throw this.#downError;
    return this.#connection.send(control, payload);
  }

  /**
   * @internal A signal that may be lost without harm to the host (a demonitor, a DOWN or exit for a
   * peer that stopped reading or is gone): never throws.
   */
  trySend(control: Control, payload?: Term): void {
    try {
      if (!this.#downError) this.#connection.send(control, payload);
    } catch {
      // the peer is down or not reading; the signal goes with it
    }
  }

  /** @internal `{Ref, Reply}` to the caller pid, from this peer. */
  settleReply(ref: Reference, reply: Term): boolean {
    const call = this.#calls.get(refKey(ref));
    call?.reply(reply);
    return call !== undefined;
  }

  /** @internal A DOWN for a call's monitor. */
  settleDown(ref: Reference, reason: Term): void {
    this.#calls.get(refKey(ref))?.down(reason);
  }

  /** @internal A SPAWN_REPLY for a call's spawn request. */
  settleSpawn(reqId: Reference, flags: number, result: Term): void {
    this.#calls.get(refKey(reqId))?.spawnReply(flags, result);
  }

  /** @internal Closing this peer closes its node too (a peer made by `connect()`). */
  ownNode(): void {
    this.#ownsNode = true;
  }

  /**
   * Sends `message` to a pid or registered name on this node. Returns false when the connection's
   * buffer is above its high-water mark: `await peer.drain()` before sending much more.
   */
  send(to: Destination, message: Term): boolean {
    if (to instanceof Pid) return this.sendControl({ op: Op.SEND, to }, message);
    return this.sendControl({ op: Op.REG_SEND, from: this.#host.callerPid, toName: toAtom(to) }, message);
  }

  /** `gen_server:cast/2`. */
  cast(to: Destination, request: Term): boolean {
    return this.send(to, new Tuple([GEN_CAST, request]));
  }

  /** net_adm:ping/1 on an open connection: true when net_kernel answers `yes`. */
  async ping(options: CallOptions = {}): Promise<boolean> {
    try {
      const reply = await this.#request('net_kernel', new Tuple([IS_AUTH, this.#host.nodeAtom]), false, { timeout: DEFAULT_CALL_TIMEOUT, ...options });
      return reply === YES;
    } catch (err) {
      if (err instanceof ErldistError && err.code === 'ABORTED') throw err;
      return false;
    }
  }

  /**
   * `rpc:call(Node, M, F, A)`: through erpc when the peer takes spawn requests (what OTP's own
   * rpc:call does), else through its `rex` server. Rejects BAD_RPC (`.reason` holds R) for
   * `{badrpc, R}`, TIMEOUT, ABORTED, or NODE_DOWN when the connection ends first.
   */
  async rpc(module: string | Atom, fun: string | Atom, args: Term[] = [], options: CallOptions = {}): Promise<Term> {
    if (!Array.isArray(args)) throw new ErldistError('INVALID_ARGUMENT', 'rpc args must be an array (the argument list)');
    const opts = { timeout: DEFAULT_CALL_TIMEOUT, ...options };
    if (this.flags & DFLAG.SPAWN) return this.#erpc(toAtom(module), toAtom(fun), args, opts);
    const request = new Tuple([CALL, toAtom(module), toAtom(fun), args, USER]);
    const reply = await this.#request('rex', request, false, opts);
    if (reply instanceof Tuple && reply.length === 2 && reply.elements[0] === BADRPC) {
      const reason = reply.elements[1];
      throw new ErldistError('BAD_RPC', `rpc ${nameOf(module)}:${nameOf(fun)}/${args.length} on ${this.name} failed`, {
        node: this.name,
        reason,
      });
    }
    return reply;
  }

  /**
   * `gen_server:call/3`: monitors the server, so that a missing or dying one rejects at once with
   * NO_PROC or CALL_EXIT (`.reason`) rather than at the timeout (default 5000 ms).
   */
  call(to: Destination, request: Term, options: CallOptions = {}): Promise<Term> {
    return this.#request(to, request, true, { timeout: DEFAULT_CALL_TIMEOUT, ...options });
  }

  /**
   * `erlang:spawn_request/5` on this node: resolves with the new pid once the peer answers
   * SPAWN_REPLY. With `link` or `monitor`, `box` links to or monitors it.
   */
  spawn(module: string | Atom, fun: string | Atom, args: Term[] = [], options: SpawnOptions = {}): Promise<Spawned> {
    const box = options.box;
    if ((options.link || options.monitor) && !box) {
      return Promise.reject(new ErldistError('INVALID_ARGUMENT', 'spawn with link or monitor needs the mailbox that links or monitors: { box }'));
    }
    if (!(this.flags & DFLAG.SPAWN)) {
      return Promise.reject(new ErldistError('NOT_ALLOWED', `${this.name} does not support spawn requests (no DFLAG_SPAWN)`, { node: this.name }));
    }
    const host = this.#host;
    const reqId = host.makeRef();
    const opts: Term[] = [];
    if (options.link) opts.push(LINK);
    if (options.monitor) opts.push(MONITOR);
    const m = toAtom(module);
    const f = toAtom(fun);
    const answers: Answers<Spawned> = {
      spawnReply: (flags, result) => {
        if (!(result instanceof Pid)) throw new ErldistError('SPAWN_FAILED', `spawn on ${this.name} failed`, { node: this.name, reason: result });
        if (flags & 1 && box) host.addLink(box, result);
        const spawned: Spawned = { pid: result };
        if (flags & 2 && box) spawned.monitor = host.addMonitor(box, result, this.name, reqId);
        return spawned;
      },
    };
    const control: Control = { op: Op.SPAWN_REQUEST, reqId, from: box?.pid ?? host.callerPid, groupLeader: host.callerPid, mfa: [m, f, args.length], options: opts };
    return this.#startCall(reqId, `spawn ${m.name}:${f.name}/${args.length} on ${this.name}`, { timeout: DEFAULT_CALL_TIMEOUT, ...options }, answers, () => {
      this.#connection.send(control, args);
    });
  }

  /** Closes the connection; pending calls reject with NODE_DOWN. */
  async close(): Promise<void> {
    this.#connection.close();
    if (this.#ownsNode) await this.#host.closeNode();
  }

  /**
   * rpc through erpc: spawn `erpc:execute_call(Ref, M, F, A)` with a monitor; its exit reason,
   * delivered in the DOWN, carries the result.
   */
  #erpc(m: Atom, f: Atom, args: Term[], options: CallOptions): Promise<Term> {
    const host = this.#host;
    const reqId = host.makeRef();
    const tag = host.makeRef();
    const what = `rpc ${m.name}:${f.name}/${args.length} on ${this.name}`;
    const answers: Answers<Term> = {
      spawnReply: (_flags, result) => {
        if (result instanceof Pid) return WAIT; // the answer comes in the DOWN
        throw new ErldistError('BAD_RPC', `${what} could not start`, { node: this.name, reason: result });
      },
      down: (reason) => {
        const outcome = erpcOutcome(reason, tag);
        if (outcome.ok) return outcome.value;
        if (outcome.reason === NOCONNECTION) throw new ErldistError('NODE_DOWN', `lost ${this.name} during ${what}`, { node: this.name });
        throw new ErldistError('BAD_RPC', `${what} failed`, { node: this.name, reason: outcome.reason });
      },
    };
    const control: Control = { op: Op.SPAWN_REQUEST, reqId, from: host.callerPid, groupLeader: host.callerPid, mfa: [ERPC, EXECUTE_CALL, 4], options: [MONITOR] };
    return this.#startCall(reqId, what, options, answers, () => {
      this.#connection.send(control, [tag, m, f, args]);
    });
  }

  /** A `$gen_call` to `to`, with a monitor on it when `monitor` (gen_server:call) or without (rex, net_kernel). */
  #request(to: Destination, request: Term, monitor: boolean, options: CallOptions): Promise<Term> {
    const host = this.#host;
    const ref = host.makeRef();
    const target = to instanceof Pid ? to : toAtom(to);
    const answers: Answers<Term> = {
      reply: (reply) => reply,
      down: (reason) => {
        throw exitError(reason, target, this.name);
      },
    };
    const message = new Tuple([GEN_CALL, new Tuple([host.callerPid, ref]), request]);
    return this.#startCall(ref, `call to ${describe(target)} on ${this.name}`, options, answers, (call) => {
      if (monitor) {
        this.#connection.send({ op: Op.MONITOR_P, from: host.callerPid, to: target, ref });
        call.demonitor = () => this.trySend({ op: Op.DEMONITOR_P, from: host.callerPid, to: target, ref });
      }
      if (target instanceof Pid) this.#connection.send({ op: Op.SEND, to: target }, message);
      else this.#connection.send({ op: Op.REG_SEND, from: host.callerPid, toName: target }, message);
    });
  }

  /**
   * The one lifecycle of a call: registered under `ref` until answered, failed, timed out or
   * aborted; its request waits for the connection to drain below the high-water mark first.
   */
  #startCall<T>(ref: Reference, what: string, options: CallOptions, answers: Answers<T>, send: (call: PendingCall<T>) => void): Promise<T> {
    if (this.#downError) return Promise.reject(this.#downError);
    const key = refKey(ref);
    return waitFor<T>(options, what, (resolve, reject) => {
      const call = new PendingCall<T>(answers, resolve, reject, () => this.#calls.delete(key));
      this.#calls.set(key, call);
      const begin = async () => {
        if (this.#connection.overHighWaterMark) {
          // Made only when a call must wait (aborting one per call costs microseconds).
          call.drainAbort = new AbortController();
          await this.#connection.drain({ signal: call.drainAbort.signal });
        }
        if (call.settled) return;
        if (this.#downError) throw this.#downError;
        send(call);
      };
      begin().catch((err: Error) => call.fail(err));
      return () => call.abandon();
    });
  }

  #onClose(error: ErldistError): void {
    if (this.#downError) return;
    this.#downError = error.code === 'NODE_DOWN' ? error : new ErldistError('NODE_DOWN', error.message, { node: this.name, cause: error });
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    for (const call of calls) call.fail(this.#downError);
    this.#host.peerDown(this, error);
  }
}

/**
 * What an erpc:execute_call exit reason means for rpc:call: a value, or `{'EXIT', Reason}` as
 * rpc:call reports a failure (`{badrpc, {'EXIT', ...}}`).
 */
function erpcOutcome(reason: Term, tag: Reference): { ok: true; value: Term } | { ok: false; reason: Term } {
  const first = reason instanceof Tuple ? reason.elements[0] : undefined;
  if (reason instanceof Tuple && first instanceof Reference && first.node === tag.node && refKey(first) === refKey(tag)) {
    const [, kind, a, b] = reason.elements;
    if (kind === RETURN || kind === THROW) return { ok: true, value: a };
    if (kind === EXIT) return { ok: false, reason: new Tuple([EXIT_TAG, a]) };
    if (kind === ERROR) return { ok: false, reason: new Tuple([EXIT_TAG, b === undefined ? a : new Tuple([a, b])]) };
  }
  if (reason === NOCONNECTION) return { ok: false, reason };
  return { ok: false, reason: new Tuple([EXIT_TAG, reason]) };
}

function toAtom(v: string | Atom): Atom {
  if (v instanceof Atom) return v;
  if (typeof v === 'string') return atom(v);
  throw new ErldistError('INVALID_ARGUMENT', `expected a name (string or atom), got ${typeof v}`);
}

function nameOf(v: string | Atom): string {
  return typeof v === 'string' ? v : v.name;
}

function describe(target: Pid | Atom): string {
  return target instanceof Pid ? target.toString() : target.name;
}

function exitError(reason: Term, target: Pid | Atom, node: string): ErldistError {
  if (reason === NOPROC) {
    return new ErldistError('NO_PROC', `${describe(target)} is not alive on ${node}`, { node, reason });
  }
  if (reason === NOCONNECTION) {
    return new ErldistError('NODE_DOWN', `lost the connection to ${node} during a call to ${describe(target)}`, { node, reason });
  }
  return new ErldistError('CALL_EXIT', `${describe(target)} on ${node} exited during the call`, { node, reason });
}

