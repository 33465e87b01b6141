/**
 * Elixir syntax for the term reader (parse.ts): `[1, a: 2]`, `%{"k" => 1}`, `%URI{}`, `"binary"`,
 * `~c"charlist"`, `:atom`, `MyApp.Mod`, `0xff`, `?a`, `&:m.f/1` and `#` comments.
 */

import { ErldistError } from '../errors.js';
import { binaryTerm, withTail } from './parse-base.js';
import { BitSyntaxReader, type SegmentSpec } from './parse-bits.js';
import {
  ALIAS,
  ALIAS_PREFIX,
  ATOM_NAME,
  aliasAtom,
  BARE_ATOM,
  type Chars,
  ELIXIR_ESCAPES,
  IDENTIFIER,
  isDigit,
  NO_CHAR,
  SIGIL_CLOSE,
} from './parse-chars.js';
import { type Atom, atom, ExportFun, type Term, Tuple } from './types.js';

export class ElixirReader extends BitSyntaxReader {
  protected readonly charPrefix = '?';
  protected readonly interpolates = true;
  protected readonly textType = 'binary';

  /** `#` starts a comment, except in `#PID<…>`. */
  protected startsComment(c: number): boolean {
    return c === 0x23 && !this.atPidStart();
  }

  protected literal(): Term {
    const c = this.peek();
    const start = this.pos;
    if (isDigit(c)) return this.number(false);
    if (c === '-' || c === '+') return this.signed();
    if (c === '?') return this.charLiteral();
    if (c === '"') return this.string();
    if (c === "'") {
      this.pos++;
      return this.codePoints(this.quoted("'", false), start);
    }
    if (c === '~') return this.sigil();
    if (c === ':') {
      this.pos++;
      return this.atomNamed(this.atomName(), start);
    }
    if (c === '[') return this.list();
    if (c === '{') return this.tuple();
    if (c === '%') return this.map();
    if (c === '<') return this.startsWith('<<') ? this.binary() : this.pid();
    if (c === '#') return this.pid();
    if (c === '&') return this.fun();
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

  // --- numbers and characters ---------------------------------------------------------------------

  /** `42`, `0xff`, `0o17`, `0b101`, `1.5e3`. */
  protected number(negative: boolean): Term {
    const start = this.pos;
    if (this.peek() === '0') {
      const radix = { x: 16, o: 8, b: 2 }[this.peek(1)];
      if (radix !== undefined) {
        this.pos += 2;
        return this.integerLiteral(this.digits(radix), radix, negative, start);
      }
    }
    return this.decimal(this.digits(10), negative, start);
  }

  /** `?a`, `?\n`: a character code. */
  protected charLiteral(): number {
    const start = this.pos;
    this.pos++;
    if (this.pos >= this.text.length) throw this.unexpected(this.pos, 'a character');
    if (this.peek() !== '\\') return this.nextCodePoint();
    this.pos++;
    const c = this.escape(false);
    if (c < 0) throw this.fail('not a character', start);
    return c;
  }

  /** The escape after a backslash: a character code, a raw byte (`-1 - byte`) or NO_CHAR. */
  protected escape(bytes: boolean): number {
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

  // --- strings and atoms --------------------------------------------------------------------------

  /** `"abc"` (the cursor on the quote): a binary. */
  private string(): Term {
    const start = this.pos;
    this.pos++;
    return binaryTerm(this.utf8(this.quoted('"', true), start));
  }

  /** `~c"abc"` (charlist) or `~s"abc"` (string), with any of Elixir's sigil delimiters. */
  private sigil(): Term {
    const start = this.pos;
    const kind = this.peek(1);
    const close = SIGIL_CLOSE[this.peek(2)];
    if ((kind !== 'c' && kind !== 's') || close === undefined)
      throw this.fail('only the ~c and ~s sigils are supported', start);
    if (this.startsWith(`~${kind}"""`) || this.startsWith(`~${kind}'''`))
      throw this.fail('heredocs are not supported', start);
    this.pos += 3;
    const chars = this.quoted(close, kind === 's');
    if (/[a-zA-Z]/.test(this.peek())) throw this.fail('sigil modifiers are not supported');
    if (kind === 'c') return this.codePoints(chars, start);
    return binaryTerm(this.utf8(chars, start));
  }

  /** After `:`: a bare or quoted atom name. */
  private atomName(): string {
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

  /** `[a, b | t]`; keywords may end it: `[1, a: 2]`; a trailing comma is allowed. */
  private list(): Term {
    this.pos++;
    const items: Term[] = [];
    if (this.accept(']')) return items;
    for (;;) {
      this.skipSpace();
      if (this.keywords(items, ']')) return items;
      items.push(this.value());
      if (this.accept(']')) return items;
      if (this.accept('|')) {
        const tail = this.value();
        this.expect(']');
        return withTail(items, tail);
      }
      this.expect(',');
      if (this.accept(']')) return items;
    }
  }

  /** `{a, b}`; keywords at the end are one list: `{1, a: 2}` is `{1, [a: 2]}`. */
  private tuple(): Tuple {
    this.pos++;
    const items: Term[] = [];
    if (this.accept('}')) return new Tuple(items);
    for (;;) {
      this.skipSpace();
      const keywords: Term[] = [];
      if (this.keywords(keywords, '}')) {
        items.push(keywords);
        return new Tuple(items);
      }
      items.push(this.value());
      if (this.accept('}')) return new Tuple(items);
      this.expect(',');
      if (this.accept('}')) return new Tuple(items);
    }
  }

  /** `%{K => V, a: 1}` or `%Alias{a: 1}` (the cursor on `%`). */
  private map(): Term {
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
   * Keywords `a: 1, "b c": 2` up to `close`, if one starts at the cursor: pushes `{a, 1}` tuples to
   * `out`, consumes `close`, and returns true. Returns false (consuming nothing) otherwise.
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
        } catch (err) {
          if (!(err instanceof ErldistError)) throw err;
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

  // --- funs ---------------------------------------------------------------------------------------

  /** `&:erlang.node/0`, `&Mod.fun/1`, `&:m."quoted name"/2` (the cursor on `&`). */
  private fun(): ExportFun {
    this.pos++;
    this.skipSpace();
    const at = this.pos;
    let module: string | undefined;
    if (this.peek() === ':') {
      this.pos++;
      module = this.atomName();
    } else {
      const alias = this.match(ALIAS_PREFIX);
      if (alias !== undefined) module = aliasAtom(alias);
      else module = this.match(BARE_ATOM);
    }
    if (module === undefined)
      throw this.unexpected(at, 'a module (only remote captures such as &:m.f/1 are supported)');
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

  // --- bit syntax: `<<"abc", 1::3, x::size(16)-little, 1.5::float, "é"::utf16>>` -------------------

  protected segmentText(): Chars {
    this.pos++;
    return this.quoted('"', true);
  }

  /** A string as a binary segment is its UTF-8 (raw `\xHH` bytes as they are). */
  protected textBytes(chars: Chars, at: number): Buffer {
    return this.utf8(chars, at);
  }

  /** `::type-size(N)-unit(N)` (`::N` for the size), or `:N` as inspect prints a size. */
  protected specifiers(spec: SegmentSpec): void {
    if (this.startsWith('::')) {
      this.pos += 2;
      this.typeSpecifiers(spec);
    } else if (this.peek() === ':') {
      this.pos++;
      this.skipSpace();
      spec.size = this.specNumber();
    }
  }

  private typeSpecifiers(spec: SegmentSpec): void {
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
}
