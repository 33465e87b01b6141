/**
 * Character classes of the term reader (parse.ts): digits, space, the words and names of Erlang and
 * Elixir, escapes, and UTF-8. Plain data and functions; no reader state.
 */

/**
 * The characters of a quoted text. Code points are kept as they are; a raw byte written as an Elixir
 * `\xHH` escape inside a string (a byte, not a character) is kept as `-1 - byte`.
 */
export type Chars = number[];

/** An escape that stands for nothing (an Elixir line continuation); outside the raw-byte range. */
export const NO_CHAR = -1000;

/** A decimal digit (one UTF-16 unit; `''` at the end of the text is not). */
export function isDigit(c: string): boolean {
  return c >= '0' && c <= '9' && c.length === 1;
}

/** The value of `c` as a digit of any base up to 36; 99 for anything else. */
export function digitValue(c: string): number {
  if (c.length !== 1) return 99;
  const code = c.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 122) return code - 87;
  if (code >= 65 && code <= 90) return code - 55;
  return 99;
}

/** Space between tokens: ASCII space, tab to carriage return, and no-break space. */
export function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13) || code === 0xa0;
}

// --- Erlang ----------------------------------------------------------------------------------------

/** Erlang words that are not atoms unless quoted (as inspect quotes them). */
export const ERLANG_RESERVED = new Set(
  'after and andalso band begin bnot bor bsl bsr bxor case catch cond div else end fun if let maybe not of or orelse receive rem try when xor'.split(
    ' ',
  ),
);

/** An unquoted Erlang atom: a lowercase Latin-1 letter, then letters, digits, `_` and `@`. */
export const ERLANG_ATOM = /[a-zß-öø-ÿ][A-Za-z0-9_@À-ÖØ-öø-ÿ]*/y;
/** An Erlang variable: an uppercase Latin-1 letter or `_`, then name characters. */
export const ERLANG_VARIABLE = /[A-Z_À-ÖØ-Þ][A-Za-z0-9_@À-ÖØ-öø-ÿ]*/y;

/** Erlang's one-letter escapes `\n` and the like; `\NNN`, `\xHH`, `\x{H…}` and `\^c` are read apart. */
export const ERLANG_ESCAPES: Record<string, number> = { b: 8, d: 127, e: 27, f: 12, n: 10, r: 13, s: 32, t: 9, v: 11 };

// --- Elixir ----------------------------------------------------------------------------------------

/** Elixir's one-letter escapes; `\xHH`, `\uHHHH` and line continuations are read apart. */
export const ELIXIR_ESCAPES: Record<string, number> = {
  0: 0,
  a: 7,
  b: 8,
  d: 127,
  e: 27,
  f: 12,
  n: 10,
  r: 13,
  s: 32,
  t: 9,
  v: 11,
};

/** An Elixir atom name after `:` or before `:` in a keyword. */
export const ATOM_NAME = /[\p{L}_][\p{L}\p{N}_@]*[?!]?/uy;
/** An Elixir variable or function name. */
export const IDENTIFIER = /[\p{Ll}_][\p{L}\p{N}_]*[?!]?/uy;
/** An Elixir alias `Foo.Bar` (not followed by more name characters). */
export const ALIAS = /[A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)*(?![\p{L}\p{N}_@?!])/uy;
/** An alias followed by `.name` (a remote capture): the alias part only. */
export const ALIAS_PREFIX = /[A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)*(?=\.)/y;
/** The atoms Elixir writes without a colon, as the module of a capture (`&true.f/0`). */
export const BARE_ATOM = /(?:true|false|nil)(?![\p{L}\p{N}_@?!])/uy;

/** Elixir sigil delimiters and their closing characters. */
export const SIGIL_CLOSE: Record<string, string> = {
  '"': '"',
  "'": "'",
  '(': ')',
  '[': ']',
  '{': '}',
  '<': '>',
  '/': '/',
  '|': '|',
};

/** The atom an alias names: `Foo.Bar` is `Elixir.Foo.Bar`; `Elixir.Foo` stays as it is. */
export function aliasAtom(alias: string): string {
  if (alias === 'Elixir' || alias.startsWith('Elixir.')) return alias;
  return `Elixir.${alias}`;
}

// --- code points and UTF-8 -------------------------------------------------------------------------

/** True for a UTF-16 high surrogate at `i` followed by a low one before `end`: one code point in two units. */
function pairAt(text: string, i: number, end: number): boolean {
  const c = text.charCodeAt(i);
  if (c < 0xd800 || c > 0xdbff || i + 1 >= end) return false;
  const d = text.charCodeAt(i + 1);
  return d >= 0xdc00 && d <= 0xdfff;
}

/** The number of code points in `text` from `start` to `end` (a lone surrogate counts as one). */
export function countCodePoints(text: string, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) {
    if (pairAt(text, i, end)) i++;
    n++;
  }
  return n;
}

/** The index in `text` after `count` code points from `start`, stopping at `end`. */
export function skipCodePoints(text: string, start: number, end: number, count: number): number {
  let i = start;
  for (let n = 0; n < count && i < end; n++) i += pairAt(text, i, end) ? 2 : 1;
  return i;
}

/** The length of code point `c` in UTF-8; 0 for a surrogate or beyond U+10FFFF, which it cannot encode. */
export function utf8Length(c: number): number {
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c < 0x10000) return c >= 0xd800 && c <= 0xdfff ? 0 : 3;
  return c <= 0x10ffff ? 4 : 0;
}

/** Writes the UTF-8 encoding of code point `c` (one utf8Length accepts) at `at`; returns the index after it. */
export function writeUtf8(out: Uint8Array, at: number, c: number): number {
  if (c < 0x80) {
    out[at] = c;
    return at + 1;
  }
  if (c < 0x800) {
    out[at] = 0xc0 | (c >> 6);
    out[at + 1] = 0x80 | (c & 63);
    return at + 2;
  }
  if (c < 0x10000) {
    out[at] = 0xe0 | (c >> 12);
    out[at + 1] = 0x80 | ((c >> 6) & 63);
    out[at + 2] = 0x80 | (c & 63);
    return at + 3;
  }
  out[at] = 0xf0 | (c >> 18);
  out[at + 1] = 0x80 | ((c >> 12) & 63);
  out[at + 2] = 0x80 | ((c >> 6) & 63);
  out[at + 3] = 0x80 | (c & 63);
  return at + 4;
}
