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
const bytes = new Uint8Array(word);

const INT64_MIN = -(1n << 63n);
const UINT64_MAX = (1n << 64n) - 1n;

/** Reads an `n`-byte (n <= 8) little-endian magnitude at `p`; `negative` applies the sign. */
export function readBig64(buf: Uint8Array, p: number, n: number, negative: boolean): bigint {
  if (!LITTLE_ENDIAN) return readPortable(buf, p, n, negative);
  for (let i = 0; i < n; i++) bytes[i] = buf[p + i];
  for (let i = n; i < 8; i++) bytes[i] = 0;
  if (!negative) return u64[0];
  if (bytes[7] & 0x80) return -u64[0];
  // Two's complement of the magnitude, read as a signed word: one bigint, already negative.
  let carry = 1;
  for (let i = 0; i < 8; i++) {
    const v = (~bytes[i] & 0xff) + carry;
    bytes[i] = v & 0xff;
    carry = v >> 8;
  }
  return i64[0];
}

function readPortable(buf: Uint8Array, p: number, n: number, negative: boolean): bigint {
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[p + i]);
  return negative ? -v : v;
}

/**
 * Writes the magnitude of `v` (|v| < 2^64) little-endian at `p` and returns its byte count (1..8).
 * Returns 0, writing nothing, when |v| does not fit 64 bits.
 */
export function writeBig64(v: bigint, out: Uint8Array, p: number): number {
  if (!LITTLE_ENDIAN || v < INT64_MIN || v > UINT64_MAX) return 0;
  if (v >= 0n) {
    u64[0] = v;
  } else {
    i64[0] = v;
    let carry = 1;
    for (let i = 0; i < 8; i++) {
      const x = (~bytes[i] & 0xff) + carry;
      bytes[i] = x & 0xff;
      carry = x >> 8;
    }
    // -2^63 negates to 2^63, whose bytes are right as an unsigned magnitude.
  }
  let n = 8;
  while (n > 1 && bytes[n - 1] === 0) n--;
  for (let i = 0; i < n; i++) out[p + i] = bytes[i];
  return n;
}
