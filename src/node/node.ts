/**
 * The local node: its name, cookies and flags, and the wiring of its parts: identifiers, the
 * registry of mailboxes, the dialer and its peers, the signal tables, the rpc server and the
 * listener. Each part sees the node through a narrow host interface.
 */

import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { DFLAG, DFLAG_ERLDIST } from '../distribution/flags.js';
import { ErldistError } from '../errors.js';
import { type Atom, atom, type Pid, type Reference } from '../term/index.js';
import type { ConnectOptions, Dialer } from './dialer.js';
import { type DiscoverOptions, type Discovery, discover } from './discovery.js';
import type { DispatchHost } from './dispatch.js';
import { Identifiers } from './ids.js';
import { Listener, type Listening, type ListenOptions } from './listener.js';
import { Mailbox, type MailboxOwner } from './mailbox.js';
import { defaultNodeName, parseNodeName, resolveCookie } from './names.js';
import type { NodeEvents, NodeOptions } from './options.js';
import type { Peer } from './peer.js';
import { type PgScope, pg } from './pg.js';
import { type PubSub, pubsub } from './pubsub.js';
import { type NodeStats, Registry } from './registry.js';
import { Router } from './routing.js';
import { type ExposedFunction, type RpcHost, RpcServer } from './rpc-server.js';
import type { ServerHandlers } from './server.js';
import { Signals } from './signals.js';
import { listenerHost, makeDialer, type NodeParts } from './wiring.js';

export type { ConnectOptions, Listening, ListenOptions, NodeEvents, NodeOptions, NodeStats };

export class LocalNode extends EventEmitter<NodeEvents> {
  readonly name: string;
  readonly nodeAtom: Atom;
  readonly creation: number;
  // Private fields stay out of util.inspect, JSON and the published types.
  readonly #cookie: string;
  readonly #cookies = new Map<string, string>();
  readonly #options: Readonly<Omit<NodeOptions, 'cookie'>>;
  readonly #ids: Identifiers;
  readonly #registry: Registry;
  readonly #signals: Signals;
  readonly #dialer: Dialer<LocalNode>;
  readonly #rpc: RpcServer;
  readonly #dispatchHost: DispatchHost;
  readonly #router: Router<LocalNode>;
  readonly #parts: NodeParts<LocalNode>;
  #listener: Listener | undefined;
  #listening = false;
  #closed = false;

  constructor(options: NodeOptions = {}) {
    super();
    const { cookie: _cookie, ...rest } = options;
    this.#options = rest;
    this.#cookie = resolveCookie(options.cookie);
    const address = parseNodeName(options.name ?? defaultNodeName({ node: '', alive: '', host: '', long: true }));
    if (address.port !== undefined)
      throw new ErldistError('INVALID_ARGUMENT', `a local node name has no port: ${options.name}`);
    this.name = address.node;
    this.nodeAtom = atom(this.name);
    // A hidden node that has not registered with EPMD picks its own creation (never 0).
    this.creation = randomInt(1, 0xffffffff);
    const ids = new Identifiers(this.nodeAtom, this.creation);
    const registry = new Registry(ids);
    this.#ids = ids;
    this.#registry = registry;
    // Frozen: requests from it may have their bytes kept by a connection (ControlWriter).
    const callerPid = Object.freeze(ids.makePid());
    const parts: NodeParts<LocalNode> = {
      node: this,
      nodeAtom: this.nodeAtom,
      emit: (event, ...args) => this.emit(event as keyof NodeEvents, ...(args as never)),
      options: this.#options,
      ids,
      registry,
      signals: () => this.#signals,
      dispatchHost: () => this.#dispatchHost,
      cookieFor: (node) => this.#cookieFor(node),
      background: (work) => this.#background(work),
      close: () => this.close(),
    };
    this.#parts = parts;
    const dialer = makeDialer(parts, callerPid);
    this.#dialer = dialer;
    this.#signals = new Signals({
      peer: (name) => dialer.peer(name),
      peerFor: (name) => dialer.peerFor(name),
      onlyPeerName: (name) => dialer.onlyPeerName(name),
      makeRef: () => ids.makeRef(),
      mailbox: (target) => registry.mailbox(target),
      mailboxById: (id) => registry.mailboxById(id),
    });
    this.#router = new Router(this.name, this.nodeAtom, callerPid, registry, dialer);
    const rpcHost: RpcHost = {
      reply: (from, reply) => this.#router.reply(from, reply),
      failCall: (server, from, reason) => this.#signals.failCall(server, from, reason),
      background: (work) => this.#background(work),
      send: (to, message) => this.#router.sendQuietly(to, message),
      makePid: () => ids.makePid(),
    };
    this.#rpc = new RpcServer(rpcHost, (name) => this.#spawnRegistered(name));
    const spawnRequest: DispatchHost['spawnRequest'] = (peer, req, payload) =>
      this.#rpc.spawnRequest(peer, req, payload);
    this.#dispatchHost = { registry, signals: this.#signals, spawnRequest };
  }

  /** The flags we advertise: PUBLISHED only when not hidden. */
  get flags(): bigint {
    return this.#options.hidden === false ? DFLAG_ERLDIST | DFLAG.PUBLISHED : DFLAG_ERLDIST;
  }

  get stats(): Readonly<NodeStats> {
    return this.#registry.stats;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    const peers = this.#dialer.names().join(', ');
    return `LocalNode { name: '${this.name}', creation: ${this.creation}, peers: [${peers}]${this.#closed ? ', closed' : ''} }`;
  }

  /** A cookie for one node only, as erlang:set_cookie/2: used both to connect to it and to accept it. */
  setCookie(node: string, cookie: string): void {
    if (typeof cookie !== 'string' || cookie.length === 0)
      throw new ErldistError('INVALID_ARGUMENT', 'a cookie is a non-empty string');
    this.#cookies.set(parseNodeName(node).node, cookie);
  }

  /** A new pid of this node. */
  makePid(): Pid {
    return this.#ids.makePid();
  }

  /** A new reference of this node. */
  makeRef(): Reference {
    return this.#ids.makeRef();
  }

  /** A new mailbox with its own pid. */
  spawn(): Mailbox {
    this.#assertOpen();
    const box = new Mailbox(this.#ids.makePid(), this.#mailboxOwner);
    this.#registry.add(box.pid, box);
    return box;
  }

  /** Registers `box` under `name`, so that `{name, Node} ! Msg` reaches it. */
  register(name: string, box: Mailbox): void {
    this.#registry.register(name, box);
  }

  unregister(name: string): void {
    this.#registry.unregister(name);
  }

  /** The mailbox registered as `name`. */
  whereis(name: string): Mailbox | undefined {
    return this.#registry.whereis(name);
  }

  /**
   * A gen_server registered as `name`: `gen_server:call({Name, Node}, Req)` from Erlang or
   * `GenServer.call({name, node}, req)` from Elixir reaches `handleCall`. Returns its mailbox.
   */
  serve(name: string, handlers: ServerHandlers): Mailbox {
    const box = this.#spawnRegistered(name);
    this.#rpc.serve(box, handlers);
    return box;
  }

  /** Functions that `rpc:call(Node, Module, F, Args)` may call. Unknown ones give Erlang's `undef`. */
  expose(module: string, functions: Record<string, ExposedFunction>): void {
    this.#rpc.expose(module, functions);
  }

  /** The peer of `name`, connected or reconnecting, if there is one. */
  peer(name: string): Peer<LocalNode> | undefined {
    return this.#dialer.peer(name);
  }

  /** The names of the nodes connected now (as erlang:nodes(connected)). */
  nodes(): string[] {
    return this.#dialer
      .open()
      .filter((peer) => peer.connected)
      .map((peer) => peer.name);
  }

  /**
   * The `pg` scope `scope` (OTP's default is `pg`), one handle per scope: a mailbox registered under
   * the scope's name speaks to the scopes of every connected node (README: Process groups).
   */
  pg(scope = 'pg'): PgScope {
    return pg(this, scope);
  }

  /** The Phoenix.PubSub server `name` as Elixir writes it (`'MyApp.PubSub'`), one handle per name. */
  pubsub(name: string): PubSub {
    return pubsub(this, name);
  }

  /** Connects to `target` (`name@host`, or `name@host:port` to skip EPMD); reuses its peer if there is one. */
  connect(target: string, options: ConnectOptions = {}): Promise<Peer<LocalNode>> {
    try {
      this.#assertOpen();
      return this.#dialer.connect(target, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Calls `onDown(error)` once when the connection to `name` ends (at once if there is none), as
   * erlang:monitor_node/2. Returns a function that cancels it.
   */
  monitorNode(name: string, onDown: (error: ErldistError) => void): () => void {
    return this.#dialer.monitorNode(name, onDown);
  }

  /** Keeps this node connected to the members of a cluster that DNS or EPMD lists (README: Discovery in Kubernetes). */
  discover(options: DiscoverOptions): Discovery<Peer<LocalNode>> {
    return discover(this, options);
  }

  /**
   * Accepts connections from other nodes on `port`, registering with EPMD unless `epmd: false`
   * (then peers must dial `name@host:port`). While registered, a restarted EPMD gets the name back.
   */
  async listen(options: ListenOptions = {}): Promise<Listening> {
    this.#assertOpen();
    if (this.#listening) throw new ErldistError('INVALID_ARGUMENT', `node ${this.name} is already listening`);
    this.#listening = true;
    const listener = await Listener.start(listenerHost(this.#parts, this.#dialer), options).catch((err: unknown) => {
      this.#listening = false;
      throw err;
    });
    if (this.#closed) {
      // close() ran while we were binding or registering.
      await listener.close();
      throw new ErldistError('NODE_DOWN', `node ${this.name} was closed while it started listening`);
    }
    this.#listener = listener;
    return { port: listener.port, epmdCreation: listener.epmdCreation };
  }

  /** Closes every connection and mailbox; pending calls reject with NODE_DOWN. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#dialer.close();
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.close();
    const down = new ErldistError('NODE_DOWN', `node ${this.name} is closed`);
    for (const box of this.#registry.takeAll()) box.shutdown(down);
  }

  readonly #mailboxOwner: MailboxOwner = {
    release: (box) => {
      this.#registry.remove(box);
      this.#signals.released(box);
    },
    sendFrom: (from, to, message, peerName) => this.#router.sendFrom(from, to, message, peerName),
    link: (box, to) => this.#signals.link(box, to),
    unlink: (box, to) => this.#signals.unlink(box, to),
    monitor: (box, target, peerName) => this.#signals.monitor(box, target, peerName),
    demonitor: (box, ref) => this.#signals.demonitor(box, ref),
  };

  #spawnRegistered(name: string): Mailbox {
    const box = this.spawn();
    this.register(name, box);
    return box;
  }

  #cookieFor(node: string): string {
    return this.#cookies.get(node) ?? this.#cookie;
  }

  /** Work that runs on its own: a failure there never crashes the host; it is a 'warning'. */
  #background(work: Promise<unknown>): void {
    work.catch((err: unknown) => this.emit('warning', err));
  }

  #assertOpen(): void {
    if (this.#closed) throw new ErldistError('NODE_DOWN', `node ${this.name} is closed`);
  }
}

export function createNode(options: NodeOptions = {}): LocalNode {
  return new LocalNode(options);
}
