/**
 * The local node: its name and creation, the pids and references it makes, its mailboxes and
 * registered names, and its connections to other nodes (one Peer each).
 */
import { EventEmitter } from 'node:events';
import { randomBytes, randomInt } from 'node:crypto';
import { type Socket, connect as netConnect } from 'node:net';
import { Op, type Control } from '../distribution/control.js';
import { DFLAG, DFLAG_ERLDIST } from '../distribution/flags.js';
import { type AcceptStatus, type HandshakeResult, handshakeInitiator } from '../distribution/handshake.js';
import { portPlease2 } from '../epmd/client.js';
import { ErldistError } from '../errors.js';
import { Atom, type DecodeOptions, Pid, Reference, type Term, Tuple, atom } from '../term/index.js';
import { pendingKey } from './keys.js';
import { Mailbox, type MailboxOwner, type Monitor } from './mailbox.js';
import { type NodeAddress, defaultNodeName, parseNodeName, resolveCookie } from './names.js';
import { Peer } from './peer.js';
import { type Exposed, type ExposedFunction, runNetKernel, runRex } from './rex.js';
import { type From, type ServerHandlers, type ServerHost, handlerErrorReason, runServer } from './server.js';
import { Signals } from './signals.js';
import { type ListenOptions, Listener, type Listening } from './listener.js';

export type { ListenOptions, Listening };
import { type WaitOptions, abortedError, waitFor } from '../wait.js';

export interface NodeOptions {
  /** `name@host`. Default: a name unique to this process, long (`@` an FQDN or IP). */
  name?: string;
  /** Default: ERLANG_COOKIE, then RELEASE_COOKIE, then ~/.erlang.cookie. */
  cookie?: string;
  /** Decode messages so that every term re-encodes `=:=` (see the README's term mapping). */
  exact?: boolean;
  /** Further options for decoding message payloads. */
  decode?: Omit<DecodeOptions, 'exact' | 'atomCache'>;
  /** Ms without data after which a peer is down; we tick after a quarter of it. Default 60000. */
  tickTime?: number;
  /** Largest frame accepted from a peer, bytes. Default 128 MiB. */
  maxFrameSize?: number;
  /** `send` returns false once this many bytes wait in a connection. Default 1 MiB. */
  highWaterMark?: number;
  /** `send` throws BUFFER_FULL past this many waiting bytes. Default 64 MiB. */
  maxBuffered?: number;
  /** EPMD port for lookups and registration (default: ERL_EPMD_PORT, else 4369). */
  epmdPort?: number;
  /** A hidden node (the default) is not in `nodes()` on the other side; `false` publishes it. */
  hidden?: boolean;
}

export interface ConnectOptions extends WaitOptions {
  /** Ms for the handshake alone (default 10000). `timeout` covers EPMD and TCP (default 10000). */
  handshakeTimeout?: number;
}

/** Something that can receive messages sent to one of our pids. */
export interface LocalProcess {
  /** `via` is the node whose connection carried the message (none for local sends). */
  deliver(message: Term, via?: string): void;
}

export interface NodeStats {
  /** Messages for pids or names that do not exist here, dropped as Erlang drops them. */
  dropped: number;
}

const GEN_CALL = atom('$gen_call');
const IO_REQUEST = atom('io_request');
const IO_REPLY = atom('io_reply');

export class LocalNode extends EventEmitter implements MailboxOwner {
  readonly name: string;
  readonly nodeAtom: Atom;
  readonly creation: number;
  readonly stats: NodeStats = { dropped: 0 };
  // Private fields stay out of util.inspect and JSON, so a logged node never shows a cookie.
  readonly #cookie: string;
  readonly #cookies = new Map<string, string>();
  /** @internal The options without the cookie. */ readonly options: Readonly<Omit<NodeOptions, 'cookie'>>;
  /** @internal */ readonly decodeOptions: DecodeOptions;
  private readonly processes = new Map<number, LocalProcess>();
  private readonly registered = new Map<string, Mailbox>();
  private readonly peers = new Map<string, Peer>();
  private readonly connecting = new Map<string, Promise<Peer>>();
  private nextPid = 1;
  private nextRef = 0;
  private readonly refSalt: number;
  private closed = false;
  /** @internal The pid that sends calls and receives their replies. */
  readonly callerPid: Pid;
  /** @internal Pending calls by reference, answered by `{Ref, Reply}` to callerPid. */
  readonly pendingReplies = new Map<string, (reply: Term) => void>();
  /** @internal Pending monitors by reference, answered by a DOWN. */
  readonly pendingDowns = new Map<string, (reason: Term) => void>();
  private readonly exposed: Exposed = new Map();
  /** @internal Links and monitors across connections. */
  readonly signals: Signals;
  private listener: Listener | undefined;
  private listening = false;
  /** Names we dialled that the node answered to under another name (`a@svc-dns` -> `a@10.0.0.7`). */
  private readonly aliases = new Map<string, string>();
  /** Aborts dials still in progress when the node closes. */
  private readonly closing = new AbortController();
  /** @internal */ readonly host: ServerHost & { send(to: Pid, message: Term): void; background(work: Promise<unknown>): void };

  constructor(options: NodeOptions = {}) {
    super();
    const { cookie: _cookie, ...rest } = options;
    this.options = rest;
    this.#cookie = resolveCookie(options.cookie);
    const name = options.name ?? defaultNodeName({ node: '', alive: '', host: '', long: true });
    this.name = parseNodeName(name).node;
    if (parseNodeName(name).port !== undefined) {
      throw new ErldistError('INVALID_ARGUMENT', `a local node name has no port: ${name}`);
    }
    this.nodeAtom = atom(this.name);
    // A hidden node that has not registered with EPMD picks its own creation (never 0).
    this.creation = randomInt(1, 0xffffffff);
    this.refSalt = randomBytes(4).readUInt32BE(0);
    this.decodeOptions = { ...options.decode, exact: options.exact === true };
    this.signals = new Signals({
      peer: (name) => this.peer(name),
      peerFor: (name) => this.peerFor(name),
      onlyPeerName: (name) => this.onlyPeerName(name),
      makeRef: () => this.makeRef(),
      mailbox: (target) => this.mailbox(target),
      mailboxById: (id) => {
        const proc = this.processes.get(id);
        return proc instanceof Mailbox ? proc : undefined;
      },
    });
    this.callerPid = this.makePid();
    this.processes.set(this.callerPid.id, { deliver: (m, via) => this.deliverReply(m, via) });
    this.host = {
      reply: (from, reply) => this.replyTo(from, reply),
      failCall: (server, from, reason) => this.signals.failCall(server, from, reason),
      background: (work) => this.background(work),
      send: (to, message) => {
        try {
          this.sendFrom(this.callerPid, to, message);
        } catch {
          // The caller's node is gone: nobody waits for this reply.
        }
      },
    };
    const rex = this.spawn();
    this.register('rex', rex);
    this.background(runRex(rex, this.exposed, this.host));
    const netKernel = this.spawn();
    this.register('net_kernel', netKernel);
    this.background(runNetKernel(netKernel, this.host));
  }

  /**
   * Work that runs on its own (server loops, spawned calls): a failure there is a bug of ours or a
   * peer gone mid-reply, never a reason to crash the host process. It is reported as 'warning'.
   */
  /** @internal */
  background(work: Promise<unknown>): void {
    work.catch((err: unknown) => this.emit('warning', err));
  }

  /** The flags we advertise: PUBLISHED only when not hidden. */
  get flags(): bigint {
    return this.options.hidden === false ? DFLAG_ERLDIST | DFLAG.PUBLISHED : DFLAG_ERLDIST;
  }

  /** The cookie for `node` (set with setCookie), else the node's own. */
  /** @internal */
  cookieFor(node: string): string {
    return this.#cookies.get(node) ?? this.#cookie;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    const peers = [...this.peers.keys()].join(', ');
    return `LocalNode { name: '${this.name}', creation: ${this.creation}, peers: [${peers}]${this.closed ? ', closed' : ''} }`;
  }

  /** A cookie for one node only, as erlang:set_cookie/2: used both to connect to it and to accept it. */
  setCookie(node: string, cookie: string): void {
    if (typeof cookie !== 'string' || cookie.length === 0) throw new ErldistError('INVALID_ARGUMENT', 'a cookie is a non-empty string');
    this.#cookies.set(parseNodeName(node).node, cookie);
  }

  // --- serving ----------------------------------------------------------------------------------------

  /**
   * A gen_server registered as `name`: `gen_server:call({Name, Node}, Req)` from Erlang or
   * `GenServer.call({name, node}, req)` from Elixir reaches `handleCall`. Returns its mailbox
   * (`.pid`, `.close()`).
   */
  serve(name: string, handlers: ServerHandlers): Mailbox {
    const box = this.spawn();
    this.register(name, box);
    this.background(runServer(box, handlers, this.host));
    return box;
  }

  /** Functions that `rpc:call(Node, Module, F, Args)` may call. Unknown ones give Erlang's `undef`. */
  expose(module: string, functions: Record<string, ExposedFunction>): void {
    let table = this.exposed.get(module);
    if (!table) this.exposed.set(module, (table = new Map()));
    for (const [name, fn] of Object.entries(functions)) {
      if (typeof fn !== 'function') throw new ErldistError('INVALID_ARGUMENT', `${module}:${name} is not a function`);
      table.set(name, fn);
    }
  }

  private replyTo(from: From, reply: Term): void {
    try {
      this.sendFrom(this.callerPid, from.pid, new Tuple([from.tag, reply]));
    } catch {
      // The caller's node is gone: nobody waits for this reply.
    }
  }

  // --- identifiers ----------------------------------------------------------------------------------

  /** A new pid of this node. */
  makePid(): Pid {
    const id = this.nextPid++;
    // Pid ids are 28 bits in OTP; past that, start over with a new serial.
    return new Pid(this.nodeAtom, id & 0xfffffff, Math.floor(id / 0x10000000) & 0x1fff, this.creation);
  }

  /** A new reference of this node. */
  makeRef(): Reference {
    const n = this.nextRef++;
    // The first word of an OTP reference holds 18 bits.
    return new Reference(this.nodeAtom, this.creation, [n & 0x3ffff, Math.floor(n / 0x40000) >>> 0, this.refSalt]);
  }

  // --- mailboxes ------------------------------------------------------------------------------------

  /** A new mailbox with its own pid. */
  spawn(): Mailbox {
    this.assertOpen();
    const box = new Mailbox(this.makePid(), this);
    this.processes.set(box.pid.id, box);
    return box;
  }

  /** Registers `box` under `name`, so that `{name, Node} ! Msg` reaches it. */
  register(name: string, box: Mailbox): void {
    if (box.closed) throw new ErldistError('INVALID_ARGUMENT', `cannot register ${name}: the mailbox is closed`);
    const existing = this.registered.get(name);
    if (existing !== undefined && existing !== box) {
      throw new ErldistError('INVALID_ARGUMENT', `the name ${name} is already registered`);
    }
    this.registered.set(name, box);
    box.names.add(name);
  }

  unregister(name: string): void {
    const box = this.registered.get(name);
    if (box) box.names.delete(name);
    this.registered.delete(name);
  }

  /** The mailbox registered as `name`. */
  whereis(name: string): Mailbox | undefined {
    return this.registered.get(name);
  }

  /** @internal */
  release(box: Mailbox): void {
    this.processes.delete(box.pid.id);
    for (const name of box.names) this.registered.delete(name);
    this.signals.released(box);
  }

  /** @internal MailboxOwner: links and monitors go through the signal tables. */
  link(box: Mailbox, to: Pid): void {
    this.signals.link(box, to);
  }

  /** @internal */
  unlink(box: Mailbox, to: Pid): void {
    this.signals.unlink(box, to);
  }

  /** @internal */
  monitor(box: Mailbox, target: Pid | string, peerName?: string): Monitor {
    return this.signals.monitor(box, target, peerName);
  }

  /** @internal */
  demonitor(box: Mailbox, ref: Reference): void {
    this.signals.demonitor(box, ref);
  }

  /** One of our mailboxes by pid (ours: this node and creation) or registered name. */
  private mailbox(target: Pid | Atom): Mailbox | undefined {
    if (target instanceof Pid) {
      if (target.node !== this.nodeAtom || target.creation !== this.creation) return undefined;
      const proc = this.processes.get(target.id);
      return proc instanceof Mailbox ? proc : undefined;
    }
    return this.registered.get(target.name);
  }

  // --- links and monitors -----------------------------------------------------------------------------

  /**
   * Calls `onDown(reason)` once when the connection to `name` ends (at once if there is none), as
   * erlang:monitor_node/2. Returns a function that cancels it.
   */
  monitorNode(name: string, onDown: (error: ErldistError) => void): () => void {
    const node = parseNodeName(name).node;
    if (!this.peer(node)) {
      queueMicrotask(() => onDown(new ErldistError('NODE_DOWN', `not connected to ${node}`, { node })));
      return () => {};
    }
    const listener = (down: string, error: ErldistError) => {
      if (down !== node) return;
      this.off('nodedown', listener);
      onDown(error);
    };
    this.on('nodedown', listener);
    return () => this.off('nodedown', listener);
  }

  /** @internal */
  sendFrom(from: Pid, to: Pid | string, message: Term, peerName?: string): boolean {
    if (to instanceof Pid) {
      if (to.node === this.nodeAtom) {
        this.deliverLocal(to, message);
        return true;
      }
      return this.peerFor(to.node.name).sendControl({ op: Op.SEND, to }, message);
    }
    const target = peerName ?? this.onlyPeerName(to);
    if (target === this.name) {
      const box = this.registered.get(to);
      if (box) box.deliver(message);
      else this.stats.dropped++;
      return true;
    }
    return this.peerFor(target).sendControl({ op: Op.REG_SEND, from, toName: atom(to) }, message);
  }

  private onlyPeerName(name: string): string {
    const open = [...this.peers.values()].filter((p) => !p.isClosed);
    if (open.length === 1) return open[0].name;
    throw new ErldistError('INVALID_ARGUMENT', `send to ${name}: say which node (${open.length} are connected)`);
  }

  private peerFor(name: string): Peer {
    const peer = this.peers.get(name);
    if (!peer || peer.isClosed) throw new ErldistError('NODE_DOWN', `not connected to ${name}`, { node: name });
    return peer;
  }

  // --- connections ----------------------------------------------------------------------------------

  /** The open connection to `name`, if there is one. */
  peer(name: string): Peer | undefined {
    const node = parseNodeName(name).node;
    const peer = this.peers.get(this.aliases.get(node) ?? node);
    return peer && !peer.isClosed ? peer : undefined;
  }

  /** Connects to `target` (`name@host`, or `name@host:port` to skip EPMD); reuses an open connection. */
  connect(target: string, options: ConnectOptions = {}): Promise<Peer> {
    try {
      this.assertOpen();
      const address = parseNodeName(target);
      const open = this.peer(address.node);
      if (open) return Promise.resolve(open);
      const pending = this.connecting.get(address.node);
      if (pending) return pending;
      const attempt = this.dial(address, options).finally(() => this.connecting.delete(address.node));
      this.connecting.set(address.node, attempt);
      return attempt;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async dial(address: NodeAddress, options: ConnectOptions): Promise<Peer> {
    const [signal, dispose] = eitherSignal(options.signal, this.closing.signal);
    try {
      return await this.dialWith(address, options, signal);
    } finally {
      dispose();
    }
  }

  private async dialWith(address: NodeAddress, options: ConnectOptions, signal: AbortSignal): Promise<Peer> {
    const timeout = options.timeout ?? 10_000;
    const what = `connect to ${address.node}`;
    if (signal?.aborted) throw abortedError(signal, what);
    const started = Date.now();
    const remaining = () => Math.max(0, timeout - (Date.now() - started));

    let port = address.port;
    if (port === undefined) {
      const info = await portPlease2(address.alive, address.host, { timeout: remaining(), signal, port: this.options.epmdPort });
      if (info.highestVersion < 6) {
        throw new ErldistError('NOT_ALLOWED', `${address.node} speaks distribution version ${info.highestVersion}; erldist needs 6 (OTP 23+)`, {
          node: address.node,
        });
      }
      port = info.port;
    }
    const socket = await openSocket(address, port, { timeout: remaining(), signal });
    try {
      const handshake = await waitFor<HandshakeResult>(
        { timeout: options.handshakeTimeout ?? 10_000, signal },
        `handshake with ${address.node}`,
        (resolve, reject) => {
          handshakeInitiator(socket, {
            localName: this.name,
            creation: this.creation,
            flags: this.flags,
            cookie: this.cookieFor(address.node),
            peerName: address.node,
            replaceAlive: () => this.peer(address.node) === undefined,
          }).then(resolve, reject);
          return () => socket.destroy();
        },
      );
      this.assertOpen();
      // The peer names itself in its challenge; a node reached through another host name (a
      // Service's DNS name for a node called app@<pod IP>) is kept under its own name, since its
      // pids carry that one.
      if (handshake.peerName !== address.node) this.aliases.set(address.node, handshake.peerName);
      return this.addPeer(handshake.peerName, socket, handshake);
    } catch (err) {
      socket.destroy();
      // We lost a simultaneous connect (nok), or the peer's connection to us came up first
      // (alive): use that connection.
      if (err instanceof ErldistError && err.code === 'NOT_ALLOWED' && /\((nok|alive)\)/.test(err.message)) {
        return this.awaitIncoming(address.node, options.handshakeTimeout ?? 10_000, signal, err);
      }
      throw err;
    }
  }

  private addPeer(name: string, socket: Socket, handshake: HandshakeResult): Peer {
    const peer = new Peer(this, name, socket, handshake);
    const old = this.peers.get(name);
    if (old && !old.isClosed) old.close();
    this.peers.set(name, peer);
    this.emit('nodeup', name);
    return peer;
  }

  private awaitIncoming(name: string, timeout: number, signal: AbortSignal, original: ErldistError): Promise<Peer> {
    const open = this.peer(name);
    if (open) return Promise.resolve(open);
    return waitFor<Peer>({ timeout, signal }, `connect to ${name}`, (resolve) => {
      const onUp = (up: string) => {
        const peer = this.peer(name);
        if (up === name && peer) resolve(peer);
      };
      this.on('nodeup', onUp);
      return () => this.off('nodeup', onUp);
    }).catch(() => {
      throw original;
    });
  }

  // --- listening ------------------------------------------------------------------------------------

  /**
   * Accepts connections from other nodes on `port`, registering with EPMD unless `epmd: false`
   * (then peers must dial `name@host:port`). While registered, a restarted EPMD gets the name back.
   */
  async listen(options: ListenOptions = {}): Promise<Listening> {
    this.assertOpen();
    if (this.listening) throw new ErldistError('INVALID_ARGUMENT', `node ${this.name} is already listening`);
    this.listening = true;
    const node = this;
    let listener: Listener;
    try {
      listener = await Listener.start(
      {
        name: this.name,
        creation: this.creation,
        flags: this.flags,
        get isClosed() {
          return node.closed;
        },
        hidden: this.options.hidden !== false,
        epmdPort: this.options.epmdPort,
        cookieFor: (peer) => this.cookieFor(peer),
        acceptStatus: (peer) => this.acceptStatus(peer),
        addPeer: (name, socket, handshake) => {
          this.addPeer(name, socket, handshake);
        },
        emit: (event, ...args) => this.emit(event, ...args),
        background: (work) => this.background(work),
      },
      options,
    );
    } catch (err) {
      this.listening = false;
      throw err;
    }
    if (this.closed) {
      // close() ran while we were binding or registering.
      await listener.close();
      throw new ErldistError('NODE_DOWN', `node ${this.name} was closed while it started listening`);
    }
    this.listener = listener;
    return { port: listener.port, epmdCreation: listener.epmdCreation };
  }

  private acceptStatus(node: string): AcceptStatus {
    if (this.closed) return 'not_allowed';
    if (this.peer(node)) return 'alive';
    if (this.connecting.has(node)) {
      // Both sides dial at once: the node whose name sorts higher keeps its own attempt (dist_util).
      return this.name > node ? 'nok' : 'ok_simultaneous';
    }
    return 'ok';
  }

  /** @internal Called by a Peer whose connection ended. */
  peerDown(peer: Peer, error: ErldistError): void {
    if (this.peers.get(peer.name) === peer) this.peers.delete(peer.name);
    this.signals.peerDown(peer);
    this.emit('nodedown', peer.name, error);
  }

  /** @internal Dispatches a message that arrived on `peer`'s connection. */
  dispatch(peer: Peer, control: Control, payload: Term | undefined): void {
    switch (control.op) {
      case Op.SEND:
      case Op.SEND_SENDER:
        this.deliverLocal(control.to, payload as Term, peer.name);
        return;
      case Op.REG_SEND: {
        const box = this.registered.get(control.toName.name);
        if (box) box.deliver(payload as Term);
        else this.stats.dropped++;
        return;
      }
      case Op.MONITOR_P_EXIT:
        this.deliverDown(control.ref, control.reason, peer);
        return;
      case Op.PAYLOAD_MONITOR_P_EXIT:
        this.deliverDown(control.ref, payload as Term, peer);
        return;
      case Op.MONITOR_P:
        this.signals.onMonitor(peer, control.from, control.to, control.ref);
        return;
      case Op.DEMONITOR_P:
        this.signals.onDemonitor(control.to, control.ref);
        return;
      case Op.SPAWN_REQUEST:
        this.spawnRequest(peer, control, payload);
        return;
      case Op.UNLINK_ID:
        if (!this.fromPeer(peer, control.from)) return;
        // Answer before any other signal to the sender (protocol-notes §4).
        peer.trySend({ op: Op.UNLINK_ID_ACK, id: control.id, from: control.to, to: control.from });
        this.signals.onUnlink(control.from, control.to);
        return;
      case Op.UNLINK_ID_ACK:
        return;
      case Op.LINK:
        if (!this.fromPeer(peer, control.from)) return;
        this.signals.onLink(peer, control.from, control.to);
        return;
      case Op.EXIT:
        if (!this.fromPeer(peer, control.from)) return;
        this.signals.onExit(control.from, control.to, control.reason, false);
        return;
      case Op.PAYLOAD_EXIT:
        if (!this.fromPeer(peer, control.from)) return;
        this.signals.onExit(control.from, control.to, payload as Term, false);
        return;
      case Op.EXIT2:
        if (!this.fromPeer(peer, control.from)) return;
        this.signals.onExit(control.from, control.to, control.reason, true);
        return;
      case Op.PAYLOAD_EXIT2:
        if (!this.fromPeer(peer, control.from)) return;
        this.signals.onExit(control.from, control.to, payload as Term, true);
        return;
      case Op.SPAWN_REPLY:
        this.deliverSpawnReply(control, peer);
        return;
      default:
        // GROUP_LEADER, ALIAS_SEND, ALTACT_SIG_SEND: features we do not advertise.
        this.stats.dropped++;
    }
  }

  /** Link and exit signals must come from a process of the sending node (protocol-notes §4). */
  private fromPeer(peer: Peer, from: Pid): boolean {
    if (from.node.name === peer.name) return true;
    this.stats.dropped++;
    return false;
  }

  /**
   * SPAWN_REQUEST (protocol-notes §4-5): what `erpc:call` and so `rpc:call` send since OTP 23. The
   * "process" runs an exposed function and exits; `erpc:execute_call(Ref, M, F, A)` exits with
   * `{Ref, return, V}` or `{Ref, error, Reason, Stack}`, which reaches the caller through its monitor.
   */
  private spawnRequest(peer: Peer, req: Extract<Control, { op: typeof Op.SPAWN_REQUEST }>, payload: Term | undefined): void {
    const args = Array.isArray(payload) ? payload : [];
    const options = Array.isArray(req.options) ? req.options : [];
    const has = (name: string) => options.some((o) => o === atom(name) || (o instanceof Tuple && o.elements[0] === atom(name)));
    const link = has('link');
    const monitor = has('monitor');
    const pid = this.makePid();
    peer.trySend({ op: Op.SPAWN_REPLY, reqId: req.reqId, to: req.from, flags: (link ? 1 : 0) | (monitor ? 2 : 0), result: pid });
    const exit = (reason: Term) => {
      if (peer.isClosed) return;
      if (monitor) peer.trySend({ op: Op.MONITOR_P_EXIT, from: pid, to: req.from, ref: req.reqId, reason });
      if (link) peer.trySend({ op: Op.EXIT, from: pid, to: req.from, reason });
    };
    this.background(this.runSpawned(req.mfa, args).then(exit));
  }

  private async runSpawned([m, f]: [Atom, Atom, number], args: Term[]): Promise<Term> {
    const erpc = m === atom('erpc');
    if (erpc && f === atom('execute_call') && args.length === 4) {
      const [ref, mod, fun, funArgs] = args;
      if (mod instanceof Atom && fun instanceof Atom && Array.isArray(funArgs)) {
        const fn = this.exposedFunction(mod, fun);
        const where = [new Tuple([mod, fun, fn ? funArgs.length : funArgs, []])];
        if (!fn) return new Tuple([ref, atom('error'), atom('undef'), where]);
        try {
          return new Tuple([ref, atom('return'), await fn(...funArgs)]);
        } catch (err) {
          return new Tuple([ref, atom('error'), handlerErrorReason(err), where]);
        }
      }
    }
    if (erpc && f === atom('execute_cast') && args.length === 3) {
      const [mod, fun, funArgs] = args;
      if (mod instanceof Atom && fun instanceof Atom && Array.isArray(funArgs)) {
        await this.exposedFunction(mod, fun)?.(...funArgs);
      }
      return atom('normal');
    }
    const fn = this.exposedFunction(m, f);
    if (!fn) return new Tuple([atom('undef'), [new Tuple([m, f, args, []])]]);
    try {
      await fn(...args);
      return atom('normal');
    } catch (err) {
      return handlerErrorReason(err);
    }
  }

  private exposedFunction(m: Atom, f: Atom): ExposedFunction | undefined {
    return this.exposed.get(m.name)?.get(f.name);
  }

  private deliverLocal(to: Pid, message: Term, via?: string): void {
    const proc = to.node === this.nodeAtom && to.creation === this.creation ? this.processes.get(to.id) : undefined;
    if (proc) proc.deliver(message, via);
    else this.stats.dropped++;
  }

  private deliverReply(message: Term, via: string | undefined): void {
    // Replies to calls are `{Ref, Reply}` (gen:reply/2).
    if (message instanceof Tuple && message.length === 2 && message.elements[0] instanceof Reference) {
      const key = pendingKey(via ?? '', message.elements[0]);
      const handler = this.pendingReplies.get(key);
      if (handler) {
        this.pendingReplies.delete(key);
        handler(message.elements[1]);
        return;
      }
    }
    // A process we spawned elsewhere writes to its group leader (us): take the output, say ok.
    if (message instanceof Tuple && message.length === 4 && message.elements[0] === IO_REQUEST && message.elements[1] instanceof Pid) {
      try {
        this.sendFrom(this.callerPid, message.elements[1], new Tuple([IO_REPLY, message.elements[2], atom('ok')]));
      } catch {
        // the requester's node is gone
      }
      return;
    }
    this.stats.dropped++;
  }

  /** @internal Pending spawn requests by ReqId. */
  readonly pendingSpawns = new Map<string, (flags: number, result: Term) => void>();

  private deliverSpawnReply(reply: Extract<Control, { op: typeof Op.SPAWN_REPLY }>, peer: Peer): void {
    const key = pendingKey(peer.name, reply.reqId);
    const handler = this.pendingSpawns.get(key);
    if (!handler) return;
    this.pendingSpawns.delete(key);
    handler(reply.flags, reply.result);
  }

  private deliverDown(ref: Reference, reason: Term, peer: Peer): void {
    if (this.signals.down(ref, reason, peer.name)) return;
    const key = pendingKey(peer.name, ref);
    const handler = this.pendingDowns.get(key);
    if (handler) {
      this.pendingDowns.delete(key);
      handler(reason);
    }
  }

  /** @internal The `$gen_call` message for a call from callerPid tagged `ref`. */
  genCall(ref: Reference, request: Term): Tuple {
    return new Tuple([GEN_CALL, new Tuple([this.callerPid, ref]), request]);
  }

  // --- lifecycle ------------------------------------------------------------------------------------

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes every connection and mailbox; pending calls reject with NODE_DOWN. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    const down = new ErldistError('NODE_DOWN', `node ${this.name} is closed`);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.close();
    for (const peer of [...this.peers.values()]) peer.close();
    for (const proc of [...this.processes.values()]) if (proc instanceof Mailbox) proc.shutdown(down);
    this.processes.clear();
    this.registered.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw new ErldistError('NODE_DOWN', `node ${this.name} is closed`);
  }
}

function openSocket(address: NodeAddress, port: number, options: WaitOptions): Promise<Socket> {
  return waitFor<Socket>(options, `TCP connect to ${address.host}:${port}`, (resolve, reject) => {
    const socket = netConnect({ host: address.host, port });
    const onError = (err: Error) => {
      socket.destroy();
      reject(
        new ErldistError('CONNECT_FAILED', `cannot reach ${address.node} at ${address.host}:${port}: ${err.message}`, {
          node: address.node,
          cause: err,
        }),
      );
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      // From here the handshake, then the connection, report errors through 'close'; this keeps an
      // error that lands between the two from being an unhandled 'error' event.
      socket.on('error', () => {});
      resolve(socket);
    });
    return () => socket.destroy();
  });
}

/** A signal that aborts when either does, and a function that stops listening to both. */
function eitherSignal(a: AbortSignal | undefined, b: AbortSignal): [AbortSignal, () => void] {
  if (!a || a.aborted) return [a ?? b, () => {}];
  if (b.aborted) return [b, () => {}];
  const both = new AbortController();
  const dispose = () => {
    a.removeEventListener('abort', fromA);
    b.removeEventListener('abort', fromB);
  };
  const fromA = () => {
    dispose();
    both.abort(a.reason);
  };
  const fromB = () => {
    dispose();
    both.abort(b.reason);
  };
  a.addEventListener('abort', fromA, { once: true });
  b.addEventListener('abort', fromB, { once: true });
  return [both.signal, dispose];
}

export function createNode(options: NodeOptions = {}): LocalNode {
  return new LocalNode(options);
}

