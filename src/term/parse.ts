/**
 * Reads a term written in Erlang or Elixir syntax: the inverse of `inspect(term, { syntax })`, for
 * command lines and tests. Only literals are read (no variables, operators, calls or interpolation);
 * the result is in the normal form of `decode(…, { exact: true })`:
 *
 * - integers are `number` within ±(2^53−1), else `bigint`; an integral float (`1.0`, `-0.0`) within
 *   that range is a `Float`, any other float a `number`;
 * - `true`/`false` are booleans; Elixir `nil` is `atom('nil')`;
 * - a binary whose bytes are valid UTF-8 is a string, otherwise a `Buffer`; one that does not fill
 *   its last byte is a `BitBinary`; Erlang `"abc"` and Elixir `~c"abc"`/`'abc'` are `number[]`;
 * - a map whose keys are all atoms (or booleans) is a plain object, otherwise a `Map`; a repeated
 *   key keeps its last value, as Erlang and Elixir do;
 * - `#Pid<node@host.85.0>` (what `inspect` prints) is a `Pid` with creation 0; `<0.85.0>` needs
 *   `options.pid` to say which node index 0 means.
 *
 * A malformed text throws `ErldistError` with code `PARSE`; `offset` is the index into `text`
 * (UTF-16 code units) and the message names the column (in characters) and shows the line with a `^`.
 * Bad arguments throw `ErldistError` with code `INVALID_ARGUMENT`; nothing else is ever thrown.
 *
 * The reader is one class per language over shared layers, each file importing only those below it:
 * parse-chars.ts (character classes), parse-base.ts (TermReader: cursor, errors, numbers, quoted text,
 * maps, pids), parse-bits.ts (BitSyntaxReader: `<<…>>`), then parse-erlang.ts (ErlangReader) and
 * parse-elixir.ts (ElixirReader); this file picks one.
 */
import { ErldistError } from '../errors.js';
import type { TermReader } from './parse-base.js';
import { ElixirReader } from './parse-elixir.js';
import { ErlangReader } from './parse-erlang.js';
import type { Pid, Term } from './types.js';

export interface ParseOptions {
  /** Which language the text is written in (default `'erlang'`). */
  syntax?: 'erlang' | 'elixir';
  /** Builds the pid for the local form `<A.B.C>`, which does not name its node. */
  pid?: (a: number, b: number, c: number) => Pid;
}

/**
 * Longest text read, in UTF-16 code units (64 Mi, as decode's maxSize). The reader keeps a text's
 * characters in arrays, and V8 ends the process, not just the call, when an array outgrows 2^27 elements.
 */
export const MAX_TEXT_LENGTH = 64 * 1024 * 1024;

/**
 * The term written in `text`. Throws `ErldistError` only: `INVALID_ARGUMENT` when `text` is not a
 * string (or is longer than MAX_TEXT_LENGTH), when `options` are not ParseOptions, or when `options.pid`
 * throws or returns something other than a Pid; `PARSE` for anything wrong in the text, including
 * nesting too deep for the JS stack, and integers and binaries beyond their limits (Erlang's largest
 * integer, 64 MiB).
 */
export function parseTerm(text: string, options: ParseOptions = {}): Term {
  let reader: TermReader | undefined;
  try {
    reader = readerFor(text, options);
    return reader.readAll();
  } catch (err) {
    if (reader !== undefined) throw reader.asError(err);
    if (err instanceof ErldistError) throw err;
    // Only the JS stack running out can get here (the caller's stack was already full).
    throw new ErldistError('PARSE', `cannot read the term (${err instanceof Error ? err.message : String(err)})`, {
      cause: err,
    });
  }
}

function readerFor(text: unknown, options: unknown): TermReader {
  if (typeof text !== 'string') throw invalid('parseTerm(text): text must be a string');
  if (text.length > MAX_TEXT_LENGTH)
    throw invalid(`parseTerm(text): text longer than ${MAX_TEXT_LENGTH} UTF-16 code units`);
  if (typeof options !== 'object' || options === null)
    throw invalid('parseTerm(text, options): options must be an object');
  let syntax: unknown;
  let pid: unknown;
  try {
    ({ syntax, pid } = options as ParseOptions);
  } catch (err) {
    throw invalid('parseTerm(text, options): options cannot be read', err);
  }
  if (pid !== undefined && typeof pid !== 'function')
    throw invalid('parseTerm(text, options): options.pid must be a function');
  if (syntax === undefined || syntax === 'erlang') return new ErlangReader(text, options as ParseOptions);
  if (syntax === 'elixir') return new ElixirReader(text, options as ParseOptions);
  throw invalid(
    `parseTerm(text, options): options.syntax must be 'erlang' or 'elixir', not ${typeof syntax === 'string' ? JSON.stringify(syntax) : typeof syntax}`,
  );
}

function invalid(message: string, cause?: unknown): ErldistError {
  return new ErldistError('INVALID_ARGUMENT', message, { cause });
}
