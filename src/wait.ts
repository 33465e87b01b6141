/**
 * Waiting with `{ timeout, signal }`, as every waiting call in erldist does (style.md): a
 * pre-aborted signal rejects at once with ABORTED, the timeout rejects with TIMEOUT, and the timer
 * and the abort listener are removed however the wait ends. Part of the core every layer imports.
 */
import { ErldistError } from './errors.js';

/** The longest delay Node's timers take. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface WaitOptions {
  /** Milliseconds; undefined or Infinity waits forever. */
  timeout?: number;
  signal?: AbortSignal;
}

export function abortedError(signal: AbortSignal, what: string, step?: string): ErldistError {
  return new ErldistError('ABORTED', `${what} was aborted`, { cause: signal.reason, step });
}

/**
 * Calls `listener` once when `signal` aborts; returns a function that stops listening. Never adds
 * a listener to an aborted signal (the caller checks `aborted` first, as undici does).
 */
export function onAbort(signal: AbortSignal | undefined, listener: () => void): () => void {
  if (!signal || signal.aborted) return noop;
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

/** How a wait fails; defaults name `what`. */
export interface WaitErrors {
  /** The TIMEOUT error (default: "`what` timed out after N ms"). */
  timeout?: () => ErldistError;
  /** Added to the default errors' `step`. */
  step?: string;
}

/**
 * `start` begins the operation and returns a cleanup that forgets it (called when the wait ends
 * by timeout or abort, not when `start`'s own resolve or reject is called).
 */
export function waitFor<T>(
  options: WaitOptions,
  what: string,
  start: (resolve: (value: T) => void, reject: (err: Error) => void) => () => void,
  errors: WaitErrors = {},
): Promise<T> {
  const { timeout, signal } = options;
  if (signal?.aborted) return Promise.reject(abortedError(signal, what, errors.step));
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let settled = false;
    let stopListening = noop;
    let cancel: () => void = noop;
    const finish = () => {
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      stopListening();
    };
    // Cancelling is cleanup: it must not keep the wait from settling, nor throw out of a timer.
    const fail = (err: ErldistError) => {
      if (settled) return;
      finish();
      reject(err);
      try {
        cancel();
      } catch {
        // nothing more to clean up
      }
    };
    try {
      cancel = start(
        (value) => {
          if (settled) return;
          finish();
          resolve(value);
        },
        (err) => {
          if (settled) return;
          finish();
          reject(err);
        },
      );
    } catch (err) {
      if (!settled) {
        finish();
        reject(err as Error);
      }
      return;
    }
    if (settled) return;
    if (timeout !== undefined && Number.isFinite(timeout)) {
      const expire = () =>
        fail(
          errors.timeout?.() ??
            new ErldistError('TIMEOUT', `${what} timed out after ${timeout} ms`, { step: errors.step }),
        );
      // Node runs a delay above 2^31-1 ms after 1 ms: a longer timeout is waited for in steps.
      let left = Math.max(0, timeout);
      const arm = () => {
        const step = Math.min(left, MAX_TIMER_MS);
        left -= step;
        timer = setTimeout(left > 0 ? arm : expire, step);
      };
      arm();
    }
    stopListening = onAbort(signal, () => fail(abortedError(signal as AbortSignal, what, errors.step)));
  });
}

/** A deadline shared by the steps of one operation (EPMD, then TCP, then the handshake). */
export function deadline(timeout: number | undefined): () => number | undefined {
  if (timeout === undefined || !Number.isFinite(timeout)) return () => undefined;
  const end = Date.now() + timeout;
  return () => Math.max(0, end - Date.now());
}

function noop(): void {}
