/**
 * The codec against real Erlang: every runtime of the matrix (runtimes.ts) checks the golden cases,
 * thousands of seeded terms built by Erlang, and thousands built by erldist.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode, type Term } from '../../src/index.js';
import { ErlPort } from '../support/erl-port.js';
import { TermGen } from '../support/gen.js';
import { runtimes } from '../support/runtimes.js';
import { goldenCases } from '../term/golden-cases.js';

const TERMS_PER_RUNTIME = 3000;
const BATCH = 500;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** Splits `Count:32, (Len:32, Bytes)*` into buffers. */
function splitBatch(reply: Buffer, counted: boolean): Buffer[] {
  const out: Buffer[] = [];
  let p = counted ? 4 : 0;
  while (p < reply.length) {
    const len = reply.readUInt32BE(p);
    out.push(reply.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  return out;
}

async function generate(erl: ErlPort, seed: number, count: number, flags: number): Promise<Buffer[]> {
  const payload = Buffer.alloc(13);
  payload.writeBigUInt64BE(BigInt(seed), 0);
  payload.writeUInt32BE(count, 8);
  payload[12] = flags;
  return splitBatch(await erl.request('g', payload), true);
}

/** Erlang's verdict on `binary_to_term(A) =:= binary_to_term(B)`. */
async function sameInErlang(erl: ErlPort, a: Buffer, b: Buffer): Promise<boolean> {
  const reply = await erl.request('q', Buffer.concat([u32(a.length), a, b]));
  if (reply[0] === 2) throw new Error(`Erlang could not decode: ${reply.subarray(1).toString()}`);
  return reply[0] === 1;
}

async function reencodeInErlang(erl: ErlPort, terms: Buffer[]): Promise<Buffer[]> {
  const reply = await erl.request('b', Buffer.concat(terms.flatMap((t) => [u32(t.length), t])));
  return splitBatch(reply, false);
}

const newestGolden: { release: number; bytes: Record<string, string> } = { release: 0, bytes: {} };

describe.each(runtimes())('codec interop on $label', (rt) => {
  let erl: ErlPort;
  let release = 0;
  beforeAll(async () => {
    erl = await ErlPort.start(rt);
    release = Number(erl.release);
  });
  afterAll(async () => {
    await erl?.close();
  });

  it('golden cases: term_to_binary bytes equal erldist encode', async () => {
    const mismatches: string[] = [];
    const bytesByName: Record<string, string> = {};
    for (const c of goldenCases) {
      const theirs = await erl.request('e', Buffer.from(`${c.erl}.`));
      bytesByName[c.name] = theirs.toString('hex');
      const ours = encode(c.js());
      expect(decode(theirs, { exact: true }), c.name).toStrictEqual(c.js());
      if (c.newestOnly && release < 26) continue;
      if (!ours.equals(theirs))
        mismatches.push(
          `${c.name}: erl ${theirs.toString('hex').slice(0, 80)} ours ${ours.toString('hex').slice(0, 80)}`,
        );
    }
    expect(mismatches).toEqual([]);
    if (release > newestGolden.release) Object.assign(newestGolden, { release, bytes: bytesByName });
  });

  it(`${TERMS_PER_RUNTIME} Erlang-built terms decode and re-encode to =:= terms`, async () => {
    let identical = 0;
    let checked = 0;
    for (let batch = 0; batch < TERMS_PER_RUNTIME / BATCH; batch++) {
      // Odd batches leave out maps, so that their bytes can be compared exactly.
      const mapFree = batch % 2 === 1;
      const terms = await generate(erl, 1000 + batch, BATCH, mapFree ? 1 : 0);
      const verdicts = await Promise.all(
        terms.map(async (theirs) => {
          const ours = encode(decode(theirs, { exact: true }));
          if (mapFree && release >= 26) {
            if (ours.equals(theirs)) identical++;
            else expect(ours.toString('hex')).toBe(theirs.toString('hex'));
          }
          return sameInErlang(erl, theirs, ours);
        }),
      );
      checked += verdicts.length;
      expect(verdicts.every(Boolean)).toBe(true);
    }
    expect(checked).toBe(TERMS_PER_RUNTIME);
    if (release >= 26) expect(identical).toBe(TERMS_PER_RUNTIME / 2);
  });

  it(`${TERMS_PER_RUNTIME} erldist-built terms: binary_to_term gives the expected term`, async () => {
    const gen = new TermGen(release * 7919);
    for (let batch = 0; batch < TERMS_PER_RUNTIME / BATCH; batch++) {
      const terms: Term[] = Array.from({ length: BATCH }, () => gen.term(0, true));
      const ours = terms.map((t) => encode(t));
      const theirs = await reencodeInErlang(erl, ours);
      expect(theirs.length).toBe(BATCH);
      for (let i = 0; i < BATCH; i++) {
        expect(theirs[i].length, 'binary_to_term failed').toBeGreaterThan(0);
        expect(decode(theirs[i], { exact: true })).toStrictEqual(terms[i]);
      }
    }
  });

  it('compressed terms, both ways', async () => {
    const term = Array.from({ length: 200 }, (_, i) => ({ id: i, name: 'abcabcabc' }));
    const plain = encode(term);
    const theirs = await erl.request('c', Buffer.concat([Buffer.from([6]), plain]));
    expect(theirs[1]).toBe(80);
    expect(decode(theirs)).toStrictEqual(term);
    const ours = encode(term, { compressed: 9 });
    expect(ours[1]).toBe(80);
    expect(await sameInErlang(erl, ours, plain)).toBe(true);
  });
});

afterAll(() => {
  // ERLDIST_UPDATE_GOLDEN=1 refreshes test/fixtures/golden.json from the newest runtime that ran.
  if (process.env.ERLDIST_UPDATE_GOLDEN === '1' && newestGolden.release > 0) {
    writeFileSync(
      new URL('../fixtures/golden.json', import.meta.url),
      `${JSON.stringify(newestGolden.bytes, null, 1)}\n`,
    );
  }
});
