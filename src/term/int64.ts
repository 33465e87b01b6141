/**
 * 64-bit integers between bigint and ETF's sign-and-magnitude little-endian bytes without
 * intermediate bigints: a typed-array element read or write makes or takes one bigint directly.
 * The scratch words are private to this module and used only within one synchronous call, never
 * across a callback, so sharing them is safe.
 */
import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';
const word = new ArrayBuffer(8);
const u64 = new BigUint64Array(word);
const i64 = new BigInt64Array(word);
/** The low and high 32-bit halves of the scratch word (little-endian hosts only). */
const words = new Uint32Array(word);

const INT64_MIN = -(1n << 63n);
const UINT64_MAX = (1n << 64n) - 1n;

/**
 * The integer whose magnitude is `hi * 2^32 + lo` (two 32-bit unsigned words), as one bigint: a
 * negative value is written in two's complement with 32-bit arithmetic and read as a signed word.
 */
export function bigFromWords(hi: number, lo: number, negative: boolean): bigint {
  if (!LITTLE_ENDIAN) {
    const v = (BigInt(hi) << 32n) | BigInt(lo);
    return negative ? -v : v;
  }
  if (!negative || hi > 0x80000000 || (hi === 0x80000000 && lo !== 0)) {
    words[0] = lo;
    words[1] = hi;
    // Magnitudes past 2^63 (negative ones do not fit a signed word) take a second bigint.
    return negative ? -u64[0] : u64[0];
  }
  // 2^64 - m: the low word negated; the high word inverted, plus the carry when the low word is 0.
  words[0] = -lo >>> 0;
  words[1] = (lo === 0 ? -hi : ~hi) >>> 0;
  return i64[0];
}

/**
 * Writes the magnitude of `v` (|v| < 2^64; `negative` is `v < 0n`) little-endian at `p`, 8 bytes,
 * and returns how many of them count (1..8). Returns 0, writing nothing, when |v| does not fit.
 */
export function writeBig64(v: bigint, negative: boolean, out: Uint8Array, p: number): number {
  if (!LITTLE_ENDIAN || (negative ? v < INT64_MIN : v > UINT64_MAX)) return 0;
  let lo: number;
  let hi: number;
  if (!negative) {
    u64[0] = v;
    lo = words[0];
    hi = words[1];
  } else {
    // The magnitude of a two's complement word, in 32-bit halves. -2^63 negates to 2^63, whose
    // bytes are right as an unsigned magnitude.
    i64[0] = v;
    lo = -words[0] >>> 0;
    hi = (lo === 0 ? -words[1] : ~words[1]) >>> 0;
  }
  let n = 8;
  if (hi === 0) n = lo > 0xffffff ? 4 : lo > 0xffff ? 3 : lo > 0xff ? 2 : 1;
  else n = hi > 0xffffff ? 8 : hi > 0xffff ? 7 : hi > 0xff ? 6 : 5;
  out[p] = lo & 0xff;
  out[p + 1] = (lo >>> 8) & 0xff;
  out[p + 2] = (lo >>> 16) & 0xff;
  out[p + 3] = lo >>> 24;
  out[p + 4] = hi & 0xff;
  out[p + 5] = (hi >>> 8) & 0xff;
  out[p + 6] = (hi >>> 16) & 0xff;
  out[p + 7] = hi >>> 24;
  return n;
}
