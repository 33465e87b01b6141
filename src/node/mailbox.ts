/**
 * A mailbox: a process of the local node with a real pid that Erlang can send to. Messages queue
 * until `receive` takes them, or an async iteration does.
 */
import { ErldistError } from '../errors.js';
import type { Pid, Reference, Term } from '../term/index.js';
import { type WaitOptions, waitFor } from '../wait.js';

export interface MailboxOwner {
  /** Called once when the mailbox closes, so the node forgets it. */
  release(box: Mailbox): void;
  /** Sends from this mailbox (used by `box.send`). */
  sendFrom(from: Pid, to: Pid | string | Reference, message: Term, peerName?: string): boolean;
  link(box: Mailbox, to: Pid): void;
  unlink(box: Mailbox, to: Pid): void;
  monitor(box: Mailbox, target: Pid | string, peerName?: string): Monitor;
  demonitor(box: Mailbox, ref: Reference): void;
}

/** A monitor this mailbox holds: `{'DOWN', Ref, process, Target, Reason}` also arrives as a message. */
export interface Monitor {
  ref: Reference;
  /** Resolves with the exit reason when the target dies (or `noconnection`, `noproc`). */
  down: Promise<Term>;
}

/** erlang:alias/1 options. */
export interface AliasOptions {
  /** The first message that arrives through the alias deactivates it (the `reply` option). */
  reply?: boolean;
}

/**
 * How the alias a monitor's reference also is (erlang:monitor/3 `{alias, UnaliasOpt}`) ends:
 * only by `unalias`, also when the monitor ends (demonitor or DOWN), or also when a first message
 * arrives through it, which then ends the monitor too.
 */
export type MonitorAlias = 'explicit_unalias' | 'demonitor' | 'reply_demonitor';

export interface MonitorOptions {
  /** The monitor's reference is also an alias of the mailbox (as gen:call makes it). */
  alias?: MonitorAlias;
}

/** Where a mailbox's aliases live: its node's registry (registry.ts). */
export interface AliasTable {
  alias(box: Mailbox, options?: AliasOptions): Reference;
  /** Makes a monitor's reference an alias of `box`. */
  adopt(box: Mailbox, ref: Reference, mode: MonitorAlias): void;
  unalias(box: Mailbox, ref: Reference): boolean;
  /** The monitor `ref` of `box` ended: its alias goes unless it was explicit_unalias. */
  monitorEnded(box: Mailbox, ref: Reference): void;
}

const MONITOR_ALIASES: readonly unknown[] = ['explicit_unalias', 'demonitor', 'reply_demonitor'];

interface Waiter {
  resolve(message: Term): void;
  reject(err: Error): void;
}

export class Mailbox implements AsyncIterable<Term> {
  private readonly queue: Term[] = [];
  private head = 0;
  private waiters: Waiter[] = [];
  private closedError: ErldistError | undefined;
  /** Registered names of this mailbox, removed when it closes. */
  readonly names = new Set<string>();
  /** @internal Keys of this mailbox's active aliases, removed when it closes. */
  readonly aliasKeys = new Set<string>();
  /** @internal Set by the node's registry when the mailbox is added to it. */
  aliasTable: AliasTable | undefined;

  /** @internal */
  constructor(
    readonly pid: Pid,
    private readonly owner: MailboxOwner,
  ) {}

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Messages waiting. */
  get size(): number {
    return this.queue.length - this.head;
  }

  /** @internal Delivers a message (from the node's dispatcher). */
  deliver(message: Term): void {
    if (this.closedError) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve(message);
      return;
    }
    this.queue.push(message);
  }

  /**
   * The next message if one is waiting, else undefined (no term is undefined): drains a busy
   * mailbox without a promise per message (`box.tryReceive() ?? (await box.receive())`).
   */
  tryReceive(): Term | undefined {
    return this.head < this.queue.length ? this.take() : undefined;
  }

  /** The next message; rejects TIMEOUT, ABORTED, or NODE_DOWN if the mailbox closes first. */
  receive(options: WaitOptions = {}): Promise<Term> {
    if (this.head < this.queue.length) return Promise.resolve(this.take());
    if (this.closedError) return Promise.reject(this.closedError);
    return waitFor<Term>(options, `receive on ${this.pid}`, (resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      this.waiters.push(waiter);
      return () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
      };
    });
  }

  /**
   * Sends `message` to a pid, a registered name or an alias (a Reference: ALIAS_SEND to its node,
   * dropped when that node does not take aliases), with this mailbox as the sender.
   */
  send(to: Pid | string | Reference, message: Term, peer?: { name: string } | string): boolean {
    const peerName = typeof peer === 'string' ? peer : peer?.name;
    return this.owner.sendFrom(this.pid, to, message, peerName);
  }

  /**
   * erlang:alias/1: a new reference of this node; a message sent to it (`Alias ! Msg` in Erlang,
   * `box.send(alias, msg)` here) arrives in this mailbox until `unalias(alias)`, until the first
   * one arrives with `{ reply: true }`, or until the mailbox closes. Later ones are dropped and
   * counted in `node.stats.dropped`.
   */
  alias(options?: AliasOptions): Reference {
    if (this.closedError) throw this.closedError;
    if (!this.aliasTable) throw new ErldistError('INVALID_ARGUMENT', `mailbox ${this.pid} belongs to no node`);
    return this.aliasTable.alias(this, options);
  }

  /** erlang:unalias/1: deactivates one of this mailbox's aliases; false if it was not active. */
  unalias(alias: Reference): boolean {
    return this.aliasTable?.unalias(this, alias) ?? false;
  }

  /**
   * Links to a pid: when it exits, `{'EXIT', Pid, Reason}` arrives as a message (a mailbox always
   * traps exits); when this mailbox closes, the linked process gets an exit signal with our reason.
   */
  link(pid: Pid): void {
    this.owner.link(this, pid);
  }

  unlink(pid: Pid): void {
    this.owner.unlink(this, pid);
  }

  /**
   * Monitors a pid, or a registered name on `peer`: the DOWN comes as a message and as `down`.
   * With `{ alias }`, the monitor's reference is also an alias of this mailbox (erlang:monitor/3).
   */
  monitor(target: Pid | string, peer?: { name: string } | string, options: MonitorOptions = {}): Monitor {
    const mode = options.alias;
    if (mode !== undefined && !MONITOR_ALIASES.includes(mode))
      throw new ErldistError('INVALID_ARGUMENT', `monitor alias option must be one of ${MONITOR_ALIASES.join(', ')}`);
    const monitor = this.owner.monitor(this, target, typeof peer === 'string' ? peer : peer?.name);
    if (mode !== undefined) this.aliasTable?.adopt(this, monitor.ref, mode);
    return monitor;
  }

  demonitor(ref: Reference): void {
    this.owner.demonitor(this, ref);
    this.aliasTable?.monitorEnded(this, ref);
  }

  /** @internal A monitor of this mailbox fired (its DOWN is being delivered). */
  monitorFired(ref: Reference): void {
    this.aliasTable?.monitorEnded(this, ref);
  }

  /**
   * Closes the mailbox: pending receives reject, later messages are dropped, linked processes get
   * an exit signal and monitors a DOWN with `reason` (default `normal`).
   */
  close(reason?: Term): void {
    this.exitReason = reason;
    this.shutdown(new ErldistError('NODE_DOWN', `mailbox ${this.pid} is closed`));
  }

  /** @internal The reason links and monitors see; undefined means `normal`. */
  exitReason: Term | undefined;

  /** @internal */
  shutdown(error: ErldistError): void {
    if (this.closedError) return;
    this.closedError = error;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(error);
    this.owner.release(this);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Term> {
    while (true) {
      if (this.head < this.queue.length) {
        yield this.take();
        continue;
      }
      if (this.closedError) return;
      try {
        yield await this.receive();
      } catch (err) {
        if (this.closedError) return;
        throw err;
      }
    }
  }

  private take(): Term {
    const m = this.queue[this.head];
    this.queue[this.head++] = undefined as unknown as Term;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return m;
  }
}
