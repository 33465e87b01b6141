/**
 * Discovery: keeps a local node connected to every member of a BEAM cluster that DNS or EPMD lists,
 * as libcluster's Kubernetes strategies do. It polls its sources, connects to new members, closes
 * the peers of vanished ones, and reports through events; it never throws at the host.
 *
 * Built on a node's public surface only (connect, close, isClosed): anything with that shape works,
 * and node.ts can offer `node.discover()` without an import cycle.
 */
import { EventEmitter } from 'node:events';
import { ErldistError } from '../errors.js';
import type { Term } from '../term/index.js';
import { deadline, onAbort, type WaitOptions, waitFor } from '../wait.js';
import { type AnyCallOptions, anyCallOn, type CallablePeer, multicallOn, type NodeResult } from './discovery-calls.js';
import {
  type Candidate,
  checkSource,
  type DiscoveryResolver,
  type DiscoverySource,
  querySource,
  systemResolver,
} from './discovery-sources.js';

/** What discovery needs of a peer (erldist's Peer has it). */
export interface DiscoveryPeer extends CallablePeer {
  /** Closed for good (closed, or lost with no reconnection): not a member any more. */
  readonly isClosed: boolean;
  close(): Promise<void>;
}

/** What discovery needs of a node (erldist's LocalNode has it). */
export interface DiscoveryNode<P extends DiscoveryPeer> {
  readonly name: string;
  readonly isClosed: boolean;
  connect(target: string, options: WaitOptions & { handshakeTimeout?: number }): Promise<P>;
  /** Failures go to the node's `warning` event while nobody listens to discovery's `error`. */
  emit(event: 'warning', error: unknown): boolean;
}

export interface DiscoverOptions extends Pick<WaitOptions, 'signal'> {
  /** Where members are listed; a member listed by any source is one. */
  sources: DiscoverySource[];
  /** Ms between polls (default 5000). */
  interval?: number;
  /** Each wait is `interval` times 1 ± `jitter` at random (default 0.2), so pods do not poll in step. */
  jitter?: number;
  /** Ms for one connection attempt, EPMD and handshake included (default 5000). */
  connectTimeout?: number;
  /** Ms for one DNS query or EPMD NAMES (default 5000). */
  queryTimeout?: number;
  /** DNS queries; default node:dns/promises (the system's resolvers). */
  resolver?: DiscoveryResolver;
  /** Keeps only the nodes it returns true for. */
  filter?: (node: string) => boolean;
}

/** Why a member left. `gone`: no source lists it (discovery closed its peer). `closed`: its peer closed. */
export type LeaveReason = 'gone' | 'closed';

export interface DiscoveryEvents<P> {
  /** A listed node is connected and a member; `node` as the sources name it, `peer.name` as it names itself. */
  join: [node: string, peer: P];
  /** A member left; listed again later, it joins again. */
  leave: [node: string, reason: LeaveReason];
  /** A source or a connection attempt failed (`error.node` says which member); discovery goes on. */
  error: [error: ErldistError];
  /** A poll is done; the members now. */
  sync: [nodes: string[]];
}

export type { AnyCallOptions, NodeResult };

const MIN_INTERVAL = 10;
const DEFAULT_CALL_TIMEOUT = 5000;

/**
 * The members of a cluster, kept connected: starts polling at once. `stop()` (or the signal, or
 * closing the node) ends it and closes the peers it made; its timer never keeps the process alive.
 */
export class Discovery<P extends DiscoveryPeer = DiscoveryPeer> extends EventEmitter<DiscoveryEvents<P>> {
  readonly #node: DiscoveryNode<P>;
  readonly #sources: DiscoverySource[];
  readonly #interval: number;
  readonly #jitter: number;
  readonly #connectTimeout: number;
  readonly #queryTimeout: number;
  readonly #resolver: DiscoveryResolver;
  readonly #filter: ((node: string) => boolean) | undefined;
  /** Members by the name their source gave. */
  readonly #members = new Map<string, P>();
  /** What each source listed when it last answered: a failed poll of a source keeps its members. */
  readonly #listed: Candidate[][];
  /** Aborts queries and connection attempts in progress on stop. */
  readonly #abort = new AbortController();
  readonly #stopListening: () => void;
  /** The last poll started (or queued); polls never overlap. */
  #cycle: Promise<void> = Promise.resolve();
  #queued: Promise<void> | undefined;
  readonly #firstPoll: Promise<void>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopping: Promise<void> | undefined;
  /** Where the next anyCall starts (round-robin). */
  #turn = 0;

  constructor(node: DiscoveryNode<P>, options: DiscoverOptions) {
    super();
    const opts = checkOptions(options);
    this.#node = node;
    this.#sources = opts.sources;
    this.#interval = opts.interval ?? 5000;
    this.#jitter = opts.jitter ?? 0.2;
    this.#connectTimeout = opts.connectTimeout ?? 5000;
    this.#queryTimeout = opts.queryTimeout ?? 5000;
    this.#resolver = opts.resolver ?? systemResolver;
    this.#filter = opts.filter;
    this.#listed = this.#sources.map(() => []);
    const signal = opts.signal;
    if (signal?.aborted) {
      this.#stopping = Promise.resolve();
      this.#stopListening = () => {};
      this.#firstPoll = Promise.resolve();
      return;
    }
    this.#stopListening = onAbort(signal, () => void this.stop());
    this.#firstPoll = this.refresh();
  }

  get stopped(): boolean {
    return this.#stopping !== undefined;
  }

  /** The members now, by the names their sources gave, sorted. */
  nodes(): string[] {
    return [...this.#members.entries()]
      .filter(([, peer]) => !peer.isClosed)
      .map(([name]) => name)
      .sort();
  }

  /** The members' peers (connected, or reconnecting), in the order of `nodes()`. */
  peers(): P[] {
    return this.nodes().map((name) => this.#members.get(name) as P);
  }

  /** The peer of member `node`, if it is one. */
  peer(node: string): P | undefined {
    const peer = this.#members.get(node);
    return peer && !peer.isClosed ? peer : undefined;
  }

  /** Resolves once the first poll is done (members found then are connected, or have failed). */
  ready(options: WaitOptions = {}): Promise<void> {
    return waitFor<void>(options, 'discovery ready', (resolve) => {
      void this.#firstPoll.then(resolve);
      return () => {};
    });
  }

  /** Polls now, after the poll in progress if there is one; resolves when done. Never rejects. */
  refresh(): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    if (!this.#queued) {
      const queued = this.#cycle.then(() => {
        this.#queued = undefined;
        return this.#poll();
      });
      this.#queued = queued;
      this.#cycle = queued;
    }
    return this.#queued;
  }

  /**
   * `rpc:multicall` on the members once the first poll is done: one result per member (in the order
   * of `nodes()`), each a value or an error. Default timeout 5000 ms.
   */
  async multicall(module: string, fun: string, args: Term[] = [], options: WaitOptions = {}): Promise<NodeResult[]> {
    const remaining = deadline(options.timeout ?? DEFAULT_CALL_TIMEOUT);
    await this.ready({ timeout: remaining(), signal: options.signal });
    const entries = this.nodes().map((name) => [name, this.#members.get(name) as P] as const);
    return multicallOn(entries, module, fun, args, { ...options, timeout: remaining() });
  }

  /**
   * `module:fun(...args)` on one member once the first poll is done: round-robin over the members,
   * moving on to the next when one cannot answer (NODE_DOWN, TIMEOUT of `attemptTimeout`, ...).
   * With `race`, on every member at once. Rejects NODE_DOWN when there is no member.
   */
  async anyCall(module: string, fun: string, args: Term[] = [], options: AnyCallOptions = {}): Promise<Term> {
    const remaining = deadline(options.timeout ?? DEFAULT_CALL_TIMEOUT);
    await this.ready({ timeout: remaining(), signal: options.signal });
    const peers = this.peers();
    const start = peers.length === 0 ? 0 : this.#turn++ % peers.length;
    const ordered = [...peers.slice(start), ...peers.slice(0, start)];
    return anyCallOn(ordered, module, fun, args, { ...options, timeout: remaining() });
  }

  /** Stops polling and closes the members' peers (those discovery made or adopted). */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      clearTimeout(this.#timer);
      this.#stopListening();
      this.#abort.abort(new ErldistError('ABORTED', 'discovery stopped'));
      await this.#cycle;
      const peers = new Set(this.#members.values());
      this.#members.clear();
      await Promise.all([...peers].map((peer) => closeQuietly(peer)));
    })();
    return this.#stopping;
  }

  /** One poll: ask every source, then join and let go. Reports failures; never rejects. */
  async #poll(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopping) return;
    if (this.#node.isClosed) {
      void this.stop();
      return;
    }
    try {
      const wanted = await this.#list();
      if (this.#stopping) return;
      await this.#update(wanted);
      if (this.#stopping) return;
      this.emit('sync', this.nodes());
    } catch (err) {
      // Not expected (every step reports its own failures); never let it escape a timer.
      this.#fail(err instanceof ErldistError ? err : new ErldistError('PROTOCOL', String(err), { cause: err }));
    } finally {
      this.#schedule();
    }
  }

  /** The nodes the sources list now (a failed source counts with what it listed last). */
  async #list(): Promise<Map<string, Candidate>> {
    const options = { timeout: this.#queryTimeout, signal: this.#abort.signal };
    const answers = await Promise.allSettled(this.#sources.map((s) => querySource(s, this.#resolver, options)));
    const wanted = new Map<string, Candidate>();
    answers.forEach((answer, i) => {
      if (answer.status === 'fulfilled') this.#listed[i] = answer.value;
      else if (!this.#stopping) this.#fail(sourceError(answer.reason, this.#sources[i] as DiscoverySource));
      for (const c of this.#listed[i] ?? []) {
        if (c.node === this.#node.name || wanted.has(c.node)) continue;
        if (this.#filter && !this.#filter(c.node)) continue;
        wanted.set(c.node, c);
      }
    });
    return wanted;
  }

  async #update(wanted: Map<string, Candidate>): Promise<void> {
    const letGo: P[] = [];
    for (const [name, peer] of [...this.#members]) {
      if (peer.isClosed) {
        this.#members.delete(name);
        this.emit('leave', name, 'closed');
      } else if (!wanted.has(name)) {
        this.#members.delete(name);
        letGo.push(peer);
        this.emit('leave', name, 'gone');
      }
    }
    // A peer that two listed names reach (an alias) stays open while either is a member.
    const kept = new Set(this.#members.values());
    await Promise.all(letGo.filter((peer) => !kept.has(peer)).map((peer) => closeQuietly(peer)));
    const joining = [...wanted.values()].filter((c) => !this.#members.has(c.node));
    await Promise.all(joining.map((c) => this.#join(c)));
  }

  async #join(candidate: Candidate): Promise<void> {
    let peer: P;
    try {
      peer = await this.#node.connect(candidate.target, {
        timeout: this.#connectTimeout,
        handshakeTimeout: this.#connectTimeout,
        signal: this.#abort.signal,
      });
    } catch (err) {
      // Attempts that stop() or the node's close() aborted are no failure to report.
      if (!this.#stopping && !this.#node.isClosed)
        this.#fail(asError(err, candidate.node, `connect to ${candidate.node}`));
      return;
    }
    // stop() closes the members once this poll is over; this one is a member by then.
    this.#members.set(candidate.node, peer);
    if (!this.#stopping) this.emit('join', candidate.node, peer);
  }

  #schedule(): void {
    if (this.#stopping) return;
    const spread = 1 - this.#jitter + 2 * this.#jitter * Math.random();
    this.#timer = setTimeout(() => void this.refresh(), Math.max(MIN_INTERVAL, this.#interval * spread));
    this.#timer.unref?.();
  }

  /** An 'error' event when someone listens (EventEmitter would throw one nobody listens to), else a node warning. */
  #fail(error: ErldistError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else this.#node.emit('warning', error);
  }
}

/** Starts discovery for `node` (see Discovery). Throws INVALID_ARGUMENT for bad options, before any I/O. */
export function discover<P extends DiscoveryPeer>(node: DiscoveryNode<P>, options: DiscoverOptions): Discovery<P> {
  return new Discovery(node, options);
}

function checkOptions(options: DiscoverOptions): DiscoverOptions {
  const bad = (why: string) => new ErldistError('INVALID_ARGUMENT', `discover: ${why}`);
  if (typeof options !== 'object' || options === null) throw bad('options are required ({ sources })');
  if (!Array.isArray(options.sources) || options.sources.length === 0) throw bad('sources is a non-empty array');
  for (const source of options.sources) checkSource(source);
  for (const key of ['interval', 'connectTimeout', 'queryTimeout'] as const) {
    const value = options[key];
    if (value !== undefined && !(typeof value === 'number' && value > 0 && Number.isFinite(value)))
      throw bad(`${key} must be a positive number of ms`);
  }
  const jitter = options.jitter;
  if (jitter !== undefined && !(typeof jitter === 'number' && jitter >= 0 && jitter <= 1))
    throw bad('jitter is between 0 and 1');
  if (options.filter !== undefined && typeof options.filter !== 'function') throw bad('filter is a function');
  return { ...options, sources: [...options.sources] };
}

/**
 * The failure with the member's name (and what discovery was doing) in its message and `node`; the
 * code stays the cause's.
 */
function asError(err: unknown, node: string | undefined, doing: string): ErldistError {
  const message = err instanceof Error ? err.message : String(err);
  const code = err instanceof ErldistError ? err.code : 'PROTOCOL';
  return new ErldistError(code, `discovery: ${doing}: ${message}`, { cause: err, node, step: 'discovery' });
}

/** A source's own errors say what failed (the query and the name); anything else is wrapped. */
function sourceError(err: unknown, source: DiscoverySource): ErldistError {
  if (err instanceof ErldistError) return err;
  const name = source.type === 'epmd' ? `epmd ${source.hosts.join(', ')}` : `${source.type} ${source.service}`;
  return asError(err, undefined, `source ${name}`);
}

async function closeQuietly(peer: DiscoveryPeer): Promise<void> {
  try {
    await peer.close();
  } catch {
    // A peer that fails to close is gone all the same.
  }
}
