/**
 * Bit syntax for the term reader (parse.ts): `<<1, 2:3, "text"/utf8>>` in Erlang and
 * `<<1, 2::3, "text"::binary>>` in Elixir. This layer reads the segments and builds the bits; each
 * language says how its string literals read and how it writes a segment's size and types.
 */
import { binaryTerm, MAX_DEPTH, TermReader } from './parse-base.js';
import { type Chars, isDigit } from './parse-chars.js';
import { BitBinary, Float, type Term } from './types.js';

const NATIVE_LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Largest binary read, in bits: 64 MiB, as decode's maxSize. `<<0:N>>` asks for N bits in a few characters. */
export const MAX_BINARY_BITS = 64 * 1024 * 1024 * 8;

/** A segment's type and size, as written or defaulted. */
export type SegmentSpec = {
  type: 'integer' | 'float' | 'binary' | 'bitstring' | 'utf8' | 'utf16' | 'utf32' | undefined;
  size: number | undefined;
  unit: number | undefined;
  little: boolean;
};

/** A value in a binary segment: a number, or the characters of a string literal. */
type SegmentValue = { kind: 'term'; term: Term } | { kind: 'text'; chars: Chars };

export abstract class BitSyntaxReader extends TermReader {
  /** A string literal as a segment's value (the cursor on its `"`): its characters. */
  protected abstract segmentText(): Chars;
  /** The bytes of a string segment of type binary or bitstring. */
  protected abstract textBytes(chars: Chars, at: number): Buffer;
  /** The type of a string segment that names none. */
  protected abstract readonly textType: 'integer' | 'binary';
  /** The size, unit and types after a segment's value, if any are written (space skipped): into `spec`. */
  protected abstract specifiers(spec: SegmentSpec): void;

  /** `<<…>>` (the cursor on the first `<`). */
  protected binary(): Term {
    if (this.depth >= MAX_DEPTH) throw this.fail(`nesting deeper than ${MAX_DEPTH}`);
    this.pos += 2;
    const bits = new BitWriter();
    if (this.accept('>>')) return '';
    for (;;) {
      this.segment(bits);
      if (this.accept('>>')) break;
      this.expect(',');
    }
    const bytes = bits.bytes();
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
        const bytes = this.textBytes(value.chars, at);
        this.reserve(bits, bytes.length * 8, at);
        bits.pushBytes(bytes);
        return;
      }
      for (const c of value.chars) this.pushValue(bits, c < 0 ? -1 - c : c, spec, at);
      return;
    }
    this.pushValue(bits, value.term, spec, at);
  }

  private segmentValue(): SegmentValue {
    const c = this.peek();
    if (c === '"') return { kind: 'text', chars: this.segmentText() };
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

  /** The specifiers written after the value, and the type its kind implies where none is written. */
  private segmentSpec(value: SegmentValue): SegmentSpec {
    const spec: SegmentSpec = { type: undefined, size: undefined, unit: undefined, little: false };
    this.skipSpace();
    this.specifiers(spec);
    if (spec.type === undefined) {
      if (value.kind === 'text') spec.type = this.textType;
      else if (typeof value.term === 'string' || value.term instanceof Uint8Array) spec.type = 'binary';
      else if (value.term instanceof BitBinary) spec.type = 'bitstring';
      else spec.type = 'integer';
    }
    return spec;
  }

  /** A size or unit: a literal integer. */
  protected specNumber(): number {
    const at = this.pos;
    const digits = this.match(/[0-9]+/y);
    if (digits === undefined) throw this.unexpected(at, 'a size (a literal integer)');
    const n = Number(digits);
    if (n > MAX_BINARY_BITS) throw this.fail(`a size beyond ${MAX_BINARY_BITS}`, at);
    return n;
  }

  /** Room for `n` more bits, within MAX_BINARY_BITS. */
  private reserve(bits: BitWriter, n: number, at: number): void {
    if (bits.length + n > MAX_BINARY_BITS)
      throw this.fail(`a binary larger than ${MAX_BINARY_BITS / 8 / 1024 / 1024} MiB`, at);
  }

  /** A type, endianness or signedness specifier (`word`, read at `at`). */
  protected applySpec(spec: SegmentSpec, word: string, at: number): void {
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
        if (!isInteger(v))
          throw this.fail('an integer segment needs an integer (write /float or ::float for a float)', at);
        const size = (spec.size ?? 8) * (spec.unit ?? 1);
        if (spec.little && size % 8 !== 0) throw this.fail('a little-endian segment must be whole bytes', at);
        this.reserve(bits, size, at);
        bits.pushInt(BigInt(v), size, spec.little);
        return;
      }
      case 'float': {
        let f: number;
        if (v instanceof Float) f = v.value;
        else if (typeof v === 'number') f = v;
        else if (typeof v === 'bigint') f = Number(v);
        else throw this.fail('a float segment needs a number', at);
        if (!Number.isFinite(f)) throw this.fail('the integer is too large for a float segment', at);
        const size = (spec.size ?? 64) * (spec.unit ?? 1);
        if (size !== 32 && size !== 64) throw this.fail('a float segment must be 32 or 64 bits', at);
        const buf = Buffer.alloc(size / 8);
        if (size === 32 && spec.little) buf.writeFloatLE(f);
        else if (size === 32) buf.writeFloatBE(f);
        else if (spec.little) buf.writeDoubleLE(f);
        else buf.writeDoubleBE(f);
        this.reserve(bits, size, at);
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
        this.reserve(bits, length, at);
        bits.pushBits(data, length);
        return;
      }
      default: {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x10ffff)
          throw this.fail(`a ${spec.type} segment needs a character`, at);
        if (spec.size !== undefined) throw this.fail(`a ${spec.type} segment cannot have a size`, at);
        if (v >= 0xd800 && v <= 0xdfff) throw this.fail(`U+${v.toString(16).toUpperCase()} is not a character`, at);
        let bytes: Buffer;
        if (spec.type === 'utf8') {
          bytes = Buffer.from(String.fromCodePoint(v), 'utf8');
        } else if (spec.type === 'utf16') {
          bytes = Buffer.from(String.fromCodePoint(v), 'utf16le');
          if (!spec.little) bytes.swap16();
        } else {
          bytes = Buffer.alloc(4);
          if (spec.little) bytes.writeUInt32LE(v);
          else bytes.writeUInt32BE(v);
        }
        this.reserve(bits, bytes.length * 8, at);
        bits.pushBytes(bytes);
      }
    }
  }
}

function isInteger(v: Term): v is number | bigint {
  return typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v));
}

/** Bits appended most significant first, into a buffer that grows. */
class BitWriter {
  private buf = new Uint8Array(64);
  /** Bits written. Those after them in the last byte are 0. */
  length = 0;

  /** A copy of the bytes written, the last one partly if `length` is not a multiple of 8. */
  bytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, Math.ceil(this.length / 8)));
  }

  private grow(bits: number): void {
    const need = Math.ceil((this.length + bits) / 8);
    if (need <= this.buf.length) return;
    const buf = new Uint8Array(Math.max(need, this.buf.length * 2));
    buf.set(this.buf);
    this.buf = buf;
  }

  private pushBit(bit: number): void {
    this.grow(1);
    if (bit) this.buf[this.length >> 3] |= 0x80 >> (this.length % 8);
    this.length++;
  }

  private pushByte(b: number): void {
    this.grow(8);
    const i = this.length >> 3;
    const shift = this.length % 8;
    if (shift === 0) {
      this.buf[i] = b;
    } else {
      this.buf[i] |= b >> shift;
      this.buf[i + 1] = (b << (8 - shift)) & 0xff;
    }
    this.length += 8;
  }

  /** The low `size` bits of `v` (two's complement), big- or little-endian (whole bytes). */
  pushInt(v: bigint, size: number, little: boolean): void {
    if (size === 0) return;
    // Through hex, in time linear in the size: the value's bits, left-aligned in whole bytes.
    const n = Math.ceil(size / 8);
    const hex = (BigInt.asUintN(size, v) << BigInt(n * 8 - size)).toString(16);
    const bytes = Buffer.from(hex.padStart(n * 2, '0'), 'hex');
    if (little) bytes.reverse();
    this.pushBits(bytes, size);
  }

  pushBytes(bytes: Uint8Array): void {
    if (this.length % 8 === 0) {
      this.grow(bytes.length * 8);
      this.buf.set(bytes, this.length >> 3);
      this.length += bytes.length * 8;
      return;
    }
    for (const b of bytes) this.pushByte(b);
  }

  /** The first `length` bits of `data`. */
  pushBits(data: Uint8Array, length: number): void {
    const whole = Math.floor(length / 8);
    this.pushBytes(whole === data.length ? data : data.subarray(0, whole));
    for (let i = 0; i < length % 8; i++) this.pushBit((data[whole] >> (7 - i)) & 1);
  }
}
