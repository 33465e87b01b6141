/**
 * The decode budget (`maxHeap`): hostile inputs that would inflate into gigabytes of JS objects end
 * in DECODE quickly, with the heap grown by no more than the budget plus a small constant; legit big
 * terms still decode under the default.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decode, ErldistError, encode } from '../../src/index.js';
import { DEFAULT_MAX_HEAP, TermDecoder } from '../../src/term/decode.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MiB = 1024 * 1024;
/** What the heap may hold beyond the budget: the test's own bookkeeping, V8's page granularity. */
const SLACK = 16 * MiB;

/** `131, LIST_EXT n, elem * n, NIL` without building n separate Buffers. */
function listOf(elem: number[], n: number): Buffer {
  const out = Buffer.allocUnsafe(6 + elem.length * n + 1);
  out[0] = 131;
  out[1] = 108;
  out.writeUInt32BE(n, 2);
  const one = Buffer.from(elem);
  out.fill(one, 6, 6 + elem.length * n);
  out[out.length - 1] = 106;
  return out;
}

/**
 * About `bytes` of input: a list of lists of 4096 `elem`s each (an outer list of millions of elements
 * would fail at once, its array alone being over the budget).
 */
function bomb(elem: number[], bytes: number): Buffer {
  const inner = listOf(elem, 4096).subarray(1);
  return listOf([...inner], Math.floor(bytes / inner.length));
}

function compressed(bytes: Buffer): Buffer {
  const body = bytes.subarray(1);
  const head = Buffer.from([131, 80, 0, 0, 0, 0]);
  head.writeUInt32BE(body.length, 2);
  return Buffer.concat([head, deflateSync(body, { level: 9 })]);
}

function heapNow(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** A full GC, and time for the backing stores it freed to leave `external`. */
async function settle(): Promise<void> {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 20));
  gc();
}

/**
 * Decodes `bytes`, expecting DECODE. Returns the heap growth, measured before any GC (whatever decode
 * made is garbage now but still there, so this is its peak), and the CPU time the process spent (the
 * wall time depends on what else runs on the machine).
 */
async function hostile(
  bytes: Buffer,
  options?: Parameters<typeof decode>[1],
): Promise<{ grown: number; cpuMs: number; err: Error }> {
  await settle();
  const before = heapNow();
  const cpu = process.cpuUsage();
  let err: unknown;
  try {
    decode(bytes, options);
  } catch (e) {
    err = e;
  }
  const used = process.cpuUsage(cpu);
  const grown = heapNow() - before;
  await settle();
  expect(err).toBeInstanceOf(ErldistError);
  expect((err as ErldistError).code).toBe('DECODE');
  return { grown, cpuMs: (used.user + used.system) / 1000, err: err as Error };
}

describe('maxHeap: hostile inputs end in DECODE within the budget', () => {
  const cases: [string, () => Buffer][] = [
    ['a list of 64 Mi [] (fails at its header)', () => listOf([106], 64 * MiB)],
    ['64 MiB of [] in lists (40 bytes of heap each)', () => bomb([106], 64 * MiB)],
    ['a 65 KB compressed term of 64 MiB of []', () => compressed(bomb([106], 64 * MiB - 4096))],
    ['32 MiB of empty tuples', () => bomb([104, 0], 32 * MiB)],
    ['32 MiB of empty maps', () => bomb([116, 0, 0, 0, 0], 32 * MiB)],
    ['32 MiB of one-byte binaries (views)', () => bomb([109, 0, 0, 0, 1, 0xff], 32 * MiB)],
    ['32 MiB of lists of two []', () => bomb([108, 0, 0, 0, 2, 106, 106, 106], 32 * MiB)],
    ['32 MiB of tuples of one []', () => bomb([104, 1, 106], 32 * MiB)],
  ];
  for (const [name, build] of cases) {
    it(name, async () => {
      const bytes = build();
      const { grown, cpuMs, err } = await hostile(bytes);
      expect(err.message).toMatch(/maxHeap \(67108864 bytes\).*raise the maxHeap decode option/);
      expect(cpuMs).toBeLessThan(1000);
      expect(grown).toBeLessThan(DEFAULT_MAX_HEAP + SLACK);
    });
  }

  it('a compressed term larger than the budget fails before inflating', async () => {
    const bytes = compressed(listOf([106], 4 * MiB));
    const { grown } = await hostile(bytes, { maxHeap: 1 * MiB });
    expect(grown).toBeLessThan(SLACK);
  });

  it('a smaller maxHeap stops sooner', async () => {
    const bytes = listOf([106], 4 * MiB);
    const { grown, err } = await hostile(bytes, { maxHeap: 8 * MiB });
    expect(err.message).toMatch(/maxHeap \(8388608 bytes\)/);
    expect(grown).toBeLessThan(8 * MiB + SLACK);
    expect((decode(bytes, { maxHeap: 256 * MiB }) as unknown[]).length).toBe(4 * MiB);
  });
});

describe('maxHeap: legit big terms decode under the default', () => {
  it('a 200 MiB binary is a view', () => {
    const bytes = Buffer.alloc(6 + 200 * MiB, 0xff);
    bytes[0] = 131;
    bytes[1] = 109;
    bytes.writeUInt32BE(200 * MiB, 2);
    const value = decode(bytes) as Buffer;
    expect(value.length).toBe(200 * MiB);
    expect(value.buffer).toBe(bytes.buffer);
  });

  it('a million small integers', () => {
    const bytes = listOf([97, 7], 1_000_000);
    const value = decode(bytes) as number[];
    expect(value.length).toBe(1_000_000);
    expect(value[999_999]).toBe(7);
  });

  it('the estimate covers what decoding really allocates', async () => {
    const bytes = encode(
      Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `user ${i}`, tags: ['a', 'bb', i % 256] })),
    );
    await settle();
    const before = process.memoryUsage().heapUsed;
    const decoder = new TermDecoder(bytes, 0);
    const value = decoder.readVersionedTerm();
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect((value as unknown[]).length).toBe(20_000);
    expect(decoder.heapSpent).toBeGreaterThanOrEqual(grown);
    // And it is not wildly above it either: the default stays useful for legit terms.
    expect(decoder.heapSpent).toBeLessThan(4 * grown);
  });
});

describe('TermDecoder honours maxHeap', () => {
  it('with the default when the option is absent', () => {
    const decoder = new TermDecoder(listOf([106], 8 * MiB), 1);
    expect(() => decoder.readTerm(0)).toThrow(/maxHeap \(67108864 bytes\)/);
  });

  it('with the option given, as the distribution layer passes it', () => {
    const bytes = listOf([106], 1000);
    expect(() => new TermDecoder(bytes, 1, { maxHeap: 1000 }).readTerm(0)).toThrow(/maxHeap \(1000 bytes\)/);
    expect(new TermDecoder(bytes, 1, { maxHeap: 100_000 }).readTerm(0)).toHaveLength(1000);
  });
});
