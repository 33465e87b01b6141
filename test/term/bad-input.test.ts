import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decode, ErldistError, encode } from '../../src/index.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decodeError(bytes: Uint8Array, options?: Parameters<typeof decode>[1]): ErldistError {
  try {
    decode(bytes, options);
  } catch (err) {
    expect(err).toBeInstanceOf(ErldistError);
    expect((err as ErldistError).code).toBe('DECODE');
    expect(typeof (err as ErldistError).offset).toBe('number');
    return err as ErldistError;
  }
  throw new Error('decode did not throw');
}

describe('bad input throws DECODE with the offset', () => {
  const cases: [string, string, number | undefined][] = [
    ['empty input', '', 0],
    ['no version byte', '6101', 0],
    ['truncated integer', '8362 0000', 2],
    ['truncated after tag', '8368', 2],
    ['binary length past the end', '836d 00000010 6162', 6],
    ['LIST_EXT claiming 2^32-1 elements', '836c ffffffff 6a', 1],
    ['LARGE_TUPLE claiming 2^32-1 elements', '8369 ffffffff', 1],
    ['MAP claiming 2^31 pairs', '8374 80000000 6101 6102', 1],
    ['LARGE_BIG of 2^32-1 bytes', '836f ffffffff 00 01', undefined],
    ['STRING_EXT past the end', '836b ffff 61', undefined],
    ['unknown tag', '83 ff', 1],
    ['obsolete FUN_EXT', '83 75 00000000', 1],
    ['LOCAL_EXT', '83 79 00', 1],
    ['nested compressed term', '83 6c 00000001 50 00000001 00 6a', 6],
    ['version byte inside a term', '83 68 01 83', 3],
    ['invalid UTF-8 in an atom', '83 77 02 c3 28', 1],
    ['atom of 256 Latin-1 characters', `83 64 0100${'61'.repeat(256)}`, 1],
    ['trailing bytes', '83 61 01 00', 3],
    ['NaN float', '83 46 7ff8000000000000', 1],
    ['infinite float', '83 46 7ff0000000000000', 1],
    ['FLOAT_EXT with garbage text', `83 63${'78'.repeat(31)}`, 1],
    ['reference with 6 words', `83 5a 0006 7703613362 00000001${'00000000'.repeat(6)}`, 1],
    ['reference with 0 words', '83 5a 0000 7703613362 00000001', 1],
    ['pid whose node is not an atom', '83 58 6101 00000001 00000002 00000003', 2],
    ['BIT_BINARY with 0 bits', '83 4d 00000001 00 ff', 1],
    ['BIT_BINARY with 9 bits', '83 4d 00000001 09 ff', 1],
    ['empty BIT_BINARY with bits', '83 4d 00000000 03', 1],
    ['map with a duplicate key', '83 74 00000002 770161 6101 770161 6102', 11],
    ['map with duplicate integer keys', '83 74 00000002 6101 6101 6101 6102', 10],
    ['EXPORT_EXT with a bad arity', '83 71 770161 770162 6d00000000', 8],
    ['ATOM_CACHE_REF without a cache', '83 52 00', 1],
    ['NEW_FUN_EXT too short', '83 70 00000004', 1],
  ];
  for (const [name, bytes, offset] of cases) {
    it(name, () => {
      const err = decodeError(hex(bytes));
      if (offset !== undefined) expect(err.offset).toBe(offset);
      expect(err.message).toMatch(/at byte \d+$/);
    });
  }

  it('a deeply nested list stops at maxDepth', () => {
    const depth = 2000;
    // [[[...]]]: each level is LIST_EXT 1, then the next level, then NIL.
    const levels = Buffer.concat([
      hex('83'),
      ...Array.from({ length: depth }, () => hex('6c00000001')),
      hex('6a'),
      Buffer.alloc(depth, 0x6a),
    ]);
    expect(decodeError(levels).message).toMatch(/nesting deeper than 1000/);
    expect(decodeError(levels, { maxDepth: 10 }).message).toMatch(/nesting deeper than 10 /);
    expect(() => decode(levels, { maxDepth: 3000 })).not.toThrow();
  });

  it('nesting beyond what the JS stack holds is DECODE, not RangeError', () => {
    const depth = 200_000;
    const levels = Buffer.concat([
      hex('83'),
      Buffer.from('6c00000001'.repeat(depth), 'hex'),
      hex('6a'),
      Buffer.alloc(depth, 0x6a),
    ]);
    expect(decodeError(levels, { maxDepth: Infinity }).message).toMatch(/stack/);
  });

  it('a compressed term claiming 4 GiB fails before inflating', () => {
    const bomb = Buffer.concat([hex('83 50 ffffffff'), deflateSync(Buffer.alloc(1024))]);
    expect(decodeError(bomb).message).toMatch(/larger than maxSize/);
  });

  it('a compressed term that inflates past its declared size stops at the declared size', () => {
    const body = Buffer.alloc(10_000_000, 0x6a);
    const lying = Buffer.concat([hex('83 50 00000010'), deflateSync(body)]);
    const before = process.memoryUsage().arrayBuffers;
    decodeError(lying);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(5_000_000);
  });

  it('a compressed term with a bad zlib stream', () => {
    decodeError(hex('83 50 00000004 deadbeef'));
  });

  it('a compressed term respects a smaller maxSize', () => {
    const bytes = encode('x'.repeat(100_000), { compressed: 6 });
    expect(decodeError(bytes, { maxSize: 1000 }).message).toMatch(/maxSize/);
    expect(decode(bytes)).toBe('x'.repeat(100_000));
  });

  it('huge declared sizes allocate nothing up front', () => {
    const before = process.memoryUsage().arrayBuffers;
    for (const h of ['836c ffffffff 6a', '836f ffffffff 00', '836d ffffffff', '8374 ffffffff', '8369 ffffffff'])
      decodeError(hex(h));
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1_000_000);
  });

  it('non-byte input', () => {
    expect(() => decode('abc' as unknown as Uint8Array)).toThrow(ErldistError);
  });
});
