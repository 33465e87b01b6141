/**
 * Seeded mutation fuzzing of the decoder: every input must give a term or an ErldistError (DECODE),
 * quickly (40,000 inputs by default, about a second). `npm run fuzz` runs a longer campaign with a fresh seed (ERLDIST_FUZZ_INPUTS,
 * ERLDIST_FUZZ_SEED).
 */
import { describe, expect, it } from 'vitest';
import { decode, ErldistError, encode } from '../../src/index.js';
import { rng, TermGen } from '../support/gen.js';

const INPUTS = Number(process.env.ERLDIST_FUZZ_INPUTS ?? 40_000);
const SEED =
  process.env.ERLDIST_FUZZ_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.ERLDIST_FUZZ_SEED ?? 424242);

function mutate(next: () => number, seeds: Buffer[]): Buffer {
  const pickInt = (n: number) => Math.floor(next() * n);
  const src = seeds[pickInt(seeds.length)];
  const b = Buffer.from(src);
  const at = pickInt(Math.max(1, b.length));
  switch (pickInt(9)) {
    case 0: // flip a byte
      b[at] = pickInt(256);
      return b;
    case 1: // flip a few bits
      for (let i = 0; i < 1 + pickInt(4); i++) b[pickInt(b.length)] ^= 1 << pickInt(8);
      return b;
    case 2: // truncate
      return b.subarray(0, at);
    case 3: // a length field turned huge
      if (b.length > at + 4) b.writeUInt32BE([0xffffffff, 0x7fffffff, 0x10000, b.length][pickInt(4)], at);
      return b;
    case 4: // insert a random byte
      return Buffer.concat([b.subarray(0, at), Buffer.from([pickInt(256)]), b.subarray(at)]);
    case 5: // delete a range
      return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + pickInt(8))]);
    case 6: // splice two encodings
      return Buffer.concat([b.subarray(0, at), seeds[pickInt(seeds.length)].subarray(1 + pickInt(4))]);
    case 7: // a tag byte anywhere
      b[at] = [
        70, 77, 80, 82, 88, 89, 90, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113,
        114, 115, 116, 117, 118, 119, 120, 121,
      ][pickInt(32)];
      return b;
    default: // random garbage after the version byte
      return Buffer.concat([Buffer.from([131]), Buffer.from(Array.from({ length: pickInt(32) }, () => pickInt(256)))]);
  }
}

describe('decoder fuzz', () => {
  it(
    `${INPUTS} mutated inputs (seed ${SEED}) give a term or DECODE`,
    () => {
      const gen = new TermGen(SEED);
      const seeds = Array.from({ length: 400 }, () => encode(gen.term(0, true)));
      seeds.push(
        encode(
          Array.from({ length: 50 }, (_, i) => ({ i, s: 'abc' })),
          { compressed: 6 },
        ),
      );
      const next = rng(SEED ^ 0x5bd1e995);
      let decoded = 0;
      let rejected = 0;
      let slowest = 0;
      const started = performance.now();
      for (let i = 0; i < INPUTS; i++) {
        const input = mutate(next, seeds);
        const t0 = performance.now();
        try {
          decode(input, { maxSize: 1 << 20 });
          decoded++;
        } catch (err) {
          if (!(err instanceof ErldistError) || err.code !== 'DECODE') {
            throw new Error(`input ${input.toString('hex')} threw ${String(err)}`);
          }
          rejected++;
        }
        slowest = Math.max(slowest, performance.now() - t0);
      }
      const elapsed = performance.now() - started;
      console.log(
        `fuzz: ${decoded} decoded, ${rejected} rejected, ${elapsed.toFixed(0)} ms, slowest input ${slowest.toFixed(1)} ms`,
      );
      expect(decoded + rejected).toBe(INPUTS);
      expect(decoded).toBeGreaterThan(0);
      expect(rejected).toBeGreaterThan(0);
    },
    Math.max(5_000, INPUTS / 10),
  );
});
