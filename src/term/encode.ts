/**
 * ETF encoder. Writes the canonical form of each term, the bytes `term_to_binary(T,
 * [{minor_version, 2}])` gives on OTP 26+ (protocol-notes §6), into one growing buffer.
 */
import { deflateSync } from 'node:zlib';
import { ErldistError } from '../errors.js';
import { type FastBuffer, fast } from './buffer.js';
import { DEFAULT_MAX_DEPTH } from './decode.js';
import { writeBig64 } from './int64.js';
import { Tag, VERSION_MAGIC } from './tags.js';
import {
  Atom,
  BitBinary,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  internAtom,
  MAX_ATOM_CHARS,
  Pid,
  Port,
  Reference,
  type Term,
  Tuple,
} from './types.js';

export interface EncodeOptions {
  /** zlib level 0-9: write a compressed term (tag 80) when that is smaller, as term_to_binary does. */
  compressed?: number | boolean;
  /** Deepest nesting accepted (default 1000); deeper values, and cycles, fail with ENCODE. */
  maxDepth?: number;
}

/**
 * @internal A distribution frame's atom cache (DFLAG_DIST_HDR_ATOM_CACHE): while an encoder has one,
 * atoms are written as ATOM_CACHE_REF to an entry of the frame's header where it can take them.
 */
export interface AtomRefs {
  /**
   * The index of `atom` in the frame's header (0-254) for a ref about to be written at `pos` in the
   * encoder's buffer, its length then being `length`; or -1 to write the atom's text.
   */
  ref(atom: Atom, pos: number, length: number): number;
}

/** Options of a TermEncoder that writes into segments (see `TermEncoder.segments`). */
export interface TermEncoderOptions extends EncodeOptions {
  /**
   * Binaries (BINARY_EXT, BIT_BINARY_EXT data) of at least this many bytes are kept by reference,
   * not copied: `segments()` returns them as they are, between views of the encoder's own bytes.
   */
  referenceFrom?: number;
}

/** Raised inside the encoder and turned into an ErldistError with the path where it surfaced. */
class EncodeFault extends Error {
  readonly segments: string[] = [];
  cycleDepth = -1;
  constructor(
    message: string,
    readonly value: unknown,
  ) {
    super(message);
  }
}

/** Read once the term model is settled (types.ts swaps in the registered classes at load). */
const ATOM_PROTO: object = Atom.prototype;
const TUPLE_PROTO: object = Tuple.prototype;
const PID_PROTO: object = Pid.prototype;
const REFERENCE_PROTO: object = Reference.prototype;

const MIN_INT32 = -0x80000000;
const MAX_INT32 = 0x7fffffff;
const UINT64_LIMIT = 1n << 64n;

/** Pre-encoded atoms: each Atom's SMALL_ATOM_UTF8_EXT / ATOM_UTF8_EXT bytes, computed once. */
const atomBytes = new WeakMap<Atom, Uint8Array>();

function encodedAtom(a: Atom): Uint8Array {
  let bytes = atomBytes.get(a);
  if (bytes === undefined) {
    const text = Buffer.from(a.name, 'utf8');
    if (text.length <= 255) {
      bytes = Buffer.allocUnsafeSlow(2 + text.length);
      bytes[0] = Tag.SMALL_ATOM_UTF8_EXT;
      bytes[1] = text.length;
      bytes.set(text, 2);
    } else {
      bytes = Buffer.allocUnsafeSlow(3 + text.length);
      bytes[0] = Tag.ATOM_UTF8_EXT;
      bytes[1] = text.length >> 8;
      bytes[2] = text.length & 0xff;
      bytes.set(text, 3);
    }
    atomBytes.set(a, bytes);
  }
  return bytes;
}

/**
 * Object keys by their text: the atom bytes each key encodes to, so that a key costs one lookup, not
 * an intern and a WeakMap lookup. Cleared when full, so that it cannot grow with what is encoded.
 */
const KEY_CACHE_MAX = 4096;
/** Positions of object keys remembered by each encoder. */
const SEEN_KEYS = 32;
const keyBytes = new Map<string, Uint8Array>();

function encodedKey(key: string): Uint8Array {
  let bytes = keyBytes.get(key);
  if (bytes === undefined) {
    if (key.length > MAX_ATOM_CHARS && [...key].length > MAX_ATOM_CHARS) {
      throw new EncodeFault(`key longer than ${MAX_ATOM_CHARS} characters cannot be an atom`, key);
    }
    bytes = encodedAtom(internAtom(key));
    if (keyBytes.size >= KEY_CACHE_MAX) keyBytes.clear();
    keyBytes.set(key, bytes);
  }
  return bytes;
}

const TRUE_ATOM = internAtom('true');
const FALSE_ATOM = internAtom('false');

/**
 * Appends terms and raw fields to one buffer. `src/distribution` uses it to put a control message and its
 * payload into one frame; `encode` uses it for a single term.
 */
export class TermEncoder {
  buf: FastBuffer;
  pos = 0;
  /** Set per call on the shared encoder of `encode`. @internal */
  maxDepth: number;
  /** Binaries of at least this many bytes are referenced, not copied (`referenceFrom`). */
  private readonly refMin: number;
  /** Referenced binaries, each with the position in `buf` its bytes belong after. */
  private readonly refs: Buffer[] = [];
  private readonly refAt: number[] = [];
  private refBytes = 0;
  /** The keys of the last objects written, by position, and their atom bytes (see `object`). */
  private seenKeys: string[] | undefined;
  private seenKeyBytes: Uint8Array[] | undefined;
  /** Those bytes as two little-endian words a position, for keys of at most 8 bytes. */
  private seenKeyWords: Int32Array | undefined;
  /** The last frozen pid written, and its bytes. */
  private lastPid: Pid | undefined;
  private lastPidBytes: Uint8Array | undefined;
  /** The node atom of the last pid, port or reference written, and its bytes. */
  private lastNode: Atom | undefined;
  private lastNodeBytes: Uint8Array | undefined;
  /**
   * @internal Set while a distribution frame with an atom cache is written (see `AtomRefs`): the
   * nodes of pids, references and ports go as refs, and with `allAtomRefs` (a control term) every
   * atom. A payload's other atoms are written out: a ref costs us more than it saves the BEAM
   * there (maps repeat their keys, which the text path copies in eight stores).
   */
  atomRefs: AtomRefs | undefined;
  /** @internal See `atomRefs`. */
  allAtomRefs = false;

  constructor(initialSize = 256, options: TermEncoderOptions = {}) {
    this.buf = fast(Buffer.allocUnsafe(initialSize));
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.refMin = options.referenceFrom ?? Infinity;
  }

  /** Bytes written so far, referenced binaries included (`pos` counts only those in `buf`). */
  get length(): number {
    return this.pos + this.refBytes;
  }

  /**
   * The bytes from `from` to `to` (offsets in `length`) as views of `buf` and of the referenced
   * binaries, in order; with `copy`, the bytes of `buf` are copied (the encoder may then be reused).
   */
  segments(from = 0, to = this.length, copy = false): Buffer[] {
    if (this.refs.length === 0) {
      const view = this.buf.subarray(from, to);
      return [copy ? Buffer.from(view) : view];
    }
    const out: Buffer[] = [];
    let at = 0; // offset in `length` of buf[prev]
    let prev = 0;
    const take = (part: Buffer, own: boolean) => {
      const a = Math.max(from - at, 0);
      const b = Math.min(to - at, part.length);
      at += part.length;
      if (a >= b) return;
      const view = part.subarray(a, b);
      out.push(own && copy ? Buffer.from(view) : view);
    };
    for (let i = 0; i < this.refs.length && at < to; i++) {
      const p = this.refAt[i] as number;
      take(this.buf.subarray(prev, p), true);
      take(this.refs[i] as Buffer, false);
      prev = p;
    }
    if (at < to) take(this.buf.subarray(prev, this.pos), true);
    return out;
  }

  /** Goes back to `pos`, forgetting what was written after it (binaries referenced at `pos` stay). */
  truncate(pos: number): void {
    this.pos = pos;
    while (this.refAt.length > 0 && (this.refAt[this.refAt.length - 1] as number) > pos) {
      this.refAt.pop();
      this.refBytes -= (this.refs.pop() as Buffer).length;
    }
  }

  /**
   * @internal Makes room for `n` bytes at `at` (a position in `buf`): what follows moves up, the
   * binaries referenced after `at` with it.
   */
  open(at: number, n: number): void {
    this.ensure(n);
    this.buf.copyWithin(at + n, at, this.pos);
    this.pos += n;
    const refAt = this.refAt;
    for (let i = refAt.length - 1; i >= 0 && (refAt[i] as number) > at; i--) refAt[i] = (refAt[i] as number) + n;
  }

  /**
   * @internal Writes the ATOM_CACHE_REFs at `positions` (of their tags in `buf`, ascending) out as
   * their atoms' text, `atoms` being the frame's header list: what follows each moves up, the
   * binaries referenced after it with it. Returns how much the first `count` refs grew.
   */
  spellOut(positions: readonly number[], atoms: readonly Atom[], count: number): number {
    const n = positions.length;
    if (n === 0) return 0;
    let grewFirst = 0;
    const texts = new Array<Uint8Array>(n);
    let growth = 0;
    for (let k = 0; k < n; k++) {
      // ATOM_CACHE_REF, then the atom's index in the header's list.
      const text = encodedAtom(atoms[this.buf[(positions[k] as number) + 1] as number] as Atom);
      texts[k] = text;
      growth += text.length - 2;
      if (k + 1 === count) grewFirst = growth;
    }
    // A binary referenced after a ref moves by the growth of the refs before it.
    const refAt = this.refAt;
    let passed = 0;
    let before = 0;
    for (let j = 0; j < refAt.length; j++) {
      const at = refAt[j] as number;
      while (passed < n && (positions[passed] as number) < at) before += (texts[passed++] as Uint8Array).length - 2;
      refAt[j] = at + before;
    }
    this.ensure(growth);
    const buf = this.buf;
    // From the last ref back: the bytes after ref k move up by the growth of refs 0..k.
    let shift = growth;
    let end = this.pos;
    for (let k = n - 1; k >= 0; k--) {
      const p = positions[k] as number;
      const text = texts[k] as Uint8Array;
      buf.copyWithin(p + 2 + shift, p + 2, end);
      shift -= text.length - 2;
      buf.set(text, p + shift);
      end = p;
    }
    this.pos += growth;
    return grewFirst;
  }

  /** References `b` as the next bytes (the caller wrote its tag and length). */
  private refer(b: Uint8Array): void {
    this.refs.push(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    this.refAt.push(this.pos);
    this.refBytes += b.length;
  }

  /** The bytes written so far (a view; valid until the next write; without references only). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    // Double, or fit a single large item (a big binary) with a little room, whichever is larger.
    const size = Math.max(this.buf.length * 2, this.pos + n + (n >> 3));
    const next = fast(Buffer.allocUnsafe(size));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf[this.pos++] = v >>> 8;
    this.buf[this.pos++] = v & 0xff;
  }

  u32(v: number): void {
    this.ensure(4);
    put32(this.buf, this.pos, v >>> 0);
    this.pos += 4;
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Writes one term without the version byte. Throws ErldistError ENCODE with the path. */
  writeTerm(value: Term): void {
    try {
      this.term(value, 0);
    } catch (err) {
      throw toEncodeError(err);
    }
  }

  // --- dispatch -----------------------------------------------------------------------------------

  /** Small enough for V8 to inline into the container loops; objects go on to `object`. */
  private term(v: unknown, depth: number): void {
    switch (typeof v) {
      case 'number':
        return this.number(v);
      case 'string':
        return this.string(v);
      case 'boolean':
        return this.boolean(v);
      case 'object':
        return this.objectTerm(v, depth);
      case 'bigint':
        return this.bigint(v);
      default:
        throw new EncodeFault(`${describe(v)} has no Erlang form`, v);
    }
  }

  private objectTerm(v: object | null, depth: number): void {
    if (v === null) throw new EncodeFault('null has no Erlang form (use an atom such as nil or undefined)', v);
    if (Array.isArray(v)) return this.list(v, depth);
    // The common classes by their prototype: one load and a compare each, where `instanceof` walks
    // the chain (the class bindings are not constants to V8: see the registry in types.ts).
    const proto = Object.getPrototypeOf(v);
    if (proto === ATOM_PROTO) return this.atom(v as Atom);
    if (proto === TUPLE_PROTO) return this.tuple(v as Tuple, depth);
    if (proto === Object.prototype || proto === null) return this.object(v, depth);
    if (proto === Buffer.prototype) return this.binary(v as Buffer);
    if (proto === PID_PROTO) return this.pid(v as Pid);
    if (proto === REFERENCE_PROTO) return this.reference(v as Reference);
    if (v instanceof Atom) return this.atom(v);
    if (v instanceof Tuple) return this.tuple(v, depth);
    if (v instanceof Uint8Array) return this.binary(v);
    if (v instanceof Map) return this.map(v, depth);
    if (v instanceof Float) return this.float(v.value, v);
    if (v instanceof Pid) return this.pid(v);
    if (v instanceof Reference) return this.reference(v);
    if (v instanceof Port) return this.port(v);
    if (v instanceof BitBinary) return this.bitBinary(v);
    if (v instanceof ImproperList) return this.improperList(v, depth);
    if (v instanceof ExportFun) return this.exportFun(v);
    if (v instanceof Fun) return this.raw(v.bytes);
    throw new EncodeFault(`${describe(v)} has no Erlang form`, v);
  }

  /** SMALL_ATOM_UTF8_EXT `true` or `false`. */
  private boolean(v: boolean): void {
    if (this.allAtomRefs && this.atomRef(v ? TRUE_ATOM : FALSE_ATOM)) return;
    this.ensure(7);
    const buf = this.buf;
    const p = this.pos;
    buf[p] = Tag.SMALL_ATOM_UTF8_EXT;
    if (v) {
      buf[p + 1] = 4;
      buf[p + 2] = 0x74; // t
      buf[p + 3] = 0x72; // r
      buf[p + 4] = 0x75; // u
      buf[p + 5] = 0x65; // e
      this.pos = p + 6;
    } else {
      buf[p + 1] = 5;
      buf[p + 2] = 0x66; // f
      buf[p + 3] = 0x61; // a
      buf[p + 4] = 0x6c; // l
      buf[p + 5] = 0x73; // s
      buf[p + 6] = 0x65; // e
      this.pos = p + 7;
    }
  }

  // --- numbers ------------------------------------------------------------------------------------

  private number(v: number): void {
    if (Number.isSafeInteger(v)) {
      if (v >= 0 && v <= 255) {
        this.ensure(2);
        this.buf[this.pos++] = Tag.SMALL_INTEGER_EXT;
        this.buf[this.pos++] = v;
      } else if (v >= MIN_INT32 && v <= MAX_INT32) {
        this.ensure(5);
        const buf = this.buf;
        const p = this.pos;
        buf[p] = Tag.INTEGER_EXT;
        buf[p + 1] = v >>> 24;
        buf[p + 2] = (v >>> 16) & 0xff;
        buf[p + 3] = (v >>> 8) & 0xff;
        buf[p + 4] = v & 0xff;
        this.pos = p + 5;
      } else {
        // |v| < 2^53: at most 7 bytes of magnitude.
        let m = Math.abs(v);
        this.ensure(10);
        const buf = this.buf;
        buf[this.pos] = Tag.SMALL_BIG_EXT;
        buf[this.pos + 2] = v < 0 ? 1 : 0;
        let n = 0;
        while (m > 0) {
          buf[this.pos + 3 + n] = m % 256;
          m = Math.floor(m / 256);
          n++;
        }
        buf[this.pos + 1] = n;
        this.pos += 3 + n;
      }
      return;
    }
    this.float(v, v);
  }

  private float(v: number, original: unknown): void {
    if (!Number.isFinite(v)) throw new EncodeFault(`${v} has no Erlang form (floats are finite)`, original);
    this.ensure(9);
    this.buf[this.pos] = Tag.NEW_FLOAT_EXT;
    this.buf.writeDoubleBE(v, this.pos + 1);
    this.pos += 9;
  }

  private bigint(v: bigint): void {
    this.ensure(11);
    const negative = v < 0n;
    const buf = this.buf;
    const p = this.pos;
    const n64 = writeBig64(v, negative, buf, p + 3);
    if (n64 > 0) {
      if (n64 <= 4) {
        // Within int32 the canonical form is SMALL_INTEGER_EXT or INTEGER_EXT.
        const m = (buf[p + 3] | (buf[p + 4] << 8) | (buf[p + 5] << 16) | (buf[p + 6] << 24)) >>> 0;
        if (m <= 0x7fffffff || (negative && m === 0x80000000)) return this.number(negative ? -m : m);
      }
      buf[p] = Tag.SMALL_BIG_EXT;
      buf[p + 1] = n64;
      buf[p + 2] = negative ? 1 : 0;
      this.pos = p + 3 + n64;
      return;
    }
    const m = negative ? -v : v;
    let hex = m.toString(16);
    if (hex.length & 1) hex = `0${hex}`;
    const n = hex.length / 2;
    const big = Buffer.from(hex, 'hex').reverse();
    if (n <= 255) {
      this.ensure(3 + n);
      this.buf[this.pos++] = Tag.SMALL_BIG_EXT;
      this.buf[this.pos++] = n;
    } else {
      this.ensure(6 + n);
      this.buf[this.pos++] = Tag.LARGE_BIG_EXT;
      this.buf.writeUInt32BE(n, this.pos);
      this.pos += 4;
    }
    this.buf[this.pos++] = negative ? 1 : 0;
    this.buf.set(big, this.pos);
    this.pos += n;
  }

  // --- atoms and binaries -------------------------------------------------------------------------

  private atom(a: Atom): void {
    if (this.allAtomRefs && this.atomRef(a)) return;
    this.atomBytes(encodedAtom(a));
  }

  /** ATOM_CACHE_REF to `a`'s entry in the frame's header, if the header takes it. */
  private atomRef(a: Atom): boolean {
    const refs = this.atomRefs;
    const i = refs === undefined ? -1 : refs.ref(a, this.pos, this.length);
    if (i < 0) return false;
    this.ensure(2);
    this.buf[this.pos] = Tag.ATOM_CACHE_REF;
    this.buf[this.pos + 1] = i;
    this.pos += 2;
    return true;
  }

  private atomBytes(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(n);
    const buf = this.buf;
    let p = this.pos;
    if (n <= 24) {
      for (let i = 0; i < n; i++) buf[p++] = bytes[i];
    } else {
      buf.set(bytes, p);
      p += n;
    }
    this.pos = p;
  }

  private string(s: string): void {
    const len = s.length;
    this.ensure(5 + len * 3);
    const buf = this.buf;
    const start = this.pos;
    let n: number;
    if (len <= 64) {
      // Short text in JS: a native utf8Write call costs more than the loop.
      let p = start + 5;
      for (let i = 0; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c < 0x80) {
          buf[p++] = c;
        } else if (c < 0x800) {
          buf[p++] = 0xc0 | (c >> 6);
          buf[p++] = 0x80 | (c & 0x3f);
        } else if (c < 0xd800 || c > 0xdfff) {
          buf[p++] = 0xe0 | (c >> 12);
          buf[p++] = 0x80 | ((c >> 6) & 0x3f);
          buf[p++] = 0x80 | (c & 0x3f);
        } else {
          const d = i + 1 < len ? s.charCodeAt(i + 1) : 0;
          if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
            const u = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            buf[p++] = 0xf0 | (u >> 18);
            buf[p++] = 0x80 | ((u >> 12) & 0x3f);
            buf[p++] = 0x80 | ((u >> 6) & 0x3f);
            buf[p++] = 0x80 | (u & 0x3f);
            i++;
          } else {
            // A lone surrogate becomes U+FFFD, as Buffer's UTF-8 writer does.
            buf[p++] = 0xef;
            buf[p++] = 0xbf;
            buf[p++] = 0xbd;
          }
        }
      }
      n = p - start - 5;
    } else {
      n = buf.utf8Write(s, start + 5);
    }
    buf[start] = Tag.BINARY_EXT;
    put32(buf, start + 1, n);
    this.pos = start + 5 + n;
  }

  private binary(b: Uint8Array): void {
    const n = b.length;
    this.ensure(n >= this.refMin ? 5 : 5 + n);
    const buf = this.buf;
    buf[this.pos] = Tag.BINARY_EXT;
    put32(buf, this.pos + 1, n);
    this.pos += 5;
    if (n >= this.refMin) {
      this.refer(b);
    } else if (n <= 32) {
      for (let i = 0; i < n; i++) buf[this.pos++] = b[i];
    } else {
      buf.set(b, this.pos);
      this.pos += n;
    }
  }

  private bitBinary(b: BitBinary): void {
    const bits = b.bits;
    const n = b.bytes.length;
    if (!Number.isInteger(bits) || bits < 1 || bits > 8 || n === 0) {
      throw new EncodeFault(`BitBinary with ${n} bytes and ${bits} bits in its last byte`, b);
    }
    if (bits === 8) return this.binary(b.bytes);
    const ref = n >= this.refMin;
    this.ensure(ref ? 7 : 6 + n);
    this.buf[this.pos] = Tag.BIT_BINARY_EXT;
    this.buf.writeUInt32BE(n, this.pos + 1);
    this.buf[this.pos + 5] = bits;
    this.pos += 6;
    if (ref) {
      // All but the last byte by reference; the last, masked, is ours.
      this.refer(b.bytes.subarray(0, n - 1));
      this.buf[this.pos++] = b.bytes[n - 1] as number;
    } else {
      this.buf.set(b.bytes, this.pos);
      this.pos += n;
    }
    // Unused low bits of the last byte are zero in canonical output.
    this.buf[this.pos - 1] &= (0xff << (8 - bits)) & 0xff;
  }

  // --- containers ---------------------------------------------------------------------------------

  private enter(container: unknown, depth: number): void {
    if (depth >= this.maxDepth) throw new EncodeFault(`nesting deeper than ${this.maxDepth}`, container);
  }

  private list(arr: unknown[], depth: number): void {
    const n = arr.length;
    if (n === 0) return this.u8(Tag.NIL_EXT);
    if (n <= 65535 && isByteList(arr)) {
      this.ensure(3 + n);
      const buf = this.buf;
      buf[this.pos++] = Tag.STRING_EXT;
      buf[this.pos++] = n >>> 8;
      buf[this.pos++] = n & 0xff;
      for (let i = 0; i < n; i++) buf[this.pos++] = Number(arr[i]);
      return;
    }
    this.listCells(arr, arr, depth);
    this.u8(Tag.NIL_EXT);
  }

  /** LIST_EXT's header and elements; the caller writes the tail. */
  private listCells(elements: readonly unknown[], container: unknown, depth: number): void {
    this.enter(container, depth);
    const n = elements.length;
    this.ensure(5);
    this.buf[this.pos] = Tag.LIST_EXT;
    put32(this.buf, this.pos + 1, n);
    this.pos += 5;
    let i = 0;
    try {
      for (; i < n; i++) {
        const x = elements[i];
        // Objects and integers skip the dispatch frame, which recursion would add at every level.
        if (typeof x === 'object' && x !== null) this.objectTerm(x, depth + 1);
        else if (typeof x === 'number') this.number(x);
        else this.term(x, depth + 1);
      }
    } catch (err) {
      throw addSegment(err, `[${i}]`, container);
    }
  }

  private improperList(l: ImproperList, depth: number): void {
    // Flatten `[a | [b | T]]`; a list tail makes the whole thing a proper list.
    let elements = l.elements;
    let tail = l.tail;
    while (tail instanceof ImproperList) {
      elements = elements.concat(tail.elements);
      tail = tail.tail;
    }
    if (Array.isArray(tail)) return this.list(elements.concat(tail), depth);
    if (elements.length === 0) throw new EncodeFault('ImproperList with no elements', l);
    this.listCells(elements, l, depth);
    try {
      this.term(tail, depth + 1);
    } catch (err) {
      throw addSegment(err, '.tail', l);
    }
  }

  private tuple(t: Tuple, depth: number): void {
    this.enter(t, depth);
    const elements = t.elements;
    const n = elements.length;
    if (n <= 255) {
      this.ensure(2);
      this.buf[this.pos++] = Tag.SMALL_TUPLE_EXT;
      this.buf[this.pos++] = n;
    } else {
      this.ensure(5);
      this.buf[this.pos] = Tag.LARGE_TUPLE_EXT;
      put32(this.buf, this.pos + 1, n);
      this.pos += 5;
    }
    let i = 0;
    try {
      for (; i < n; i++) {
        const x = elements[i];
        if (typeof x === 'object' && x !== null) this.objectTerm(x, depth + 1);
        else this.term(x, depth + 1);
      }
    } catch (err) {
      throw addSegment(err, `{${i}}`, t);
    }
  }

  private map(m: Map<unknown, unknown>, depth: number): void {
    this.enter(m, depth);
    this.ensure(5);
    this.buf[this.pos] = Tag.MAP_EXT;
    put32(this.buf, this.pos + 1, m.size);
    this.pos += 5;
    let key: unknown;
    let onKey = true;
    try {
      for (const [k, v] of m) {
        key = k;
        onKey = true;
        this.term(k, depth + 1);
        onKey = false;
        this.term(v, depth + 1);
      }
    } catch (err) {
      throw addSegment(err, onKey ? `.keys()[${describeKey(key)}]` : `.get(${describeKey(key)})`, m);
    }
  }

  private object(o: object, depth: number): void {
    this.enter(o, depth);
    this.ensure(5);
    const at = this.pos;
    this.buf[at] = Tag.MAP_EXT;
    this.pos = at + 5;
    const record = o as Record<string, unknown>;
    let n = 0;
    let key: string | undefined;
    try {
      // for-in reads each value through V8's enum cache (faster than Object.keys and a keyed load);
      // it would also see inherited enumerable keys, which only a polluted Object.prototype has.
      if (ownKeysOnly(o)) {
        this.seenKeys ??= [];
        this.seenKeyBytes ??= [];
        this.seenKeyWords ??= new Int32Array(2 * SEEN_KEYS);
        const seenKeys = this.seenKeys;
        const seenBytes = this.seenKeyBytes;
        const words = this.seenKeyWords;
        for (key in record) {
          // Maps of one shape repeat their keys in order: one compare finds the bytes.
          if (seenKeys[n] === key) {
            const bytes = seenBytes[n] as Uint8Array;
            if (bytes.length <= 8) {
              // Eight stores, no loop; the bytes past the key are overwritten by what follows.
              this.ensure(8);
              const buf = this.buf;
              const p = this.pos;
              const lo = words[2 * n] as number;
              const hi = words[2 * n + 1] as number;
              buf[p] = lo;
              buf[p + 1] = lo >>> 8;
              buf[p + 2] = lo >>> 16;
              buf[p + 3] = lo >>> 24;
              buf[p + 4] = hi;
              buf[p + 5] = hi >>> 8;
              buf[p + 6] = hi >>> 16;
              buf[p + 7] = hi >>> 24;
              this.pos = p + bytes.length;
            } else {
              this.atomBytes(bytes);
            }
          } else {
            const bytes = encodedKey(key);
            if (n < SEEN_KEYS) {
              seenKeys[n] = key;
              seenBytes[n] = bytes;
              words[2 * n] = packWord(bytes, 0);
              words[2 * n + 1] = packWord(bytes, 4);
            }
            this.atomBytes(bytes);
          }
          this.term(record[key], depth + 1);
          n++;
        }
      } else {
        for (key of Object.keys(o)) {
          this.atomBytes(encodedKey(key));
          this.term(record[key], depth + 1);
          n++;
        }
      }
    } catch (err) {
      throw addSegment(err, propertySegment(key), o);
    }
    put32(this.buf, at + 1, n);
  }

  // --- identifiers --------------------------------------------------------------------------------

  private pid(p: Pid): void {
    // A frozen pid (a node's caller pid, in every call it sends) is written once per encoder.
    if (this.atomRefs !== undefined) return this.pidFields(p);
    if (p === this.lastPid) return this.atomBytes(this.lastPidBytes as Uint8Array);
    const start = this.pos;
    this.pidFields(p);
    if (Object.isFrozen(p)) {
      this.lastPid = p;
      this.lastPidBytes = Buffer.from(this.buf.subarray(start, this.pos));
    }
  }

  private pidFields(p: Pid): void {
    const { id, serial, creation } = p;
    if (!isU32(id)) this.checkU32(id, 'Pid id', p);
    if (!isU32(serial)) this.checkU32(serial, 'Pid serial', p);
    if (!isU32(creation)) this.checkU32(creation, 'Pid creation', p);
    this.u8(Tag.NEW_PID_EXT);
    this.nodeAtom(p.node, p);
    this.ensure(12);
    const buf = this.buf;
    const at = this.pos;
    put32(buf, at, id);
    put32(buf, at + 4, serial);
    put32(buf, at + 8, creation);
    this.pos = at + 12;
  }

  private reference(r: Reference): void {
    const { ids, creation } = r;
    if (!Array.isArray(ids)) throw new EncodeFault('Reference ids must be an array of 1 to 5 words', r);
    const n = ids.length;
    if (n < 1 || n > 5) throw new EncodeFault(`Reference with ${n} words (1 to 5)`, r);
    if (!isU32(creation)) this.checkU32(creation, 'Reference creation', r);
    this.ensure(3);
    this.buf[this.pos++] = Tag.NEWER_REFERENCE_EXT;
    this.buf[this.pos++] = n >>> 8;
    this.buf[this.pos++] = n & 0xff;
    this.nodeAtom(r.node, r);
    this.ensure(4 + 4 * n);
    const buf = this.buf;
    let at = this.pos;
    put32(buf, at, creation);
    at += 4;
    for (let i = 0; i < n; i++) {
      const id = ids[i] as number;
      if (!isU32(id)) this.checkU32(id, 'Reference id', r);
      put32(buf, at, id);
      at += 4;
    }
    this.pos = at;
  }

  /** The node of a pid, port or reference: the bytes of the last one written are kept at hand. */
  private nodeAtom(node: unknown, owner: unknown): void {
    if (this.atomRefs !== undefined) {
      const a = checkNode(node, owner);
      if (!this.atomRef(a)) this.atomBytes(encodedAtom(a));
      return;
    }
    let bytes = this.lastNodeBytes;
    if (node !== this.lastNode || bytes === undefined) {
      bytes = encodedAtom(checkNode(node, owner));
      this.lastNode = node as Atom;
      this.lastNodeBytes = bytes;
    }
    this.atomBytes(bytes);
  }

  private port(p: Port): void {
    if (typeof p.id !== 'bigint' && !Number.isInteger(p.id)) throw new EncodeFault('Port id must be an integer', p);
    const id = BigInt(p.id);
    if (id < 0n || id >= UINT64_LIMIT) throw new EncodeFault('Port id must fit 64 bits', p);
    this.checkU32(p.creation, 'Port creation', p);
    this.u8(Tag.V4_PORT_EXT);
    this.nodeAtom(p.node, p);
    this.ensure(12);
    this.buf.writeBigUInt64BE(id, this.pos);
    this.buf.writeUInt32BE(p.creation, this.pos + 8);
    this.pos += 12;
  }

  private exportFun(f: ExportFun): void {
    if (!Number.isInteger(f.arity) || f.arity < 0 || f.arity > 255) {
      throw new EncodeFault(`ExportFun arity ${f.arity} (0 to 255)`, f);
    }
    this.u8(Tag.EXPORT_EXT);
    this.atom(checkAtom(f.module, f));
    this.atom(checkAtom(f.name, f));
    this.ensure(2);
    this.buf[this.pos++] = Tag.SMALL_INTEGER_EXT;
    this.buf[this.pos++] = f.arity;
  }

  private checkU32(v: number, what: string, owner: unknown): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
      throw new EncodeFault(`${what} ${v} is not a 32-bit unsigned integer`, owner);
  }
}

/** Whether for-in over `o` sees its own keys only: no enumerable key on Object.prototype. */
function ownKeysOnly(o: object): boolean {
  if (Object.getPrototypeOf(o) === null) return true;
  for (const _ in Object.prototype) return false;
  return true;
}

/** Bytes `at` to `at + 3` of `bytes` (0 past its end) as a little-endian word. */
function packWord(bytes: Uint8Array, at: number): number {
  let w = 0;
  for (let i = 3; i >= 0; i--) w = (w << 8) | (bytes[at + i] ?? 0);
  return w;
}

/** A big-endian 32-bit field, written without Buffer's argument checks (callers ensured the room). */
function put32(buf: Uint8Array, p: number, v: number): void {
  buf[p] = v >>> 24;
  buf[p + 1] = (v >>> 16) & 0xff;
  buf[p + 2] = (v >>> 8) & 0xff;
  buf[p + 3] = v & 0xff;
}

/** An integer in 0..2^32-1 (the fields of pids, ports and references). */
function isU32(v: number): boolean {
  return typeof v === 'number' && v >>> 0 === v;
}

function checkNode(node: unknown, owner: unknown): Atom {
  if (!(node instanceof Atom)) throw new EncodeFault('node must be an Atom', owner);
  return node;
}

function checkAtom(a: unknown, owner: unknown): Atom {
  if (!(a instanceof Atom)) throw new EncodeFault('expected an Atom', owner);
  return a;
}

function isByteList(arr: unknown[]): boolean {
  for (let i = 0; i < arr.length; i++) {
    const x = arr[i];
    if (typeof x === 'number') {
      if ((x & 0xff) !== x) return false;
    } else if (typeof x === 'bigint') {
      if (x < 0n || x > 255n) return false;
    } else {
      return false;
    }
  }
  return true;
}

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'function') return `a function (${v.name || 'anonymous'})`;
  if (typeof v === 'symbol') return `a symbol (${v.description ?? ''})`;
  if (typeof v === 'object' && v !== null) return `an instance of ${v.constructor?.name ?? 'an unknown class'}`;
  return String(v);
}

function describeKey(k: unknown): string {
  if (typeof k === 'string') return JSON.stringify(k);
  if (k instanceof Atom) return `atom(${JSON.stringify(k.name)})`;
  if (typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return String(k);
  return '…';
}

function propertySegment(key: string | undefined): string {
  if (key === undefined) return '';
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function addSegment(err: unknown, segment: string, container: unknown): unknown {
  if (err instanceof EncodeFault) {
    err.segments.push(segment);
    if (err.value === container) err.cycleDepth = err.segments.length;
  }
  return err;
}

function toEncodeError(err: unknown): unknown {
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return new ErldistError('ENCODE', 'nesting too deep for the JS stack (lower maxDepth)', { path: '$', cause: err });
  }
  if (!(err instanceof EncodeFault)) return err;
  const path = `$${[...err.segments].reverse().join('')}`;
  if (err.cycleDepth >= 0) {
    // The outermost container that the too-deep value was found in again: a cycle, not depth.
    const cycleAt = `$${err.segments.slice(err.cycleDepth).reverse().join('')}`;
    return new ErldistError('ENCODE', `cyclic value: the value at ${cycleAt} contains itself`, { path: cycleAt });
  }
  return new ErldistError('ENCODE', `${err.message} at ${path}`, { path });
}

/** Binaries from this size on are copied once, into the output, not into the scratch buffer first. */
const SCRATCH_REFERENCE_FROM = 64 * 1024;
/** The scratch buffer is kept between calls up to this size (bigger ones are dropped after use). */
const SCRATCH_KEEP = 1024 * 1024;

/**
 * The encoder `encode` writes into, reused: its buffer stays warm and sized, and each call copies
 * exactly its bytes out into a new Buffer. `encode` may run again inside a call (a getter of the value
 * encoding something); the inner call then makes its own encoder.
 */
let scratch: TermEncoder | undefined;
let scratchBusy = false;

/**
 * Encodes `term` as `131, Term` (canonical bytes), optionally compressed, into a new Buffer that the
 * caller owns (no other result shares its memory).
 */
export function encode(term: Term, options?: EncodeOptions): Buffer {
  const compressed = options?.compressed;
  if ((compressed !== undefined && compressed !== false) || scratchBusy) return encodeWith(term, options);
  scratch ??= new TermEncoder(16 * 1024, { referenceFrom: SCRATCH_REFERENCE_FROM });
  const encoder = scratch;
  scratchBusy = true;
  try {
    encoder.maxDepth = options?.maxDepth ?? DEFAULT_MAX_DEPTH;
    encoder.u8(VERSION_MAGIC);
    encoder.writeTerm(term);
    if (encoder.buf.length > SCRATCH_KEEP && encoder.length === encoder.pos) {
      // Too big to keep: hand the buffer itself over instead of copying it.
      scratch = undefined;
      return encoder.bytes();
    }
    return copyOut(encoder);
  } finally {
    encoder.truncate(0);
    if (encoder.buf.length > SCRATCH_KEEP) scratch = undefined;
    scratchBusy = false;
  }
}

/** The bytes an encoder holds, referenced binaries included, in one new Buffer of their size. */
function copyOut(encoder: TermEncoder): Buffer {
  const out = Buffer.allocUnsafe(encoder.length);
  const src = encoder.buf;
  const n = encoder.pos;
  if (encoder.length === n) {
    if (n <= 64) {
      for (let i = 0; i < n; i++) out[i] = src[i] as number;
    } else {
      out.set(src.subarray(0, n));
    }
    return out;
  }
  let at = 0;
  for (const part of encoder.segments()) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** `encode` with an encoder of its own (compression, or a call inside a call). */
function encodeWith(term: Term, options?: EncodeOptions): Buffer {
  const encoder = new TermEncoder(256, options);
  encoder.u8(VERSION_MAGIC);
  encoder.writeTerm(term);
  const compressed = options?.compressed;
  if (compressed === undefined || compressed === false) return encoder.bytes();
  const level = compressed === true ? 6 : compressed;
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new ErldistError('ENCODE', `compression level ${String(level)} is not 0-9`, { path: '$' });
  }
  const body = encoder.buf.subarray(1, encoder.pos);
  const deflated = deflateSync(body, { level });
  // term_to_binary keeps the uncompressed form when compression does not make it smaller.
  if (deflated.length + 5 >= body.length) return encoder.bytes();
  const out = Buffer.allocUnsafe(6 + deflated.length);
  out[0] = VERSION_MAGIC;
  out[1] = Tag.COMPRESSED;
  out.writeUInt32BE(body.length, 2);
  deflated.copy(out, 6);
  return out;
}
