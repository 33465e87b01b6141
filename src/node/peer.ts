/**
 * A connection to one remote node, seen from the local node: send, ping, rpc, GenServer call and
 * cast. Every pending call rejects with NODE_DOWN when the connection ends.
 */
import type { Socket } from 'node:net';
import { Connection } from '../distribution/connection.js';
import { type Control, Op } from '../distribution/control.js';
import { DFLAG } from '../distribution/flags.js';
import type { HandshakeResult } from '../distribution/handshake.js';
import { ErldistError } from '../errors.js';
import { Atom, Pid, Reference, type Term, Tuple, atom } from '../term/index.js';
import { pendingKey, refKey } from './keys.js';
import type { Mailbox, Monitor } from './mailbox.js';
import type { LocalNode } from './node.js';
import { type WaitOptions, waitFor } from '../wait.js';

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

export class Peer {
  /** The remote node's name. */
  readonly name: string;
  /** The flags both sides agreed on in the handshake. */
  readonly flags: bigint;
  readonly creation: number;
  private readonly connection: Connection;
  /** Rejecters of every call waiting on this connection. */
  private readonly pending = new Set<(err: ErldistError) => void>();
  private downError: ErldistError | undefined;
  /** @internal Set by `connect()`: closing this peer closes its private node too. */
  ownsNode = false;

  /** @internal */
  constructor(
    /** The local node this connection belongs to. */
    readonly node: LocalNode,
    name: string,
    socket: Socket,
    handshake: HandshakeResult,
  ) {
    this.name = name;
    this.flags = handshake.flags;
    this.creation = handshake.peerCreation;
    const o = node.options;
    this.connection = new Connection(
      socket,
      handshake,
      {
        tickTime: o.tickTime ?? 60_000,
        maxFrameSize: o.maxFrameSize ?? 128 * 1024 * 1024,
        highWaterMark: o.highWaterMark ?? 1024 * 1024,
        maxBuffered: o.maxBuffered ?? 64 * 1024 * 1024,
        decode: node.decodeOptions,
      },
      {
        onMessage: (control, payload) => {
          try {
            node.dispatch(this, control, payload);
          } catch (err) {
            // A message we fail to handle must not take the host process down.
            node.emit('warning', err);
          }
        },
        onClose: (error) => this.onClose(error),
      },
    );
  }

  get isClosed(): boolean {
    return this.downError !== undefined;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Peer { name: '${this.name}', node: '${this.node.name}'${this.isClosed ? ', closed' : ''} }`;
  }

  /** Bytes waiting to be written to this peer. */
  get buffered(): number {
    return this.connection.buffered;
  }

  /** Resolves once the connection's write buffer is below the high-water mark. */
  drain(): Promise<void> {
    return this.connection.drain();
  }

  /** @internal */
  sendControl(control: Control, payload?: Term): boolean {
    if (this.downError) throw this.downError;
    return this.connection.send(control, payload);
  }

  /**
   * @internal A signal that may be lost without harm to the host (a demonitor, a DOWN or exit for a
   * peer that stopped reading or is gone): never throws.
   */
  trySend(control: Control, payload?: Term): void {
    try {
      if (!this.downError) this.connection.send(control, payload);
    } catch {
      // the peer is down or not reading; the signal goes with it
    }
  }

  /**
   * Sends `message` to a pid or registered name on this node. Returns false when the connection's
   * buffer is above its high-water mark: `await peer.drain()` before sending much more.
   */
  send(to: Destination, message: Term): boolean {
    if (to instanceof Pid) return this.sendControl({ op: Op.SEND, to }, message);
    return this.sendControl({ op: Op.REG_SEND, from: this.node.callerPid, toName: toAtom(to) }, message);
  }

  /** `gen_server:cast/2`. */
  cast(to: Destination, request: Term): boolean {
    return this.send(to, new Tuple([GEN_CAST, request]));
  }

  /** net_adm:ping/1 on an open connection: true when net_kernel answers `yes`. */
  async ping(options: CallOptions = {}): Promise<boolean> {
    try {
      const reply = await this.request('net_kernel', new Tuple([IS_AUTH, this.node.nodeAtom]), false, { timeout: DEFAULT_CALL_TIMEOUT, ...options });
      return reply === YES;
    } catch (err) {
      if (err instanceof ErldistError && err.code === 'ABORTED') throw err;
      return false;
    }
  }

  /**
   * `rpc:call(Node, M, F, A)` through the peer's `rex` server. Rejects BAD_RPC (`.reason` holds R)
   * for `{badrpc, R}`, TIMEOUT, ABORTED, or NODE_DOWN when the connection ends first.
   */
  async rpc(module: string | Atom, fun: string | Atom, args: Term[] = [], options: CallOptions = {}): Promise<Term> {
    if (!Array.isArray(args)) throw new ErldistError('INVALID_ARGUMENT', 'rpc args must be an array (the argument list)');
    const opts = { timeout: DEFAULT_CALL_TIMEOUT, ...options };
    if (this.flags & DFLAG.SPAWN) return this.erpc(toAtom(module), toAtom(fun), args, opts);
    const request = new Tuple([CALL, toAtom(module), toAtom(fun), args, USER]);
    const reply = await this.request('rex', request, false, opts);
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
    return this.request(to, request, true, { timeout: DEFAULT_CALL_TIMEOUT, ...options });
  }

  /**
   * `erlang:spawn_request/5` on this node: resolves with the new pid once the peer answers
   * SPAWN_REPLY. With `link` or `monitor`, `box` links to or monitors it.
   */
  spawn(module: string | Atom, fun: string | Atom, args: Term[] = [], options: SpawnOptions = {}): Promise<Spawned> {
    if ((options.link || options.monitor) && !options.box) {
      return Promise.reject(new ErldistError('INVALID_ARGUMENT', 'spawn with link or monitor needs the mailbox that links or monitors: { box }'));
    }
    if (!(this.flags & DFLAG.SPAWN)) {
      return Promise.reject(new ErldistError('NOT_ALLOWED', `${this.name} does not support spawn requests (no DFLAG_SPAWN)`, { node: this.name }));
    }
    const node = this.node;
    const reqId = node.makeRef();
    const key = pendingKey(this.name, reqId);
    const from = options.box?.pid ?? node.callerPid;
    const opts: Term[] = [];
    if (options.link) opts.push(LINK);
    if (options.monitor) opts.push(MONITOR);
    const m = toAtom(module);
    const f = toAtom(fun);
    return waitFor<Spawned>({ timeout: DEFAULT_CALL_TIMEOUT, ...options }, `spawn ${m.name}:${f.name}/${args.length} on ${this.name}`, (resolve, reject) => {
      const rejectDown = (err: ErldistError) => {
        node.pendingSpawns.delete(key);
        reject(err);
      };
      this.pending.add(rejectDown);
      node.pendingSpawns.set(key, (flags, result) => {
        this.pending.delete(rejectDown);
        if (!(result instanceof Pid)) {
          reject(new ErldistError('SPAWN_FAILED', `spawn on ${this.name} failed`, { node: this.name, reason: result }));
          return;
        }
        if (flags & 1 && options.box) node.signals.addLink(options.box, result);
        const spawned: Spawned = { pid: result };
        if (flags & 2 && options.box) spawned.monitor = node.signals.addMonitor(options.box, result, this.name, reqId);
        resolve(spawned);
      });
      const forget = () => {
        node.pendingSpawns.delete(key);
        this.pending.delete(rejectDown);
      };
      try {
        this.sendControl(
          { op: Op.SPAWN_REQUEST, reqId, from, groupLeader: node.callerPid, mfa: [m, f, args.length], options: opts },
          args,
        );
      } catch (err) {
        forget();
        reject(err as Error);
      }
      return forget;
    });
  }

  /**
   * rpc through erpc (what OTP's own rpc:call does): spawn `erpc:execute_call(Ref, M, F, A)` with a
   * monitor; its exit reason, delivered in the DOWN, carries the result.
   */
  private erpc(m: Atom, f: Atom, args: Term[], options: CallOptions): Promise<Term> {
    if (this.downError) return Promise.reject(this.downError);
    const node = this.node;
    const reqId = node.makeRef();
    const tag = node.makeRef();
    const key = pendingKey(this.name, reqId);
    const what = `rpc ${m.name}:${f.name}/${args.length} on ${this.name}`;
    return waitFor<Term>(options, what, (resolve, reject) => {
      // Made only when a call must wait for the buffer to drain (aborting one costs microseconds).
      let abandoned: AbortController | undefined;
      const forget = () => {
        abandoned?.abort();
        node.pendingSpawns.delete(key);
        node.pendingDowns.delete(key);
        this.pending.delete(rejectDown);
      };
      const rejectDown = (err: ErldistError) => {
        forget();
        reject(err);
      };
      this.pending.add(rejectDown);
      node.pendingSpawns.set(key, (_flags, result) => {
        if (result instanceof Pid) return; // the answer comes in the DOWN
        forget();
        reject(new ErldistError('BAD_RPC', `${what} could not start`, { node: this.name, reason: result }));
      });
      node.pendingDowns.set(key, (reason) => {
        forget();
        const outcome = erpcOutcome(reason, tag);
        if (outcome.ok) resolve(outcome.value);
        else if (outcome.reason === NOCONNECTION) reject(new ErldistError('NODE_DOWN', `lost ${this.name} during ${what}`, { node: this.name }));
        else reject(new ErldistError('BAD_RPC', `${what} failed`, { node: this.name, reason: outcome.reason }));
      });
      const start = async () => {
        if (this.connection.overHighWaterMark) {
          abandoned = new AbortController();
          await this.connection.drain({ signal: abandoned.signal });
        }
        if (this.downError || !node.pendingDowns.has(key)) return;
        this.connection.send(
          { op: Op.SPAWN_REQUEST, reqId, from: node.callerPid, groupLeader: node.callerPid, mfa: [ERPC, EXECUTE_CALL, 4], options: [MONITOR] },
          [tag, m, f, args],
        );
      };
      start().catch(rejectDown);
      return forget;
    });
  }

  /** Closes the connection; pending calls reject with NODE_DOWN. */
  async close(): Promise<void> {
    this.connection.close();
    if (this.ownsNode) await this.node.close();
  }

  private request(to: Destination, request: Term, monitor: boolean, options: CallOptions): Promise<Term> {
    if (this.downError) return Promise.reject(this.downError);
    const node = this.node;
    const ref = node.makeRef();
    const key = pendingKey(this.name, ref);
    const target = to instanceof Pid ? to : toAtom(to);
    const what = `call to ${describe(target)} on ${this.name}`;
    return waitFor<Term>(options, what, (resolve, reject) => {
      let demonitor = false;
      // Made only when a call must wait for the buffer to drain (aborting one costs microseconds).
      let abandoned: AbortController | undefined;
      const forget = () => {
        abandoned?.abort();
        node.pendingReplies.delete(key);
        node.pendingDowns.delete(key);
        this.pending.delete(rejectDown);
        if (demonitor) this.trySend({ op: Op.DEMONITOR_P, from: node.callerPid, to: target, ref });
      };
      const rejectDown = (err: ErldistError) => {
        node.pendingReplies.delete(key);
        node.pendingDowns.delete(key);
        this.pending.delete(rejectDown);
        reject(err);
      };
      this.pending.add(rejectDown);
      node.pendingReplies.set(key, (reply) => {
        forget();
        resolve(reply);
      });
      const start = async () => {
        // Respect back-pressure: wait until the connection's buffer drains before adding more.
        if (this.connection.overHighWaterMark) {
          abandoned = new AbortController();
          await this.connection.drain({ signal: abandoned.signal });
        }
        if (this.downError || !node.pendingReplies.has(key)) return;
        if (monitor) {
          node.pendingDowns.set(key, (reason) => {
            demonitor = false;
            forget();
            reject(exitError(reason, target, this.name));
          });
          demonitor = true;
          this.connection.send({ op: Op.MONITOR_P, from: node.callerPid, to: target, ref });
        }
        const message = node.genCall(ref, request);
        if (target instanceof Pid) this.connection.send({ op: Op.SEND, to: target }, message);
        else this.connection.send({ op: Op.REG_SEND, from: node.callerPid, toName: target }, message);
      };
      start().catch((err) => {
        forget();
        reject(err);
      });
      return forget;
    });
  }

  private onClose(error: ErldistError): void {
    if (this.downError) return;
    this.downError = error.code === 'NODE_DOWN' ? error : new ErldistError('NODE_DOWN', error.message, { node: this.name, cause: error });
    const rejecters = [...this.pending];
    this.pending.clear();
    for (const r of rejecters) r(this.downError);
    this.node.peerDown(this, error);
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

