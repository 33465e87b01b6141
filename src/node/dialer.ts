/**
 * The peers of one local node and how they connect: dialling out (EPMD, TCP, the initiator
 * handshake), incoming connections handed over by the listener, simultaneous connects
 * (dist_util's rule: the higher name keeps its own attempt), aliases for nodes reached under
 * another host name, reconnection with jittered exponential backoff, and connecting on demand
 * when a message is sent to a node that is not connected (as Erlang does).
 */
import { lookup } from 'node:dns/promises';
import { isIP, type Socket } from 'node:net';
import type { AcceptStatus, HandshakeResult } from '../distribution/handshake.js';
import type { TlsOptions } from '../distribution/tls.js';
import { ErldistError } from '../errors.js';
import { abortedError, type WaitOptions } from '../wait.js';
import { channels } from './diagnostics.js';
import { dialOnce, type LocalIdentity } from './dial.js';
import { tlsFor } from './tls-options.js';

export type { LocalIdentity };

import { type NodeAddress, parseNodeName } from './names.js';
import { Peer, type PeerHost } from './peer.js';

export interface ReconnectOptions {
  /** Ms before the first attempt after a connection drops (default 100); doubles per failure. */
  initialDelay?: number;
  /** Longest wait between attempts, ms (default 5000). Each wait is jittered (half to all of it). */
  maxDelay?: number;
}

export interface ConnectOptions extends WaitOptions {
  /** Ms for the handshake alone (default 10000). `timeout` covers EPMD and TCP (default 10000). */
  handshakeTimeout?: number;
  /** Reconnect when the connection drops (default: the node's `reconnect`, on). */
  reconnect?: false | ReconnectOptions;
  /** Distribution over TLS, for a node run with `-proto_dist inet_tls` (default: the node's `tls`). */
  tls?: TlsOptions;
}

/** What the dialer needs from its node. */
export interface DialerHost<N> {
  readonly local: LocalIdentity;
  readonly epmdPort: number | undefined;
  /** The node's TLS settings, for peers that do not give their own. */
  readonly tls: TlsOptions | undefined;
  /** The node's default for peers that do not say. */
  readonly reconnect: false | ReconnectOptions;
  /** Where connections and reconnections are counted. */
  readonly stats: { connects: number; reconnects: number };
  cookieFor(node: string): string;
  nodeUp(peer: Peer<N>): void;
  nodeDown(peer: Peer<N>, error: ErldistError): void;
  /** What each peer needs of the node; the dialer adds its own part. */
  readonly peer: Omit<PeerHost<N>, 'connectionUp' | 'connectionDown' | 'wanted' | 'closed'>;
}

/** How to reach a peer again, and where its attempts stand. */
interface DialState {
  address: NodeAddress;
  timeout: number;
  handshakeTimeout: number;
  tls: TlsOptions | undefined;
  reconnect: Required<ReconnectOptions> | undefined;
  /** Connected at least once: a handle that never was is closed by its first failure. */
  established: boolean;
  failures: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The attempt in progress; resolves with its error, or undefined once connected. */
  attempt: Promise<ErldistError | undefined> | undefined;
  /** When the dialled host was last resolved to check that the node has not moved. */
  checkedAddress: number;
}

export class Dialer<N> {
  private readonly peers = new Map<string, Peer<N>>();
  /** Names we dialled that the node answered to under another name (`a@svc-dns` -> `a@10.0.0.7`). */
  private readonly aliases = new Map<string, string>();
  private readonly dials = new Map<Peer<N>, DialState>();
  /** Attempts in progress, aborted when the node closes (one controller each: no shared signal). */
  private readonly aborts = new Set<AbortController>();
  /** erlang:monitor_node/2 callbacks by node name. */
  private readonly watchers = new Map<string, Set<(error: ErldistError) => void>>();
  private readonly peerHost: PeerHost<N>;

  constructor(private readonly host: DialerHost<N>) {
    this.peerHost = {
      ...host.peer,
      connectionUp: (peer) => this.up(peer),
      connectionDown: (peer, error, replaced) => this.down(peer, error, replaced),
      wanted: (peer) => this.wanted(peer),
      closed: (peer) => this.forget(peer),
    };
  }

  /** The peer of `name` (or of a name it was dialled under), connected or reconnecting. */
  peer(name: string): Peer<N> | undefined {
    const exact = this.peers.get(name);
    if (exact) return exact;
    const node = parseNodeName(name).node;
    return this.peers.get(this.aliases.get(node) ?? node);
  }

  /** The connected peer named exactly `name` (no parsing, no alias: hot paths). */
  connected(name: string): Peer<N> | undefined {
    const peer = this.peers.get(name);
    return peer?.connected ? peer : undefined;
  }

  /** The peer of `name`; throws NODE_DOWN when there is none. */
  peerFor(name: string): Peer<N> {
    const peer = this.peer(name);
    if (!peer) throw new ErldistError('NODE_DOWN', `not connected to ${name}`, { node: name });
    return peer;
  }

  /** The peer of `name`, made on demand (and dialled) for a message to a node not connected. */
  handle(name: string): Peer<N> {
    const known = this.peer(name);
    if (known) return known;
    const address = parseNodeName(name);
    const peer = this.create(address, {});
    void this.attempt(peer);
    return peer;
  }

  /** The only peer, for a registered name given without a node. */
  onlyPeerName(name: string): string {
    const open = this.open();
    if (open.length === 1) return open[0].name;
    throw new ErldistError('INVALID_ARGUMENT', `send to ${name}: say which node (${open.length} are connected)`);
  }

  /** The names of every peer. */
  names(): string[] {
    return [...this.peers.keys()];
  }

  open(): Peer<N>[] {
    return [...this.peers.values()];
  }

  async connect(target: string, options: ConnectOptions): Promise<Peer<N>> {
    if (options.signal?.aborted) throw abortedError(options.signal, `connect to ${target}`);
    const address = parseNodeName(target);
    const known = this.peer(address.node);
    if (known) {
      let state = this.dials.get(known);
      if (!state) {
        // A node that connected to us, now dialled: from here on it is reconnected too.
        state = this.state(address, options);
        state.established = true;
        this.dials.set(known, state);
      }
      if (!known.connected) {
        void this.attempt(known);
        await known.ready({ timeout: options.timeout ?? 10_000, signal: options.signal });
        return known;
      }
      if (await this.healthy(known, state)) return known;
      // Silent and not answering, or moved: dial again; the new connection replaces the old one.
      const error = await this.attempt(known, options.signal, true);
      if (error) throw error;
      return known;
    }
    const peer = this.create(address, options);
    const error = await this.attempt(peer, options.signal);
    if (error) throw error;
    return peer;
  }

  /** The status an incoming handshake from `node` gets (protocol-notes §3, dist_util). */
  acceptStatus(node: string): AcceptStatus {
    if (this.host.local.isClosed) return 'not_allowed';
    const peer = this.peers.get(node);
    if (peer?.connected) return 'alive';
    if (peer && this.dials.get(peer)?.attempt) return this.host.local.name > node ? 'nok' : 'ok_simultaneous';
    return 'ok';
  }

  /** A connection that completed its handshake, in either direction; it replaces an older one. */
  add(name: string, socket: Socket, handshake: HandshakeResult, dialled?: Peer<N>): Peer<N> {
    let peer = dialled ?? this.peers.get(name);
    if (!peer || peer.isClosed) peer = new Peer(this.peerHost, name);
    if (this.peers.get(peer.name) === peer) this.peers.delete(peer.name);
    const other = this.peers.get(name);
    if (other && other !== peer) other.shutdown(new ErldistError('NODE_DOWN', `${name} reconnected`, { node: name }));
    this.peers.set(name, peer);
    peer.attach(name, socket, handshake);
    return peer;
  }

  /**
   * Calls `onDown(error)` once when the connection to `name` ends (at once if there is none), as
   * erlang:monitor_node/2. Returns a function that cancels it.
   */
  monitorNode(name: string, onDown: (error: ErldistError) => void): () => void {
    const node = parseNodeName(name).node;
    const peer = this.peer(node);
    if (!peer?.connected) {
      queueMicrotask(() => onDown(new ErldistError('NODE_DOWN', `not connected to ${node}`, { node })));
      return () => {};
    }
    const watchers = this.watchers.get(peer.name) ?? new Set();
    this.watchers.set(peer.name, watchers);
    watchers.add(onDown);
    return () => watchers.delete(onDown);
  }

  /** Aborts attempts in progress and closes every peer. */
  close(): void {
    const closed = new ErldistError('NODE_DOWN', `node ${this.host.local.name} is closed`);
    for (const abort of this.aborts) abort.abort(closed);
    for (const peer of [...this.peers.values()]) peer.shutdown(closed);
  }

  private create(address: NodeAddress, options: ConnectOptions): Peer<N> {
    const peer = new Peer(this.peerHost, address.node);
    this.peers.set(address.node, peer);
    this.dials.set(peer, this.state(address, options));
    return peer;
  }

  private state(address: NodeAddress, options: ConnectOptions): DialState {
    const reconnect = options.reconnect ?? this.host.reconnect;
    return {
      address,
      timeout: options.timeout ?? 10_000,
      handshakeTimeout: options.handshakeTimeout ?? 10_000,
      tls: tlsFor(options.tls, 'client') ?? this.host.tls,
      reconnect: reconnect === false ? undefined : { initialDelay: 100, maxDelay: 5000, ...reconnect },
      established: false,
      failures: 0,
      timer: undefined,
      attempt: undefined,
      checkedAddress: Date.now(),
    };
  }

  /** Starts an attempt now (or joins the one in progress); never rejects. */
  private attempt(peer: Peer<N>, signal?: AbortSignal, replace = false): Promise<ErldistError | undefined> {
    const state = this.dials.get(peer);
    if (!state) return Promise.resolve(new ErldistError('NODE_DOWN', `${peer.name} cannot be dialled`));
    if (state.attempt) return state.attempt;
    clearTimeout(state.timer);
    state.timer = undefined;
    const abort = new AbortController();
    this.aborts.add(abort);
    const options = {
      signal: signal ? AbortSignal.any([signal, abort.signal]) : abort.signal,
      timeout: state.timeout,
      handshakeTimeout: state.handshakeTimeout,
      epmdPort: this.host.epmdPort,
      tls: state.tls,
      local: this.host.local,
      cookie: this.host.cookieFor(state.address.node),
      // The node still has a connection from us: replace it only when we mean to.
      replaceAlive: () => replace || !peer.connected,
    };
    const started = Date.now();
    const announce = {
      node: this.host.local.name,
      peer: state.address.node,
      attempt: state.failures + 1,
      reconnect: state.established,
    };
    if (channels.connectStart.hasSubscribers) channels.connectStart.publish(announce);
    const ended = (error?: ErldistError) => {
      if (channels.connectEnd.hasSubscribers)
        channels.connectEnd.publish({ ...announce, durationMs: Date.now() - started, error });
      return error;
    };
    state.attempt = dialOnce(state.address, options)
      .then(async (result) => {
        if (peer.isClosed) {
          result.socket?.destroy();
          return new ErldistError('NODE_DOWN', `peer ${peer.name} was closed`, { node: peer.name });
        }
        if (result.socket && result.handshake) {
          this.add(result.handshake.peerName, result.socket, result.handshake, peer);
          if (result.handshake.peerName !== state.address.node) {
            this.aliases.set(state.address.node, result.handshake.peerName);
          }
          return undefined;
        }
        // We lost a simultaneous connect, or the node's connection to us came up first: use that one.
        await peer.ready({ timeout: state.handshakeTimeout, signal: options.signal });
        return undefined;
      })
      .catch((err: unknown) => {
        const error =
          err instanceof ErldistError ? err : new ErldistError('CONNECT_FAILED', String(err), { cause: err });
        this.failed(peer, state, error);
        return error;
      })
      .then(ended)
      .finally(() => {
        state.attempt = undefined;
        this.aborts.delete(abort);
      });
    return state.attempt;
  }

  private failed(peer: Peer<N>, state: DialState, error: ErldistError): void {
    if (peer.isClosed || peer.connected) return;
    if (!state.established || !state.reconnect) peer.shutdown(error);
    else this.schedule(peer, state);
  }

  private schedule(peer: Peer<N>, state: DialState): void {
    if (!state.reconnect || state.timer || peer.isClosed) return;
    const { initialDelay, maxDelay } = state.reconnect;
    const ceiling = Math.min(maxDelay, initialDelay * 2 ** Math.min(state.failures++, 30));
    const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    if (channels.reconnect.hasSubscribers) {
      const message = { node: this.host.local.name, peer: peer.name, failures: state.failures, delayMs: delay };
      channels.reconnect.publish(message);
    }
    state.timer = setTimeout(() => {
      state.timer = undefined;
      void this.attempt(peer);
    }, delay);
  }

  /** A call or message waits for this peer: an attempt starts at once, even during a backoff. */
  private wanted(peer: Peer<N>): void {
    const state = this.dials.get(peer);
    if (state && !state.attempt && !peer.connected && !peer.isClosed) void this.attempt(peer);
  }

  private up(peer: Peer<N>): void {
    const state = this.dials.get(peer);
    this.host.stats.connects++;
    if (state?.established) this.host.stats.reconnects++;
    if (channels.nodeUp.hasSubscribers) channels.nodeUp.publish({ node: this.host.local.name, peer: peer.name });
    if (state) {
      clearTimeout(state.timer);
      state.timer = undefined;
      state.established = true;
      state.failures = 0;
    }
    this.host.nodeUp(peer);
  }

  private down(peer: Peer<N>, error: ErldistError, replaced: boolean): void {
    if (channels.nodeDown.hasSubscribers)
      channels.nodeDown.publish({ node: this.host.local.name, peer: peer.name, error });
    this.host.nodeDown(peer, error);
    const watchers = this.watchers.get(peer.name);
    this.watchers.delete(peer.name);
    for (const onDown of watchers ?? []) onDown(error);
    if (replaced || peer.isClosed) return;
    const state = this.dials.get(peer);
    if (state?.reconnect && !this.host.local.isClosed) this.schedule(peer, state);
    else peer.shutdown(new ErldistError('NODE_DOWN', error.message, { node: peer.name, cause: error }));
  }

  private forget(peer: Peer<N>): void {
    const state = this.dials.get(peer);
    if (state) clearTimeout(state.timer);
    this.dials.delete(peer);
    if (this.peers.get(peer.name) === peer) this.peers.delete(peer.name);
  }

  /**
   * Whether a connection may be handed back as it is. One silent for longer than the node ticks
   * (a partition the tick timer has not seen yet) must answer a ping within a tick period; one
   * whose host name now resolves elsewhere (the pod behind the name was replaced) is not. Names
   * are resolved at most once a second.
   */
  private async healthy(peer: Peer<N>, state: DialState): Promise<boolean> {
    const connection = peer.connection;
    if (!connection) return false;
    const tick = connection.peerTickInterval;
    if (connection.silentFor > tick && !(await peer.ping({ timeout: Math.min(tick, 2000) }))) return false;
    const host = state.address.host;
    if (isIP(host) !== 0 || Date.now() - state.checkedAddress < 1000) return true;
    state.checkedAddress = Date.now();
    try {
      const addresses = await lookup(host, { all: true });
      const remote = connection.remoteAddress;
      return remote === undefined || addresses.some((a) => a.address === remote);
    } catch {
      return true;
    }
  }
}
