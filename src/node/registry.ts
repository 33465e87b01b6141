/**
 * The local processes of one node: mailboxes (and the node's own caller process) by pid id, and
 * registered names. Messages for pids or names that do not exist are dropped, as Erlang drops
 * them, and counted in `stats.dropped`.
 */
import type { ConnectionStats } from '../distribution/connection.js';
import { ErldistError } from '../errors.js';
import { type Atom, Pid, type Term } from '../term/index.js';
import type { Identifiers } from './ids.js';
import { Mailbox } from './mailbox.js';

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

  constructor(private readonly ids: Identifiers) {}

  add(pid: Pid, proc: LocalProcess): void {
    this.processes.set(pid.id, proc);
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
    return boxes;
  }
}
