/**
 * Waiting in tests without sleeping: poll a condition until a deadline, or wait for one event.
 * A test that must let time pass on purpose (a tick interval, proving silence) calls `pause` and
 * says why in a comment.
 */
import type { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';

export interface EventuallyOptions {
  /** Ms before giving up (default 3000). */
  timeout?: number;
  /** Ms between checks (default 10). */
  interval?: number;
  /** Said in the error when the deadline passes. */
  what?: string;
}

/**
 * Resolves once `check` returns true (or a promise of true); rejects when `timeout` passes first.
 * Uses node:timers/promises, so it keeps working under `vi.useFakeTimers()`.
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  options: EventuallyOptions = {},
): Promise<void> {
  const { timeout = 3000, interval = 10, what = 'condition' } = options;
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeout} ms`);
    await delay(interval);
  }
}

/** The arguments of the next `event` on `emitter`; rejects after `timeout` ms (default 3000). */
export function nextEvent(emitter: EventEmitter, event: string, timeout = 3000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no '${event}' event within ${timeout} ms`));
    }, timeout);
    const on = (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args);
    };
    emitter.once(event, on);
  });
}

/** Lets `ms` pass on purpose. Only for a wait that is the point of the test; say why at the call. */
export function pause(ms: number): Promise<void> {
  return delay(ms);
}

/** A promise with its resolve function, for a handler that answers when the test says so. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
