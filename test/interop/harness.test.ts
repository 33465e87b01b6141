/**
 * Checks the Erlang oracle itself (no dependency on the codec in src/): the term server boots on
 * every runtime, its generator's output decodes and compares equal to itself, re-encodes to the
 * same bytes, and a dying runtime rejects pending requests with its stderr.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErlPort, frame } from '../support/erl-port.js';
import { otpRelease, type Runtime, runtimes } from '../support/runtimes.js';

const NO_MAPS = 1;
const NO_FUNS = 2;

function genPayload(seed: bigint, count: number, flags: number): Buffer {
  const b = Buffer.alloc(13);
  b.writeBigUInt64BE(seed, 0);
  b.writeUInt32BE(count, 8);
  b.writeUInt8(flags, 12);
  return b;
}

/** Splits `<<Count:32, [<<Len:32, Bytes>>]...>>` (or, with count undefined, just the items). */
function splitItems(reply: Buffer, withCount = true): Buffer[] {
  let off = 0;
  let count = Infinity;
  if (withCount) {
    count = reply.readUInt32BE(0);
    off = 4;
  }
  const out: Buffer[] = [];
  while (off < reply.length && out.length < count) {
    const len = reply.readUInt32BE(off);
    out.push(reply.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  expect(off).toBe(reply.length);
  if (withCount) expect(out.length).toBe(count);
  return out;
}

function lenPrefixed(items: Uint8Array[]): Buffer {
  return Buffer.concat(items.map((i) => frame(i)));
}

async function generate(port: ErlPort, seed: bigint, count: number, flags: number): Promise<Buffer[]> {
  return splitItems(await port.request('g', genPayload(seed, count, flags)));
}

describe.each(runtimes())('term server on $label', (rt: Runtime) => {
  let port: ErlPort;

  beforeAll(async () => {
    port = await ErlPort.start(rt);
  });
  afterAll(async () => {
    await port?.close();
  });

  it('reports its OTP release', async () => {
    const v = (await port.request('v', new Uint8Array(0))).toString('latin1');
    expect(v).toMatch(/^\d+$/);
    expect(v).toBe(port.release);
    expect(await otpRelease(rt)).toBe(v);
  });

  it('generated terms are =:= to themselves', async () => {
    const terms = await generate(port, 1n, 200, 0);
    expect(terms.length).toBe(200);
    const replies = await Promise.all(terms.map((t) => port.request('q', Buffer.concat([frame(t), t]))));
    for (const [i, r] of replies.entries()) {
      expect(r.toString('latin1'), `term #${i}`).toBe('\x01');
    }
  });

  it('generation is deterministic for map-free, fun-free terms of one runtime', async () => {
    // Local pids/refs/ports differ between calls; compare sizes only.
    const a = await generate(port, 99n, 50, NO_MAPS | NO_FUNS);
    const b = await generate(port, 99n, 50, NO_MAPS | NO_FUNS);
    expect(a.map((x) => x.length)).toEqual(b.map((x) => x.length));
  });

  it('binary_to_term/term_to_binary round-trips to the same bytes (no maps)', async () => {
    const terms = await generate(port, 2n, 200, NO_MAPS);
    const back = splitItems(await port.request('b', lenPrefixed(terms)), false);
    expect(back.length).toBe(terms.length);
    for (const [i, t] of terms.entries()) {
      expect(back[i]!.equals(t), `term #${i}`).toBe(true);
    }
  });

  it('answers b with Len = 0 and q with 2 for undecodable input', async () => {
    const bad = Buffer.from([131, 255]);
    const back = await port.request('b', lenPrefixed([bad, Buffer.from([131, 97, 5])]));
    expect([...back]).toEqual([0, 0, 0, 0, 0, 0, 0, 3, 131, 97, 5]);
    const q = await port.request('q', Buffer.concat([frame(bad), Buffer.from([131, 97, 5])]));
    expect(q[0]).toBe(2);
    expect(q.subarray(1).toString('utf8')).toContain('badarg');
  });

  it('evaluates expressions (e) and compresses (c)', async () => {
    const ok = await port.request('e', Buffer.from('lists:seq(1, 3).'));
    expect([...ok]).toEqual([131, 107, 0, 3, 1, 2, 3]);
    const err = await port.request('e', Buffer.from('1 + a.'));
    // {error, error, badarith}
    expect(err.includes(Buffer.from('badarith'))).toBe(true);
    const big = await port.request('e', Buffer.from('lists:duplicate(500, 7).'));
    const z = await port.request('c', Buffer.concat([Buffer.from([9]), big]));
    expect(z[1]).toBe(80); // COMPRESSED
    const same = await port.request('q', Buffer.concat([frame(z), big]));
    expect(same[0]).toBe(1);
  });

  it('generates 1000 terms quickly', async () => {
    const t0 = performance.now();
    const terms = await generate(port, 3n, 1000, 0);
    const ms = performance.now() - t0;
    expect(terms.length).toBe(1000);
    console.log(
      `[${rt.label}] OTP ${port.release}: g 1000 terms in ${ms.toFixed(0)} ms, ` +
        `${terms.reduce((n, t) => n + t.length, 0)} bytes`,
    );
    expect(ms).toBeLessThan(10_000);
  });

  it('rejects pending requests with stderr when the runtime dies', async () => {
    const doomed = await ErlPort.start(rt);
    try {
      const dying = doomed.request('e', Buffer.from('io:format(standard_error, "bye~n", []), erlang:halt(7).'));
      await expect(dying).rejects.toThrow(/code 7[\s\S]*bye/);
      await expect(doomed.request('v')).rejects.toThrow(/code 7/);
    } finally {
      await doomed.close();
    }
  });
});
