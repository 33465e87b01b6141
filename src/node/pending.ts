/**
 * One call waiting on a peer (a GenServer call, an rpc, a spawn request): it knows how it reads
 * its answers, whether a monitor must be taken back, and whether its request still waits for the
 * connection to drain. Every kind of call settles, times out and is abandoned the same way.
 */
import type { Term } from '../term/index.js';

/** Returned by an answer reader to keep waiting (an erpc's spawn reply: the result comes in the DOWN). */
export const WAIT: unique symbol = Symbol('erldist.wait');

/** How one kind of call reads each answer: return the value, throw to fail, or return WAIT. */
export interface Answers<T> {
  /** `{Ref, Reply}` to the node's caller pid. */
  reply?(reply: Term): T;
  /** MONITOR_P_EXIT for the call's monitor. */
  down?(reason: Term): T;
  /** SPAWN_REPLY for the call's request id. */
  spawnReply?(flags: number, result: Term): T | typeof WAIT;
}

/** A call as its peer's table sees it, whatever it resolves to. */
export interface CallSlot {
  reply(reply: Term): void;
  down(reason: Term): void;
  spawnReply(flags: number, result: Term): void;
  fail(err: Error): void;
  /** The connection the request went out on (undefined while it waits for one). */
  readonly sentOn: unknown;
}

export class PendingCall<T = unknown> implements CallSlot {
  private done = false;
  /** Aborts the wait for a connection, or for it to drain, while the request waits to go out. */
  waitAbort: AbortController | undefined;
  /** The connection the request went out on: when it drops, the call fails NODE_DOWN. */
  sentOn: unknown;
  /** Takes the call's monitor back (DEMONITOR_P); set once the monitor went out, cleared by a DOWN. */
  demonitor: (() => void) | undefined;

  constructor(
    private readonly answers: Answers<T>,
    private readonly resolve: (value: T) => void,
    private readonly reject: (err: Error) => void,
    /** Removes the call from its peer's table. */
    private readonly forget: () => void,
  ) {}

  get settled(): boolean {
    return this.done;
  }

  reply(reply: Term): void {
    const read = this.answers.reply;
    if (read) this.answer(() => read(reply));
  }

  down(reason: Term): void {
    const read = this.answers.down;
    if (!read) return;
    this.demonitor = undefined;
    this.answer(() => read(reason));
  }

  spawnReply(flags: number, result: Term): void {
    const read = this.answers.spawnReply;
    if (read) this.answer(() => read(flags, result));
  }

  /** Fails the call (the connection is gone, or its request could not be sent). */
  fail(err: Error): void {
    if (this.done) return;
    this.end();
    this.reject(err);
  }

  /** The caller stopped waiting (timeout or abort): forget the call, take the monitor back. */
  abandon(): void {
    if (!this.done) this.end();
  }

  private answer(read: () => T | typeof WAIT): void {
    if (this.done) return;
    let value: T | typeof WAIT;
    try {
      value = read();
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (value === WAIT) return;
    this.end();
    this.resolve(value);
  }

  private end(): void {
    this.done = true;
    this.forget();
    this.waitAbort?.abort();
    this.demonitor?.();
  }
}
