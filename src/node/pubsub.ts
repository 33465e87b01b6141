/**
 * Phoenix.PubSub 2.x (its default PG2 adapter) from TypeScript, on top of `pg`. Each Elixir node runs
 * one worker per pool group (`MyApp.PubSub.Adapter`, then `MyApp.PubSub.Adapter_2` ... for
 * `pool_size`), joined to that group in the `pg` scope `Phoenix.PubSub`. A broadcast sends
 * `{forward_to_local, Topic, Message, Dispatcher}` to every member of one group on other nodes; the
 * worker dispatches it to the node's local subscribers. Here one worker mailbox joins every pool group
 * the cluster shows, and broadcasts go to the members of the first group (one per Elixir node).
 */
import { ErldistError } from '../errors.js';
import { Atom, atom, type Pid, type Term, Tuple, tuple } from '../term/index.js';
import type { Mailbox } from './mailbox.js';
import { type PgNode, type PgScope, pg } from './pg.js';

const FORWARD_TO_LOCAL = atom('forward_to_local');
/** Phoenix.PubSub's default dispatcher: plain `send` to each subscriber. */
const DISPATCHER = atom('Elixir.Phoenix.PubSub');
const SCOPE = 'Elixir.Phoenix.PubSub';

function elixirAtom(name: string): Atom {
  return atom(name.startsWith('Elixir.') ? name : `Elixir.${name}`);
}

export interface BroadcastOptions {
  /**
   * The Elixir module whose `dispatch/3` delivers the message on each Elixir node, as Elixir's
   * `dispatcher` argument: default `Phoenix.PubSub` (a plain send to each subscriber);
   * `'Phoenix.Channel.Server'` for a `%Phoenix.Socket.Broadcast{}` that channel sockets push. Our own
   * subscribers always receive the plain message.
   */
  dispatcher?: string;
}

export class PubSub {
  readonly name: Atom;
  /** The first pool group, also the worker name `direct_broadcast` sends to. */
  readonly adapter: Atom;
  readonly #node: PgNode;
  readonly #scope: PgScope;
  readonly #worker: Mailbox;
  readonly #joined = new Set<Atom>();
  readonly #topics = new Map<string, Set<Mailbox>>();
  readonly #pool: RegExp;
  readonly #onJoin = (group: Term) => this.#maybeJoin(group);

  /** @internal Use `node.pubsub(name)`. */
  constructor(node: PgNode, name: string) {
    this.#node = node;
    this.name = elixirAtom(name);
    this.adapter = atom(`${this.name.name}.Adapter`);
    this.#pool = new RegExp(`^${this.adapter.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}_\\d+$`);
    this.#scope = pg(node, SCOPE);
    this.#worker = node.spawn();
    node.register(this.adapter.name, this.#worker);
    this.#maybeJoin(this.adapter);
    for (const group of this.#scope.groups()) this.#maybeJoin(group);
    this.#scope.on('join', this.#onJoin);
    void this.#run();
  }

  /** A new mailbox that receives every message broadcast on `topic`, from any node. */
  subscribe(topic: string, box: Mailbox = this.#node.spawn()): Mailbox {
    const boxes = this.#topics.get(topic) ?? new Set();
    boxes.add(box);
    this.#topics.set(topic, boxes);
    return box;
  }

  /** Stops `box` receiving `topic`. */
  unsubscribe(topic: string, box: Mailbox): void {
    const boxes = this.#topics.get(topic);
    boxes?.delete(box);
    if (boxes?.size === 0) this.#topics.delete(topic);
  }

  /** To every subscriber of `topic` on every connected node, ours included. */
  broadcast(topic: string, message: Term, options: BroadcastOptions = {}): void {
    this.#sendRemote(topic, message, options);
    this.localBroadcast(topic, message);
  }

  /** As `broadcast`, except to `from` (a subscriber of ours). */
  broadcastFrom(from: Mailbox, topic: string, message: Term, options: BroadcastOptions = {}): void {
    this.#sendRemote(topic, message, options);
    this.#dispatch(topic, message, from);
  }

  /** To the subscribers of `topic` on this node only. */
  localBroadcast(topic: string, message: Term): void {
    this.#dispatch(topic, message, undefined);
  }

  /** To the subscribers of `topic` on `node` only (ours if it is this node). */
  directBroadcast(node: string, topic: string, message: Term, options: BroadcastOptions = {}): void {
    if (node === this.#node.name) {
      this.localBroadcast(topic, message);
      return;
    }
    this.#worker.send(this.adapter.name, forwardToLocal(topic, message, options), node);
  }

  /** Leaves the pool groups and stops dispatching. */
  close(): void {
    this.#scope.off('join', this.#onJoin);
    this.#worker.close();
  }

  #maybeJoin(group: Term): void {
    if (!(group instanceof Atom) || this.#worker.closed || this.#joined.has(group)) return;
    if (group !== this.adapter && !this.#pool.test(group.name)) return;
    this.#joined.add(group);
    this.#scope.join(group, this.#worker);
  }

  #sendRemote(topic: string, message: Term, options: BroadcastOptions): void {
    const forward = forwardToLocal(topic, message, options);
    const self = this.#node.nodeAtom;
    for (const pid of this.#scope.members(this.adapter) as Pid[])
      if (pid.node !== self) this.#worker.send(pid, forward);
  }

  #dispatch(topic: string, message: Term, except: Mailbox | undefined): void {
    for (const box of this.#topics.get(topic) ?? []) {
      if (box.closed) this.unsubscribe(topic, box);
      else if (box !== except) box.send(box.pid, message);
    }
  }

  async #run(): Promise<void> {
    try {
      for await (const m of this.#worker) {
        if (!(m instanceof Tuple) || m.length !== 4 || m.get(0) !== FORWARD_TO_LOCAL) continue;
        const topic = m.get(1);
        if (typeof topic === 'string') this.localBroadcast(topic, m.get(2));
      }
    } catch (err) {
      this.#node.emit('warning', err);
    }
  }
}

/** What a PG2 worker dispatches to its node's subscribers of `topic`. */
function forwardToLocal(topic: string, message: Term, { dispatcher }: BroadcastOptions): Tuple {
  if (typeof topic !== 'string') throw new ErldistError('INVALID_ARGUMENT', 'a topic is a string');
  if (dispatcher !== undefined && (typeof dispatcher !== 'string' || dispatcher.length === 0))
    throw new ErldistError('INVALID_ARGUMENT', 'a dispatcher is the name of an Elixir module');
  return tuple(FORWARD_TO_LOCAL, topic, message, dispatcher === undefined ? DISPATCHER : elixirAtom(dispatcher));
}

const handles = new WeakMap<PgNode, Map<string, PubSub>>();

/**
 * The Phoenix.PubSub server `name` as Elixir writes it (`'MyApp.PubSub'`): one handle per node and
 * name. The Elixir nodes run `{Phoenix.PubSub, name: MyApp.PubSub}` (any `pool_size`).
 */
export function pubsub(node: PgNode, name: string): PubSub {
  let byName = handles.get(node);
  if (!byName) {
    byName = new Map();
    handles.set(node, byName);
  }
  const existing = byName.get(name);
  if (existing) return existing;
  const handle = new PubSub(node, name);
  byName.set(name, handle);
  return handle;
}
