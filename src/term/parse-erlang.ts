/**
 * Erlang syntax for the term reader (parse.ts): `[1, {ok, <<"b">>}]`, `#{k => v}`, `"charlist"`,
 * `'quoted atom'`, `16#ff`, `$a`, `fun m:f/1`, `%` comments and an optional full stop at the end.
 */

import { withTail } from './parse-base.js';
import { BitSyntaxReader, type SegmentSpec } from './parse-bits.js';
import { type Chars, ERLANG_ATOM, ERLANG_ESCAPES, ERLANG_RESERVED, ERLANG_VARIABLE, isDigit } from './parse-chars.js';
import { type Atom, ExportFun, type Term, Tuple } from './types.js';

export class ErlangReader extends BitSyntaxReader {
  protected readonly charPrefix = '$';
  protected readonly interpolates = false;
  protected readonly textType = 'integer';

  /** A term may end with a full stop, as Erlang's shell and `file:consult` want. */
  protected override end(): void {
    if (this.peek() === '.') {
      this.pos++;
      this.skipSpace();
    }
    super.end();
  }

  protected startsComment(c: number): boolean {
    return c === 0x25; // %
  }

  protected literal(): Term {
    const c = this.peek();
    const start = this.pos;
    if (isDigit(c)) return this.number(false);
    if (c === '-' || c === '+') return this.signed();
    if (c === '$') return this.charLiteral();
    if (c === '"') return this.string();
    if (c === "'") return this.atomNamed(this.quotedName("'"), start);
    if (c === '[') return this.list();
    if (c === '{') return this.tuple();
    if (c === '<') return this.startsWith('<<') ? this.binary() : this.pid();
    if (c === '#') {
      if (this.startsWith('#{')) return this.map();
      if (this.atPidStart()) return this.pid();
      throw this.unexpected();
    }
    const word = this.match(ERLANG_ATOM);
    if (word !== undefined) {
      if (word === 'true') return true;
      if (word === 'false') return false;
      if (word === 'fun') return this.fun();
      if (ERLANG_RESERVED.has(word)) throw this.fail(`'${word}' is a reserved word; quote it to make an atom`, start);
      return this.atomNamed(word, start);
    }
    const variable = this.match(ERLANG_VARIABLE);
    if (variable !== undefined) throw this.fail(`variables are not supported ('${variable}')`, start);
    throw this.unexpected();
  }

  // --- numbers and characters ---------------------------------------------------------------------

  /** `42`, `16#ff`, `1.5e3`. */
  protected number(negative: boolean): Term {
    const start = this.pos;
    const whole = this.digits(10);
    if (this.peek() === '#') {
      const radix = Number(whole);
      if (radix < 2 || radix > 36) throw this.fail(`base ${whole} is not within 2..36`, start);
      this.pos++;
      return this.integerLiteral(this.digits(radix), radix, negative, start);
    }
    return this.decimal(whole, negative, start);
  }

  /** `$a`, `$\n`: a character code. */
  protected charLiteral(): number {
    this.pos++;
    if (this.pos >= this.text.length) throw this.unexpected(this.pos, 'a character');
    if (this.peek() !== '\\') return this.nextCodePoint();
    this.pos++;
    return this.escape();
  }

  /** The escape after a backslash: a character code. */
  protected escape(): number {
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

  // --- strings ------------------------------------------------------------------------------------

  /** `"abc"`, with adjacent strings joined: a charlist. */
  private string(): number[] {
    return this.codePoints(this.stringChars(), this.pos);
  }

  /** The characters of `"abc" "def"` (the cursor on the first quote). */
  private stringChars(): Chars {
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

  // --- containers ---------------------------------------------------------------------------------

  /** `[a, b | T]`. */
  private list(): Term {
    this.pos++;
    const items: Term[] = [];
    if (this.accept(']')) return items;
    for (;;) {
      this.skipSpace();
      items.push(this.value());
      if (this.accept(']')) return items;
      if (this.accept('|')) {
        const tail = this.value();
        this.expect(']');
        return withTail(items, tail);
      }
      this.expect(',');
    }
  }

  private tuple(): Tuple {
    this.pos++;
    const items: Term[] = [];
    if (this.accept('}')) return new Tuple(items);
    for (;;) {
      this.skipSpace();
      items.push(this.value());
      if (this.accept('}')) return new Tuple(items);
      this.expect(',');
    }
  }

  /** `#{K => V}` (the cursor on `#`). */
  private map(): Term {
    const start = this.pos;
    this.pos += 2;
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

  // --- funs ---------------------------------------------------------------------------------------

  /** After `fun`: ` module:name/arity`. */
  private fun(): ExportFun {
    const module = this.funAtom();
    this.expect(':');
    const name = this.funAtom();
    return new ExportFun(module, name, this.arity());
  }

  private funAtom(): Atom {
    this.skipSpace();
    const at = this.pos;
    let name: string | undefined;
    if (this.peek() === "'") name = this.quotedName("'");
    else name = this.match(ERLANG_ATOM);
    if (name === undefined) throw this.unexpected(at, 'an atom');
    if (ERLANG_RESERVED.has(name) && this.text[at] !== "'")
      throw this.fail(`'${name}' is a reserved word; quote it to make an atom`, at);
    return this.atomOf(name, at);
  }

  // --- bit syntax: `<<"abc", 1:3, X:16/little-unsigned, 1.5/float, "é"/utf8>>` ----------------------

  /** Adjacent strings are joined in a segment too. */
  protected segmentText(): Chars {
    return this.stringChars();
  }

  /** A string as a binary segment is Latin-1: one byte per character. */
  protected textBytes(chars: Chars, at: number): Buffer {
    if (chars.some((c) => c > 255)) throw this.fail('a character beyond 255 needs /utf8', at);
    return Buffer.from(chars);
  }

  /** `:Size`, then `/type-unit:8` (either may be left out). */
  protected specifiers(spec: SegmentSpec): void {
    if (this.peek() === ':' && !this.startsWith('::')) {
      this.pos++;
      this.skipSpace();
      spec.size = this.specNumber();
      if (this.accept('/')) this.typeSpecifiers(spec);
    } else if (this.accept('/')) {
      this.typeSpecifiers(spec);
    }
  }

  private typeSpecifiers(spec: SegmentSpec): void {
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
}
