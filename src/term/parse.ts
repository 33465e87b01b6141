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
 */
import { isUtf8 } from 'node:buffer';
import { ErldistError } from '../errors.js';
import { inspect } from './inspect.js';
import { Atom, BitBinary, ExportFun, Float, ImproperList, Pid, type Term, Tuple, atom } from './types.js';

export interface ParseOptions {
  /** Which language the text is written in (default `'erlang'`). */
  syntax?: 'erlang' | 'elixir';
  /** Builds the pid for the local form `<A.B.C>`, which does not name its node. */
  pid?: (a: number, b: number, c: number) => Pid;
}

export function parseTerm(text: string, options: ParseOptions = {}): Term {
  if (typeof text !== 'string') throw new TypeError('parseTerm(text): text must be a string');
  return new TermParser(text, options).parseAll();
}

/** Deepest nesting of lists, tuples, maps and binaries accepted (as `decode`'s default). */
const MAX_DEPTH = 1000;

/** Erlang words that are not atoms unless quoted (as inspect quotes them). */
const ERLANG_RESERVED = new Set(
  'after and andalso band begin bnot bor bsl bsr bxor case catch cond div else end fun if let maybe not of or orelse receive rem try when xor'.split(
    ' ',
  ),
);

const NATIVE_LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const MAX_U32 = 0xffffffff;

/** Elixir sigil delimiters and their closing characters. */
const SIGIL_CLOSE: Record<string, string> = { '"': '"', "'": "'", '(': ')', '[': ']', '{': '}', '<': '>', '/': '/', '|': '|' };

/**
 * The characters of a quoted text. Code points are kept as they are; a raw byte written as an Elixir
 * `\xHH` escape inside a string (a byte, not a character) is kept as `-1 - byte`.
 */
type Chars = number[];

/** A value in a binary segment: a number, or the characters of a string literal. */
type SegmentValue = { kind: 'term'; term: Term } | { kind: 'text'; chars: Chars };

class TermParser {
  private pos = 0;
  private depth = 0;
  private readonly elixir: boolean;

  constructor(
    private readonly text: string,
    private readonly options: ParseOptions,
  ) {
    this.elixir = options.syntax === 'elixir';
  }

  parseAll(): Term {
    this.skipSpace();
    const term = this.value();
    this.skipSpace();
    if (!this.elixir && this.peek() === '.') {
      this.pos++;
      this.skipSpace();
    }
    if (this.pos < this.text.length) throw this.unexpected();
    return term;
  }

  // --- errors -------------------------------------------------------------------------------------

  private fail(message: string, at = this.pos): ErldistError {
    const text = this.text;
    const lineStart = text.lastIndexOf('\n', at - 1) + 1;
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd < 0) lineEnd = text.length;
    const line = [...text.slice(lineStart, lineEnd).replace(/\r$/, '')];
    const column = [...text.slice(lineStart, at)].length;
    const lineNumber = text.slice(0, lineStart).split('\n').length;
    const where = text.includes('\n') ? `line ${lineNumber}, column ${column + 1}` : `column ${column + 1}`;
    // Show at most 100 characters of a long line, around the column.
    const from = Math.max(0, Math.min(column - 60, line.length - 100));
    const to = Math.min(line.length, from + 100);
    const shown = (from > 0 ? '...' : '') + line.slice(from, to).join('') + (to < line.length ? '...' : '');
    const marker = (from > 0 ? '   ' : '') + line.slice(from, column).map((c) => (c === '\t' ? '\t' : ' ')).join('') + '^';
    return new ErldistError('PARSE', `${message} at ${where}\n${shown}\n${marker}`, { offset: at });
  }

  private unexpected(at = this.pos, expected?: string): ErldistError {
    const hint = expected === undefined ? '' : `, expected ${expected}`;
    if (at >= this.text.length) return this.fail(`unexpected end of input${hint}`, at);
    const c = this.text.codePointAt(at)!;
    const shown = c < 32 || c === 127 ? `U+${c.toString(16).toUpperCase().padStart(4, '0')}` : `'${String.fromCodePoint(c)}'`;
    return this.fail(`unexpected ${shown}${hint}`, at);
  }

  // --- characters ---------------------------------------------------------------------------------

  private peek(offset = 0): string {
    return this.text.charAt(this.pos + offset);
  }

  private startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }

  /** Skips whitespace and comments (`%` in Erlang, `#` in Elixir) up to the next token. */
  private skipSpace(): void {
    const text = this.text;
    while (this.pos < text.length) {
      const c = text.charCodeAt(this.pos);
      if (c === 32 || (c >= 9 && c <= 13) || c === 0xa0) {
        this.pos++;
      } else if ((c === 0x25 && !this.elixir) || (c === 0x23 && this.elixir && !this.atPidStart())) {
        const eol = text.indexOf('\n', this.pos);
        this.pos = eol < 0 ? text.length : eol + 1;
      } else {
        return;
      }
    }
  }

  private atPidStart(): boolean {
    return this.startsWith('#Pid<') || this.startsWith('#PID<');
  }

  /** Skips space, then consumes `token` or throws. */
  private expect(token: string): void {
    this.skipSpace();
    if (!this.startsWith(token)) throw this.unexpected(this.pos, `'${token}'`);
    this.pos += token.length;
  }

  /** Skips space, then consumes `token` if it is next. */
  private accept(token: string): boolean {
    this.skipSpace();
    if (!this.startsWith(token)) return false;
    this.pos += token.length;
    return true;
  }

  /** Reads one code point. */
  private nextCodePoint(): number {
    const c = this.text.codePointAt(this.pos);
    if (c === undefined) throw this.unexpected();
    this.pos += c > 0xffff ? 2 : 1;
    return c;
  }

  /** Reads a word matching `re` (a sticky regexp) at the cursor, or returns undefined. */
  private match(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (m === null) return undefined;
    this.pos += m[0].length;
    return m[0];
  }

  // --- values -------------------------------------------------------------------------------------

  private value(): Term {
    if (this.depth >= MAX_DEPTH) throw this.fail(`nesting deeper than ${MAX_DEPTH}`);
    this.depth++;
    try {
      this.skipSpace();
      return this.elixir ? this.elixirValue() : this.erlangValue();
    } finally {
      this.depth--;
    }
  }

  private erlangValue(): Term {
    const c = this.peek();
    const start = this.pos;
    if (isDigit(c)) return this.erlangNumber(false);
    if (c === '-' || c === '+') return this.signed();
    if (c === '$') return this.erlangChar();
    if (c === '"') return this.erlangString();
    if (c === "'") return this.atomNamed(this.quotedName("'"), start);
    if (c === '[') return this.list();
    if (c === '{') return this.tuple();
    if (c === '<') return this.startsWith('<<') ? this.binary() : this.pid();
    if (c === '#') {
      if (this.startsWith('#{')) return this.map(2);
      if (this.atPidStart()) return this.pid();
      throw this.unexpected();
    }
    const word = this.match(/[a-zß-öø-ÿ][A-Za-z0-9_@À-ÖØ-öø-ÿ]*/y);
    if (word !== undefined) {
      if (word === 'true') return true;
      if (word === 'false') return false;
      if (word === 'fun') return this.erlangFun();
      if (ERLANG_RESERVED.has(word)) throw this.fail(`'${word}' is a reserved word; quote it to make an atom`, start);
      return this.atomNamed(word, start);
    }
    const variable = this.match(/[A-Z_À-ÖØ-Þ][A-Za-z0-9_@À-ÖØ-öø-ÿ]*/y);
    if (variable !== undefined) throw this.fail(`variables are not supported ('${variable}')`, start);
    throw this.unexpected();
  }

  private elixirValue(): Term {
    const c = this.peek();
    const start = this.pos;
    if (isDigit(c)) return this.elixirNumber(false);
    if (c === '-' || c === '+') return this.signed();
    if (c === '?') return this.elixirChar();
    if (c === '"') return this.elixirString();
    if (c === "'") {
      this.pos++;
      return this.codePoints(this.quoted("'", false), start);
    }
    if (c === '~') return this.sigil();
    if (c === ':') {
      this.pos++;
      return this.atomNamed(this.elixirAtomName(), start);
    }
    if (c === '[') return this.list();
    if (c === '{') return this.tuple();
    if (c === '%') return this.elixirMap();
    if (c === '<') return this.startsWith('<<') ? this.binary() : this.pid();
    if (c === '#') return this.pid();
    if (c === '&') return this.elixirFun();
    const alias = this.match(ALIAS);
    if (alias !== undefined) {
      if (this.peek() === '.') throw this.fail('function calls are not supported', start);
      return this.atomNamed(aliasAtom(alias), start);
    }
    const word = this.match(IDENTIFIER);
    if (word !== undefined) {
      if (word === 'true') return true;
      if (word === 'false') return false;
      if (word === 'nil') return atom('nil');
      throw this.fail(`variables and calls are not supported ('${word}')`, start);
    }
    throw this.unexpected();
  }

  private atomNamed(name: string, at: number): Atom | boolean {
    if (name === 'true') return true;
    if (name === 'false') return false;
    return this.atomOf(name, at);
  }

  private atomOf(name: string, at: number): Atom {
    try {
      return atom(name);
    } catch (err) {
      throw this.fail((err as Error).message.replace(/^atom\(name\): /, ''), at);
    }
  }

  // --- numbers ------------------------------------------------------------------------------------

  /** `-X` or `+X` where X is a number or character literal. */
  private signed(): Term {
    const negative = this.peek() === '-';
    this.pos++;
    this.skipSpace();
    const c = this.peek();
    if (isDigit(c)) return this.elixir ? this.elixirNumber(negative) : this.erlangNumber(negative);
    if ((c === '$' && !this.elixir) || (c === '?' && this.elixir)) {
      const v = this.elixir ? this.elixirChar() : this.erlangChar();
      return negative ? 0 - v : v; // never -0: an integer
    }
    throw this.unexpected(this.pos, 'a number');
  }

  /** Digits of `radix`, with single underscores between them; the underscores are dropped. */
  private digits(radix: number): string {
    const text = this.text;
    let out = '';
    while (this.pos < text.length) {
      const c = text[this.pos];
      if (digitValue(c) < radix) {
        out += c;
        this.pos++;
      } else if (c === '_' && out !== '' && digitValue(text.charAt(this.pos + 1)) < radix) {
        this.pos++;
      } else {
        break;
      }
    }
    if (out === '') throw this.unexpected(this.pos, radix === 10 ? 'a digit' : `a base-${radix} digit`);
    return out;
  }

  private erlangNumber(negative: boolean): Term {
    const start = this.pos;
    const whole = this.digits(10);
    if (this.peek() === '#') {
      const radix = Number(whole);
      if (radix < 2 || radix > 36) throw this.fail(`base ${whole} is not within 2..36`, start);
      this.pos++;
      return integer(parseRadix(this.digits(radix), radix), negative);
    }
    return this.decimal(whole, negative, start);
  }

  private elixirNumber(negative: boolean): Term {
    const start = this.pos;
    if (this.peek() === '0') {
      const radix = { x: 16, o: 8, b: 2 }[this.peek(1)];
      if (radix !== undefined) {
        this.pos += 2;
        return integer(parseRadix(this.digits(radix), radix), negative);
      }
    }
    return this.decimal(this.digits(10), negative, start);
  }

  /** The rest of a decimal number after its integer digits: `.5`, `.5e-3`, or nothing. */
  private decimal(whole: string, negative: boolean, start: number): Term {
    if (this.peek() !== '.' || !isDigit(this.peek(1))) return integer(BigInt(whole), negative);
    this.pos++;
    let text = `${whole}.${this.digits(10)}`;
    const e = this.peek();
    if (e === 'e' || e === 'E') {
      this.pos++;
      let sign = '';
      if (this.peek() === '-' || this.peek() === '+') sign = this.text[this.pos++];
      text += `e${sign}${this.digits(10)}`;
    }
    const v = Number(text);
    if (!Number.isFinite(v)) throw this.fail('float out of range', start);
    const signed = negative ? -v : v;
    if (Number.isInteger(signed) && Math.abs(signed) <= Number.MAX_SAFE_INTEGER) return new Float(signed);
    return signed;
  }

  /** `$a`, `$\n`: a character code. */
  private erlangChar(): number {
    this.pos++;
    if (this.pos >= this.text.length) throw this.unexpected(this.pos, 'a character');
    if (this.peek() !== '\\') return this.nextCodePoint();
    this.pos++;
    return this.erlangEscape();
  }

  /** `?a`, `?\n`: a character code. */
  private elixirChar(): number {
    const start = this.pos;
    this.pos++;
    if (this.pos >= this.text.length) throw this.unexpected(this.pos, 'a character');
    if (this.peek() !== '\\') return this.nextCodePoint();
    this.pos++;
    const c = this.elixirEscape(false);
    if (c < 0) throw this.fail('not a character', start);
    return c;
  }

  // --- quoted text --------------------------------------------------------------------------------

  /**
   * The characters up to the closing `close`, the cursor being just after the opening quote.
   * `bytes`: Elixir `\xHH` is a raw byte (in strings), not a character (in charlists).
   */
  private quoted(close: string, bytes: boolean): Chars {
    const start = this.pos - 1;
    const text = this.text;
    const out: Chars = [];
    for (;;) {
      if (this.pos >= text.length) throw this.fail('unterminated quoted text', start);
      const c = text[this.pos];
      if (c === close) {
        this.pos++;
        return out;
      }
      if (c === '\\') {
        this.pos++;
        if (this.pos >= text.length) throw this.fail('unterminated quoted text', start);
        if (this.elixir) {
          const v = this.elixirEscape(bytes);
          if (v !== NO_CHAR) out.push(v);
        } else {
          out.push(this.erlangEscape());
        }
        continue;
      }
      if (this.elixir && c === '#' && text[this.pos + 1] === '{') {
        throw this.fail('string interpolation is not supported (write \\#{ for the characters)');
      }
      out.push(this.nextCodePoint());
    }
  }

  /** The escape after a backslash, in Erlang: a character code. */
  private erlangEscape(): number {
    const at = this.pos - 1;
    const c = this.text[this.pos];
    const simple = ERLANG_ESCAPES[c];
    if (simple !== undefined) {
      this.pos++;
      return simple;
    }
    if (c >= '0' && c <= '7') {
      const m = this.match(/[0-7]{1,3}/y)!;
      return parseInt(m, 8);
    }
    if (c === 'x') {
      this.pos++;
      return this.hexEscape(at, 2, 2);
    }
    if (c === '^') {
      this.pos++;
      return this.nextCodePoint() & 31;
    }
    return this.nextCodePoint();
  }

  /** The escape after a backslash, in Elixir: a character code, a raw byte (`-1 - byte`) or NO_CHAR. */
  private elixirEscape(bytes: boolean): number {
    const at = this.pos - 1;
    const c = this.text[this.pos];
    const simple = ELIXIR_ESCAPES[c];
    if (simple !== undefined) {
      this.pos++;
      return simple;
    }
    if (c === 'x') {
      this.pos++;
      // `\x{H…}` (deprecated in Elixir, but what inspect prints for control characters) is a code point.
      if (this.peek() === '{') return this.hexEscape(at, 1, 1);
      const v = this.hexEscape(at, 1, 2);
      return bytes ? -1 - v : v;
    }
    if (c === 'u') {
      this.pos++;
      return this.hexEscape(at, 4, 4);
    }
    if (c === '\n') {
      this.pos++;
      return NO_CHAR;
    }
    if (c === '\r' && this.text[this.pos + 1] === '\n') {
      this.pos += 2;
      return NO_CHAR;
    }
    return this.nextCodePoint();
  }

  /** `{H…}` or `min`..`max` hex digits (the cursor after `\x` or `\u`): a code point. */
  private hexEscape(at: number, min: number, max: number): number {
    let digits: string | undefined;
    if (this.peek() === '{') {
      this.pos++;
      digits = this.match(/[0-9A-Fa-f]{1,8}/y);
      if (digits === undefined || this.peek() !== '}') throw this.fail('invalid escape', at);
      this.pos++;
    } else {
      digits = this.match(new RegExp(`[0-9A-Fa-f]{${min},${max}}`, 'y'));
      if (digits === undefined) throw this.fail('invalid escape', at);
    }
    const v = parseInt(digits, 16);
    if (v > 0x10ffff) throw this.fail('invalid escape: beyond U+10FFFF', at);
    return v;
  }

  /** A quoted atom name (the cursor on the quote). */
  private quotedName(quote: string): string {
    const start = this.pos;
    this.pos++;
    return this.textOf(this.quoted(quote, true), start);
  }

  /** Characters as a JS string; raw bytes must form valid UTF-8 with them. */
  private textOf(chars: Chars, at: number): string {
    const bytes = this.utf8(chars, at);
    if (!isUtf8(bytes)) throw this.fail('text is not valid UTF-8', at);
    return bytes.toString('utf8');
  }

  private utf8(chars: Chars, at: number): Buffer {
    const out: number[] = [];
    for (const c of chars) {
      if (c < 0) out.push(-1 - c);
      else if (!pushUtf8(out, c)) throw this.fail(`U+${c.toString(16).toUpperCase()} cannot be encoded in UTF-8`, at);
    }
    return Buffer.from(out);
  }

  /** Characters as a charlist. */
  private codePoints(chars: Chars, at: number): number[] {
    for (let i = 0; i < chars.length; i++) {
      if (chars[i] < 0) throw this.fail('a byte escape is not a character', at);
    }
    return chars;
  }

  /** Erlang `"abc"`, with adjacent strings joined: a charlist. */
  private erlangString(): number[] {
    return this.codePoints(this.erlangStringChars(), this.pos);
  }

  private erlangStringChars(): Chars {
    const out: Chars = [];
    for (;;) {
      this.pos++;
      const part = this.quoted('"', false);
      for (const c of part) out.push(c);
      const after = this.pos;
      this.skipSpace();
      if (this.peek() !== '"') {
        this.pos = after;
        return out;
      }
    }
  }

  /** Elixir `"abc"` (the cursor on the quote): a binary. */
  private elixirString(): Term {
    const start = this.pos;
    this.pos++;
    return binaryTerm(this.utf8(this.quoted('"', true), start));
  }

  /** `~c"abc"` (charlist) or `~s"abc"` (string), with any of Elixir's sigil delimiters. */
  private sigil(): Term {
    const start = this.pos;
    const kind = this.peek(1);
    const close = SIGIL_CLOSE[this.peek(2)];
    if ((kind !== 'c' && kind !== 's') || close === undefined) throw this.fail('only the ~c and ~s sigils are supported', start);
    if (this.startsWith(`~${kind}"""`) || this.startsWith(`~${kind}'''`)) throw this.fail('heredocs are not supported', start);
    this.pos += 3;
    const chars = this.quoted(close, kind === 's');
    if (/[a-zA-Z]/.test(this.peek())) throw this.fail('sigil modifiers are not supported');
    if (kind === 'c') return this.codePoints(chars, start);
    return binaryTerm(this.utf8(chars, start));
  }

  /** After `:`: a bare or quoted Elixir atom name. */
  private elixirAtomName(): string {
    const c = this.peek();
    if (c === '"' || c === "'") {
      if (this.startsWith(c.repeat(3))) throw this.fail('heredocs are not supported');
      return this.quotedName(c);
    }
    const name = this.match(ATOM_NAME);
    if (name === undefined) throw this.unexpected(this.pos, 'an atom name (operators must be quoted)');
    return name;
  }

  // --- containers ---------------------------------------------------------------------------------

  /** `[a, b | T]`; in Elixir, keywords may end it: `[1, a: 2]`. */
  private list(): Term {
    this.pos++;
    const items: Term[] = [];
    if (this.accept(']')) return items;
    for (;;) {
      this.skipSpace();
      if (this.elixir && this.keywords(items, ']')) return items;
      items.push(this.value());
      if (this.accept(']')) return items;
      if (this.accept('|')) {
        const tail = this.value();
        this.expect(']');
        return withTail(items, tail);
      }
      this.expect(',');
      if (this.elixir && this.accept(']')) return items;
    }
  }

  private tuple(): Tuple {
    this.pos++;
    const items: Term[] = [];
    if (this.accept('}')) return new Tuple(items);
    for (;;) {
      this.skipSpace();
      if (this.elixir) {
        const keywords: Term[] = [];
        if (this.keywords(keywords, '}')) {
          items.push(keywords);
          return new Tuple(items);
        }
      }
      items.push(this.value());
      if (this.accept('}')) return new Tuple(items);
      this.expect(',');
      if (this.elixir && this.accept('}')) return new Tuple(items);
    }
  }

  /** Erlang `#{K => V}` (the cursor on `#`). */
  private map(open: number): Term {
    const start = this.pos;
    this.pos += open;
    const entries: [Term, Term][] = [];
    if (this.accept('}')) return this.buildMap(entries, start);
    for (;;) {
      const key = this.value();
      this.expect('=>');
      entries.push([key, this.value()]);
      if (this.accept('}')) return this.buildMap(entries, start);
      this.expect(',');
    }
  }

  /** `%{K => V, a: 1}` or `%Alias{a: 1}` (the cursor on `%`). */
  private elixirMap(): Term {
    const start = this.pos;
    this.pos++;
    let struct: Atom | undefined;
    if (this.peek() !== '{') {
      const alias = this.match(ALIAS);
      if (alias === undefined) throw this.unexpected(this.pos, "'{' or a struct name");
      struct = this.atomOf(aliasAtom(alias), start + 1);
    }
    this.expect('{');
    const entries: [Term, Term][] = [];
    if (struct !== undefined) entries.push([atom('__struct__'), struct]);
    if (this.accept('}')) return this.buildMap(entries, start, struct !== undefined);
    for (;;) {
      this.skipSpace();
      const pairs: Term[] = [];
      if (this.keywords(pairs, '}')) {
        for (const pair of pairs) entries.push([(pair as Tuple).elements[0], (pair as Tuple).elements[1]]);
        return this.buildMap(entries, start, struct !== undefined);
      }
      const key = this.value();
      this.expect('=>');
      entries.push([key, this.value()]);
      if (this.accept('}')) return this.buildMap(entries, start, struct !== undefined);
      this.expect(',');
      if (this.accept('}')) return this.buildMap(entries, start, struct !== undefined);
    }
  }

  /**
   * Elixir keywords `a: 1, "b c": 2` up to `close`, if one starts at the cursor: pushes `{a, 1}`
   * tuples to `out`, consumes `close`, and returns true. Returns false (consuming nothing) otherwise.
   */
  private keywords(out: Term[], close: string): boolean {
    const start = this.pos;
    if (this.keywordKey() === undefined) return false;
    this.pos = start;
    for (;;) {
      const at = this.pos;
      const key = this.keywordKey();
      if (key === undefined) throw this.unexpected(at, 'a keyword (keywords must come last)');
      out.push(new Tuple([this.atomNamed(key, at), this.value()]));
      if (this.accept(close)) return true;
      this.expect(',');
      if (this.accept(close)) return true;
      this.skipSpace();
    }
  }

  /** A keyword key `name:` or `"name":` at the cursor: consumes it and returns the name. */
  private keywordKey(): string | undefined {
    const start = this.pos;
    let name: string | undefined;
    const c = this.peek();
    if (c === '"' || c === "'") {
      if (!this.startsWith(c.repeat(3))) {
        // A quoted key is a string followed by ':'; anything else is a string value: back off.
        try {
          name = this.quotedName(c);
        } catch {
          name = undefined;
        }
      }
    } else {
      name = this.match(ATOM_NAME);
    }
    if (name !== undefined && this.peek() === ':' && this.peek(1) !== ':') {
      this.pos++;
      return name;
    }
    this.pos = start;
    return undefined;
  }

  /** Entries as decode builds them: a plain object when every key is an atom, else a Map. */
  private buildMap(entries: [Term, Term][], at: number, struct = false): Term {
    if (entries.every(([k]) => k instanceof Atom || typeof k === 'boolean')) {
      const obj: { [key: string]: Term } = {};
      for (const [k, v] of entries) {
        const name = k instanceof Atom ? k.name : String(k);
        if (name === '__proto__') Object.defineProperty(obj, name, { value: v, enumerable: true, writable: true, configurable: true });
        else obj[name] = v;
      }
      return obj;
    }
    if (struct) throw this.fail('the keys of a struct are atoms', at);
    const map = new Map<Term, Term>();
    // Keys that are JS objects (tuples, lists, floats...) are equal by value, not identity.
    const byValue = new Map<string, Term>();
    for (const [k, v] of entries) {
      let key = k;
      if (typeof k === 'object' && !(k instanceof Atom)) {
        const id = inspect(k);
        const seen = byValue.get(id);
        if (seen === undefined) byValue.set(id, k);
        else key = seen;
      }
      map.set(key, v);
    }
    return map;
  }

  // --- binaries -----------------------------------------------------------------------------------

  /** `<<1, 2:3, "text"/utf8>>` (Erlang) or `<<1, 2::3, "text"::binary>>` (Elixir). */
  private binary(): Term {
    if (this.depth >= MAX_DEPTH) throw this.fail(`nesting deeper than ${MAX_DEPTH}`);
    this.pos += 2;
    const bits = new BitWriter();
    if (this.accept('>>')) return '';
    for (;;) {
      this.segment(bits);
      if (this.accept('>>')) break;
      this.expect(',');
    }
    const bytes = Buffer.from(bits.bytes);
    if (bits.length % 8 !== 0) return new BitBinary(bytes, bits.length % 8);
    return binaryTerm(bytes);
  }

  private segment(bits: BitWriter): void {
    this.skipSpace();
    const at = this.pos;
    const value = this.segmentValue();
    const spec = this.segmentSpec(value);
    if (value.kind === 'text') {
      if (spec.type === 'binary' || spec.type === 'bitstring') {
        if (spec.size !== undefined) throw this.fail('a string segment cannot have a size', at);
        bits.pushBytes(this.elixir ? this.utf8(value.chars, at) : this.latin1(value.chars, at));
        return;
      }
      for (const c of value.chars) this.pushValue(bits, c < 0 ? -1 - c : c, spec, at);
      return;
    }
    this.pushValue(bits, value.term, spec, at);
  }

  private latin1(chars: Chars, at: number): Buffer {
    if (chars.some((c) => c > 255)) throw this.fail('a character beyond 255 needs /utf8', at);
    return Buffer.from(chars);
  }

  private segmentValue(): SegmentValue {
    const c = this.peek();
    if (c === '"') {
      if (this.elixir) {
        this.pos++;
        return { kind: 'text', chars: this.quoted('"', true) };
      }
      return { kind: 'text', chars: this.erlangStringChars() };
    }
    const at = this.pos;
    let term: Term;
    if (c === '<' && this.startsWith('<<')) {
      this.depth++;
      try {
        term = this.binary();
      } finally {
        this.depth--;
      }
    } else if (isDigit(c) || c === '-' || c === '+' || c === '$' || c === '?') {
      term = this.value();
    } else {
      throw this.unexpected(at, 'a number, string or binary');
    }
    return { kind: 'term', term };
  }

  /** `:Size/type-unit:8` (Erlang) or `::type-size(N)` (Elixir; `:N` is read too, as inspect prints it). */
  private segmentSpec(value: SegmentValue): SegmentSpec {
    const spec: SegmentSpec = { type: undefined, size: undefined, unit: undefined, little: false };
    this.skipSpace();
    if (this.elixir && this.startsWith('::')) {
      this.pos += 2;
      this.elixirSpecs(spec);
    } else if (this.peek() === ':' && !this.startsWith('::')) {
      this.pos++;
      this.skipSpace();
      spec.size = this.specNumber();
      if (!this.elixir && this.accept('/')) this.erlangSpecs(spec);
    } else if (!this.elixir && this.accept('/')) {
      this.erlangSpecs(spec);
    }
    if (spec.type === undefined) {
      if (value.kind === 'text') spec.type = this.elixir ? 'binary' : 'integer';
      else if (typeof value.term === 'string' || value.term instanceof Uint8Array) spec.type = 'binary';
      else if (value.term instanceof BitBinary) spec.type = 'bitstring';
      else spec.type = 'integer';
    }
    return spec;
  }

  private specNumber(): number {
    const at = this.pos;
    const digits = this.match(/[0-9]+/y);
    if (digits === undefined) throw this.unexpected(at, 'a size (a literal integer)');
    return Number(digits);
  }

  private erlangSpecs(spec: SegmentSpec): void {
    for (;;) {
      this.skipSpace();
      const at = this.pos;
      const word = this.match(/[a-z][a-z0-9]*/y);
      if (word === undefined) throw this.unexpected(at, 'a type specifier');
      if (word === 'unit') {
        this.expect(':');
        this.skipSpace();
        spec.unit = this.specNumber();
      } else {
        this.applySpec(spec, word, at);
      }
      if (!this.accept('-')) return;
    }
  }

  private elixirSpecs(spec: SegmentSpec): void {
    for (;;) {
      this.skipSpace();
      const at = this.pos;
      if (isDigit(this.peek())) {
        spec.size = this.specNumber();
      } else {
        const word = this.match(/[a-z][a-z0-9_]*/y);
        if (word === undefined) throw this.unexpected(at, 'a type specifier');
        if (word === 'size' || word === 'unit') {
          this.expect('(');
          this.skipSpace();
          const n = this.specNumber();
          this.expect(')');
          if (word === 'size') spec.size = n;
          else spec.unit = n;
        } else {
          this.applySpec(spec, word, at);
        }
      }
      if (!this.accept('-')) return;
    }
  }

  private applySpec(spec: SegmentSpec, word: string, at: number): void {
    switch (word) {
      case 'integer':
      case 'float':
      case 'binary':
      case 'bitstring':
      case 'utf8':
      case 'utf16':
      case 'utf32':
        spec.type = word;
        return;
      case 'bytes':
        spec.type = 'binary';
        return;
      case 'bits':
        spec.type = 'bitstring';
        return;
      case 'big':
        spec.little = false;
        return;
      case 'little':
        spec.little = true;
        return;
      case 'native':
        spec.little = NATIVE_LITTLE;
        return;
      case 'signed':
      case 'unsigned':
        return;
      default:
        throw this.fail(`unknown type specifier '${word}'`, at);
    }
  }

  private pushValue(bits: BitWriter, v: Term, spec: SegmentSpec, at: number): void {
    switch (spec.type) {
      case 'integer': {
        if (!isInteger(v)) throw this.fail('an integer segment needs an integer (write /float or ::float for a float)', at);
        const size = (spec.size ?? 8) * (spec.unit ?? 1);
        if (spec.little && size % 8 !== 0) throw this.fail('a little-endian segment must be whole bytes', at);
        bits.pushInt(BigInt(v), size, spec.little);
        return;
      }
      case 'float': {
        let f: number;
        if (v instanceof Float) f = v.value;
        else if (typeof v === 'number') f = v;
        else if (typeof v === 'bigint') f = Number(v);
        else throw this.fail('a float segment needs a number', at);
        const size = (spec.size ?? 64) * (spec.unit ?? 1);
        if (size !== 32 && size !== 64) throw this.fail('a float segment must be 32 or 64 bits', at);
        const buf = Buffer.alloc(size / 8);
        if (size === 32 && spec.little) buf.writeFloatLE(f);
        else if (size === 32) buf.writeFloatBE(f);
        else if (spec.little) buf.writeDoubleLE(f);
        else buf.writeDoubleBE(f);
        bits.pushBytes(buf);
        return;
      }
      case 'binary':
      case 'bitstring': {
        let data: Uint8Array;
        let length: number;
        if (typeof v === 'string') data = Buffer.from(v, 'utf8');
        else if (v instanceof Uint8Array) data = v;
        else if (v instanceof BitBinary) data = v.bytes;
        else throw this.fail(`a ${spec.type} segment needs a binary`, at);
        if (v instanceof BitBinary) length = v.bitLength;
        else length = data.length * 8;
        if (spec.size !== undefined) {
          const wanted = spec.size * (spec.unit ?? (spec.type === 'binary' ? 8 : 1));
          if (wanted > length) throw this.fail(`the binary is shorter than the segment size`, at);
          length = wanted;
        }
        if (spec.type === 'binary' && length % 8 !== 0) throw this.fail('a binary segment must be whole bytes', at);
        bits.pushBits(data, length);
        return;
      }
      default: {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x10ffff) throw this.fail(`a ${spec.type} segment needs a character`, at);
        if (spec.size !== undefined) throw this.fail(`a ${spec.type} segment cannot have a size`, at);
        if (v >= 0xd800 && v <= 0xdfff) throw this.fail(`U+${v.toString(16).toUpperCase()} is not a character`, at);
        let bytes: Buffer;
        if (spec.type === 'utf8') {
          const out: number[] = [];
          pushUtf8(out, v);
          bytes = Buffer.from(out);
        } else if (spec.type === 'utf16') {
          bytes = Buffer.from(String.fromCodePoint(v), 'utf16le');
          if (!spec.little) bytes.swap16();
        } else {
          bytes = Buffer.alloc(4);
          if (spec.little) bytes.writeUInt32LE(v);
          else bytes.writeUInt32BE(v);
        }
        bits.pushBytes(bytes);
      }
    }
  }

  // --- pids and funs ------------------------------------------------------------------------------

  /** `#Pid<node@host.85.0>`, `#PID<…>`, or the local form `<0.85.0>` (needs `options.pid`). */
  private pid(): Pid {
    const start = this.pos;
    if (this.peek() === '#') {
      if (!this.atPidStart()) throw this.unexpected();
      this.pos += 4;
    }
    this.pos++;
    const end = this.text.indexOf('>', this.pos);
    if (end < 0) throw this.fail('unterminated pid', start);
    const body = this.text.slice(this.pos, end);
    const local = /^(\d+)\.(\d+)\.(\d+)$/.exec(body);
    if (local !== null) {
      if (this.options.pid === undefined) throw this.fail('pids need a node: write #Pid<node@host.ID.SERIAL>', start);
      const [a, b, c] = [Number(local[1]), Number(local[2]), Number(local[3])];
      if (a > MAX_U32 || b > MAX_U32 || c > MAX_U32) throw this.fail('pid number out of range', start);
      this.pos = end + 1;
      return this.options.pid(a, b, c);
    }
    const remote = /^(.+)\.(\d+)\.(\d+)$/.exec(body);
    if (remote === null || !remote[1].includes('@')) throw this.fail('a pid is #Pid<node@host.ID.SERIAL>', start);
    const [id, serial] = [Number(remote[2]), Number(remote[3])];
    if (id > MAX_U32 || serial > MAX_U32) throw this.fail('pid number out of range', start);
    const node = this.atomOf(remote[1], start);
    this.pos = end + 1;
    return new Pid(node, id, serial, 0);
  }

  /** After `fun`: ` module:name/arity`. */
  private erlangFun(): ExportFun {
    const module = this.erlangAtom();
    this.expect(':');
    const name = this.erlangAtom();
    return new ExportFun(module, name, this.arity());
  }

  private erlangAtom(): Atom {
    this.skipSpace();
    const at = this.pos;
    let name: string | undefined;
    if (this.peek() === "'") name = this.quotedName("'");
    else name = this.match(/[a-zß-öø-ÿ][A-Za-z0-9_@À-ÖØ-öø-ÿ]*/y);
    if (name === undefined) throw this.unexpected(at, 'an atom');
    if (ERLANG_RESERVED.has(name) && this.text[at] !== "'") throw this.fail(`'${name}' is a reserved word; quote it to make an atom`, at);
    return this.atomOf(name, at);
  }

  /** `&:erlang.node/0`, `&Mod.fun/1`, `&:m."quoted name"/2` (the cursor on `&`). */
  private elixirFun(): ExportFun {
    this.pos++;
    this.skipSpace();
    const at = this.pos;
    let module: string | undefined;
    if (this.peek() === ':') {
      this.pos++;
      module = this.elixirAtomName();
    } else {
      const alias = this.match(ALIAS_PREFIX);
      if (alias !== undefined) module = aliasAtom(alias);
      else module = this.match(/(?:true|false|nil)(?![\p{L}\p{N}_@?!])/uy);
    }
    if (module === undefined) throw this.unexpected(at, "a module (only remote captures such as &:m.f/1 are supported)");
    if (this.peek() !== '.') throw this.unexpected(this.pos, "'.'");
    this.pos++;
    const nameAt = this.pos;
    let name: string | undefined;
    const c = this.peek();
    if (c === '"' || c === "'") name = this.quotedName(c);
    else name = this.match(IDENTIFIER);
    if (name === undefined) throw this.unexpected(nameAt, 'a function name');
    return new ExportFun(this.atomOf(module, at), this.atomOf(name, nameAt), this.arity());
  }

  private arity(): number {
    this.expect('/');
    this.skipSpace();
    const at = this.pos;
    const digits = this.match(/[0-9]+/y);
    if (digits === undefined) throw this.unexpected(at, 'an arity');
    const arity = Number(digits);
    if (arity > 255) throw this.fail('arity beyond 255', at);
    return arity;
  }
}

// --- helpers --------------------------------------------------------------------------------------

/** An escape that stands for nothing (an Elixir line continuation); outside the raw-byte range. */
const NO_CHAR = -1000;

const ERLANG_ESCAPES: Record<string, number> = { b: 8, d: 127, e: 27, f: 12, n: 10, r: 13, s: 32, t: 9, v: 11 };
const ELIXIR_ESCAPES: Record<string, number> = { 0: 0, a: 7, b: 8, d: 127, e: 27, f: 12, n: 10, r: 13, s: 32, t: 9, v: 11 };

/** An Elixir atom name after `:` or before `:` in a keyword. */
const ATOM_NAME = /[\p{L}_][\p{L}\p{N}_@]*[?!]?/uy;
/** An Elixir variable or function name. */
const IDENTIFIER = /[\p{Ll}_][\p{L}\p{N}_]*[?!]?/uy;
/** An Elixir alias `Foo.Bar` (not followed by more name characters). */
const ALIAS = /[A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)*(?![\p{L}\p{N}_@?!])/uy;
/** An alias followed by `.name` (a remote capture): the alias part only. */
const ALIAS_PREFIX = /[A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)*(?=\.)/y;

type SegmentSpec = {
  type: 'integer' | 'float' | 'binary' | 'bitstring' | 'utf8' | 'utf16' | 'utf32' | undefined;
  size: number | undefined;
  unit: number | undefined;
  little: boolean;
};

/** The atom an alias names: `Foo.Bar` is `Elixir.Foo.Bar`; `Elixir.Foo` stays as it is. */
function aliasAtom(alias: string): string {
  if (alias === 'Elixir' || alias.startsWith('Elixir.')) return alias;
  return `Elixir.${alias}`;
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9' && c.length === 1;
}

function digitValue(c: string): number {
  if (c.length !== 1) return 99;
  const code = c.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 122) return code - 87;
  if (code >= 65 && code <= 90) return code - 55;
  return 99;
}

function parseRadix(digits: string, radix: number): bigint {
  if (radix === 10) return BigInt(digits);
  if (radix === 16) return BigInt(`0x${digits}`);
  if (radix === 8) return BigInt(`0o${digits}`);
  if (radix === 2) return BigInt(`0b${digits}`);
  const r = BigInt(radix);
  let v = 0n;
  for (const c of digits) v = v * r + BigInt(digitValue(c));
  return v;
}

/** An integer in the term model: `number` within ±(2^53−1), else `bigint`. */
function integer(magnitude: bigint, negative: boolean): number | bigint {
  const v = negative ? -magnitude : magnitude;
  if (v >= -9007199254740991n && v <= 9007199254740991n) return Number(v);
  return v;
}

function isInteger(v: Term): v is number | bigint {
  return typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v));
}

/** A whole-byte binary in the term model: a string when the bytes are valid UTF-8, else a Buffer. */
function binaryTerm(bytes: Buffer): string | Buffer {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  return bytes;
}

/** Appends the UTF-8 encoding of code point `c`; false for a surrogate or beyond U+10FFFF. */
function pushUtf8(out: number[], c: number): boolean {
  if (c < 0x80) out.push(c);
  else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
  else if (c < 0x10000) {
    if (c >= 0xd800 && c <= 0xdfff) return false;
    out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  } else if (c <= 0x10ffff) {
    out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  } else return false;
  return true;
}

/** A list with a tail: a longer list when the tail is one, else an improper list. */
function withTail(items: Term[], tail: Term): Term {
  if (Array.isArray(tail)) return [...items, ...tail];
  if (tail instanceof ImproperList) return new ImproperList([...items, ...tail.elements], tail.tail);
  return new ImproperList(items, tail);
}

/** Bits appended most significant first. */
class BitWriter {
  readonly bytes: number[] = [];
  length = 0;

  private pushBit(bit: number): void {
    if (this.length % 8 === 0) this.bytes.push(0);
    if (bit) this.bytes[this.bytes.length - 1] |= 0x80 >> this.length % 8;
    this.length++;
  }

  private pushByte(b: number): void {
    if (this.length % 8 === 0) {
      this.bytes.push(b);
      this.length += 8;
    } else {
      for (let i = 7; i >= 0; i--) this.pushBit((b >> i) & 1);
    }
  }

  /** The low `size` bits of `v` (two's complement), big- or little-endian (whole bytes). */
  pushInt(v: bigint, size: number, little: boolean): void {
    const u = BigInt.asUintN(size, v);
    if (size % 8 === 0) {
      const n = size / 8;
      for (let k = 0; k < n; k++) {
        const shift = little ? k : n - 1 - k;
        this.pushByte(Number((u >> BigInt(8 * shift)) & 0xffn));
      }
      return;
    }
    for (let i = size - 1; i >= 0; i--) this.pushBit(Number((u >> BigInt(i)) & 1n));
  }

  pushBytes(bytes: Uint8Array): void {
    for (const b of bytes) this.pushByte(b);
  }

  /** The first `length` bits of `data`. */
  pushBits(data: Uint8Array, length: number): void {
    const whole = Math.floor(length / 8);
    for (let i = 0; i < whole; i++) this.pushByte(data[i]);
    for (let i = 0; i < length % 8; i++) this.pushBit((data[whole] >> (7 - i)) & 1);
  }
}
