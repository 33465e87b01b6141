/**
 * Every failure in erldist is an `ErldistError` with a stable `code` (design.md, "Errors").
 * This module is the one place where codes are defined; every layer may import it.
 */

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
  | 'LISTEN_FAILED';

export interface ErldistErrorOptions {
  cause?: unknown;
  /** DECODE: byte offset in the input where the problem was found. */
  offset?: number;
  /** ENCODE: path from the root value to the offending value, e.g. `$[2].name`. */
  path?: string;
  /** BAD_RPC, CALL_EXIT: the Erlang term given as the reason. */
  reason?: unknown;
  /** Which node the error concerns, where there is one. */
  node?: string;
  /** Which protocol step failed, where there is one (e.g. `recvChallengeAck`). */
  step?: string;
}

export class ErldistError extends Error {
  override name = 'ErldistError';
  readonly code: ErrorCode;
  readonly offset?: number;
  readonly path?: string;
  readonly reason?: unknown;
  readonly node?: string;
  readonly step?: string;

  constructor(code: ErrorCode, message: string, options: ErldistErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.offset !== undefined) this.offset = options.offset;
    if (options.path !== undefined) this.path = options.path;
    if (options.reason !== undefined) this.reason = options.reason;
    if (options.node !== undefined) this.node = options.node;
    if (options.step !== undefined) this.step = options.step;
  }
}

/** True when `err` is an ErldistError, optionally with the given code. */
export function isErldistError(err: unknown, code?: ErrorCode): err is ErldistError {
  return err instanceof ErldistError && (code === undefined || err.code === code);
}
