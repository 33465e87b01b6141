/**
 * OTP `pg` process groups, built on the node's public surface (a registered mailbox, monitors and
 * sends), as a user could. The scope mailbox speaks the protocol of `pg`'s scope processes:
 *
 * - `{discover, Peer}`: answered by a `gen_server:cast` of `{sync, Self, [{Group, Pids}]}` (our
 *   members), and, for a scope we did not know, a monitor on it and a `{discover, Self}` back.
 * - `{'$gen_cast', {sync, Peer, Groups}}`: the peer's members replace what we knew of them.
 * - `{join, Peer, Group, Pids}` and `{leave, Peer, Pids, Groups}`: from scopes we know only.
 *
 * erldist is hidden, so BEAM scopes never see it come up: the handle discovers each node's scope
 * itself on `nodeup`. A BEAM scope crashes on a message it does not expect, so only these four shapes
 * are sent (the two-element discover, which every OTP since 23 accepts).
 */
import { EventEmitter } from 'node:events';
import { ErldistError } from '../errors.js';
import { type Atom, atom, encode, Pid, Reference, type Term, Tuple, tuple } from '../term/index.js';
import type { Mailbox } from './mailbox.js';

/** What a scope needs of its local node (a PgNode; an interface, so node.ts can offer `node.pg()`). */
export interface PgNode {
  readonly name: string;
  readonly nodeAtom: Atom;
  readonly creation: number;
  spawn(): Mailbox;
  register(name: string, box: Mailbox): void;
  whereis(name: string): Mailbox | undefined;
  nodes(): string[];
  on(event: 'nodeup', listener: (node: string) => void): unknown;
  off(event: 'nodeup', listener: (node: string) => void): unknown;
  emit(event: 'warning', error: unknown): unknown;
}

/** A group name: any term; a plain string names an atom (`'g'` is Erlang's `g`). */
export type Group = Term;

export interface PgEvents {
  /** `pids` joined `group` (ours or a remote node's). */
  join: [group: Term, pids: Pid[]];
  /** `pids` left `group`, or went away with their node. */
  leave: [group: Term, pids: Pid[]];
}

const DISCOVER = atom('discover');
const SYNC = atom('sync');
const JOIN = atom('join');
const LEAVE = atom('leave');
const GEN_CAST = atom('$gen_cast');
const DOWN = atom('DOWN');
/** Discovers sent to a node whose scope has not answered: 0.2, 0.4 ... 5 s apart, about 20 s in all. */
const DISCOVER_ATTEMPTS = 8;

interface Members {
  group: Term;
  pids: Pid[];
}

interface RemoteScope {
  scope: Pid;
  ref: Reference;
  groups: Map<string, Members>;
}

interface LocalMember {
  box: Mailbox;
  ref: Reference;
  /** Group keys, once per join. */
  groups: string[];
}

function pidKey(pid: Pid): string {
  return `${pid.node.name}.${pid.id}.${pid.serial}.${pid.creation}`;
}

function refKey(ref: Reference): string {
  return `${ref.node.name}.${ref.creation}.${ref.ids.join('.')}`;
}

function groupTerm(group: Group): Term {
  return typeof group === 'string' ? atom(group) : group;
}

function groupKey(group: Term): string {
  return encode(group).toString('hex');
}

function removeOnce(pids: Pid[], pid: Pid): boolean {
  const key = pidKey(pid);
  const i = pids.findIndex((p) => pidKey(p) === key);
  if (i >= 0) pids.splice(i, 1);
  return i >= 0;
}

function pidList(term: Term): Pid[] {
  if (term instanceof Pid) return [term];
  if (Array.isArray(term)) return term.filter((p): p is Pid => p instanceof Pid);
  return [];
}

export class PgScope extends EventEmitter<PgEvents> {
  readonly scope: string;
  readonly #node: PgNode;
  readonly #box: Mailbox;
  readonly #local = new Map<string, Members>();
  readonly #members = new Map<string, LocalMember>();
  readonly #remote = new Map<string, RemoteScope>();
  readonly #retries = new Map<string, NodeJS.Timeout>();
  readonly #onNodeUp = (name: string) => this.discover(name);

  /** @internal Use `node.pg(scope)`. */
  constructor(node: PgNode, scope: string) {
    super();
    this.scope = scope;
    this.#node = node;
    this.#box = node.spawn();
    try {
      node.register(scope, this.#box);
    } catch (err) {
      this.#box.close();
      throw err;
    }
    node.on('nodeup', this.#onNodeUp);
    void this.#run();
    // Nodes connected before this handle existed get no nodeup: discover them now.
    for (const name of node.nodes()) this.discover(name);
  }

  /** The scope's own pid, the one BEAM scopes monitor. */
  get pid(): Pid {
    return this.#box.pid;
  }

  /**
   * Asks the scope of the same name on `node` for its members: done for every connected node when
   * the handle is made, and on every `nodeup` after.
   */
  discover(node: string): void {
    if (node === this.#node.name || this.#box.closed) return;
    clearTimeout(this.#retries.get(node));
    this.#box.send(this.scope, tuple(DISCOVER, this.#box.pid), node);
    this.#retry(node, 1);
  }

  /**
   * A node's scope may start after the node connected (a node that restarts is connected again
   * before its applications run), and a BEAM scope that starts discovers only visible nodes: so the
   * discover is sent again, backing off, until the scope answers or the node goes (about 20 s).
   */
  #retry(node: string, attempt: number): void {
    if (attempt > DISCOVER_ATTEMPTS) return;
    const timer = setTimeout(
      () => {
        this.#retries.delete(node);
        const known = [...this.#remote.values()].some((r) => r.scope.node.name === node);
        if (known || this.#box.closed || !this.#node.nodes().includes(node)) return;
        this.#box.send(this.scope, tuple(DISCOVER, this.#box.pid), node);
        this.#retry(node, attempt + 1);
      },
      Math.min(100 * 2 ** attempt, 5000),
    );
    timer.unref();
    this.#retries.set(node, timer);
  }

  /** Joins mailboxes of this node to `group` (a mailbox may join several times). */
  join(group: Group, ...boxes: Mailbox[]): void {
    const term = groupTerm(group);
    const key = groupKey(term);
    if (boxes.length === 0) return;
    for (const box of boxes) {
      if (box.closed) throw new ErldistError('INVALID_ARGUMENT', `mailbox ${box.pid} is closed`);
      if (box.pid.node !== this.#node.nodeAtom || box.pid.creation !== this.#node.creation)
        throw new ErldistError('INVALID_ARGUMENT', `mailbox ${box.pid} is not of node ${this.#node.name}`);
    }
    for (const box of boxes) {
      const k = pidKey(box.pid);
      let member = this.#members.get(k);
      if (!member) {
        member = { box, ref: this.#box.monitor(box.pid).ref, groups: [] };
        this.#members.set(k, member);
      }
      member.groups.push(key);
    }
    const pids = boxes.map((b) => b.pid);
    const entry = this.#local.get(key) ?? { group: term, pids: [] };
    entry.pids.push(...pids);
    this.#local.set(key, entry);
    this.#broadcast(tuple(JOIN, this.#box.pid, term, pids));
    this.emit('join', term, pids);
  }

  /** Leaves `group` once for each mailbox; returns false if none of them had joined it. */
  leave(group: Group, ...boxes: Mailbox[]): boolean {
    const term = groupTerm(group);
    const key = groupKey(term);
    const left: Pid[] = [];
    for (const box of boxes) {
      const k = pidKey(box.pid);
      const member = this.#members.get(k);
      const i = member?.groups.indexOf(key) ?? -1;
      if (!member || i < 0) continue;
      member.groups.splice(i, 1);
      if (member.groups.length === 0) {
        this.#members.delete(k);
        this.#box.demonitor(member.ref);
      }
      left.push(box.pid);
    }
    if (left.length === 0) return false;
    this.#dropLocal(key, left);
    this.#broadcast(tuple(LEAVE, this.#box.pid, left, [term]));
    this.emit('leave', term, left);
    return true;
  }

  /** Every member of `group`, ours and those of connected nodes (as pg:get_members/2). */
  members(group: Group): Pid[] {
    const key = groupKey(groupTerm(group));
    const out = [...(this.#local.get(key)?.pids ?? [])];
    for (const remote of this.#remote.values()) out.push(...(remote.groups.get(key)?.pids ?? []));
    return out;
  }

  /** The members of `group` on this node (as pg:get_local_members/2). */
  localMembers(group: Group): Pid[] {
    return [...(this.#local.get(groupKey(groupTerm(group)))?.pids ?? [])];
  }

  /** Every group with a member anywhere (as pg:which_groups/1). */
  groups(): Term[] {
    const out = new Map<string, Term>();
    for (const [key, m] of this.#local) out.set(key, m.group);
    for (const remote of this.#remote.values()) for (const [key, m] of remote.groups) out.set(key, m.group);
    return [...out.values()];
  }

  /** Stops the scope: other nodes drop our members when its mailbox goes down. */
  close(): void {
    this.#node.off('nodeup', this.#onNodeUp);
    for (const timer of this.#retries.values()) clearTimeout(timer);
    this.#retries.clear();
    this.#box.close();
  }

  async #run(): Promise<void> {
    try {
      for await (const message of this.#box) this.#handle(message);
    } catch (err) {
      this.#node.emit('warning', err);
    } finally {
      this.close();
    }
  }

  #handle(message: Term): void {
    if (!(message instanceof Tuple)) return;
    const [tag, a, b, c] = message.elements;
    if (tag === DISCOVER && a instanceof Pid && message.length <= 3) this.#discovered(a);
    else if (tag === GEN_CAST && a instanceof Tuple && message.length === 2) this.#cast(a);
    else if (tag === JOIN && a instanceof Pid && message.length === 4) this.#joined(a, b, pidList(c));
    else if (tag === LEAVE && a instanceof Pid && message.length === 4 && Array.isArray(c))
      for (const group of c) this.#left(a, group, pidList(b));
    else if (tag === DOWN && a instanceof Reference && message.length === 5 && c instanceof Pid) this.#down(a, c);
  }

  #discovered(peer: Pid): void {
    this.#box.send(peer, tuple(GEN_CAST, tuple(SYNC, this.#box.pid, this.#syncGroups())));
    if (this.#remote.has(pidKey(peer))) return;
    this.#track(peer);
    this.#box.send(peer, tuple(DISCOVER, this.#box.pid));
  }

  #cast(request: Tuple): void {
    const [tag, peer, groups] = request.elements;
    if (tag !== SYNC || !(peer instanceof Pid) || !Array.isArray(groups) || request.length !== 3) return;
    const remote = this.#remote.get(pidKey(peer)) ?? this.#track(peer);
    const old = remote.groups;
    remote.groups = new Map();
    for (const entry of groups) {
      if (!(entry instanceof Tuple) || entry.length !== 2) continue;
      const [group, pids] = entry.elements;
      remote.groups.set(groupKey(group), { group, pids: pidList(pids) });
    }
    for (const [key, { group, pids }] of remote.groups) {
      const before = old.get(key)?.pids ?? [];
      const added = pids.filter((p) => !before.some((q) => pidKey(q) === pidKey(p)));
      if (added.length > 0) this.emit('join', group, added);
    }
    for (const [key, { group, pids }] of old) {
      const now = remote.groups.get(key)?.pids ?? [];
      const gone = pids.filter((p) => !now.some((q) => pidKey(q) === pidKey(p)));
      if (gone.length > 0) this.emit('leave', group, gone);
    }
  }

  #joined(peer: Pid, group: Term, pids: Pid[]): void {
    const remote = this.#remote.get(pidKey(peer));
    if (!remote || pids.length === 0) return;
    const key = groupKey(group);
    const entry = remote.groups.get(key) ?? { group, pids: [] };
    entry.pids.push(...pids);
    remote.groups.set(key, entry);
    this.emit('join', group, pids);
  }

  #left(peer: Pid, group: Term, pids: Pid[]): void {
    const remote = this.#remote.get(pidKey(peer));
    const key = groupKey(group);
    const entry = remote?.groups.get(key);
    if (!remote || !entry) return;
    const gone = pids.filter((p) => removeOnce(entry.pids, p));
    if (entry.pids.length === 0) remote.groups.delete(key);
    if (gone.length > 0) this.emit('leave', entry.group, gone);
  }

  #down(ref: Reference, pid: Pid): void {
    const key = pidKey(pid);
    const remote = this.#remote.get(key);
    if (remote && refKey(remote.ref) === refKey(ref)) {
      this.#remote.delete(key);
      for (const { group, pids } of remote.groups.values()) this.emit('leave', group, pids);
      return;
    }
    const member = this.#members.get(key);
    if (!member || refKey(member.ref) !== refKey(ref)) return;
    this.#members.delete(key);
    // Once per join, as OTP sends it: a receiver drops the pid once per group listed.
    const groups: Term[] = [];
    for (const k of member.groups) {
      const entry = this.#local.get(k);
      if (entry) groups.push(entry.group);
    }
    for (const g of new Set(member.groups)) {
      const entry = this.#local.get(g);
      if (!entry) continue;
      const left = member.groups.filter((k) => k === g).map(() => pid);
      this.#dropLocal(g, left);
      this.emit('leave', entry.group, left);
    }
    if (groups.length > 0) this.#broadcast(tuple(LEAVE, this.#box.pid, pid, groups));
  }

  #track(peer: Pid): RemoteScope {
    const remote: RemoteScope = { scope: peer, ref: this.#box.monitor(peer).ref, groups: new Map() };
    this.#remote.set(pidKey(peer), remote);
    return remote;
  }

  #dropLocal(key: string, pids: Pid[]): void {
    const entry = this.#local.get(key);
    if (!entry) return;
    for (const pid of pids) removeOnce(entry.pids, pid);
    if (entry.pids.length === 0) this.#local.delete(key);
  }

  #syncGroups(): Term[] {
    return [...this.#local.values()].map(({ group, pids }) => tuple(group, [...pids]));
  }

  #broadcast(message: Term): void {
    for (const remote of this.#remote.values()) this.#box.send(remote.scope, message);
  }
}

const scopes = new WeakMap<PgNode, Map<string, PgScope>>();

/** `node.pg(scope)`: one handle per node and scope (README: Process groups). */
export function pg(node: PgNode, scope = 'pg'): PgScope {
  let byName = scopes.get(node);
  if (!byName) {
    byName = new Map();
    scopes.set(node, byName);
  }
  const existing = byName.get(scope);
  if (existing && node.whereis(scope)?.pid === existing.pid) return existing;
  const handle = new PgScope(node, scope);
  byName.set(scope, handle);
  return handle;
}
