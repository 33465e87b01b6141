/**
 * Waiting with `{ timeout, signal }`, as every waiting call in erldist does: a pre-aborted signal
 * rejects at once with ABORTED, the timeout rejects with TIMEOUT, and the timer and the abort
 * listener are removed however the wait ends.
 */
import { ErldistError } from '../errors.js';

export interface WaitOptions {
  /** Milliseconds; undefined or Infinity waits forever. */
  timeout?: number;
  signal?: AbortSignal;
}

export function abortedError(signal: AbortSignal, what: string): ErldistError {
  return new ErldistError('ABORTED', `${what} was aborted`, { cause: signal.reason });
}

/**
 * `start` begins the operation and returns a cleanup that forgets it (called when the wait ends
 * by timeout or abort, not when `start`'s own resolve or reject is called).
 */
export function waitFor<T>(
  options: WaitOptions,
  what: string,
  start: (resolve: (value: T) => void, reject: (err: Error) => void) => () => void,
): Promise<T> {
  const { timeout, signal } = options;
  if (signal?.aborted) return Promise.reject(abortedError(signal, what));
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = () => {
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    // Cancelling is cleanup: it must not keep the wait from settling, nor throw out of a timer.
    const cancelQuietly = () => {
      try {
        cancel();
      } catch {
        // nothing more to clean up
      }
    };
    let cancel: () => void = () => {};
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
    function onAbort() {
      if (settled) return;
      finish();
      reject(abortedError(signal!, what));
      cancelQuietly();
    }
    if (settled) return;
    if (timeout !== undefined && Number.isFinite(timeout)) {
      timer = setTimeout(() => {
        if (settled) return;
        finish();
        reject(new ErldistError('TIMEOUT', `${what} timed out after ${timeout} ms`));
        cancelQuietly();
      }, Math.max(0, timeout));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
