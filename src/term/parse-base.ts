/**
 * What the Erlang and Elixir readers of parse.ts share: the cursor over the text, errors that name
 * the column and mark it, numbers, quoted text, atoms, maps as decode builds them, pids and arities.
 * Each language fills in the abstract members (its literals, comments, escapes and numbers).
 */
import { isUtf8 } from 'node:buffer';
import { ErldistError } from '../errors.js';
import { inspect } from './inspect.js';
import {
  type Chars,
  countCodePoints,
  digitValue,
  isDigit,
  isSpace,
  NO_CHAR,
  skipCodePoints,
  utf8Length,
  writeUtf8,
} from './parse-chars.js';
import { Atom, atom, Float, ImproperList, Pid, type Term } from './types.js';

/** Deepest nesting of lists, tuples, maps and binaries accepted (as `decode`'s default). */
export const MAX_DEPTH = 1000;

const MAX_U32 = 0xffffffff;

/**
 * Bits in Erlang's largest integer (2^19 − 1 words of 64 bits): beyond, Erlang's reader fails with
 * system_limit. It also bounds the time spent converting digits.
 */
export const MAX_INTEGER_BITS = 33_554_368;

/** What a reader takes from the caller's options (ParseOptions in parse.ts). */
export interface ReaderOptions {
  /** Builds the pid for the local form `<A.B.C>`, which does not name its node. */
  pid?: (a: number, b: number, c: number) => Pid;
}

export abstract class TermReader {
  protected pos = 0;
  protected depth = 0;

  constructor(
    protected readonly text: string,
    private readonly options: ReaderOptions,
  ) {}

  /** The whole text: one term, with space around it. */
  readAll(): Term {
    this.skipSpace();
    const term = this.value();
    this.skipSpace();
    this.end();
    return term;
  }

  /** After the term and the space after it: the text must end here. */
  protected end(): void {
    if (this.pos < this.text.length) throw this.unexpected();
  }

  // --- what each language defines -----------------------------------------------------------------

  /** One literal at the cursor (space skipped, depth counted). */
  protected abstract literal(): Term;
  /** Whether the character code `c` at the cursor starts a comment that runs to the end of the line. */
  protected abstract startsComment(c: number): boolean;
  /** The number after its sign, if any (the cursor on its first digit). */
  protected abstract number(negative: boolean): Term;
  /** The character that starts a character literal: `$` in Erlang, `?` in Elixir. */
  protected abstract readonly charPrefix: string;
  /** A character literal (the cursor on `charPrefix`): its code. */
  protected abstract charLiteral(): number;
  /**
   * The escape after a backslash in quoted text (the cursor after the backslash): a character code,
   * a raw byte as `-1 - byte` (only where `bytes`), or NO_CHAR.
   */
  protected abstract escape(bytes: boolean): number;
  /** Whether `#{` in quoted text starts an interpolation (refused) rather than two characters. */
  protected abstract readonly interpolates: boolean;

  // --- errors -------------------------------------------------------------------------------------

  /**
   * A PARSE error at `at`: the message names the line (if there are several) and the column, and shows
   * at most 100 characters of the line around the column with a `^` under it.
   */
  protected fail(message: string, at = this.pos, cause?: unknown): ErldistError {
    const text = this.text;
    const lineStart = text.lastIndexOf('\n', at - 1) + 1;
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd < 0) lineEnd = text.length;
    if (lineEnd > lineStart && text.charCodeAt(lineEnd - 1) === 13) lineEnd--; // CR LF
    // Columns count code points. The line is never spread into an array: it may be megabytes long.
    const column = countCodePoints(text, lineStart, at);
    const lineLength = countCodePoints(text, lineStart, lineEnd);
    let lineNumber = 1;
    for (let i = text.indexOf('\n'); i >= 0 && i < lineStart; i = text.indexOf('\n', i + 1)) lineNumber++;
    const where = text.includes('\n') ? `line ${lineNumber}, column ${column + 1}` : `column ${column + 1}`;
    const from = Math.max(0, Math.min(column - 60, lineLength - 100));
    const to = Math.min(lineLength, from + 100);
    const fromIndex = skipCodePoints(text, lineStart, lineEnd, from);
    const toIndex = skipCodePoints(text, fromIndex, lineEnd, to - from);
    const markerIndex = skipCodePoints(text, fromIndex, lineEnd, column - from);
    const shown = (from > 0 ? '...' : '') + text.slice(fromIndex, toIndex) + (to < lineLength ? '...' : '');
    const under = [...text.slice(fromIndex, markerIndex)].map((c) => (c === '\t' ? '\t' : ' ')).join('');
    const marker = `${from > 0 ? '   ' : ''}${under}^`;
    return new ErldistError('PARSE', `${message} at ${where}\n${shown}\n${marker}`, { offset: at, cause });
  }

  /**
   * Whatever `readAll` threw, as an ErldistError. The JS stack running out (the caller's stack was
   * already deep) is a PARSE error at the cursor; anything else unforeseen is one too, with its cause.
   */
  asError(err: unknown): ErldistError {
    if (err instanceof ErldistError) return err;
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      return this.fail('nesting too deep for the JS stack', this.pos, err);
    }
    return this.fail(`cannot read the term (${err instanceof Error ? err.message : String(err)})`, this.pos, err);
  }

  protected unexpected(at = this.pos, expected?: string): ErldistError {
    const hint = expected === undefined ? '' : `, expected ${expected}`;
    if (at >= this.text.length) return this.fail(`unexpected end of input${hint}`, at);
    const c = this.text.codePointAt(at)!;
    const shown =
      c < 32 || c === 127 ? `U+${c.toString(16).toUpperCase().padStart(4, '0')}` : `'${String.fromCodePoint(c)}'`;
    return this.fail(`unexpected ${shown}${hint}`, at);
  }

  // --- cursor -------------------------------------------------------------------------------------

  protected peek(offset = 0): string {
    return this.text.charAt(this.pos + offset);
  }

  protected startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }

  /** Skips whitespace and comments up to the next token. */
  protected skipSpace(): void {
    const text = this.text;
    while (this.pos < text.length) {
      const c = text.charCodeAt(this.pos);
      if (isSpace(c)) {
        this.pos++;
      } else if (this.startsComment(c)) {
        const eol = text.indexOf('\n', this.pos);
        this.pos = eol < 0 ? text.length : eol + 1;
      } else {
        return;
      }
    }
  }

  protected atPidStart(): boolean {
    return this.startsWith('#Pid<') || this.startsWith('#PID<');
  }

  /** Skips space, then consumes `token` or throws. */
  protected expect(token: string): void {
    this.skipSpace();
    if (!this.startsWith(token)) throw this.unexpected(this.pos, `'${token}'`);
    this.pos += token.length;
  }

  /** Skips space, then consumes `token` if it is next. */
  protected accept(token: string): boolean {
    this.skipSpace();
    if (!this.startsWith(token)) return false;
    this.pos += token.length;
    return true;
  }

  /** Reads one code point. */
  protected nextCodePoint(): number {
    const c = this.text.codePointAt(this.pos);
    if (c === undefined) throw this.unexpected();
    this.pos += c > 0xffff ? 2 : 1;
    return c;
  }

  /** Reads a word matching `re` (a sticky regexp) at the cursor, or returns undefined. */
  protected match(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (m === null) return undefined;
    this.pos += m[0].length;
    return m[0];
  }

  // --- values -------------------------------------------------------------------------------------

  /** A value at any depth: space, then a literal, counting the nesting. */
  protected value(): Term {
    if (this.depth >= MAX_DEPTH) throw this.fail(`nesting deeper than ${MAX_DEPTH}`);
    this.depth++;
    try {
      this.skipSpace();
      return this.literal();
    } finally {
      this.depth--;
    }
  }

  protected atomNamed(name: string, at: number): Atom | boolean {
    if (name === 'true') return true;
    if (name === 'false') return false;
    return this.atomOf(name, at);
  }

  protected atomOf(name: string, at: number): Atom {
    try {
      return atom(name);
    } catch (err) {
      // atom() refuses a name longer than 255 characters; say so where the name is.
      if (!(err instanceof Error) || !err.message.startsWith('atom(name): ')) throw err;
      throw this.fail(err.message.slice('atom(name): '.length), at);
    }
  }

  // --- numbers ------------------------------------------------------------------------------------

  /** `-X` or `+X` where X is a number or character literal. */
  protected signed(): Term {
    const negative = this.peek() === '-';
    this.pos++;
    this.skipSpace();
    const c = this.peek();
    if (isDigit(c)) return this.number(negative);
    if (c === this.charPrefix) {
      const v = this.charLiteral();
      return negative ? 0 - v : v; // never -0: an integer
    }
    throw this.unexpected(this.pos, 'a number');
  }

  /** Digits of `radix`, with single underscores between them; the underscores are dropped. */
  protected digits(radix: number): string {
    const text = this.text;
    const start = this.pos;
    let out = '';
    let run = start; // digits since the last underscore, sliced at once: a number may have millions
    for (;;) {
      const c = text.charAt(this.pos);
      if (digitValue(c) < radix) {
        this.pos++;
      } else if (c === '_' && this.pos > start && digitValue(text.charAt(this.pos + 1)) < radix) {
        out += text.slice(run, this.pos);
        this.pos++;
        run = this.pos;
      } else {
        break;
      }
    }
    out += text.slice(run, this.pos);
    if (out === '') throw this.unexpected(this.pos, radix === 10 ? 'a digit' : `a base-${radix} digit`);
    return out;
  }

  /** Digits of `radix` (from `digits`) as an integer, the number starting at `at`. */
  protected integerLiteral(digits: string, radix: number, negative: boolean, at: number): number | bigint {
    // A bound before converting: n significant digits make an integer of at least (n − 1)·log2(radix) + 1 bits.
    let zeros = 0;
    while (zeros < digits.length - 1 && digits[zeros] === '0') zeros++;
    const tooLarge = `integer too large (Erlang's integers have at most ${MAX_INTEGER_BITS} bits)`;
    if ((digits.length - zeros - 1) * Math.log2(radix) > MAX_INTEGER_BITS) throw this.fail(tooLarge, at);
    const magnitude = parseRadix(digits, radix);
    if (magnitude >> BigInt(MAX_INTEGER_BITS) !== 0n) throw this.fail(tooLarge, at);
    return integer(magnitude, negative);
  }

  /** The rest of a decimal number after its integer digits: `.5`, `.5e-3`, or nothing. */
  protected decimal(whole: string, negative: boolean, start: number): Term {
    if (this.peek() !== '.' || !isDigit(this.peek(1))) return this.integerLiteral(whole, 10, negative, start);
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

  // --- quoted text --------------------------------------------------------------------------------

  /**
   * The characters up to the closing `close`, the cursor being just after the opening quote.
   * `bytes`: Elixir `\xHH` is a raw byte (in strings), not a character (in charlists).
   */
  protected quoted(close: string, bytes: boolean): Chars {
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
        const v = this.escape(bytes);
        if (v !== NO_CHAR) out.push(v);
        continue;
      }
      if (this.interpolates && c === '#' && text[this.pos + 1] === '{') {
        throw this.fail('string interpolation is not supported (write \\#{ for the characters)');
      }
      out.push(this.nextCodePoint());
    }
  }

  /** `{H…}` or `min`..`max` hex digits (the cursor after `\x` or `\u`): a code point. */
  protected hexEscape(at: number, min: number, max: number): number {
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
  protected quotedName(quote: string): string {
    const start = this.pos;
    this.pos++;
    return this.textOf(this.quoted(quote, true), start);
  }

  /** Characters as a JS string; raw bytes must form valid UTF-8 with them. */
  protected textOf(chars: Chars, at: number): string {
    const bytes = this.utf8(chars, at);
    if (!isUtf8(bytes)) throw this.fail('text is not valid UTF-8', at);
    return bytes.toString('utf8');
  }

  /** Characters (and raw bytes) as UTF-8. */
  protected utf8(chars: Chars, at: number): Buffer {
    let size = 0;
    for (const c of chars) {
      const n = c < 0 ? 1 : utf8Length(c);
      if (n === 0) throw this.fail(`U+${c.toString(16).toUpperCase()} cannot be encoded in UTF-8`, at);
      size += n;
    }
    const out = Buffer.allocUnsafe(size);
    let i = 0;
    for (const c of chars) {
      if (c < 0) out[i++] = -1 - c;
      else i = writeUtf8(out, i, c);
    }
    return out;
  }

  /** Characters as a charlist. */
  protected codePoints(chars: Chars, at: number): number[] {
    for (let i = 0; i < chars.length; i++) {
      if (chars[i] < 0) throw this.fail('a byte escape is not a character', at);
    }
    return chars;
  }

  // --- maps, pids, funs ---------------------------------------------------------------------------

  /** Entries as decode builds them: a plain object when every key is an atom, else a Map. */
  protected buildMap(entries: [Term, Term][], at: number, struct = false): Term {
    if (entries.every(([k]) => k instanceof Atom || typeof k === 'boolean')) {
      const obj: { [key: string]: Term } = {};
      for (const [k, v] of entries) {
        const name = k instanceof Atom ? k.name : String(k);
        if (name === '__proto__')
          Object.defineProperty(obj, name, { value: v, enumerable: true, writable: true, configurable: true });
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

  /** `#Pid<node@host.85.0>`, `#PID<…>`, or the local form `<0.85.0>` (needs `options.pid`). */
  protected pid(): Pid {
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
      return this.localPid(a, b, c, start);
    }
    const remote = /^(.+)\.(\d+)\.(\d+)$/.exec(body);
    if (remote === null || !remote[1].includes('@')) throw this.fail('a pid is #Pid<node@host.ID.SERIAL>', start);
    const [id, serial] = [Number(remote[2]), Number(remote[3])];
    if (id > MAX_U32 || serial > MAX_U32) throw this.fail('pid number out of range', start);
    const node = this.atomOf(remote[1], start);
    this.pos = end + 1;
    return new Pid(node, id, serial, 0);
  }

  /** The caller's `options.pid(a, b, c)`: what goes wrong there is the caller's, INVALID_ARGUMENT. */
  private localPid(a: number, b: number, c: number, at: number): Pid {
    const call = `options.pid(${a}, ${b}, ${c})`;
    let pid: unknown;
    try {
      pid = this.options.pid?.(a, b, c);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new ErldistError('INVALID_ARGUMENT', `${call} threw: ${reason}`, { offset: at, cause: err });
    }
    if (!(pid instanceof Pid))
      throw new ErldistError('INVALID_ARGUMENT', `${call} did not return a Pid`, { offset: at });
    return pid;
  }

  /** `/N` after a fun's name. */
  protected arity(): number {
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

/** Digits of `radix` (2..36) as a bigint. */
export function parseRadix(digits: string, radix: number): bigint {
  if (radix === 10) return BigInt(digits);
  if (radix === 16) return BigInt(`0x${digits}`);
  if (radix === 8) return BigInt(`0o${digits}`);
  if (radix === 2) return BigInt(`0b${digits}`);
  return parseDigits(digits, BigInt(radix));
}

/** Halves, joined as high·radix^n + low: a digit at a time would take quadratic time on long numbers. */
function parseDigits(digits: string, radix: bigint): bigint {
  if (digits.length <= 40) {
    let v = 0n;
    for (const c of digits) v = v * radix + BigInt(digitValue(c));
    return v;
  }
  const low = digits.length >> 1;
  const high = digits.length - low;
  return parseDigits(digits.slice(0, high), radix) * radix ** BigInt(low) + parseDigits(digits.slice(high), radix);
}

/** An integer in the term model: `number` within ±(2^53−1), else `bigint`. */
export function integer(magnitude: bigint, negative: boolean): number | bigint {
  const v = negative ? -magnitude : magnitude;
  if (v >= -9007199254740991n && v <= 9007199254740991n) return Number(v);
  return v;
}

/** A whole-byte binary in the term model: a string when the bytes are valid UTF-8, else a Buffer. */
export function binaryTerm(bytes: Buffer): string | Buffer {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  return bytes;
}

/** A list with a tail: a longer list when the tail is one, else an improper list. */
export function withTail(items: Term[], tail: Term): Term {
  if (Array.isArray(tail)) return [...items, ...tail];
  if (tail instanceof ImproperList) return new ImproperList([...items, ...tail.elements], tail.tail);
  return new ImproperList(items, tail);
}
