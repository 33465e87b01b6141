/**
 * The local processes of one node: mailboxes (and the node's own caller process) by pid id,
 * registered names, and the aliases mailboxes made (erlang:alias/1). Messages for pids, names or
 * aliases that do not exist (or are no longer active) are dropped, as Erlang drops them, and
 * counted in `stats.dropped`.
 */
import type { ConnectionStats } from '../distribution/connection.js';
import { ErldistError } from '../errors.js';
import { type Atom, Pid, type Reference, type Term, Tuple } from '../term/index.js';
import type { Identifiers } from './ids.js';
import { refKey, sameRef } from './keys.js';
import { type AliasOptions, Mailbox, type MonitorAlias } from './mailbox.js';
import { aliasIn } from './server.js';

/** Something that can receive messages sent to one of our pids. */
export interface LocalProcess {
  /** `via` is the node whose connection carried the message (none for local sends). */
  deliver(message: Term, via?: string): void;
}

export interface NodeStats extends ConnectionStats {
  /**
   * Messages dropped: for pids or names that do not exist here (as Erlang drops them), or sent to a
   * node that could not be reached, or that did not fit the outbox while it reconnected.
   */
  dropped: number;
  /** Connections that came up (either direction). */
  connects: number;
  /** Of those, dialled again after a connection dropped. */
  reconnects: number;
}

/** What ends an alias besides unalias: nothing, its first message, its monitor, or either. */
type AliasEnd = 'unalias' | 'reply' | 'demonitor' | 'reply_demonitor';

export class Registry {
  readonly stats: NodeStats = {
    dropped: 0,
    connects: 0,
    reconnects: 0,
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    ticksIn: 0,
    ticksOut: 0,
  };
  private readonly processes = new Map<number, LocalProcess>();
  private readonly names = new Map<string, Mailbox>();
  /** Active aliases by reference key: the mailbox, and what else than unalias ends the alias. */
  private readonly aliases = new Map<string, { box: Mailbox; ends: AliasEnd }>();

  constructor(private readonly ids: Identifiers) {}

  add(pid: Pid, proc: LocalProcess): void {
    this.processes.set(pid.id, proc);
    // The mailbox makes its aliases here: each node has its own table.
    if (proc instanceof Mailbox) proc.aliasTable = this;
  }

  /** erlang:alias/1 for `box`: a new reference of this node that delivers to it until unaliased. */
  alias(box: Mailbox, options: AliasOptions = {}): Reference {
    if (box.closed) throw new ErldistError('NODE_DOWN', `mailbox ${box.pid} is closed`);
    const ref = this.ids.makeRef();
    this.setAlias(box, ref, options.reply === true ? 'reply' : 'unalias');
    return ref;
  }

  adopt(box: Mailbox, ref: Reference, mode: MonitorAlias): void {
    if (box.closed) return;
    this.setAlias(box, ref, mode === 'explicit_unalias' ? 'unalias' : mode);
  }

  monitorEnded(box: Mailbox, ref: Reference): void {
    const ends = this.aliases.get(refKey(ref))?.ends;
    if (ends === 'demonitor' || ends === 'reply_demonitor') this.unalias(box, ref);
  }

  /** erlang:unalias/1: true when `ref` was an active alias of `box`. */
  unalias(box: Mailbox, ref: Reference): boolean {
    if (!this.isOurRef(ref)) return false;
    const key = refKey(ref);
    if (this.aliases.get(key)?.box !== box) return false;
    this.aliases.delete(key);
    box.aliasKeys.delete(key);
    return true;
  }

  /**
   * A message to one of our aliases (ALIAS_SEND, or a local send to a reference). An alias of a
   * mailbox delivers to it; else `{[alias | Ref], Reply}` may answer a call that `caller` still
   * waits for under Ref (a call's alias is active exactly while the call is pending). Anything
   * else went to an inactive alias: dropped, as Erlang drops it.
   */
  deliverAlias(alias: Reference, message: Term, caller?: (ref: Reference, reply: Term) => boolean): void {
    if (!this.isOurRef(alias)) {
      this.stats.dropped++;
      return;
    }
    // A call's alias is not a mailbox's: most ALIAS_SENDs are call replies, with no alias made.
    const key = this.aliases.size === 0 ? undefined : refKey(alias);
    const entry = key === undefined ? undefined : this.aliases.get(key);
    if (key !== undefined && entry) {
      if (entry.ends === 'reply' || entry.ends === 'reply_demonitor') {
        this.aliases.delete(key);
        entry.box.aliasKeys.delete(key);
      }
      entry.box.deliver(message);
      if (entry.ends === 'reply_demonitor') entry.box.demonitor(alias);
      return;
    }
    const reply = replyTo(alias, message);
    if (reply !== undefined && caller?.(alias, reply.value)) return;
    this.stats.dropped++;
  }

  register(name: string, box: Mailbox): void {
    if (box.closed) throw new ErldistError('INVALID_ARGUMENT', `cannot register ${name}: the mailbox is closed`);
    const existing = this.names.get(name);
    if (existing !== undefined && existing !== box) {
      throw new ErldistError('INVALID_ARGUMENT', `the name ${name} is already registered`);
    }
    this.names.set(name, box);
    box.names.add(name);
  }

  unregister(name: string): void {
    this.names.get(name)?.names.delete(name);
    this.names.delete(name);
  }

  whereis(name: string): Mailbox | undefined {
    return this.names.get(name);
  }

  /** Forgets a closed mailbox and its names. */
  remove(box: Mailbox): void {
    this.processes.delete(box.pid.id);
    for (const name of box.names) this.names.delete(name);
    for (const key of box.aliasKeys) this.aliases.delete(key);
    box.aliasKeys.clear();
  }

  /** One of our mailboxes by pid (ours: this node and creation) or registered name. */
  mailbox(target: Pid | Atom): Mailbox | undefined {
    if (target instanceof Pid) return this.ids.isOurs(target) ? this.mailboxById(target.id) : undefined;
    return this.names.get(target.name);
  }

  mailboxById(id: number): Mailbox | undefined {
    const proc = this.processes.get(id);
    return proc instanceof Mailbox ? proc : undefined;
  }

  deliver(to: Pid, message: Term, via?: string): void {
    const proc = this.ids.isOurs(to) ? this.processes.get(to.id) : undefined;
    if (proc) proc.deliver(message, via);
    else this.stats.dropped++;
  }

  deliverNamed(name: string, message: Term): void {
    const box = this.names.get(name);
    if (box) box.deliver(message);
    else this.stats.dropped++;
  }

  /** Every mailbox; the registry is empty afterwards. */
  takeAll(): Mailbox[] {
    const boxes = [...this.processes.values()].filter((p): p is Mailbox => p instanceof Mailbox);
    this.processes.clear();
    this.names.clear();
    this.aliases.clear();
    return boxes;
  }

  private setAlias(box: Mailbox, ref: Reference, ends: AliasEnd): void {
    this.aliases.set(refKey(ref), { box, ends });
    box.aliasKeys.add(refKey(ref));
  }

  private isOurRef(ref: Reference): boolean {
    return ref.node === this.ids.nodeAtom && ref.creation === this.ids.creation;
  }
}

/** The reply of `{[alias | Alias], Reply}` (what gen:reply/2 sends to an alias), if `message` is one. */
function replyTo(alias: Reference, message: Term): { value: Term } | undefined {
  if (!(message instanceof Tuple) || message.length !== 2) return undefined;
  const ref = aliasIn(message.elements[0]);
  if (ref === undefined || !sameRef(ref, alias)) return undefined;
  return { value: message.elements[1] };
}
