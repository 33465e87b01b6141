/**
 * TermEncoder with `referenceFrom`: large binaries are referenced, not copied, and the segments
 * joined are byte for byte what `encode()` writes.
 */
import { describe, expect, it } from 'vitest';
import { atom, BitBinary, encode, type Term, tuple } from '../../src/index.js';
import { TermEncoder } from '../../src/term/index.js';

const big = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

function segmented(term: Term, referenceFrom: number): { enc: TermEncoder; parts: Buffer[] } {
  const enc = new TermEncoder(64, { referenceFrom });
  enc.u8(131);
  enc.writeTerm(term);
  return { enc, parts: enc.segments() };
}

const a = big(40, 1);
const b = big(16 * 1024, 2);
const u8 = new Uint8Array(big(100, 3));
const cases: [string, Term][] = [
  ['a binary under the threshold', big(39, 4)],
  ['a binary at the threshold', a],
  ['a Uint8Array view', u8.subarray(10, 90)],
  ['binaries side by side', [a, a, b, 'x']],
  ['nested', tuple(atom('ok'), { k: a, l: [1, b] }, new Map<Term, Term>([[a, b]]))],
  ['a bit binary, last byte masked', new BitBinary(Buffer.from([...a.subarray(0, 39), 0xff]), 3)],
  ['a bit binary of 8 bits', new BitBinary(a, 8)],
  ['an empty binary', Buffer.alloc(0)],
];

describe('TermEncoder segments', () => {
  it.each(cases)('%s: the segments joined equal encode()', (_, term) => {
    const { enc, parts } = segmented(term, 40);
    const golden = encode(term);
    expect(Buffer.concat(parts)).toStrictEqual(golden);
    expect(enc.length).toBe(golden.length);
    // Every window of the output, cut anywhere, is the same window of encode().
    for (let from = 0; from <= golden.length; from += 7) {
      for (const to of [from, from + 1, from + 45, golden.length]) {
        const end = Math.min(to, golden.length);
        // Buffer.equals: toStrictEqual walks a Buffer byte by byte, far too slowly here.
        if (!Buffer.concat(enc.segments(from, end)).equals(golden.subarray(from, end))) {
          expect.fail(`segments(${from}, ${end}) differ`);
        }
      }
    }
  });

  it('references a binary at or above referenceFrom, copies one below it, and leaves the input alone', () => {
    const bits = new BitBinary(big(50, 5), 1);
    const before = Buffer.from(bits.bytes);
    const { enc, parts } = segmented([a, big(39, 6), bits, u8], 40);
    // A part is a reference when it is the very memory of an input (small Buffers share a pool).
    const isView = (p: Uint8Array, x: Uint8Array, n: number) =>
      p.buffer === x.buffer && p.byteOffset === x.byteOffset && p.length === n;
    expect(parts.filter((p) => isView(p, a, 40) || isView(p, bits.bytes, 49) || isView(p, u8, 100))).toHaveLength(3);
    expect(enc.pos).toBe(enc.length - 40 - 49 - 100);
    expect(Buffer.from(bits.bytes)).toStrictEqual(before);
  });

  it('without referenceFrom the output is one buffer, as before', () => {
    const enc = new TermEncoder(64);
    enc.writeTerm([b, b]);
    expect(enc.segments()).toHaveLength(1);
    expect(enc.length).toBe(enc.pos);
  });

  it('truncate forgets the references written after the position; copy detaches own bytes', () => {
    const enc = new TermEncoder(64, { referenceFrom: 40 });
    enc.writeTerm(a);
    const mark = enc.pos;
    const length = enc.length;
    enc.writeTerm([a, b]);
    const tail = enc.segments(length, enc.length, true);
    const joined = Buffer.concat(tail);
    enc.truncate(mark);
    expect(enc.length).toBe(length);
    expect(Buffer.concat(enc.segments())).toStrictEqual(encode(a).subarray(1));
    enc.writeTerm(atom('overwrite_the_own_bytes'));
    expect(Buffer.concat(tail)).toStrictEqual(joined);
    expect(joined).toStrictEqual(encode([a, b]).subarray(1));
  });

  it('an ENCODE error after a reference can be undone with truncate', () => {
    const enc = new TermEncoder(64, { referenceFrom: 40 });
    enc.u8(131);
    expect(() => enc.writeTerm([a, null as unknown as Term])).toThrow(/no Erlang form/);
    enc.truncate(1);
    enc.writeTerm(b);
    expect(Buffer.concat(enc.segments())).toStrictEqual(encode(b));
  });
});
