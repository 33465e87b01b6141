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
import type { HandshakeResult } from '../distribution/handshake.js';
import { ErldistError } from '../errors.js';
import { type Atom, atom, Pid, type Reference, type Term, Tuple } from '../term/index.js';
import { deadline, type WaitOptions, waitFor } from '../wait.js';
import { type Spawned, toAtom } from './answers.js';
import type { Mailbox, Monitor } from './mailbox.js';
import { Outbox } from './outbox.js';
import { CallTable } from './pending.js';
import type { CallOptions, CallPort, Destination, SpawnOptions } from './requests.js';
import * as requests from './requests.js';

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

export type { CallOptions, Destination, Spawned, SpawnOptions };

const GEN_CAST = atom('$gen_cast');

export class Peer<Node = unknown> {
  /** The local node this peer belongs to. */
  readonly node: Node;
  readonly #host: PeerHost<Node>;
  #name: string;
  #connection: Connection | undefined;
  #handshake: HandshakeResult | undefined;
  /** Calls waiting for an answer from this peer. */
  readonly #calls: CallTable;
  /** Callers waiting for a connection. */
  readonly #waiting = new Set<{ resolve: (c: Connection) => void; reject: (e: Error) => void }>();
  readonly #outbox: Outbox;
  /** What the requests (requests.ts) need of this peer. */
  readonly #port: CallPort;
  #closed: ErldistError | undefined;
  #ownsNode = false;

  /** @internal */
  constructor(host: PeerHost<Node>, name: string) {
    this.#host = host;
    this.node = host.node;
    this.#name = name;
    this.#outbox = new Outbox(host.connectionOptions.maxBuffered);
    const peer = this;
    this.#calls = new CallTable({
      node: host.nodeAtom.name,
      get peer() {
        return peer.#name;
      },
      connection: () => this.#connection,
      whenConnected: (options) => this.#whenConnected(options),
      closed: () => this.#closed,
      notConnected: () => this.#closed ?? this.#notConnected(),
    });
    this.#port = {
      get name() {
        return peer.#name;
      },
      get flags() {
        return peer.#handshake?.flags;
      },
      callerPid: host.callerPid,
      nodeAtom: host.nodeAtom,
      makeRef: () => host.makeRef(),
      addLink: (box, pid) => host.addLink(box, pid),
      addMonitor: (box, target, node, ref) => host.addMonitor(box, target, node, ref),
      trySend: (control) => this.trySend(control),
      ready: (options) => this.ready(options),
      startCall: (ref, what, options, answers, send) => this.#calls.start(ref, what, options, answers, send),
    };
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
      onDropped: (error) => {
        this.#host.dropped(this, 1);
        this.#host.warning(error);
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
    this.#calls.failAll(error);
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
    const call = this.#calls.get(ref);
    call?.reply(reply);
    return call !== undefined;
  }

  /** @internal A DOWN for a call's monitor. */
  settleDown(ref: Reference, reason: Term): void {
    this.#calls.get(ref)?.down(reason);
  }

  /** @internal A SPAWN_REPLY for a call's spawn request. */
  settleSpawn(reqId: Reference, flags: number, result: Term): void {
    this.#calls.get(reqId)?.spawnReply(flags, result);
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

  /** net_adm:ping/1: true when net_kernel answers `yes` (default timeout 5000 ms). */
  ping(options: CallOptions = {}): Promise<boolean> {
    return requests.ping(this.#port, options);
  }

  /**
   * `rpc:call(Node, M, F, A)`: through erpc when the peer takes spawn requests (what OTP's own
   * rpc:call does), else through its `rex` server. Rejects BAD_RPC (`.reason` holds R) for
   * `{badrpc, R}`, TIMEOUT, ABORTED, or NODE_DOWN when the connection ends first.
   */
  rpc(module: string | Atom, fun: string | Atom, args: Term[] = [], options: CallOptions = {}): Promise<Term> {
    return requests.rpc(this.#port, module, fun, args, options);
  }

  /**
   * `gen_server:call/3`: monitors the server, so that a missing or dying one rejects at once with
   * NO_PROC or CALL_EXIT (`.reason`) rather than at the timeout (default 5000 ms).
   */
  call(to: Destination, request: Term, options: CallOptions = {}): Promise<Term> {
    return requests.genCall(this.#port, to, request, true, requests.withDefaultTimeout(options));
  }

  /**
   * `erlang:spawn_request/5` on this node: resolves with the new pid once the peer answers
   * SPAWN_REPLY. With `link` or `monitor`, `box` links to or monitors it.
   */
  spawn(module: string | Atom, fun: string | Atom, args: Term[] = [], options: SpawnOptions = {}): Promise<Spawned> {
    return requests.spawn(this.#port, module, fun, args, options);
  }

  /** Closes the peer for good: its connection ends, calls reject NODE_DOWN, it reconnects no more. */
  async close(): Promise<void> {
    this.shutdown(new ErldistError('NODE_DOWN', `peer ${this.name} was closed`, { node: this.name }));
    if (this.#ownsNode) await this.#host.closeNode();
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
    this.#calls.failSentOn(connection, down);
    this.#host.connectionDown(this, error, replaced);
  }

  #notConnected(): ErldistError {
    return new ErldistError('NODE_DOWN', `not connected to ${this.name}`, { node: this.name });
  }
}
