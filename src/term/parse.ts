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
 *
 * The reader is one class per language over shared layers, each file importing only those below it:
 * parse-chars.ts (character classes), parse-base.ts (TermReader: cursor, errors, numbers, quoted text,
 * maps, pids), parse-bits.ts (BitSyntaxReader: `<<…>>`), then parse-erlang.ts (ErlangReader) and
 * parse-elixir.ts (ElixirReader); this file picks one.
 */
import { ElixirReader } from './parse-elixir.js';
import { ErlangReader } from './parse-erlang.js';
import type { Pid, Term } from './types.js';

export interface ParseOptions {
  /** Which language the text is written in (default `'erlang'`). */
  syntax?: 'erlang' | 'elixir';
  /** Builds the pid for the local form `<A.B.C>`, which does not name its node. */
  pid?: (a: number, b: number, c: number) => Pid;
}

export function parseTerm(text: string, options: ParseOptions = {}): Term {
  if (typeof text !== 'string') throw new TypeError('parseTerm(text): text must be a string');
  const reader = options.syntax === 'elixir' ? new ElixirReader(text, options) : new ErlangReader(text, options);
  return reader.readAll();
}
