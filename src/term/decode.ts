/**
 * ETF decoder (erl_ext_dist.md). One pass over the input with a cursor; every length is checked
 * against the bytes that remain, and what each term will cost in JS heap is charged against a budget
 * (`maxHeap`) before it is allocated, so hostile input costs at most the budget.
 */
import { isUtf8 } from 'node:buffer';
import { inflateSync } from 'node:zlib';
import { ErldistError } from '../errors.js';
import { type FastBuffer, fast } from './buffer.js';
import { bigFromWords } from './int64.js';
import { MAX_REFERENCE_WORDS, Tag, VERSION_MAGIC } from './tags.js';
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

export interface DecodeOptions {
  /**
   * Decode so that `encode` gives back a term `=:=` to the input: integral floats (and -0.0) become
   * `Float`, maps with atom keys become `Map`s only where a plain object would lose a key type.
   */
  exact?: boolean;
  /** Binaries: `'utf8'` (default) gives a string when the bytes are valid UTF-8, else a Buffer. */
  binaries?: 'utf8' | 'buffer';
  /** Maps: `'auto'` (default) gives a plain object when every key is an atom, else a `Map`. */
  maps?: 'auto' | 'map';
  /** Copy binaries out of the input (default false: Buffers are views into the input). */
  copyBinaries?: boolean;
  /** Deepest nesting of lists, tuples, maps and funs accepted (default 1000). */
  maxDepth?: number;
  /** Largest uncompressed size accepted for a compressed term, in bytes (default 64 MiB). */
  maxSize?: number;
  /**
   * Most memory, in bytes, that decoding one term may create: JS objects, strings, copies and the
   * inflated bytes of a compressed term, estimated as the decoder goes and checked before each
   * allocation (default 64 MiB). Beyond it decoding throws `DECODE`. Views into the input are
   * cheap (a 200 MiB binary decoded as a Buffer costs about 100 bytes); a list of `[]` costs 40
   * bytes per input byte.
   */
  maxHeap?: number;
  /** Atoms of the distribution header's atom cache, for ATOM_CACHE_REF (protocol-notes §3). */
  atomCache?: readonly Atom[];
}

export const DEFAULT_MAX_DEPTH = 1000;
export const DEFAULT_MAX_SIZE = 64 * 1024 * 1024;
export const DEFAULT_MAX_HEAP = 64 * 1024 * 1024;

// What decoded values cost in V8's heap (64-bit, no pointer compression), measured with --expose-gc
// and rounded up; `maxHeap` is charged with these before the value is made.
/** A JSArray without elements (`[]`); elements add a store header and a slot each. */
const ARRAY = 32;
const STORE = 16;
const SLOT = 8;
/** A pushed array grows to `n + n/2 + 16` slots. */
const PUSHED_SLACK = 16;
/** Tuple, Pid, Port, Reference, ImproperList, BitBinary, Float, ExportFun, Fun objects. */
const BOX = 64;
/** A Buffer view (JSTypedArray). */
const VIEW = 96;
/** A sequential string's header; its text adds 1 byte a char (Latin-1) or 2 (UTF-16). */
const STRING = 24;
const HEAP_NUMBER = 16;
/** A plain object, and a key of it: fast properties up to 16 keys, a dictionary past that. */
const OBJECT = 64;
const FAST_KEY = 24;
const DICTIONARY_KEY = 48;
/** A Map, and an entry of it (its hash table may be rehashing into one twice the size). */
const MAP = 200;
const MAP_ENTRY = 56;
/** An atom the intern table has not seen: Atom, name, WeakRef, table entry, finalizer cell. */
const NEW_ATOM = 256;

const NO_OPTIONS: DecodeOptions = Object.freeze({});

/** Maps of up to this many pairs find duplicate keys by comparing with each other. */
const SMALL_MAP = 16;
/** Key positions remembered by the map shape cache (see `shapeKeys`). */
const SHAPE_KEYS = 32;

function arrayCost(n: number): number {
  return n === 0 ? ARRAY : ARRAY + STORE + SLOT * n;
}

const TRUE_ATOM = internAtom('true');
const FALSE_ATOM = internAtom('false');

/** The big-endian unsigned 32-bit word at `p` (checked by the caller). */
function get32(buf: Uint8Array, p: number): number {
  return buf[p] * 0x1000000 + ((buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]);
}

function decodeError(message: string, offset: number): ErldistError {
  return new ErldistError('DECODE', `${message} at byte ${offset}`, { offset });
}

export class TermDecoder {
  private buf: FastBuffer;
  /** Current read position. */
  pos: number;
  private end: number;
  private readonly exact: boolean;
  private readonly utf8Binaries: boolean;
  private readonly autoMaps: boolean;
  private copyBinaries: boolean;
  private readonly maxDepth: number;
  private readonly maxSize: number;
  private atomCache: readonly Atom[] | undefined;
  private readonly maxHeap: number;
  /** Bytes of `maxHeap` not yet spent. */
  private heapLeft: number;
  /** Keys of the small maps being decoded (see `map`), and the first free index. */
  private keyStack: Term[] | undefined;
  private keyTop = 0;
  /** Added to positions in error messages (non-zero inside a compressed term). */
  private baseOffset = 0;
  /** The text of the last ASCII atom read (a copy owned by the atom cache), else undefined. */
  private atomText: Uint8Array | undefined;
  /**
   * The keys of the last maps read, by position, with their text when they were ASCII atoms: maps of
   * one shape find each key with one compare (no hash, no dispatch).
   */
  private shapeKeys: (Term | undefined)[] | undefined;
  private shapeText: (Uint8Array | undefined)[] | undefined;
  /** ATOM_CACHE_REFs read while decoding a fun, so its kept bytes can spell the atoms out. */
  private cacheRefsSeen: { at: number; atom: Atom }[] | undefined;

  constructor(buf: Uint8Array, offset = 0, options: DecodeOptions = NO_OPTIONS) {
    this.buf = fast(toBuffer(buf));
    this.pos = offset;
    this.end = this.buf.length;
    this.exact = options.exact === true;
    this.utf8Binaries = options.binaries !== 'buffer';
    this.autoMaps = options.maps !== 'map';
    this.copyBinaries = options.copyBinaries === true;
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.maxSize = options.maxSize ?? DEFAULT_MAX_SIZE;
    this.atomCache = options.atomCache;
    this.maxHeap = options.maxHeap ?? DEFAULT_MAX_HEAP;
    this.heapLeft = this.maxHeap;
  }

  /** Estimated bytes of memory that the terms decoded so far created (see `maxHeap`). */
  get heapSpent(): number {
    return this.maxHeap - this.heapLeft;
  }

  /** Starts over on `buf` at 0 with the same options and a full budget (the shared decoder). */
  restart(buf: Buffer): void {
    this.buf = fast(buf);
    this.pos = 0;
    this.end = buf.length;
    this.heapLeft = this.maxHeap;
    this.keyTop = 0;
    this.baseOffset = 0;
    this.cacheRefsSeen = undefined;
  }

  /**
   * @internal Starts over on `buf` at `pos` with a full budget, this message's atom cache and copy
   * rule, and the other options as constructed (a connection's decoders, reused per message).
   */
  reset(buf: Buffer, pos: number, atomCache: readonly Atom[] | undefined, copyBinaries: boolean): void {
    this.restart(buf);
    this.pos = pos;
    this.atomCache = atomCache;
    this.copyBinaries = copyBinaries;
  }

  /** Reads `131` then a term, which may be compressed (tag 80). */
  readVersionedTerm(): Term {
    const start = this.pos;
    if (this.pos >= this.end) throw this.error('empty input', start);
    if (this.buf[this.pos] !== VERSION_MAGIC) {
      throw this.error(`expected version byte 131, found ${this.buf[this.pos]}`, start);
    }
    this.pos++;
    if (this.pos < this.end && this.buf[this.pos] === Tag.COMPRESSED) return this.readCompressed();
    return this.readTerm(0);
  }

  /**
   * Reads one term without the version byte. The common tags are handled here; the rest in
   * `readOther`, so that this frame, entered once a term and recursively once a level, stays small.
   */
  readTerm(depth: number): Term {
    const buf = this.buf;
    const start = this.pos;
    if (start >= this.end) throw this.error('unexpected end of input, expected a term', start);
    const tag = buf[start];
    this.pos = start + 1;
    switch (tag) {
      case Tag.SMALL_INTEGER_EXT:
        this.need(1);
        return buf[this.pos++];
      case Tag.INTEGER_EXT: {
        this.need(4);
        const p = start + 1;
        this.pos = p + 4;
        return (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3];
      }
      case Tag.SMALL_ATOM_UTF8_EXT: {
        this.need(1);
        const len = buf[this.pos++];
        return this.atomBody(len, true, start, false);
      }
      case Tag.BINARY_EXT:
        return this.binary(this.u32(), start);
      case Tag.NIL_EXT:
        this.spend(ARRAY, start);
        return [];
      case Tag.LIST_EXT: {
        const len = this.listHeader(depth, start);
        let out: Term[];
        if (len === 1) {
          // One frame a level for `[X]` (rpc arguments, wrapped values), as for pairs below.
          this.spend(ARRAY + STORE + SLOT, start);
          out = [this.readTerm(depth + 1)];
        } else {
          out = this.elements(len, depth, start);
        }
        if (this.buf[this.pos] === Tag.NIL_EXT) {
          this.pos++;
          return out;
        }
        return this.listTail(out, len, depth, start);
      }
      case Tag.SMALL_TUPLE_EXT: {
        this.need(1);
        const arity = this.tupleHeader(buf[this.pos++], depth, start);
        if (arity === 2) {
          // {Tag, Value} pairs are most tuples: one frame a level, no call to elements().
          this.spend(ARRAY + STORE + 2 * SLOT, start);
          const d = depth + 1;
          return new Tuple([this.readTerm(d), this.readTerm(d)]);
        }
        return new Tuple(this.elements(arity, depth, start));
      }
      case Tag.MAP_EXT:
        return this.map(this.u32(), depth, start);
      case Tag.SMALL_BIG_EXT: {
        this.need(1);
        return this.big(buf[this.pos++], start);
      }
      default:
        return this.readOther(tag, depth, start);
    }
  }

  /** The tags `readTerm` leaves out: rarer ones, and those that must fail. */
  private readOther(tag: number, depth: number, start: number): Term {
    const buf = this.buf;
    switch (tag) {
      case Tag.ATOM_UTF8_EXT:
        return this.atomBody(this.u16(), true, start, false);
      case Tag.SMALL_ATOM_EXT:
        return this.atomBody(this.u8(), false, start, false);
      case Tag.ATOM_EXT:
        return this.atomBody(this.u16(), false, start, false);
      case Tag.ATOM_CACHE_REF:
        return this.atomCacheRef(start, false);
      case Tag.STRING_EXT:
        return this.byteList(start);
      case Tag.LARGE_TUPLE_EXT: {
        const arity = this.tupleHeader(this.u32(), depth, start);
        return new Tuple(this.elements(arity, depth, start));
      }
      case Tag.NEW_FLOAT_EXT: {
        this.need(8);
        const v = buf.readDoubleBE(this.pos);
        this.pos += 8;
        return this.float(v, start);
      }
      case Tag.FLOAT_EXT:
        return this.oldFloat(start);
      case Tag.LARGE_BIG_EXT:
        return this.big(this.u32(), start);
      case Tag.NEW_PID_EXT:
      case Tag.PID_EXT:
        return this.pid(tag, start);
      case Tag.NEWER_REFERENCE_EXT:
      case Tag.NEW_REFERENCE_EXT:
        return this.newReference(tag, start);
      case Tag.REFERENCE_EXT:
        return this.oldReference(start);
      case Tag.V4_PORT_EXT:
      case Tag.NEW_PORT_EXT:
      case Tag.PORT_EXT:
        return this.port(tag, start);
      case Tag.BIT_BINARY_EXT:
        return this.bitBinary(start);
      case Tag.EXPORT_EXT:
        return this.exportFun(depth, start);
      case Tag.NEW_FUN_EXT:
        return this.newFun(depth, start);
      case Tag.FUN_EXT:
        throw this.error('FUN_EXT (117) is obsolete and not supported', start);
      case Tag.COMPRESSED:
        throw this.error('a compressed term may only follow the version byte', start);
      case Tag.LOCAL_EXT:
        throw this.error('LOCAL_EXT (121) is internal to the node that made it', start);
      case VERSION_MAGIC:
        throw this.error('unexpected version byte inside a term', start);
      default:
        throw this.error(`unknown tag ${tag}`, start);
    }
  }

  // --- primitives -------------------------------------------------------------------------------

  private error(message: string, offset: number): ErldistError {
    return decodeError(message, offset + this.baseOffset);
  }

  /** Charges `bytes` against `maxHeap`; call it before allocating them. */
  private spend(bytes: number, at: number): void {
    this.heapLeft -= bytes;
    if (this.heapLeft < 0) this.overBudget(at);
  }

  private overBudget(at: number): never {
    throw this.error(
      `the term needs more than maxHeap (${this.maxHeap} bytes) of memory to decode; ` +
        'raise the maxHeap decode option to accept it',
      at,
    );
  }

  private need(n: number): void {
    if (this.end - this.pos < n) {
      throw this.error(`unexpected end of input, need ${n} bytes, have ${this.end - this.pos}`, this.pos);
    }
  }

  private u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  private u16(): number {
    this.need(2);
    const v = (this.buf[this.pos] << 8) | this.buf[this.pos + 1];
    this.pos += 2;
    return v;
  }

  private u32(): number {
    this.need(4);
    const buf = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return get32(buf, p);
  }

  // --- atoms --------------------------------------------------------------------------------------

  /**
   * Reads an atom's text. `asAtom` keeps `true`/`false` as Atom values (node names, modules);
   * otherwise they become JS booleans.
   */
  private atomBody(len: number, utf8: boolean, start: number, asAtom: true): Atom;
  private atomBody(len: number, utf8: boolean, start: number, asAtom: boolean): Atom | boolean;
  private atomBody(len: number, utf8: boolean, start: number, asAtom: boolean): Atom | boolean {
    this.need(len);
    const buf = this.buf;
    const p = this.pos;
    const stop = p + len;
    this.pos = stop;
    // One pass: whether the text is ASCII, and its hash for the atom cache.
    let ascii = 0;
    let h = len;
    for (let i = p; i < stop; i++) {
      const b = buf[i];
      ascii |= b;
      h = Math.imul(h ^ b, 0x01000193);
    }
    if (ascii < 0x80) {
      if (len > MAX_ATOM_CHARS) throw this.error(`atom longer than ${MAX_ATOM_CHARS} characters`, start);
      const slot = (h >>> 0) & (ATOM_SLOTS - 1);
      let atom = cachedAtom(slot, buf, p, len);
      if (atom === undefined) {
        this.spend(NEW_ATOM + len, start);
        atom = cacheAtom(slot, buf, p, len);
      }
      this.atomText = slotBytes[slot];
      if (!asAtom && (atom === TRUE_ATOM || atom === FALSE_ATOM)) return atom === TRUE_ATOM;
      return atom;
    }
    this.atomText = undefined;
    this.spend(NEW_ATOM + 2 * len, start);
    let name: string;
    if (!utf8) {
      if (len > MAX_ATOM_CHARS) throw this.error(`atom longer than ${MAX_ATOM_CHARS} characters`, start);
      name = buf.latin1Slice(p, stop);
    } else {
      if (!isUtf8(buf.subarray(p, stop))) throw this.error('atom text is not valid UTF-8', start);
      name = buf.utf8Slice(p, stop);
      if (name.length > MAX_ATOM_CHARS && countChars(name) > MAX_ATOM_CHARS) {
        throw this.error(`atom longer than ${MAX_ATOM_CHARS} characters`, start);
      }
    }
    return internAtom(name);
  }

  private atomCacheRef(start: number, asAtom: boolean): Atom | boolean {
    const index = this.u8();
    const cached = this.atomCache?.[index];
    if (cached === undefined) throw this.error(`ATOM_CACHE_REF ${index} without an atom cache entry`, start);
    this.cacheRefsSeen?.push({ at: start, atom: cached });
    if (!asAtom) {
      if (cached.name === 'true') return true;
      if (cached.name === 'false') return false;
    }
    return cached;
  }

  /** Reads a term that must be an atom, kept as an Atom even for true/false. */
  private atomTerm(): Atom {
    const start = this.pos;
    const tag = this.u8();
    switch (tag) {
      case Tag.SMALL_ATOM_UTF8_EXT:
        return this.atomBody(this.u8(), true, start, true);
      case Tag.ATOM_UTF8_EXT:
        return this.atomBody(this.u16(), true, start, true);
      case Tag.SMALL_ATOM_EXT:
        return this.atomBody(this.u8(), false, start, true);
      case Tag.ATOM_EXT:
        return this.atomBody(this.u16(), false, start, true);
      case Tag.ATOM_CACHE_REF:
        return this.atomCacheRef(start, true) as Atom;
      default:
        throw this.error(`expected an atom, found tag ${tag}`, start);
    }
  }

  // --- numbers ------------------------------------------------------------------------------------

  private float(v: number, start: number): number | Float {
    if (!Number.isFinite(v)) throw this.error('float is not finite', start);
    if (this.exact && Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) {
      this.spend(BOX + HEAP_NUMBER, start);
      return new Float(v);
    }
    this.spend(HEAP_NUMBER, start);
    return v;
  }

  private oldFloat(start: number): number | Float {
    this.need(31);
    let stop = this.pos;
    const limit = this.pos + 31;
    while (stop < limit && this.buf[stop] !== 0) stop++;
    const text = this.buf.latin1Slice(this.pos, stop);
    this.pos = limit;
    if (!/^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(text)) {
      throw this.error('FLOAT_EXT text is not a number', start);
    }
    return this.float(Number(text), start);
  }

  private big(n: number, start: number): number | bigint {
    this.need(n + 1);
    // A heap number, or a bigint and the reversed digits and hex text it is parsed from.
    this.spend(HEAP_NUMBER + 4 * n, start);
    const buf = this.buf;
    const negative = buf[this.pos] !== 0;
    const p = this.pos + 1;
    this.pos = p + n;
    if (n <= 6) {
      let v = 0;
      for (let i = n - 1; i >= 0; i--) v = v * 256 + buf[p + i];
      return negative && v !== 0 ? -v : v;
    }
    let magnitude: bigint;
    if (n <= 8) {
      const lo = (buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (buf[p + 3] << 24)) >>> 0;
      let hi = buf[p + 4] | (buf[p + 5] << 8) | (buf[p + 6] << 16);
      if (n === 8) hi = (hi | (buf[p + 7] << 24)) >>> 0;
      if (hi < 0x200000) {
        const v = hi * 0x100000000 + lo;
        return negative && v !== 0 ? -v : v;
      }
      return bigFromWords(hi, lo, negative);
    } else {
      // Little-endian digits: reverse into big-endian hex, which BigInt parses in linear time.
      let top = n;
      while (top > 0 && buf[p + top - 1] === 0) top--;
      if (top === 0) return 0;
      const be = Buffer.allocUnsafe(top);
      for (let i = 0; i < top; i++) be[i] = buf[p + top - 1 - i];
      magnitude = BigInt(`0x${be.toString('hex')}`);
      if (magnitude <= BigInt(Number.MAX_SAFE_INTEGER)) {
        const v = Number(magnitude);
        return negative ? -v : v;
      }
    }
    return negative ? -magnitude : magnitude;
  }

  // --- binaries -----------------------------------------------------------------------------------

  /** A Buffer of the next `len` bytes (checked by the caller): a view, or a copy with copyBinaries. */
  private bytes(len: number, start: number): Buffer {
    const p = this.pos;
    this.pos = p + len;
    if (this.copyBinaries) {
      this.spend(VIEW + len, start);
      return Buffer.from(this.buf.subarray(p, p + len));
    }
    this.spend(VIEW, start);
    return this.buf.subarray(p, p + len);
  }

  private binary(len: number, start: number): string | Buffer {
    this.need(len);
    if (!this.utf8Binaries) return this.bytes(len, start);
    const buf = this.buf;
    const p = this.pos;
    const stop = p + len;
    if (len <= 64) {
      let i = p;
      while (i < stop && buf[i] < 0x80) i++;
      if (i === stop) {
        this.spend(STRING + len, start);
        this.pos = stop;
        return asciiString(buf, p, len);
      }
      if (validUtf8(buf, i, stop)) {
        this.spend(STRING + 2 * len, start);
        this.pos = stop;
        return buf.utf8Slice(p, stop);
      }
      return this.bytes(len, start);
    }
    // Random bytes show an invalid sequence early; skip the full validation then.
    if (!invalidUtf8Within(buf, p, Math.min(stop, p + 64)) && isUtf8(buf.subarray(p, stop))) {
      this.spend(STRING + 2 * len, start);
      this.pos = stop;
      return buf.utf8Slice(p, stop);
    }
    return this.bytes(len, start);
  }

  private bitBinary(start: number): string | Buffer | BitBinary {
    const len = this.u32();
    const bits = this.u8();
    if (len === 0) {
      if (bits !== 0) throw this.error('empty BIT_BINARY_EXT with trailing bits', start);
      if (this.utf8Binaries) return '';
      this.spend(VIEW, start);
      return Buffer.alloc(0);
    }
    if (bits < 1 || bits > 8) throw this.error(`BIT_BINARY_EXT with ${bits} bits in its last byte`, start);
    if (bits === 8) return this.binary(len, start);
    this.need(len);
    this.spend(BOX + VIEW + len, start);
    const data = Buffer.from(this.buf.subarray(this.pos, this.pos + len));
    this.pos += len;
    data[len - 1] &= (0xff << (8 - bits)) & 0xff;
    return new BitBinary(data, bits);
  }

  // --- containers ---------------------------------------------------------------------------------

  private listHeader(depth: number, start: number): number {
    const len = this.u32();
    // Every element takes at least one byte, and so does the tail.
    if (len >= this.end - this.pos) throw this.error(`list of ${len} elements is longer than the input`, start);
    if (depth >= this.maxDepth) throw this.error(`nesting deeper than ${this.maxDepth}`, start);
    return len;
  }

  /** The tail of a list whose tail is not `[]` (checked by the caller). */
  private listTail(out: Term[], len: number, depth: number, start: number): Term {
    const tail = this.readTerm(depth + 1);
    // A tail that is itself a list (never canonical, but valid) continues this one.
    if (Array.isArray(tail)) {
      if (len === 0) return tail;
      this.spend(arrayCost(len + tail.length), start);
      return out.concat(tail);
    }
    if (tail instanceof ImproperList) {
      this.spend(BOX + arrayCost(len + tail.elements.length), start);
      return new ImproperList(out.concat(tail.elements), tail.tail);
    }
    // No cons cells at all: the "list" is just its tail, as binary_to_term reads it.
    if (len === 0) return tail;
    this.spend(BOX, start);
    return new ImproperList(out, tail);
  }

  private tupleHeader(arity: number, depth: number, start: number): number {
    if (arity > this.end - this.pos) throw this.error(`tuple of ${arity} elements is longer than the input`, start);
    if (depth >= this.maxDepth) throw this.error(`nesting deeper than ${this.maxDepth}`, start);
    this.spend(BOX, start);
    return arity;
  }

  /**
   * `n` terms in an array, its cost charged first. A few elements make an array literal (packed and
   * exactly sized); V8 fills a pushed array faster than a preallocated (holey) one, except for very
   * long lists.
   */
  private elements(n: number, depth: number, start: number): Term[] {
    const d = depth + 1;
    if (n <= 4) {
      this.spend(arrayCost(n), start);
      switch (n) {
        case 0:
          return [];
        case 1:
          return [this.readTerm(d)];
        case 2:
          return [this.readTerm(d), this.readTerm(d)];
        case 3:
          return [this.readTerm(d), this.readTerm(d), this.readTerm(d)];
        default:
          return [this.readTerm(d), this.readTerm(d), this.readTerm(d), this.readTerm(d)];
      }
    }
    if (n <= 4096) {
      this.spend(ARRAY + STORE + SLOT * (n + (n >> 1) + PUSHED_SLACK), start);
      const out: Term[] = [];
      for (let i = 0; i < n; i++) out.push(this.readTerm(d));
      return out;
    }
    this.spend(arrayCost(n), start);
    const out = new Array<Term>(n);
    for (let i = 0; i < n; i++) out[i] = this.readTerm(d);
    return out;
  }

  private map(arity: number, depth: number, start: number): Map<Term, Term> | { [key: string]: Term } {
    if (arity > (this.end - this.pos) / 2) throw this.error(`map of ${arity} pairs is longer than the input`, start);
    if (depth >= this.maxDepth) throw this.error(`nesting deeper than ${this.maxDepth}`, start);
    let obj: { [key: string]: Term } | undefined;
    let map: Map<Term, Term> | undefined;
    if (this.autoMaps) {
      this.spend(OBJECT + (arity <= 16 ? FAST_KEY : DICTIONARY_KEY) * arity, start);
      obj = {};
    } else {
      this.spend(MAP + MAP_ENTRY * arity, start);
      map = new Map();
    }
    // The atom keys of a small map go on a stack, to be found again by identity (atoms are
    // interned): cheaper than a property lookup that misses and walks the prototype chain.
    const small = arity <= SMALL_MAP;
    const base = this.keyTop;
    const buf = this.buf;
    this.shapeKeys ??= [];
    this.shapeText ??= [];
    const shapeKeys = this.shapeKeys;
    const shapeText = this.shapeText;
    for (let i = 0; i < arity; i++) {
      const keyAt = this.pos;
      let key: Term;
      const text = i < SHAPE_KEYS ? shapeText[i] : undefined;
      if (text !== undefined && buf[keyAt] === Tag.SMALL_ATOM_UTF8_EXT && sameText(buf, keyAt, this.end, text)) {
        key = shapeKeys[i] as Term;
        this.pos = keyAt + 2 + text.length;
      } else {
        key = this.readTerm(depth + 1);
        if (i < SHAPE_KEYS) {
          // Atom keys only: a binary key may be a view of the input, which the cache (it outlives
          // the call) must not keep alive.
          const keyText = buf[keyAt] === Tag.SMALL_ATOM_UTF8_EXT ? this.atomText : undefined;
          shapeKeys[i] = keyText === undefined ? undefined : key;
          shapeText[i] = keyText;
        }
      }
      const value = this.readTerm(depth + 1);
      if (obj !== undefined) {
        let name: string | undefined;
        if (key instanceof Atom) name = key.name;
        else if (key === true) name = 'true';
        else if (key === false) name = 'false';
        if (name !== undefined) {
          if (small) {
            this.keyStack ??= [];
            const keys = this.keyStack;
            for (let j = base; j < this.keyTop; j++) {
              if (keys[j] === key) throw this.error('map with a duplicate key', keyAt);
            }
            keys[this.keyTop++] = key;
          } else if (Object.hasOwn(obj, name)) {
            throw this.error('map with a duplicate key', keyAt);
          }
          if (name === '__proto__') {
            Object.defineProperty(obj, name, { value, enumerable: true, writable: true, configurable: true });
          } else {
            obj[name] = value;
          }
          continue;
        }
        this.spend(MAP + MAP_ENTRY * arity, start);
        map = objectToMap(obj);
        obj = undefined;
      }
      if (map!.has(key)) throw this.error('map with a duplicate key', keyAt);
      map!.set(key, value);
    }
    this.keyTop = base;
    return obj ?? map!;
  }

  // --- identifiers and small forms kept out of readTerm, so that its stack frame stays small -------

  private byteList(start: number): number[] {
    const len = this.u16();
    this.need(len);
    this.spend(arrayCost(len), start);
    const buf = this.buf;
    const out = new Array<number>(len);
    let p = this.pos;
    for (let i = 0; i < len; i++) out[i] = buf[p++];
    this.pos = p;
    return out;
  }

  private pid(tag: number, start: number): Pid {
    this.spend(BOX, start);
    const node = this.atomTerm();
    this.need(8);
    const buf = this.buf;
    const at = this.pos;
    const id = get32(buf, at);
    const serial = get32(buf, at + 4);
    this.pos = at + 8;
    const creation = tag === Tag.NEW_PID_EXT ? this.u32() : this.u8();
    return new Pid(node, id, serial, creation);
  }

  private newReference(tag: number, start: number): Reference {
    const len = this.u16();
    if (len < 1 || len > MAX_REFERENCE_WORDS) throw this.error(`reference with ${len} words`, start);
    this.spend(BOX + arrayCost(len), start);
    const node = this.atomTerm();
    const creation = tag === Tag.NEWER_REFERENCE_EXT ? this.u32() : this.u8();
    this.need(4 * len);
    const ids = new Array<number>(len);
    const buf = this.buf;
    for (let i = 0; i < len; i++) ids[i] = get32(buf, this.pos + 4 * i);
    this.pos += 4 * len;
    return new Reference(node, creation, ids);
  }

  private oldReference(start: number): Reference {
    this.spend(BOX + arrayCost(1), start);
    const node = this.atomTerm();
    const id = this.u32();
    return new Reference(node, this.u8(), [id]);
  }

  private port(tag: number, start: number): Port {
    this.spend(BOX + HEAP_NUMBER, start);
    const node = this.atomTerm();
    if (tag === Tag.V4_PORT_EXT) {
      this.need(12);
      const hi = this.buf.readUInt32BE(this.pos);
      const lo = this.buf.readUInt32BE(this.pos + 4);
      const creation = this.buf.readUInt32BE(this.pos + 8);
      this.pos += 12;
      const id = hi < 0x200000 ? hi * 0x100000000 + lo : (BigInt(hi) << 32n) | BigInt(lo);
      return new Port(node, id, creation);
    }
    const id = this.u32();
    const creation = tag === Tag.NEW_PORT_EXT ? this.u32() : this.u8();
    return new Port(node, id, creation);
  }

  private exportFun(depth: number, start: number): ExportFun {
    this.spend(BOX, start);
    const module = this.atomTerm();
    const name = this.atomTerm();
    const arityAt = this.pos;
    const arity = this.readTerm(depth + 1);
    if (typeof arity !== 'number' || arity < 0 || arity > 255) {
      throw this.error('EXPORT_EXT arity is not a small integer', arityAt);
    }
    return new ExportFun(module, name, arity);
  }

  // --- funs ---------------------------------------------------------------------------------------

  private newFun(depth: number, start: number): Fun {
    // NEW_FUN_EXT: Size:32 (counts itself and what follows), Arity:8, Uniq:16 bytes, Index:32,
    // NumFree:32, Module, OldIndex, OldUniq, Pid, FreeVars...
    const size = this.u32();
    if (size < 4 + 1 + 16 + 4 + 4 || size - 4 > this.end - this.pos) {
      throw this.error(`NEW_FUN_EXT size ${size} does not fit the input`, start);
    }
    if (depth >= this.maxDepth) throw this.error(`nesting deeper than ${this.maxDepth}`, start);
    // The Fun, a copy of its bytes and its uniq as hex text.
    this.spend(BOX + VIEW + size + STRING + 32, start);
    const stop = start + 1 + size;
    const outerRefs = this.cacheRefsSeen;
    const refs: { at: number; atom: Atom }[] | undefined = this.atomCache ? [] : undefined;
    this.cacheRefsSeen = refs;
    try {
      return this.newFunBody(depth, start, stop, refs);
    } finally {
      this.cacheRefsSeen = outerRefs;
      if (outerRefs && refs) outerRefs.push(...refs);
    }
  }

  private newFunBody(depth: number, start: number, stop: number, refs: { at: number; atom: Atom }[] | undefined): Fun {
    const arity = this.u8();
    const uniq = this.buf.toString('hex', this.pos, this.pos + 16);
    this.pos += 16;
    const index = this.u32();
    const numFree = this.u32();
    if (numFree > stop - this.pos) throw this.error(`NEW_FUN_EXT with ${numFree} free variables`, start);
    this.spend(arrayCost(numFree), start);
    const module = this.atomTerm();
    const oldIndex = this.readTerm(depth + 1);
    const oldUniq = this.readTerm(depth + 1);
    if (typeof oldIndex !== 'number' || typeof oldUniq !== 'number') {
      throw this.error('NEW_FUN_EXT OldIndex and OldUniq must be integers', start);
    }
    const pidAt = this.pos;
    if (!(this.readTerm(depth + 1) instanceof Pid)) throw this.error('NEW_FUN_EXT without a pid', pidAt);
    const freeVars = new Array<Term>(numFree);
    for (let i = 0; i < numFree; i++) freeVars[i] = this.readTerm(depth + 1);
    if (this.pos !== stop) throw this.error('NEW_FUN_EXT size does not match its contents', start);
    // Spelling out a cache ref adds at most 258 bytes and a few views.
    if (refs !== undefined) this.spend(refs.length * (258 + 3 * VIEW), start);
    const bytes =
      refs && refs.length > 0
        ? spellOutCacheRefs(this.buf, start, stop, refs)
        : Buffer.from(this.buf.subarray(start, stop));
    return new Fun(bytes, module, arity, index, uniq, freeVars);
  }

  // --- compression --------------------------------------------------------------------------------

  private readCompressed(): Term {
    const start = this.pos;
    this.pos++;
    const size = this.u32();
    if (size > this.maxSize) {
      throw this.error(`compressed term of ${size} bytes is larger than maxSize (${this.maxSize})`, start);
    }
    // The inflated bytes stay alive as long as any view into them.
    if (size > this.heapLeft) this.overBudget(start);
    this.spend(VIEW + size, start);
    let inflated: Buffer;
    try {
      // One output chunk of the declared size: zlib then returns a view of it, not a concatenated copy.
      inflated = inflateSync(this.buf.subarray(this.pos, this.end), {
        maxOutputLength: Math.max(size, 1),
        chunkSize: Math.max(size + 1, 64),
      });
    } catch (err) {
      throw new ErldistError('DECODE', `compressed term does not inflate to ${size} bytes at byte ${start}`, {
        offset: start,
        cause: err,
      });
    }
    if (inflated.length !== size) {
      throw this.error(`compressed term inflates to ${inflated.length} bytes, not ${size}`, start);
    }
    const outer = { buf: this.buf, end: this.end };
    this.buf = fast(inflated);
    this.pos = 0;
    this.end = inflated.length;
    // Offsets inside the inflated bytes are reported past the compressed header.
    this.baseOffset = start + 5;
    const term = this.readTerm(0);
    if (this.pos !== this.end) throw this.error('trailing bytes inside the compressed term', this.pos);
    this.baseOffset = 0;
    this.buf = outer.buf;
    this.pos = outer.end;
    this.end = outer.end;
    return term;
  }
}

/**
 * ASCII atoms by their bytes: a small direct-mapped cache in front of the intern table, so that the
 * atoms every message repeats (keys, tags, module names) cost a hash and a compare, not a string.
 * It holds at most ATOM_SLOTS atoms, so it cannot grow with what a peer sends.
 */
const ATOM_SLOTS = 1024;
const slotBytes: (Uint8Array | undefined)[] = new Array(ATOM_SLOTS).fill(undefined);
const slotAtoms: (Atom | undefined)[] = new Array(ATOM_SLOTS).fill(undefined);

/** Whether `buf` holds at `at` a SMALL_ATOM_UTF8_EXT (tag checked by the caller) of exactly `text`. */
function sameText(buf: FastBuffer, at: number, end: number, text: Uint8Array): boolean {
  const len = text.length;
  if (buf[at + 1] !== len || at + 2 + len > end) return false;
  const p = at + 2;
  for (let i = 0; i < len; i++) if (buf[p + i] !== text[i]) return false;
  return true;
}

function cachedAtom(slot: number, buf: FastBuffer, p: number, len: number): Atom | undefined {
  const known = slotBytes[slot];
  if (known !== undefined && known.length === len) {
    let i = 0;
    while (i < len && known[i] === buf[p + i]) i++;
    if (i === len) return slotAtoms[slot];
  }
  return undefined;
}

/** Interns an ASCII atom that missed the cache, and caches it in its slot. */
function cacheAtom(slot: number, buf: FastBuffer, p: number, len: number): Atom {
  const atom = internAtom(asciiString(buf, p, len));
  slotBytes[slot] = Uint8Array.prototype.slice.call(buf, p, p + len);
  slotAtoms[slot] = atom;
  return atom;
}

/** Short ASCII text: String.fromCharCode beats a native slice call up to a few dozen bytes. */
function asciiString(buf: FastBuffer, p: number, len: number): string {
  switch (len) {
    case 0:
      return '';
    case 1:
      return String.fromCharCode(buf[p]);
    case 2:
      return String.fromCharCode(buf[p], buf[p + 1]);
    case 3:
      return String.fromCharCode(buf[p], buf[p + 1], buf[p + 2]);
    case 4:
      return String.fromCharCode(buf[p], buf[p + 1], buf[p + 2], buf[p + 3]);
    case 5:
      return String.fromCharCode(buf[p], buf[p + 1], buf[p + 2], buf[p + 3], buf[p + 4]);
    case 6:
      return String.fromCharCode(buf[p], buf[p + 1], buf[p + 2], buf[p + 3], buf[p + 4], buf[p + 5]);
    case 7:
      return String.fromCharCode(buf[p], buf[p + 1], buf[p + 2], buf[p + 3], buf[p + 4], buf[p + 5], buf[p + 6]);
    case 8:
      return String.fromCharCode(
        buf[p],
        buf[p + 1],
        buf[p + 2],
        buf[p + 3],
        buf[p + 4],
        buf[p + 5],
        buf[p + 6],
        buf[p + 7],
      );
    case 9:
      return String.fromCharCode(
        buf[p],
        buf[p + 1],
        buf[p + 2],
        buf[p + 3],
        buf[p + 4],
        buf[p + 5],
        buf[p + 6],
        buf[p + 7],
        buf[p + 8],
      );
    case 10:
      return String.fromCharCode(
        buf[p],
        buf[p + 1],
        buf[p + 2],
        buf[p + 3],
        buf[p + 4],
        buf[p + 5],
        buf[p + 6],
        buf[p + 7],
        buf[p + 8],
        buf[p + 9],
      );
    case 11:
      return String.fromCharCode(
        buf[p],
        buf[p + 1],
        buf[p + 2],
        buf[p + 3],
        buf[p + 4],
        buf[p + 5],
        buf[p + 6],
        buf[p + 7],
        buf[p + 8],
        buf[p + 9],
        buf[p + 10],
      );
    case 12:
      return String.fromCharCode(
        buf[p],
        buf[p + 1],
        buf[p + 2],
        buf[p + 3],
        buf[p + 4],
        buf[p + 5],
        buf[p + 6],
        buf[p + 7],
        buf[p + 8],
        buf[p + 9],
        buf[p + 10],
        buf[p + 11],
      );
    case 13:
      return String.fromCharCode(
        buf[p],
        buf[p + 1],
        buf[p + 2],
        buf[p + 3],
        buf[p + 4],
        buf[p + 5],
        buf[p + 6],
        buf[p + 7],
        buf[p + 8],
        buf[p + 9],
        buf[p + 10],
        buf[p + 11],
        buf[p + 12],
      );
    case 14:
      return String.fromCharCode(
        buf[p],
        buf[p + 1],
        buf[p + 2],
        buf[p + 3],
        buf[p + 4],
        buf[p + 5],
        buf[p + 6],
        buf[p + 7],
        buf[p + 8],
        buf[p + 9],
        buf[p + 10],
        buf[p + 11],
        buf[p + 12],
        buf[p + 13],
      );
    case 15:
      return String.fromCharCode(
        buf[p],
        buf[p + 1],
        buf[p + 2],
        buf[p + 3],
        buf[p + 4],
        buf[p + 5],
        buf[p + 6],
        buf[p + 7],
        buf[p + 8],
        buf[p + 9],
        buf[p + 10],
        buf[p + 11],
        buf[p + 12],
        buf[p + 13],
        buf[p + 14],
      );
    case 16:
      return String.fromCharCode(
        buf[p],
        buf[p + 1],
        buf[p + 2],
        buf[p + 3],
        buf[p + 4],
        buf[p + 5],
        buf[p + 6],
        buf[p + 7],
        buf[p + 8],
        buf[p + 9],
        buf[p + 10],
        buf[p + 11],
        buf[p + 12],
        buf[p + 13],
        buf[p + 14],
        buf[p + 15],
      );
    default:
      // Up to 64 bytes, in pieces of 16: cheaper than a native slice call, even as a cons string.
      if (len <= 64) return asciiString(buf, p, 16) + asciiString(buf, p + 16, len - 16);
      return buf.latin1Slice(p, p + len);
  }
}

/**
 * Whether `buf[p..stop)` is valid UTF-8 (RFC 3629: no overlongs, no surrogates, nothing past
 * U+10FFFF). In JS, cheaper than the native check for the few dozen bytes it is used on.
 */
function validUtf8(buf: Buffer, p: number, stop: number): boolean {
  while (p < stop) {
    const c = buf[p];
    if (c < 0x80) {
      p++;
      continue;
    }
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (p + n >= stop) return false;
    const b1 = buf[p + 1];
    if (b1 < lo || b1 > hi) return false;
    for (let i = 2; i <= n; i++) if ((buf[p + i] & 0xc0) !== 0x80) return false;
    p += n + 1;
  }
  return true;
}

/** True when the UTF-8 sequences starting at `p` show an error before `limit`. */
function invalidUtf8Within(buf: Buffer, p: number, limit: number): boolean {
  while (p < limit) {
    const c = buf[p];
    let n: number;
    if (c < 0x80) n = 0;
    else if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) n = 2;
    else if (c >= 0xf0 && c <= 0xf4) n = 3;
    else return true;
    for (let i = 1; i <= n; i++) {
      if (p + i >= buf.length) return true;
      if ((buf[p + i] & 0xc0) !== 0x80) return true;
    }
    p += n + 1;
  }
  return false;
}

/**
 * A fun's bytes with each ATOM_CACHE_REF (which means something on one connection only) replaced by
 * the atom itself, and its Size field updated, so that the fun can be sent anywhere.
 */
function spellOutCacheRefs(buf: Buffer, start: number, stop: number, refs: { at: number; atom: Atom }[]): Buffer {
  const parts: Buffer[] = [];
  let from = start;
  for (const { at, atom } of [...refs].sort((a, b) => a.at - b.at)) {
    parts.push(buf.subarray(from, at));
    const text = Buffer.from(atom.name, 'utf8');
    const head =
      text.length <= 255
        ? Buffer.from([Tag.SMALL_ATOM_UTF8_EXT, text.length])
        : Buffer.from([Tag.ATOM_UTF8_EXT, text.length >> 8, text.length & 0xff]);
    parts.push(head, text);
    from = at + 2;
  }
  parts.push(buf.subarray(from, stop));
  const out = Buffer.concat(parts);
  out.writeUInt32BE(out.length - 1, 1);
  return out;
}

/** A maxDepth set beyond what the JS stack holds must still end in DECODE. */
function stackToDecodeError(err: unknown, offset: number): unknown {
  if (err instanceof RangeError) {
    return new ErldistError('DECODE', `nesting too deep for the JS stack at byte ${offset} (lower maxDepth)`, {
      offset,
      cause: err,
    });
  }
  return err;
}

function objectToMap(obj: { [key: string]: Term }): Map<Term, Term> {
  const map = new Map<Term, Term>();
  for (const name of Object.keys(obj)) {
    let key: Term;
    if (name === 'true') key = true;
    else if (name === 'false') key = false;
    else key = internAtom(name);
    map.set(key, obj[name]);
  }
  return map;
}

function countChars(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function toBuffer(bytes: Uint8Array): Buffer {
  if (Buffer.isBuffer(bytes)) return bytes;
  if (bytes instanceof Uint8Array) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new ErldistError('DECODE', 'decode expects a Uint8Array or Buffer', { offset: 0 });
}

const EMPTY = Buffer.alloc(0);

/**
 * The decoder of `decode` calls without options, reused: decode never calls out while it runs, so
 * one call cannot start inside another. It lets go of its input when the call ends.
 */
let defaultDecoder: TermDecoder | undefined;

/** Decodes `131, Term` (optionally compressed); the whole input must be one term. */
export function decode(bytes: Uint8Array, options?: DecodeOptions): Term {
  let decoder: TermDecoder;
  if (options === undefined) {
    defaultDecoder ??= new TermDecoder(EMPTY);
    decoder = defaultDecoder;
    decoder.restart(toBuffer(bytes));
  } else {
    decoder = new TermDecoder(bytes, 0, options);
  }
  let term: Term;
  let end: number;
  try {
    term = decoder.readVersionedTerm();
    end = decoder.pos;
  } catch (err) {
    throw stackToDecodeError(err, decoder.pos);
  } finally {
    if (options === undefined) decoder.restart(EMPTY);
  }
  const length = bytes.length;
  if (end !== length) throw decodeError(`${length - end} trailing bytes after the term`, end);
  return term;
}

/**
 * Decodes one term without the version byte, starting at `offset` (distribution headers, protocol
 * notes §3). Returns the term and the offset just past it.
 */
export function decodeAt(bytes: Uint8Array, offset: number, options?: DecodeOptions): { term: Term; offset: number } {
  const decoder = new TermDecoder(bytes, offset, options);
  try {
    const term = decoder.readTerm(0);
    return { term, offset: decoder.pos };
  } catch (err) {
    throw stackToDecodeError(err, decoder.pos);
  }
}
