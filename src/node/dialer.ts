/**
 * The connections of one local node: the open peers by name, dialling out (EPMD, TCP, the
 * initiator handshake), simultaneous connects (dist_util's rule: the higher name keeps its own
 * attempt), and aliases for nodes reached under another host name than their own.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { type AcceptStatus, type HandshakeResult, handshakeInitiator } from '../distribution/handshake.js';
import { portPlease2 } from '../epmd/client.js';
import { ErldistError } from '../errors.js';
import { abortedError, deadline, type WaitOptions, waitFor } from '../wait.js';
import { type NodeAddress, parseNodeName } from './names.js';
import { Peer, type PeerHost } from './peer.js';

export interface ConnectOptions extends WaitOptions {
  /** Ms for the handshake alone (default 10000). `timeout` covers EPMD and TCP (default 10000). */
  handshakeTimeout?: number;
}

/** The local node as the handshakes see it (the node itself). */
export interface LocalIdentity {
  readonly name: string;
  readonly creation: number;
  readonly flags: bigint;
  readonly isClosed: boolean;
}

/** What the dialer needs from its node. */
export interface DialerHost<N> {
  readonly local: LocalIdentity;
  readonly epmdPort: number | undefined;
  cookieFor(node: string): string;
  nodeUp(name: string): void;
  /** What each peer needs; its `peerDown` runs once the dialer has forgotten the peer. */
  readonly peer: PeerHost<N>;
}

export class Dialer<N> {
  private readonly peers = new Map<string, Peer<N>>();
  private readonly connecting = new Map<string, Promise<Peer<N>>>();
  /** Names we dialled that the node answered to under another name (`a@svc-dns` -> `a@10.0.0.7`). */
  private readonly aliases = new Map<string, string>();
  /** Dials in progress, aborted when the node closes (one controller each: no shared signal). */
  private readonly dials = new Set<AbortController>();
  /** Dials that lost a simultaneous connect, waiting for the peer's connection to us. */
  private readonly incoming = new Map<string, Set<(peer: Peer<N>) => void>>();

  /** erlang:monitor_node/2 callbacks by node name. */
  private readonly watchers = new Map<string, Set<(error: ErldistError) => void>>();
  private readonly peerHost: PeerHost<N>;

  constructor(private readonly host: DialerHost<N>) {
    this.peerHost = {
      ...host.peer,
      peerDown: (peer, error) => {
        if (this.peers.get(peer.name) === peer) this.peers.delete(peer.name);
        host.peer.peerDown(peer, error);
        const watchers = this.watchers.get(peer.name);
        this.watchers.delete(peer.name);
        for (const onDown of watchers ?? []) onDown(error);
      },
    };
  }

  /** The open connection to `name` (or an alias of it), if there is one. */
  peer(name: string): Peer<N> | undefined {
    const node = parseNodeName(name).node;
    const peer = this.peers.get(this.aliases.get(node) ?? node);
    return peer && !peer.isClosed ? peer : undefined;
  }

  /** The open connection to the node named exactly `name` (no parsing, no alias: hot paths). */
  connected(name: string): Peer<N> | undefined {
    const peer = this.peers.get(name);
    return peer && !peer.isClosed ? peer : undefined;
  }

  /** The open connection to `name`; throws NODE_DOWN. */
  peerFor(name: string): Peer<N> {
    const peer = this.peers.get(name);
    if (!peer || peer.isClosed) throw new ErldistError('NODE_DOWN', `not connected to ${name}`, { node: name });
    return peer;
  }

  /** The only connected node, for a registered name given without one. */
  onlyPeerName(name: string): string {
    const open = this.open();
    if (open.length === 1) return open[0].name;
    throw new ErldistError('INVALID_ARGUMENT', `send to ${name}: say which node (${open.length} are connected)`);
  }

  open(): Peer<N>[] {
    return [...this.peers.values()].filter((p) => !p.isClosed);
  }

  connect(target: string, options: ConnectOptions): Promise<Peer<N>> {
    const address = parseNodeName(target);
    const open = this.peer(address.node);
    if (open) return Promise.resolve(open);
    const pending = this.connecting.get(address.node);
    if (pending) return pending;
    const attempt = this.dial(address, options).finally(() => this.connecting.delete(address.node));
    this.connecting.set(address.node, attempt);
    return attempt;
  }

  /** The status an incoming handshake from `node` gets (protocol-notes §3, dist_util). */
  acceptStatus(node: string): AcceptStatus {
    if (this.host.local.isClosed) return 'not_allowed';
    if (this.peer(node)) return 'alive';
    if (this.connecting.has(node)) return this.host.local.name > node ? 'nok' : 'ok_simultaneous';
    return 'ok';
  }

  /** A connection that completed its handshake, in either direction; replaces an older one. */
  add(name: string, socket: Socket, handshake: HandshakeResult): Peer<N> {
    const peer = new Peer(this.peerHost, name, socket, handshake);
    const old = this.peers.get(name);
    if (old && !old.isClosed) void old.close();
    this.peers.set(name, peer);
    this.host.nodeUp(name);
    const waiting = this.incoming.get(name);
    this.incoming.delete(name);
    for (const resolve of waiting ?? []) resolve(peer);
    return peer;
  }

  /**
   * Calls `onDown(error)` once when the connection to `name` ends (at once if there is none), as
   * erlang:monitor_node/2. Returns a function that cancels it.
   */
  monitorNode(name: string, onDown: (error: ErldistError) => void): () => void {
    const node = parseNodeName(name).node;
    const peer = this.peer(node);
    if (!peer) {
      queueMicrotask(() => onDown(new ErldistError('NODE_DOWN', `not connected to ${node}`, { node })));
      return () => {};
    }
    const watchers = this.watchers.get(peer.name) ?? new Set();
    this.watchers.set(peer.name, watchers);
    watchers.add(onDown);
    return () => watchers.delete(onDown);
  }

  /** Aborts dials in progress and closes every connection. */
  close(): void {
    for (const dial of this.dials) dial.abort(new ErldistError('NODE_DOWN', `node ${this.host.local.name} is closed`));
    for (const peer of [...this.peers.values()]) void peer.close();
  }

  private async dial(address: NodeAddress, options: ConnectOptions): Promise<Peer<N>> {
    const what = `connect to ${address.node}`;
    if (options.signal?.aborted) throw abortedError(options.signal, what);
    const dial = new AbortController();
    // AbortSignal.any adds no listener to the caller's signal: one signal shared by many dials
    // (a deadline for a whole cluster) never reaches Node's MaxListeners warning.
    const signal = options.signal ? AbortSignal.any([options.signal, dial.signal]) : dial.signal;
    this.dials.add(dial);
    try {
      return await this.dialWith(address, options, signal);
    } finally {
      this.dials.delete(dial);
    }
  }

  private async dialWith(address: NodeAddress, options: ConnectOptions, signal: AbortSignal): Promise<Peer<N>> {
    const remaining = deadline(options.timeout ?? 10_000);
    let port = address.port;
    if (port === undefined) {
      const info = await portPlease2(address.alive, address.host, {
        timeout: remaining(),
        signal,
        port: this.host.epmdPort,
      });
      if (info.highestVersion < 6) {
        throw new ErldistError(
          'NOT_ALLOWED',
          `${address.node} speaks distribution version ${info.highestVersion}; erldist needs 6 (OTP 23+)`,
          {
            node: address.node,
          },
        );
      }
      port = info.port;
    }
    const socket = await openSocket(address, port, { timeout: remaining(), signal });
    const handshakeTimeout = options.handshakeTimeout ?? 10_000;
    try {
      const handshake = await waitFor<HandshakeResult>(
        { timeout: handshakeTimeout, signal },
        `handshake with ${address.node}`,
        (resolve, reject) => {
          handshakeInitiator(socket, {
            localName: this.host.local.name,
            creation: this.host.local.creation,
            flags: this.host.local.flags,
            cookie: this.host.cookieFor(address.node),
            peerName: address.node,
            replaceAlive: () => this.peer(address.node) === undefined,
          }).then(resolve, reject);
          return () => socket.destroy();
        },
      );
      if (this.host.local.isClosed) throw new ErldistError('NODE_DOWN', `node ${this.host.local.name} is closed`);
      // The peer names itself in its challenge; a node reached through another host name (a
      // Service's DNS name for a node called app@<pod IP>) is kept under its own name, since its
      // pids carry that one.
      if (handshake.peerName !== address.node) this.aliases.set(address.node, handshake.peerName);
      return this.add(handshake.peerName, socket, handshake);
    } catch (err) {
      socket.destroy();
      // We lost a simultaneous connect (nok), or the peer's connection to us came up first
      // (alive): use that connection.
      if (err instanceof ErldistError && (err.status === 'nok' || err.status === 'alive')) {
        return this.awaitIncoming(address.node, handshakeTimeout, signal, err);
      }
      throw err;
    }
  }

  private awaitIncoming(name: string, timeout: number, signal: AbortSignal, original: ErldistError): Promise<Peer<N>> {
    const open = this.peer(name);
    if (open) return Promise.resolve(open);
    return waitFor<Peer<N>>({ timeout, signal }, `connect to ${name}`, (resolve) => {
      const waiting = this.incoming.get(name) ?? new Set();
      this.incoming.set(name, waiting);
      waiting.add(resolve);
      return () => waiting.delete(resolve);
    }).catch(() => {
      throw original;
    });
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
