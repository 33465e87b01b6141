/**
 * Every failure in erldist is an `ErldistError` with a stable `code` (design.md, "Errors").
 * This module is the one place where codes are defined; every layer may import it.
 */

import type { Term } from './term/types.js';

export type ErrorCode =
  | 'AUTH_FAILED'
  | 'NOT_ALLOWED'
  | 'NODE_NOT_FOUND'
  | 'EPMD_UNREACHABLE'
  | 'CONNECT_FAILED'
  | 'TIMEOUT'
  | 'NODE_DOWN'
  | 'BAD_RPC'
  | 'CALL_EXIT'
  | 'NO_PROC'
  | 'DECODE'
  | 'ENCODE'
  | 'PROTOCOL'
  | 'ABORTED'
  | 'BUFFER_FULL'
  | 'SPAWN_FAILED'
  | 'INVALID_ARGUMENT'
  | 'PARSE'
  /** A local TCP listener could not be opened (port in use, address not available, permission). */
  | 'LISTEN_FAILED'
  /** A TLS failure: untrusted or mismatched certificate, no client certificate, TLS on one side only. */
  | 'TLS';

export interface ErldistErrorOptions {
  cause?: unknown;
  /** DECODE: byte offset in the input where the problem was found. */
  offset?: number;
  /** ENCODE: path from the root value to the offending value, e.g. `$[2].name`. */
  path?: string;
  /** BAD_RPC, CALL_EXIT, SPAWN_FAILED: the Erlang term given as the reason. */
  reason?: Term;
  /** Which node the error concerns, where there is one. */
  node?: string;
  /** Which protocol step failed, where there is one (e.g. `recvChallengeAck`). */
  step?: string;
  /** Handshake refusals: the status the peer sent (`nok`, `alive`, `not_allowed`, ...). */
  status?: string;
}

/**
 * Marks every ErldistError, whichever copy of erldist made it (the ESM and the CJS build can both be
 * loaded in one process). Not versioned: an error from any copy is an ErldistError.
 */
const ERLDIST_ERROR = Symbol.for('erldist.ErldistError');

export class ErldistError extends Error {
  override name = 'ErldistError';
  readonly code: ErrorCode;
  readonly offset?: number;
  readonly path?: string;
  readonly reason?: Term;
  readonly node?: string;
  readonly step?: string;
  readonly status?: string;

  constructor(code: ErrorCode, message: string, options: ErldistErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.offset !== undefined) this.offset = options.offset;
    if (options.path !== undefined) this.path = options.path;
    if (options.reason !== undefined) this.reason = options.reason;
    if (options.node !== undefined) this.node = options.node;
    if (options.step !== undefined) this.step = options.step;
    if (options.status !== undefined) this.status = options.status;
  }

  /**
   * `err instanceof ErldistError` tests the brand, so that it holds for errors from another copy.
   * Subclasses keep the ordinary prototype test: their instances are only theirs.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class on the right of instanceof
    if (this !== ErldistError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return (
      typeof value === 'object' && value !== null && (value as { [ERLDIST_ERROR]?: unknown })[ERLDIST_ERROR] === true
    );
  }
}

// On the prototype, so that instances and subclasses carry it without an own property.
Object.defineProperty(ErldistError.prototype, ERLDIST_ERROR, { value: true });

/** True when `err` is an ErldistError (from any copy of erldist), optionally with the given code. */
export function isErldistError(err: unknown, code?: ErrorCode): err is ErldistError {
  return err instanceof ErldistError && (code === undefined || err.code === code);
}
