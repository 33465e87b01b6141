/**
 * Issue 11's decode budget against a peer that knows the cookie: a 65 KB compressed frame that
 * inflates to 64 MiB of `[]` elements, and a 128 MiB uncompressed frame of `[]` elements (the
 * largest frame a node accepts by default). The node under attack runs in a child process whose V8
 * heap is capped near the budget: each bomb must end in DECODE (the message dropped), the heap must
 * stay under the budget plus a small constant, and a real node connected alongside keeps answering.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DFLAG, DFLAG_ERLDIST } from '../../src/distribution/flags.js';
import { atom, encode, Pid, tuple } from '../../src/index.js';
import { type FakePeer, startFakePeer } from '../support/fake-peer.js';
import { randomCookie, startEpmd, startErlangNode, stopAll } from '../support/nodes.js';
import { runtimes } from '../support/runtimes.js';

const MiB = 1024 * 1024;
/** The default decode budget (README: Limits). */
const BUDGET = 64 * MiB;
const MAX_FRAME = 128 * MiB;
const HOSTILE = 'hostile@127.0.0.1';

/** `112, Control, 131, Payload` (PASS_THROUGH: no atom cache, no fragments agreed). */
function regSend(payload: Buffer): Buffer {
  const control = encode(tuple(6, new Pid(atom(HOSTILE), 1, 0, 1234), atom(''), atom('victim')));
  const length = 1 + control.length + 1 + payload.length;
  const head = Buffer.alloc(5);
  head.writeUInt32BE(length);
  head[4] = 112;
  return Buffer.concat([head, control, Buffer.from([131]), payload]);
}

/** LIST_EXT of `n` NIL_EXT elements with a NIL tail: n + 6 bytes. */
function nilList(n: number): Buffer {
  const list = Buffer.alloc(n + 6, 106);
  list[0] = 108;
  list.writeUInt32BE(n, 1);
  return list;
}

function compressedBomb(): Buffer {
  const inner = nilList(64 * MiB - 6);
  const head = Buffer.alloc(5);
  head[0] = 80;
  head.writeUInt32BE(inner.length, 1);
  return regSend(Buffer.concat([head, deflateSync(inner, { level: 9 })]));
}

function largestFrame(): Buffer {
  const overhead = regSend(Buffer.alloc(0)).length - 4;
  return regSend(nilList(MAX_FRAME - overhead - 6));
}

describe.each(runtimes())('decode bombs from a peer that knows the cookie, next to $label', (rt) => {
  let hostile: FakePeer | undefined;
  afterAll(async () => {
    await hostile?.close();
    await stopAll();
  });

  it('each bomb is DECODE, the heap stays under the budget, the real node still answers', async () => {
    const cookie = randomCookie();
    const epmdPort = (await startEpmd(rt)).port;
    const real = await startErlangNode(rt, { epmdPort, cookie });
    const bombs = [compressedBomb(), largestFrame()];
    expect(bombs[0].length).toBeLessThan(100 * 1024);
    expect(bombs[1].length - 4).toBe(MAX_FRAME);
    hostile = await startFakePeer(
      {
        kind: 'handshake',
        cookie,
        flags: DFLAG_ERLDIST & ~DFLAG.DIST_HDR_ATOM_CACHE & ~DFLAG.FRAGMENTS,
        after: (socket) => {
          for (const bomb of bombs) socket.write(bomb);
        },
      },
      HOSTILE,
    );
    const script = join(import.meta.dirname, '../support/decode-victim.mjs');
    const dist = join(import.meta.dirname, '../../dist/index.js');
    // Old space capped at the budget plus 96 MiB: spending what the bombs ask for would abort it.
    const args = [`--max-old-space-size=${BUDGET / MiB + 96}`, script, dist, real.name];
    args.push(`${HOSTILE}:${hostile.port}`, cookie, String(epmdPort), String(bombs.length));
    const { stdout } = await promisify(execFile)(process.execPath, args, { timeout: 90_000 });
    const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
    console.log(`${rt.label}: ${JSON.stringify(result)}`);
    expect(result.decodes).toBe(bombs.length);
    expect(result.events.filter((e: string) => e.endsWith(':DECODE'))).toHaveLength(bombs.length);
    expect(result.events.some((e: string) => e.startsWith('nodedown:real'))).toBe(false);
    expect(result.delivered).toBe(0);
    expect(result.real).toBe(real.name);
    expect(result.peak - result.before).toBeLessThan(BUDGET + 32 * MiB);
  }, 120_000);
});
