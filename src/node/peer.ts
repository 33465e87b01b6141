/**
 * A remote node, seen from the local node: send, ping, rpc, GenServer call and cast. A Peer is a
 * handle on the node, not on one TCP connection: its dialer reconnects it when the connection
 * drops. Calls wait for a connection within their own timeout; calls in flight when a connection
 * drops reject NODE_DOWN (nobody knows whether they ran). Messages sent while it has no
 * connection wait in an outbox.
 */
import type { Socket } from 'node:net';
import { Connection, type ConnectionOptions } from '../distribution/connection.js';
import { type Control, Op } from '../distribution/control.js';
import { DFLAG } from '../distribution/flags.js';
import type { HandshakeResult } from '../distribution/handshake.js';
import { ErldistError } from '../errors.js';
import { type Atom, atom, Pid, type Reference, type Term, Tuple } from '../term/index.js';
import { deadline, type WaitOptions, waitFor } from '../wait.js';
import { describe, erpcAnswers, genCallAnswers, nameOf, type Spawned, spawnAnswers, toAtom } from './answers.js';
import { refKey } from './keys.js';
import type { Mailbox, Monitor } from './mailbox.js';
import { Outbox } from './outbox.js';
import { type Answers, type CallSlot, PendingCall } from './pending.js';

/** What a peer needs from its local node and its dialer. */
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
  /** A connection is up. */
  connectionUp(peer: Peer<Node>): void;
  /** A connection ended; `replaced` when a newer one takes its place at once. */
  connectionDown(peer: Peer<Node>, error: ErldistError, replaced: boolean): void;
  /** A call or message waits for a connection: the node is wanted now. */
  wanted(peer: Peer<Node>): void;
  /** Messages that could not be delivered (no room in the outbox, or the node was unreachable). */
  dropped(peer: Peer<Node>, count: number): void;
  warning(err: unknown): void;
  /** Records a link or monitor a SPAWN_REPLY confirmed. */
  addLink(box: Mailbox, pid: Pid): void;
  addMonitor(box: Mailbox, target: Pid, node: string, ref: Reference): Monitor;
  /** The peer is closed for good: forget it. */
  closed(peer: Peer<Node>): void;
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
  /** The local node this peer belongs to. */
  readonly node: Node;
  readonly #host: PeerHost<Node>;
  #name: string;
  #connection: Connection | undefined;
  #handshake: HandshakeResult | undefined;
  /** Calls waiting for an answer from this peer, by their reference. */
  readonly #calls = new Map<string, CallSlot>();
  /** Callers waiting for a connection. */
  readonly #waiting = new Set<{ resolve: (c: Connection) => void; reject: (e: Error) => void }>();
  readonly #outbox: Outbox;
  #closed: ErldistError | undefined;
  #ownsNode = false;

  /** @internal */
  constructor(host: PeerHost<Node>, name: string) {
    this.#host = host;
    this.node = host.node;
    this.#name = name;
    this.#outbox = new Outbox(host.connectionOptions.maxBuffered);
  }

  /** The remote node's name (as it gave it in its last handshake). */
  get name(): string {
    return this.#name;
  }

  /** The flags both sides agreed on in the last handshake (0n before the first). */
  get flags(): bigint {
    return this.#handshake?.flags ?? 0n;
  }

  /** The remote node's creation, from the last handshake. */
  get creation(): number {
    return this.#handshake?.peerCreation ?? 0;
  }

  /** True while a connection is up. */
  get connected(): boolean {
    return this.#connection !== undefined;
  }

  /** True once the peer is closed for good (`close()`, or lost with no way to reconnect). */
  get isClosed(): boolean {
    return this.#closed !== undefined;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    const node = (this.node as { name?: string }).name;
    const state = this.isClosed ? ', closed' : this.connected ? '' : ', reconnecting';
    return `Peer { name: '${this.name}', node: '${node}'${state} }`;
  }

  /** Bytes waiting to be written to this peer (or waiting for a connection). */
  get buffered(): number {
    return this.#connection?.buffered ?? this.#outbox.bytes;
  }

  /** Resolves once a connection is up and its write buffer is below the high-water mark. */
  async drain(options: WaitOptions = {}): Promise<void> {
    const remaining = deadline(options.timeout);
    const connection = this.#connection ?? (await this.#whenConnected(options));
    await connection.drain({ timeout: remaining(), signal: options.signal });
  }

  /** @internal The dialer's: a connection that completed its handshake (it replaces an older one). */
  attach(name: string, socket: Socket, handshake: HandshakeResult): void {
    const old = this.#connection;
    if (old)
      this.#lose(
        old,
        new ErldistError('NODE_DOWN', `connection to ${this.#name} replaced`, { node: this.#name }),
        true,
      );
    this.#name = name;
    this.#handshake = handshake;
    const connection = new Connection(socket, handshake, this.#host.connectionOptions, {
      onMessage: (control, payload) => {
        try {
          this.#host.dispatch(this, control, payload);
        } catch (err) {
          // A message we fail to handle must not take the host process down.
          this.#host.warning(err);
        }
      },
      onClose: (error) => this.#lose(connection, error, false),
    });
    this.#connection = connection;
    this.#host.connectionUp(this);
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const w of waiting) w.resolve(connection);
    let dropped = 0;
    for (const { control, payload } of this.#outbox.take()) {
      try {
        connection.send(control, payload);
      } catch {
        dropped++;
      }
    }
    if (dropped > 0) this.#host.dropped(this, dropped);
  }

  /** @internal The connection, when one is up. */
  get connection(): Connection | undefined {
    return this.#connection;
  }

  /**
   * @internal Closed for good: calls and callers still waiting for a connection reject with
   * `error`, and queued messages are dropped.
   */
  shutdown(error: ErldistError): void {
    if (this.#closed) return;
    this.#closed = error;
    this.#connection?.close(error);
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const w of waiting) w.reject(error);
    for (const call of [...this.#calls.values()]) call.fail(error);
    const dropped = this.#outbox.take().length;
    if (dropped > 0) this.#host.dropped(this, dropped);
    this.#host.closed(this);
  }

  /** @internal Sends a control message now; throws NODE_DOWN when no connection is up. */
  sendControl(control: Control, payload?: Term): boolean {
    const connection = this.#connection;
    if (!connection) throw this.#closed ?? this.#notConnected();
    return connection.send(control, payload);
  }

  /**
   * @internal A signal that may be lost without harm to the host (a demonitor, a DOWN or exit for a
   * peer that stopped reading or is gone): never throws.
   */
  trySend(control: Control, payload?: Term): void {
    try {
      this.#connection?.send(control, payload);
    } catch {
      // the peer is down or not reading; the signal goes with it
    }
  }

  /**
   * @internal A message: sent now, or queued until the connection is up (the node is then wanted).
   * A message that does not fit the outbox is dropped and counted. Throws only on a closed peer.
   */
  sendMessage(control: Control, payload: Term): boolean {
    const connection = this.#connection;
    if (connection) return connection.send(control, payload);
    if (this.#closed) throw this.#closed;
    if (!this.#outbox.push(control, payload)) this.#host.dropped(this, 1);
    this.#host.wanted(this);
    return this.#outbox.bytes < this.#host.connectionOptions.highWaterMark;
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

  /** @internal Resolves once a connection is up; rejects when the peer closes for good. */
  ready(options: WaitOptions): Promise<void> {
    if (this.#connection) return Promise.resolve();
    return this.#whenConnected(options).then(() => undefined);
  }

  /**
   * Sends `message` to a pid or registered name on this node. Returns false when the connection's
   * buffer is above its high-water mark: `await peer.drain()` before sending much more. While the
   * peer reconnects, messages wait for the connection (up to `maxBuffered` bytes; more are dropped
   * and counted in `node.stats.dropped`).
   */
  send(to: Destination, message: Term): boolean {
    if (to instanceof Pid) return this.sendMessage({ op: Op.SEND, to }, message);
    return this.sendMessage({ op: Op.REG_SEND, from: this.#host.callerPid, toName: toAtom(to) }, message);
  }

  /** `gen_server:cast/2`. */
  cast(to: Destination, request: Term): boolean {
    return this.send(to, new Tuple([GEN_CAST, request]));
  }

  /** net_adm:ping/1: true when net_kernel answers `yes`. */
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
    let opts: CallOptions = { timeout: DEFAULT_CALL_TIMEOUT, ...options };
    if (this.#handshake === undefined) {
      // Which path depends on the flags of a handshake that has not happened yet.
      const remaining = deadline(opts.timeout);
      await this.ready(opts);
      opts = { ...opts, timeout: remaining() };
    }
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
      const why = 'spawn with link or monitor needs the mailbox that links or monitors: { box }';
      return Promise.reject(new ErldistError('INVALID_ARGUMENT', why));
    }
    if (this.#handshake !== undefined && !(this.flags & DFLAG.SPAWN)) {
      const why = `${this.name} does not support spawn requests (no DFLAG_SPAWN)`;
      return Promise.reject(new ErldistError('NOT_ALLOWED', why, { node: this.name }));
    }
    const host = this.#host;
    const reqId = host.makeRef();
    const opts: Term[] = [];
    if (options.link) opts.push(LINK);
    if (options.monitor) opts.push(MONITOR);
    const m = toAtom(module);
    const f = toAtom(fun);
    const from = box?.pid ?? host.callerPid;
    const control: Control = {
      op: Op.SPAWN_REQUEST,
      reqId,
      from,
      groupLeader: host.callerPid,
      mfa: [m, f, args.length],
      options: opts,
    };
    const what = `spawn ${m.name}:${f.name}/${args.length} on ${this.name}`;
    const answers = spawnAnswers(this.name, reqId, box, host);
    return this.#startCall(reqId, what, { timeout: DEFAULT_CALL_TIMEOUT, ...options }, answers, (_call, connection) => {
      connection.send(control, args);
    });
  }

  /** Closes the peer for good: its connection ends, calls reject NODE_DOWN, it reconnects no more. */
  async close(): Promise<void> {
    this.shutdown(new ErldistError('NODE_DOWN', `peer ${this.name} was closed`, { node: this.name }));
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
    const mfa: [Atom, Atom, number] = [ERPC, EXECUTE_CALL, 4];
    const control: Control = {
      op: Op.SPAWN_REQUEST,
      reqId,
      from: host.callerPid,
      groupLeader: host.callerPid,
      mfa,
      options: [MONITOR],
    };
    return this.#startCall(reqId, what, options, answers, (_call, connection) => {
      connection.send(control, [tag, m, f, args]);
    });
  }

  /** A `$gen_call` to `to`, with a monitor on it when `monitor` (gen_server:call) or without (rex, net_kernel). */
  #request(to: Destination, request: Term, monitor: boolean, options: CallOptions): Promise<Term> {
    const host = this.#host;
    const ref = host.makeRef();
    const target = to instanceof Pid ? to : toAtom(to);
    const answers = genCallAnswers(this.name, target);
    const message = new Tuple([GEN_CALL, new Tuple([host.callerPid, ref]), request]);
    return this.#startCall(ref, `call to ${describe(target)} on ${this.name}`, options, answers, (call, connection) => {
      if (monitor) {
        connection.send({ op: Op.MONITOR_P, from: host.callerPid, to: target, ref });
        call.demonitor = () => this.trySend({ op: Op.DEMONITOR_P, from: host.callerPid, to: target, ref });
      }
      if (target instanceof Pid) connection.send({ op: Op.SEND, to: target }, message);
      else connection.send({ op: Op.REG_SEND, from: host.callerPid, toName: target }, message);
    });
  }

  /**
   * The one lifecycle of a call: registered under `ref` until answered, failed, timed out or
   * aborted. Its request goes out at once on a connection below its high-water mark; otherwise it
   * waits for a connection, then for the buffer to drain.
   */
  #startCall<T>(
    ref: Reference,
    what: string,
    options: CallOptions,
    answers: Answers<T>,
    send: (call: PendingCall<T>, connection: Connection) => void,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    const key = refKey(ref);
    return waitFor<T>(options, what, (resolve, reject) => {
      const call = new PendingCall<T>(answers, resolve, reject, () => this.#calls.delete(key));
      this.#calls.set(key, call);
      const connection = this.#connection;
      if (connection && !connection.overHighWaterMark) {
        try {
          call.sentOn = connection;
          send(call, connection);
        } catch (err) {
          call.fail(err as Error);
        }
      } else {
        this.#sendLater(call, send).catch((err: Error) => call.fail(err));
      }
      return () => call.abandon();
    });
  }

  async #sendLater<T>(
    call: PendingCall<T>,
    send: (call: PendingCall<T>, connection: Connection) => void,
  ): Promise<void> {
    // Made only when a call must wait (aborting one per call costs microseconds).
    call.waitAbort = new AbortController();
    const signal = call.waitAbort.signal;
    const connection = this.#connection ?? (await this.#whenConnected({ signal }));
    if (connection.overHighWaterMark) await connection.drain({ signal });
    if (call.settled) return;
    if (connection.isClosed) throw this.#closed ?? this.#notConnected();
    call.sentOn = connection;
    send(call, connection);
  }

  #whenConnected(options: WaitOptions): Promise<Connection> {
    if (this.#closed) return Promise.reject(this.#closed);
    return waitFor<Connection>(options, `connection to ${this.name}`, (resolve, reject) => {
      const waiter = { resolve, reject };
      this.#waiting.add(waiter);
      this.#host.wanted(this);
      return () => this.#waiting.delete(waiter);
    });
  }

  /** A connection ended: the calls sent on it fail; the dialer decides what comes next. */
  #lose(connection: Connection, error: ErldistError, replaced: boolean): void {
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    connection.close(error);
    const down =
      error.code === 'NODE_DOWN'
        ? error
        : new ErldistError('NODE_DOWN', error.message, { node: this.name, cause: error });
    for (const call of [...this.#calls.values()]) if (call.sentOn === connection) call.fail(down);
    this.#host.connectionDown(this, error, replaced);
  }

  #notConnected(): ErldistError {
    return new ErldistError('NODE_DOWN', `not connected to ${this.name}`, { node: this.name });
  }
}
