/**
 * The small byte reader and writer that EPMD, the handshake and the distribution header share
 * (style.md, after pg-protocol's buffer-reader/-writer). Part of the core every layer imports.
 * The codec's hot loops keep their own cursor: they read best in one place.
 */
import { ErldistError } from './errors.js';

/**
 * A cursor over one buffer. Every read checks its length against what remains and throws what
 * `short` returns (a PROTOCOL error naming the step, or a marker that asks for more bytes).
 */
export class ByteReader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    private readonly short: (what: string) => unknown = (what) =>
      new ErldistError('DECODE', `input ends inside ${what}`),
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) throw this.short(what);
  }

  u8(what = 'a byte'): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }

  u16(what = 'a 16-bit field'): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what = 'a 32-bit field'): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(what = 'a 64-bit field'): bigint {
    this.need(8, what);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Steps over `n` bytes (read by index where they are). */
  skip(n: number, what = `${n} bytes`): void {
    this.need(n, what);
    this.pos += n;
  }

  /** `n` bytes, as a view (no copy). */
  bytes(n: number, what = `${n} bytes`): Buffer {
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** Everything left, as a view. */
  rest(): Buffer {
    const v = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return v;
  }
}

/**
 * A growing writer. With a length prefix (`Len:16` or `Len:32`), `finish()` fills it in with the
 * length of what follows and refuses a body that does not fit it.
 */
export class ByteWriter {
  private buf: Buffer;
  private pos: number;

  constructor(
    private readonly prefix: 0 | 2 | 4 = 0,
    size = 64,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(size, prefix));
    this.pos = prefix;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  u64(v: bigint): this {
    this.ensure(8);
    this.buf.writeBigUInt64BE(v, this.pos);
    this.pos += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** The bytes written, the length prefix filled in. */
  finish(): Buffer {
    const length = this.pos - this.prefix;
    if (this.prefix === 2) {
      if (length > 0xffff) throw new ErldistError('INVALID_ARGUMENT', `${length} bytes do not fit a Len:16 prefix`);
      this.buf.writeUInt16BE(length, 0);
    } else if (this.prefix === 4) {
      this.buf.writeUInt32BE(length, 0);
    }
    return this.buf.subarray(0, this.pos);
  }
}
