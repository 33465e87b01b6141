/**
 * Connection.send writes binaries of 4 KiB and more from the caller's Buffer (issue 11): whole
 * frames and fragments arrive intact and in order, the byte counts agree, and a Buffer changed
 * before it is written goes out changed (the documented contract: it must not be modified until
 * written). Against real nodes: test/interop/fragments.test.ts and dist.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { atom, encode, type Term, tuple } from '../../src/index.js';
import { nodePair } from '../support/pair.js';

const KiB = 1024;
const pattern = (n: number, seed: number) => {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + seed) & 0xff;
  return b;
};

describe('sending large binaries without copying them', () => {
  it('frames with referenced binaries, whole and in fragments, arrive intact, in order, all bytes counted', async () => {
    const p = await nodePair({ b: { decode: { binaries: 'buffer' } } });
    try {
      const box = p.b.spawn();
      const sent: Term[] = [
        atom('first'),
        tuple(atom('k20'), pattern(20 * KiB, 1)),
        pattern(4 * KiB, 2),
        [pattern(4 * KiB - 1, 3), pattern(17 * KiB, 4), 'x', pattern(5 * KiB, 9)],
        tuple(atom('m1'), pattern(1024 * KiB, 5), pattern(30 * KiB, 6)),
        pattern(200 * KiB, 7),
        // Fragmented with 100 KiB of its own bytes (a string): the batch is handed to it.
        tuple(atom('own'), 'y'.repeat(100 * KiB), pattern(40 * KiB, 8)),
        atom('last'),
      ];
      const outBefore = p.a.stats.bytesOut;
      const inBefore = p.b.stats.bytesIn;
      for (const m of sent) p.ab.send(box.pid, m);
      for (const m of sent) {
        const got = await box.receive({ timeout: 5000 });
        // Compared as ETF bytes: toStrictEqual walks large Buffers byte by byte.
        expect(encode(got).equals(encode(m))).toBe(true);
      }
      expect(p.a.stats.bytesOut - outBefore).toBeGreaterThan(1300 * KiB);
      expect(p.b.stats.bytesIn - inBefore).toBe(p.a.stats.bytesOut - outBefore);
    } finally {
      await p.close();
    }
  });

  it('a large Buffer is written from its own memory: a change before the write shows', async () => {
    const p = await nodePair({ b: { decode: { binaries: 'buffer' } } });
    try {
      const one = p.b.spawn();
      const two = p.b.spawn();
      const fragmented = Buffer.alloc(512 * KiB, 1);
      const behind = Buffer.alloc(20 * KiB, 1);
      const batched = Buffer.alloc(4 * KiB, 1);
      const small = Buffer.alloc(4 * KiB - 1, 1);
      p.ab.send(one.pid, fragmented); // goes out in fragments from the next turn
      p.ab.send(one.pid, behind); // waits behind it
      p.ab.send(two.pid, batched); // in this tick's batch
      p.ab.send(two.pid, small);
      // Still in this tick: none of them has been written yet.
      for (const b of [fragmented, behind, batched, small]) b.fill(2);
      const next = async (box: typeof one) => (await box.receive({ timeout: 5000 })) as Buffer;
      expect((await next(one)).equals(Buffer.alloc(512 * KiB, 2))).toBe(true);
      expect((await next(one)).equals(Buffer.alloc(20 * KiB, 2))).toBe(true);
      expect((await next(two)).equals(Buffer.alloc(4 * KiB, 2))).toBe(true);
      // Below the threshold the bytes were copied when sent.
      expect((await next(two)).equals(Buffer.alloc(4 * KiB - 1, 1))).toBe(true);
    } finally {
      await p.close();
    }
  });
});

describe('when a batch goes out', () => {
  it('a frame sent just before a local close, after an await in the same turn, still goes out', async () => {
    const p = await nodePair();
    try {
      const box = p.b.spawn();
      await new Promise<void>((resolve) => {
        setImmediate(async () => {
          p.ab.send(box.pid, atom('last_words'));
          await Promise.resolve();
          void p.ab.close();
          resolve();
        });
      });
      expect(await box.receive({ timeout: 2000 })).toBe(atom('last_words'));
    } finally {
      await p.close();
    }
  });

  it('what the reactions to one message send shares its write', async () => {
    const p = await nodePair();
    try {
      const box = p.b.spawn();
      // Three sends from three promise reactions of one callback: one batch.
      const writes: number[] = [];
      const socket = (p.ab.connection as unknown as { socket: { write: (...a: unknown[]) => boolean } }).socket;
      const write = socket.write.bind(socket);
      socket.write = (...args: unknown[]) => {
        writes.push(1);
        return write(...args);
      };
      await new Promise<void>((resolve) => {
        setImmediate(async () => {
          p.ab.send(box.pid, 1);
          await Promise.resolve();
          p.ab.send(box.pid, 2);
          await Promise.resolve();
          p.ab.send(box.pid, 3);
          resolve();
        });
      });
      for (const n of [1, 2, 3]) expect(await box.receive({ timeout: 2000 })).toBe(n);
      expect(writes).toHaveLength(1);
    } finally {
      await p.close();
    }
  });
});
