/**
 * One call waiting on a peer (a GenServer call, an rpc, a spawn request): it knows how it reads
 * its answers, whether a monitor must be taken back, and whether its request still waits for the
 * connection to drain. Every kind of call settles, times out and is abandoned the same way.
 */
import type { Connection } from '../distribution/connection.js';
import type { ErldistError } from '../errors.js';
import type { Reference, Term } from '../term/index.js';
import { type WaitOptions, waitFor } from '../wait.js';
import { channels } from './diagnostics.js';
import { refKey } from './keys.js';

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
  private readonly calls = new Map<string, CallSlot>();

  constructor(private readonly line: CallLine) {}

  get(ref: Reference): CallSlot | undefined {
    return this.calls.get(refKey(ref));
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
    const key = refKey(ref);
    const traced = channels.callStart.hasSubscribers || channels.callEnd.hasSubscribers;
    const message = traced ? { node: this.line.node, peer: this.line.peer, what } : undefined;
    if (message && channels.callStart.hasSubscribers) channels.callStart.publish(message);
    const promise = waitFor<T>(options, what, (resolve, reject) => {
      const call = new PendingCall<T>(answers, resolve, reject, () => this.calls.delete(key));
      this.calls.set(key, call);
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
      return () => call.abandon();
    });
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
