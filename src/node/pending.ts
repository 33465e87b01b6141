/**
 * One call waiting on a peer (a GenServer call, an rpc, a spawn request): it knows how it reads
 * its answers, whether a monitor must be taken back, and whether its request still waits for the
 * connection to drain. Every kind of call settles, times out and is abandoned the same way.
 */
import type { Connection } from '../distribution/connection.js';
import { ErldistError } from '../errors.js';
import type { Reference, Term } from '../term/index.js';
import { abortedError, onAbort, type WaitOptions } from '../wait.js';
import { type Deadline, Deadlines, type Expiring } from './deadlines.js';
import { channels } from './diagnostics.js';
import { refNumber, sameRef } from './keys.js';

/** Returned by an answer reader to keep waiting (an erpc's spawn reply: the result comes in the DOWN). */
export const WAIT: unique symbol = Symbol('erldist.wait');

/** How one kind of call reads each answer: return the value, throw to fail, or return WAIT. */
export interface Answers<T> {
  /** `{Ref, Reply}` to the node's caller pid. */
  reply?(reply: Term): T;
  /** MONITOR_P_EXIT for the call's monitor. */
  down?(reason: Term): T;
  /** SPAWN_REPLY for the call's request id (`call` is the call it answers). */
  spawnReply?(flags: number, result: Term, call: PendingCall<T>): T | typeof WAIT;
}

const REPLY = 0;
const DOWN = 1;
const SPAWN_REPLY = 2;
type AnswerKind = typeof REPLY | typeof DOWN | typeof SPAWN_REPLY;

/** A call as its peer's table sees it, whatever it resolves to. */
export interface CallSlot {
  reply(reply: Term): void;
  down(reason: Term): void;
  spawnReply(flags: number, result: Term): void;
  fail(err: Error): void;
  /** The connection the request went out on (undefined while it waits for one). */
  readonly sentOn: unknown;
  /** The reference the call waits under. */
  readonly ref: Reference;
}

export class PendingCall<T = unknown> implements CallSlot, Expiring {
  private done = false;
  /** Aborts the wait for a connection, or for it to drain, while the request waits to go out. */
  waitAbort: AbortController | undefined;
  /** The connection the request went out on: when it drops, the call fails NODE_DOWN. */
  sentOn: unknown;
  /** Takes the call's monitor back (DEMONITOR_P); set once the monitor went out, cleared by a DOWN. */
  demonitor: (() => void) | undefined;
  /** The timeout, and the abort signal's listener, while the call waits. */
  deadline: Deadline | undefined;
  stopListening: (() => void) | undefined;
  resolve!: (value: T) => void;
  reject!: (err: Error) => void;

  constructor(
    readonly ref: Reference,
    private readonly answers: Answers<T>,
    /** Its peer's table, which holds it under `key`. */
    private readonly table: CallTable,
    private readonly key: number,
    private readonly what: string,
    private readonly timeout: number,
  ) {}

  /** The timeout passed: the caller stops waiting (TIMEOUT), the monitor is taken back. */
  expired(): void {
    this.fail(new ErldistError('TIMEOUT', `${this.what} timed out after ${this.timeout} ms`));
  }

  get settled(): boolean {
    return this.done;
  }

  reply(reply: Term): void {
    if (this.answers.reply !== undefined) this.answer(REPLY, reply, 0);
  }

  down(reason: Term): void {
    if (this.answers.down === undefined) return;
    this.demonitor = undefined;
    this.answer(DOWN, reason, 0);
  }

  spawnReply(flags: number, result: Term): void {
    if (this.answers.spawnReply !== undefined) this.answer(SPAWN_REPLY, result, flags);
  }

  /**
   * Reads one answer by calling its reader as a method (no closure per answer): a value settles
   * the call, a throw fails it, WAIT keeps it waiting.
   */
  private answer(kind: AnswerKind, term: Term, flags: number): void {
    if (this.done) return;
    const answers = this.answers as Required<Answers<T>>;
    let value: T | typeof WAIT;
    try {
      if (kind === REPLY) value = answers.reply(term);
      else if (kind === DOWN) value = answers.down(term);
      else value = answers.spawnReply(flags, term, this);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (value !== WAIT) this.settle(value);
  }

  /** Fails the call (the connection is gone, or its request could not be sent). */
  fail(err: Error): void {
    if (this.done) return;
    this.end();
    this.reject(err);
  }

  private settle(value: T): void {
    this.end();
    this.resolve(value);
  }

  private end(): void {
    this.done = true;
    this.table.forget(this.key, this);
    this.deadline?.cancel();
    this.stopListening?.();
    this.waitAbort?.abort();
    this.demonitor?.();
  }
}

/** What a peer's call table needs of the peer. */
export interface CallLine {
  /** The local node's name and the peer's, for diagnostics. */
  readonly node: string;
  readonly peer: string;
  /** The connection up now, if any. */
  connection(): Connection | undefined;
  whenConnected(options: WaitOptions): Promise<Connection>;
  /** Why no call may start (the peer is closed), if so. */
  closed(): ErldistError | undefined;
  /** The error of a request whose connection went away before it was sent. */
  notConnected(): ErldistError;
}

/** One peer's calls by reference, and the one lifecycle they share. */
export class CallTable {
  /** By refNumber; an entry answers only to its whole reference. */
  private readonly calls = new Map<number, CallSlot>();

  private readonly deadlines = new Deadlines();

  constructor(private readonly line: CallLine) {}

  /** A call ended: it leaves the table. */
  forget(key: number, call: CallSlot): void {
    if (this.calls.get(key) === call) this.calls.delete(key);
  }

  get(ref: Reference): CallSlot | undefined {
    const call = this.calls.get(refNumber(ref));
    return call !== undefined && sameRef(call.ref, ref) ? call : undefined;
  }

  /**
   * Registers a call under `ref` until it is answered, fails, times out or is aborted. Its request
   * goes out at once on a connection below its high-water mark; otherwise it waits for a
   * connection, then for the buffer to drain.
   */
  start<T>(
    ref: Reference,
    what: string,
    options: WaitOptions,
    answers: Answers<T>,
    send: (call: PendingCall<T>, connection: Connection) => void,
  ): Promise<T> {
    const closed = this.line.closed();
    if (closed) return Promise.reject(closed);
    const key = refNumber(ref);
    const traced = channels.callStart.hasSubscribers || channels.callEnd.hasSubscribers;
    const message = traced ? { node: this.line.node, peer: this.line.peer, what } : undefined;
    if (message && channels.callStart.hasSubscribers) channels.callStart.publish(message);
    const { timeout, signal } = options;
    if (signal?.aborted) return Promise.reject(abortedError(signal, what));
    const call = new PendingCall<T>(ref, answers, this, key, what, timeout ?? Infinity);
    const promise = new Promise<T>((resolve, reject) => {
      call.resolve = resolve;
      call.reject = reject;
    });
    // Listening first: a signal that cannot be listened to fails the call before it is registered.
    try {
      if (signal) call.stopListening = onAbort(signal, () => call.fail(abortedError(signal, what)));
    } catch (err) {
      return Promise.reject(new ErldistError('INVALID_ARGUMENT', 'signal must be an AbortSignal', { cause: err }));
    }
    this.calls.set(key, call);
    // One timer per duration for all of the peer's calls, not one per call.
    if (timeout !== undefined && Number.isFinite(timeout))
      call.deadline = this.deadlines.start(Math.max(0, timeout), call);
    const connection = this.line.connection();
    if (connection && !connection.overHighWaterMark) {
      try {
        call.sentOn = connection;
        send(call, connection);
      } catch (err) {
        call.fail(err as Error);
      }
    } else {
      this.sendLater(call, send).catch((err: Error) => call.fail(err));
    }
    if (message && channels.callEnd.hasSubscribers) {
      const started = Date.now();
      const end = (outcome: string) =>
        channels.callEnd.publish({ ...message, durationMs: Date.now() - started, outcome });
      promise.then(
        () => end('ok'),
        (err: ErldistError) => end(err.code ?? 'error'),
      );
    }
    return promise;
  }

  /** The calls sent on `connection` fail: nobody knows whether they ran. */
  failSentOn(connection: Connection, error: ErldistError): void {
    for (const call of [...this.calls.values()]) if (call.sentOn === connection) call.fail(error);
  }

  failAll(error: ErldistError): void {
    for (const call of [...this.calls.values()]) call.fail(error);
  }

  private async sendLater<T>(
    call: PendingCall<T>,
    send: (call: PendingCall<T>, connection: Connection) => void,
  ): Promise<void> {
    // Made only when a call must wait (aborting one per call costs microseconds).
    call.waitAbort = new AbortController();
    const signal = call.waitAbort.signal;
    const connection = this.line.connection() ?? (await this.line.whenConnected({ signal }));
    if (connection.overHighWaterMark) await connection.drain({ signal });
    if (call.settled) return;
    if (connection.isClosed) throw this.line.notConnected();
    call.sentOn = connection;
    send(call, connection);
  }
}
