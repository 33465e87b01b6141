/**
 * The atom cache on send under a random mix (issue 11): an Outbound writes to a socket that keeps
 * every byte, with nodes (of pids and references) from a pool larger than the cache, messages past
 * the refs limit, large binaries by reference, fragments of several sizes, frames queued behind
 * them, encode errors and every kind of turn of the event loop between sends. The bytes are then read as a peer reads them
 * (one atom cache, reassembly): each destination must get exactly what was sent to it, in order.
 */
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type Control, decodeControl, Op } from '../../src/distribution/control.js';
import { orderKey } from '../../src/distribution/fragment-writer.js';
import { Reassembler } from '../../src/distribution/fragments.js';
import { ATOM_CACHE_SIZE } from '../../src/distribution/header.js';
import { frameMessage } from '../../src/distribution/inbound.js';
import { Outbound } from '../../src/distribution/outbound.js';
import { type Atom, atom, decodeAt, Pid, Reference, type Term, tuple } from '../../src/term/index.js';
import { KeepingSocket } from '../support/keeping-socket.js';

const POOL = Array.from({ length: 4000 }, (_, i) => atom(`pool_${i}_${'x'.repeat(i % 7)}`));
// Payload atoms other than nodes are written out: many nodes fill and evict the cache's slots.
const NODES = Array.from({ length: 3000 }, (_, i) => atom(`node${i}@host${'x'.repeat(i % 5)}`));
const DESTS = Array.from({ length: 6 }, (_, i) => Object.freeze(new Pid(atom('peer@host'), i, 0, 1)));
const FROM = Object.freeze(new Pid(atom('me@host'), 1, 0, 1));
const MFA = Object.freeze([atom('erpc'), atom('execute_call'), 4]) as unknown as [Atom, Atom, number];
const OPTIONS = Object.freeze([atom('monitor')]) as unknown as Term[];

function random(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return Math.floor((s / 0x80000000) * n);
  };
}

function run(seed: number): Promise<{ frames: number }> {
  const ri = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[ri(xs.length)] as T;
  const term = (depth: number): Term => {
    switch (ri(depth > 2 ? 4 : 9)) {
      case 0:
      case 1:
        return pick(POOL);
      case 2:
        return ri(2) === 0;
      case 3:
        return ri(1000);
      case 4:
        return Array.from({ length: ri(8) }, () => term(depth + 1));
      case 5: {
        const o: Record<string, Term> = {};
        for (let i = ri(5); i > 0; i--) o[pick(POOL).name] = term(depth + 1);
        return o;
      }
      case 6:
        return new Pid(pick(NODES), ri(100), 0, 1);
      case 7:
        return tuple(...Array.from({ length: ri(5) }, () => term(depth + 1)));
      default:
        return new Reference(pick(NODES), 1, [ri(1000), 2, 3]);
    }
  };
  const payload = (): Term => {
    const r = ri(100);
    if (r < 5) return [Buffer.alloc(5000 + ri(20000), 0xff), term(0)];
    if (r < 8) return Array.from({ length: 300 + ri(600) }, () => new Pid(pick(NODES), ri(100), 0, 1));
    if (r < 10) return [Buffer.alloc(70000 + ri(100000), 0xfe), pick(POOL)];
    if (r < 12) return Array.from({ length: 3000 }, () => new Reference(pick(NODES), 1, [ri(1000), 2, 3]));
    return term(0);
  };
  return (async () => {
    const socket = new KeepingSocket();
    const stats = { framesOut: 0, bytesOut: 0, ticksOut: 0 };
    const out = new Outbound(socket as never, 'peer@host', {
      stats,
      fragmentSize: ri(5) === 0 ? undefined : pick([1024, 4096, 65536]),
      headers: true,
      atomCacheRefs: true,
      highWaterMark: 1e9,
      maxBuffered: 1e12,
    });
    const sent = new Map<string, Term[]>();
    for (let i = 0; i < 600; i++) {
      const kind = ri(10);
      const control: Control =
        kind < 6
          ? { op: Op.SEND, to: pick(DESTS) }
          : kind < 8
            ? { op: Op.REG_SEND, from: FROM, toName: pick([atom('a'), atom('b'), atom('c')]) }
            : {
                op: Op.SPAWN_REQUEST,
                reqId: new Reference(NODES[ri(3)] as Atom, 1, [i, 0, 0]),
                from: FROM,
                groupLeader: FROM,
                mfa: MFA,
                options: OPTIONS,
              };
      // Now and then an encode error after new atoms: the frame must leave no trace.
      const message = ri(30) === 0 ? ([pick(POOL), () => 1] as unknown as Term) : payload();
      try {
        out.send(control, message);
      } catch (err) {
        expect((err as { code?: string }).code).toBe('ENCODE');
        continue;
      }
      const key = orderKey(control);
      sent.set(key, [...(sent.get(key) ?? []), message]);
      const turn = ri(10);
      if (turn === 0) await new Promise((r) => setImmediate(r));
      else if (turn === 1) await new Promise((r) => process.nextTick(r));
      else if (turn === 2) await Promise.resolve();
      else if (turn === 3) out.flushNow();
    }
    for (let i = 0; i < 100_000 && out.buffered > 0; i++) await new Promise((r) => setImmediate(r));
    expect(out.buffered).toBe(0);

    const cache = new Array<Atom | undefined>(ATOM_CACHE_SIZE).fill(undefined);
    const reassembler = new Reassembler({ maxMessageSize: 1e9, maxBytes: 1e9, timeout: 1e9 });
    const got = new Map<string, Term[]>();
    for (const frame of socket.frames()) {
      const m = frame.length === 0 ? undefined : frameMessage(frame, false, cache, reassembler);
      if (m === undefined) continue;
      const c = decodeAt(m.data, m.pos, { atomCache: m.refs });
      const control = decodeControl(c.term);
      const body = decodeAt(m.data, c.offset, { atomCache: m.refs });
      expect(body.offset).toBe(m.data.length);
      const key = orderKey(control);
      got.set(key, [...(got.get(key) ?? []), body.term]);
    }
    for (const [key, messages] of sent) {
      const received = got.get(key) ?? [];
      expect(received.length).toBe(messages.length);
      // isDeepStrictEqual: toStrictEqual walks large Buffers byte by byte.
      for (const [i, m] of messages.entries()) expect(isDeepStrictEqual(received[i], m), `${key} #${i}`).toBe(true);
    }
    return { frames: stats.framesOut };
  })();
}

describe('atom cache refs under a random mix of sends', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('seed %i: every destination gets what was sent, in order', async (seed) => {
    const { frames } = await run(seed);
    expect(frames).toBeGreaterThan(400);
  });
});
