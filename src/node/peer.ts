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
import { type Atom, atom, Pid, type Reference, type Term, Tuple } from '../term/index.js';
import { type WaitOptions, waitFor } from '../wait.js';
import { describe, erpcAnswers, genCallAnswers, nameOf, type Spawned, spawnAnswers, toAtom } from './answers.js';
import { refKey } from './keys.js';
import type { Mailbox, Monitor } from './mailbox.js';
import { type Answers, type CallSlot, PendingCall } from './pending.js';

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

export type { Spawned };

const DEFAULT_CALL_TIMEOUT = 5000;
const CALL = atom('call');
const USER = atom('user');
const BADRPC = atom('badrpc');
const GEN_CALL = atom('$gen_call');
const GEN_CAST = atom('$gen_cast');
const IS_AUTH = atom('is_auth');
const YES = atom('yes');
const ERPC = atom('erpc');
const EXECUTE_CALL = atom('execute_call');
const MONITOR = atom('monitor');
const LINK = atom('link');

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
      const reply = await this.#request('net_kernel', new Tuple([IS_AUTH, this.#host.nodeAtom]), false, {
        timeout: DEFAULT_CALL_TIMEOUT,
        ...options,
      });
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
    if (!Array.isArray(args))
      throw new ErldistError('INVALID_ARGUMENT', 'rpc args must be an array (the argument list)');
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
      return Promise.reject(
        new ErldistError(
          'INVALID_ARGUMENT',
          'spawn with link or monitor needs the mailbox that links or monitors: { box }',
        ),
      );
    }
    if (!(this.flags & DFLAG.SPAWN)) {
      return Promise.reject(
        new ErldistError('NOT_ALLOWED', `${this.name} does not support spawn requests (no DFLAG_SPAWN)`, {
          node: this.name,
        }),
      );
    }
    const host = this.#host;
    const reqId = host.makeRef();
    const opts: Term[] = [];
    if (options.link) opts.push(LINK);
    if (options.monitor) opts.push(MONITOR);
    const m = toAtom(module);
    const f = toAtom(fun);
    const answers = spawnAnswers(this.name, reqId, box, host);
    const control: Control = {
      op: Op.SPAWN_REQUEST,
      reqId,
      from: box?.pid ?? host.callerPid,
      groupLeader: host.callerPid,
      mfa: [m, f, args.length],
      options: opts,
    };
    return this.#startCall(
      reqId,
      `spawn ${m.name}:${f.name}/${args.length} on ${this.name}`,
      { timeout: DEFAULT_CALL_TIMEOUT, ...options },
      answers,
      () => {
        this.#connection.send(control, args);
      },
    );
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
    const answers = erpcAnswers(this.name, tag, what);
    const control: Control = {
      op: Op.SPAWN_REQUEST,
      reqId,
      from: host.callerPid,
      groupLeader: host.callerPid,
      mfa: [ERPC, EXECUTE_CALL, 4],
      options: [MONITOR],
    };
    return this.#startCall(reqId, what, options, answers, () => {
      this.#connection.send(control, [tag, m, f, args]);
    });
  }

  /** A `$gen_call` to `to`, with a monitor on it when `monitor` (gen_server:call) or without (rex, net_kernel). */
  #request(to: Destination, request: Term, monitor: boolean, options: CallOptions): Promise<Term> {
    const host = this.#host;
    const ref = host.makeRef();
    const target = to instanceof Pid ? to : toAtom(to);
    const answers = genCallAnswers(this.name, target);
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
  #startCall<T>(
    ref: Reference,
    what: string,
    options: CallOptions,
    answers: Answers<T>,
    send: (call: PendingCall<T>) => void,
  ): Promise<T> {
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
    this.#downError =
      error.code === 'NODE_DOWN'
        ? error
        : new ErldistError('NODE_DOWN', error.message, { node: this.name, cause: error });
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    for (const call of calls) call.fail(this.#downError);
    this.#host.peerDown(this, error);
  }
}
