/**
 * The local node: its name and creation, the pids and references it makes, its mailboxes and
 * registered names, and its connections to other nodes (one Peer each).
 */
import { EventEmitter } from 'node:events';
import { randomBytes, randomInt } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { Connection } from '../dist/connection.js';
import { Op, type Control } from '../dist/control.js';
import { DFLAG_ERLDIST } from '../dist/flags.js';
import { type HandshakeResult, handshakeInitiator } from '../dist/handshake.js';
import { portPlease2 } from '../epmd/client.js';
import { ErldistError } from '../errors.js';
import { type Atom, type DecodeOptions, Pid, Reference, type Term, Tuple, atom } from '../term/index.js';
import { refKey } from './keys.js';
import { Mailbox, type MailboxOwner } from './mailbox.js';
import { type NodeAddress, defaultNodeName, parseNodeName, resolveCookie } from './names.js';
import { Peer } from './peer.js';
import { type WaitOptions, abortedError, waitFor } from './wait.js';

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
  /** EPMD port for lookups (default: ERL_EPMD_PORT, else 4369). */
  epmdPort?: number;
}

export interface ConnectOptions extends WaitOptions {
  /** Ms for the handshake alone (default 10000). `timeout` covers EPMD and TCP (default 10000). */
  handshakeTimeout?: number;
}

/** Something that can receive messages sent to one of our pids. */
export interface LocalProcess {
  deliver(message: Term, from?: Pid): void;
}

export interface NodeStats {
  /** Messages for pids or names that do not exist here, dropped as Erlang drops them. */
  dropped: number;
}

const GEN_CALL = atom('$gen_call');
const NORMAL = atom('normal');
const NOPROC = atom('noproc');

export class LocalNode extends EventEmitter implements MailboxOwner {
  readonly name: string;
  readonly nodeAtom: Atom;
  readonly creation: number;
  readonly stats: NodeStats = { dropped: 0 };
  /** @internal */ readonly cookie: string;
  /** @internal */ readonly options: Readonly<NodeOptions>;
  /** @internal */ readonly decodeOptions: DecodeOptions;
  private readonly processes = new Map<number, LocalProcess>();
  private readonly registered = new Map<string, Mailbox>();
  private readonly peers = new Map<string, Peer>();
  private readonly connecting = new Map<string, Promise<Peer>>();
  /** Monitors other nodes hold on our mailboxes: pid id -> monitors. */
  private readonly remoteMonitors = new Map<number, { peer: Peer; from: Pid; ref: Reference }[]>();
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

  constructor(options: NodeOptions = {}) {
    super();
    this.options = { ...options };
    this.cookie = resolveCookie(options.cookie);
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
    this.callerPid = this.makePid();
    this.processes.set(this.callerPid.id, { deliver: (m) => this.deliverReply(m) });
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
    const monitors = this.remoteMonitors.get(box.pid.id);
    this.remoteMonitors.delete(box.pid.id);
    for (const m of monitors ?? []) {
      if (!m.peer.isClosed) m.peer.sendControl({ op: Op.MONITOR_P_EXIT, from: box.pid, to: m.from, ref: m.ref, reason: NORMAL });
    }
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
    const peer = this.peers.get(parseNodeName(name).node);
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
    const { signal } = options;
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
            flags: DFLAG_ERLDIST,
            cookie: this.cookie,
            peerName: address.node,
          }).then(resolve, reject);
          return () => socket.destroy();
        },
      );
      this.assertOpen();
      const peer = new Peer(this, address.node, socket, handshake);
      const old = this.peers.get(address.node);
      if (old && !old.isClosed) old.close();
      this.peers.set(address.node, peer);
      this.emit('nodeup', address.node);
      return peer;
    } catch (err) {
      socket.destroy();
      throw err;
    }
  }

  /** @internal Called by a Peer whose connection ended. */
  peerDown(peer: Peer, error: ErldistError): void {
    if (this.peers.get(peer.name) === peer) this.peers.delete(peer.name);
    // Monitors the peer held on our mailboxes die with the connection.
    for (const [id, list] of this.remoteMonitors) {
      const rest = list.filter((m) => m.peer !== peer);
      if (rest.length > 0) this.remoteMonitors.set(id, rest);
      else this.remoteMonitors.delete(id);
    }
    this.emit('nodedown', peer.name, error);
  }

  /** @internal Dispatches a message that arrived on `peer`'s connection. */
  dispatch(peer: Peer, control: Control, payload: Term | undefined): void {
    switch (control.op) {
      case Op.SEND:
      case Op.SEND_SENDER:
        this.deliverLocal(control.to, payload as Term);
        return;
      case Op.REG_SEND: {
        const box = this.registered.get(control.toName.name);
        if (box) box.deliver(payload as Term);
        else this.stats.dropped++;
        return;
      }
      case Op.MONITOR_P_EXIT:
        this.deliverDown(control.ref, control.reason);
        return;
      case Op.PAYLOAD_MONITOR_P_EXIT:
        this.deliverDown(control.ref, payload as Term);
        return;
      case Op.MONITOR_P:
        this.remoteMonitor(peer, control.from, control.to, control.ref);
        return;
      case Op.DEMONITOR_P:
        this.remoteDemonitor(control.to, control.ref);
        return;
      case Op.UNLINK_ID:
        // Answer before any other signal to the sender (protocol-notes §4).
        peer.sendControl({ op: Op.UNLINK_ID_ACK, id: control.id, from: control.to, to: control.from });
        return;
      default:
        // Links, exits and spawn requests are not offered yet: nothing here links or is spawned.
        this.stats.dropped++;
    }
  }

  private deliverLocal(to: Pid, message: Term): void {
    const proc = to.node === this.nodeAtom && to.creation === this.creation ? this.processes.get(to.id) : undefined;
    if (proc) proc.deliver(message);
    else this.stats.dropped++;
  }

  private deliverReply(message: Term): void {
    // Replies to calls are `{Ref, Reply}` (gen:reply/2).
    if (message instanceof Tuple && message.length === 2 && message.elements[0] instanceof Reference) {
      const key = refKey(message.elements[0]);
      const handler = this.pendingReplies.get(key);
      if (handler) {
        this.pendingReplies.delete(key);
        handler(message.elements[1]);
        return;
      }
    }
    this.stats.dropped++;
  }

  private deliverDown(ref: Reference, reason: Term): void {
    const key = refKey(ref);
    const handler = this.pendingDowns.get(key);
    if (handler) {
      this.pendingDowns.delete(key);
      handler(reason);
    }
  }

  private remoteMonitor(peer: Peer, from: Pid, target: Pid | Atom, ref: Reference): void {
    let box: LocalProcess | undefined;
    if (target instanceof Pid) box = target.creation === this.creation ? this.processes.get(target.id) : undefined;
    else box = this.registered.get(target.name);
    if (!(box instanceof Mailbox)) {
      peer.sendControl({ op: Op.MONITOR_P_EXIT, from: target, to: from, ref, reason: NOPROC });
      return;
    }
    const list = this.remoteMonitors.get(box.pid.id) ?? [];
    list.push({ peer, from, ref });
    this.remoteMonitors.set(box.pid.id, list);
  }

  private remoteDemonitor(target: Pid | Atom, ref: Reference): void {
    const box = target instanceof Pid ? this.processes.get(target.id) : this.registered.get(target.name);
    if (!(box instanceof Mailbox)) return;
    const list = this.remoteMonitors.get(box.pid.id);
    if (!list) return;
    const rest = list.filter((m) => refKey(m.ref) !== refKey(ref));
    if (rest.length > 0) this.remoteMonitors.set(box.pid.id, rest);
    else this.remoteMonitors.delete(box.pid.id);
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
    const down = new ErldistError('NODE_DOWN', `node ${this.name} is closed`);
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

export function createNode(options: NodeOptions = {}): LocalNode {
  return new LocalNode(options);
}

