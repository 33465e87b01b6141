/**
 * A mailbox: a process of the local node with a real pid that Erlang can send to. Messages queue
 * until `receive` takes them, or an async iteration does.
 */
import { ErldistError } from '../errors.js';
import type { Pid, Term } from '../term/index.js';
import { type WaitOptions, waitFor } from './wait.js';

export interface MailboxOwner {
  /** Called once when the mailbox closes, so the node forgets it. */
  release(box: Mailbox): void;
  /** Sends from this mailbox (used by `box.send`). */
  sendFrom(from: Pid, to: Pid | string, message: Term, peerName?: string): boolean;
}

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

  /** Sends `message` to a pid or a registered name, with this mailbox as the sender. */
  send(to: Pid | string, message: Term, peer?: { name: string } | string): boolean {
    const peerName = typeof peer === 'string' ? peer : peer?.name;
    return this.owner.sendFrom(this.pid, to, message, peerName);
  }

  /** Closes the mailbox: pending receives reject, later messages are dropped. */
  close(): void {
    this.shutdown(new ErldistError('NODE_DOWN', `mailbox ${this.pid} is closed`));
  }

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
