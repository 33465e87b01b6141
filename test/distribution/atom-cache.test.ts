/**
 * The atom cache on send (issue 11): the headers OutputAtomCache writes read back with the reader
 * of received headers, entries are committed only with their frame, and frames too long for refs,
 * or whose encoding fails, leave the cache as the peer knows it. Against real nodes:
 * test/interop/atom-cache.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { OutputAtomCache } from '../../src/distribution/atom-cache.js';
import { type Control, decodeControl, Op } from '../../src/distribution/control.js';
import { ATOM_CACHE_SIZE, readDistHeader } from '../../src/distribution/header.js';
import { Outbound } from '../../src/distribution/outbound.js';
import { type Atom, atom, decodeAt, type ErldistError, type Term, tuple } from '../../src/index.js';
import { Pid, Reference, TermEncoder } from '../../src/term/index.js';
import { KeepingSocket } from '../support/keeping-socket.js';
import { nodePair } from '../support/pair.js';

/**
 * Writes `terms` after a header as Outbound does, all their atoms as refs (a control term) or only
 * nodes (a payload), and ends the frame: the encoder, and what `finish` returned.
 */
function write(cache: OutputAtomCache, terms: Term[], all = true, controlRefs = 0) {
  const enc = new TermEncoder(64, { referenceFrom: 4096 });
  enc.u8(131);
  enc.u8(68);
  enc.u8(0);
  const at = enc.pos;
  cache.begin(enc.length);
  enc.atomRefs = cache;
  enc.allAtomRefs = all;
  for (const t of terms) enc.writeTerm(t);
  enc.atomRefs = undefined;
  enc.allAtomRefs = false;
  return { enc, moved: cache.finish(enc, at, controlRefs) };
}

/** A frame's bytes, as `write` makes it. */
const frame = (cache: OutputAtomCache, terms: Term[], all = true): Buffer =>
  Buffer.concat(write(cache, terms, all).enc.segments());

/** Reads a frame as the peer would, with its copy of the cache. */
function read(bytes: Buffer, mirror: (Atom | undefined)[]): { refs: Atom[]; terms: Term[]; headerLength: number } {
  const header = readDistHeader(bytes, mirror);
  const terms: Term[] = [];
  let pos = header.pos;
  while (pos < bytes.length) {
    const r = decodeAt(bytes, pos, { atomCache: header.refs, exact: true });
    terms.push(r.term);
    pos = r.offset;
  }
  return { refs: header.refs, terms, headerLength: header.pos };
}

const atoms = (prefix: string, n: number): Atom[] => Array.from({ length: n }, (_, i) => atom(`${prefix}${i}`));
const pids = (prefix: string, n: number): Pid[] =>
  Array.from({ length: n }, (_, i) => new Pid(atom(`${prefix}_${i}@somewhere`), 1, 0, 1));

describe('OutputAtomCache', () => {
  it('names each atom once a frame; known atoms go without their text the next time', () => {
    const cache = new OutputAtomCache();
    const mirror = new Array<Atom | undefined>(ATOM_CACHE_SIZE).fill(undefined);
    const [a, b, c, d] = [atom('alpha'), atom('beta'), atom('gamma'), atom('delta')];
    const first = read(frame(cache, [tuple(a, b, a), [c, true, false], { key: a }]), mirror);
    expect(first.terms).toStrictEqual([tuple(a, b, a), [c, true, false], { key: a }]);
    // An object's keys are written out.
    expect(first.refs).toStrictEqual([a, b, c, atom('true'), atom('false')]);
    const second = read(frame(cache, [[c, d, a]]), mirror);
    expect(second.terms).toStrictEqual([[c, d, a]]);
    expect(second.refs).toStrictEqual([c, d, a]);
    // Three refs: two flag bytes, a slot byte each, and only `delta`'s text (length byte + 5).
    expect(second.headerLength).toBe(3 + 2 + 3 + 1 + 5);
  });

  it('at most 255 refs and one atom a slot per frame; the rest are written as text', () => {
    const cache = new OutputAtomCache();
    const mirror = new Array<Atom | undefined>(ATOM_CACHE_SIZE).fill(undefined);
    const many = atoms('many_', 600);
    cache.begin(0);
    const indexes = many.map((x) => cache.ref(x, 0, 0));
    const named = indexes.filter((i) => i >= 0);
    expect(named).toStrictEqual(named.map((_, i) => i));
    expect(named.length).toBe(255);
    // Some of the first 255 distinct atoms shared a slot with an earlier one.
    expect(indexes.indexOf(254)).toBeGreaterThan(254);
    cache.abort();
    for (let round = 0; round < 3; round++) {
      const got = read(frame(cache, [many]), mirror);
      expect(got.terms).toStrictEqual([many]);
      expect(got.refs.length).toBe(255);
    }
  });

  it('atoms of more than 255 bytes set LongAtoms: two length bytes for every new entry', () => {
    const cache = new OutputAtomCache();
    const mirror = new Array<Atom | undefined>(ATOM_CACHE_SIZE).fill(undefined);
    const long = atom('ж'.repeat(200));
    const msg = [atom('x'), long, atom('y')];
    expect(read(frame(cache, [msg]), mirror).terms).toStrictEqual([msg]);
    expect(read(frame(cache, [[...msg, atom('z')]]), mirror).terms).toStrictEqual([[...msg, atom('z')]]);
  });

  it('abort forgets the frame: its atoms are new again in the next one', () => {
    const cache = new OutputAtomCache();
    const mirror = new Array<Atom | undefined>(ATOM_CACHE_SIZE).fill(undefined);
    cache.begin(0);
    cache.ref(atom('never_sent'), 0, 0);
    cache.abort();
    // The mirror has never seen it: a ref without text would throw here.
    expect(read(frame(cache, [atom('never_sent')]), mirror).terms).toStrictEqual([atom('never_sent')]);
  });

  it('in a payload (not allAtomRefs) only the nodes of pids, references and ports are refs', () => {
    const cache = new OutputAtomCache();
    const mirror = new Array<Atom | undefined>(ATOM_CACHE_SIZE).fill(undefined);
    const node = atom('elsewhere@host');
    const msg = [atom('plain'), true, { key: 1 }, new Pid(node, 1, 0, 1), new Reference(node, 1, [1, 2, 3])];
    const got = read(frame(cache, [msg], false), mirror);
    expect(got.refs).toStrictEqual([node]);
    expect(got.terms).toStrictEqual([msg]);
  });

  it('atoms past the first 16 KiB of a frame are written as text', () => {
    const cache = new OutputAtomCache();
    const mirror = new Array<Atom | undefined>(ATOM_CACHE_SIZE).fill(undefined);
    const msg = [atom('early'), 'y'.repeat(17 * 1024), atom('late')];
    const got = read(frame(cache, [msg]), mirror);
    expect(got.terms).toStrictEqual([msg]);
    expect(got.refs).toStrictEqual([atom('early')]);
  });

  it('a frame that needs fragments has its refs written out in place, binaries by reference moved with them', () => {
    const cache = new OutputAtomCache(2000);
    const mirror = new Array<Atom | undefined>(ATOM_CACHE_SIZE).fill(undefined);
    const big = Buffer.alloc(5000, 0xff);
    // Refs before and after a binary written by reference, and 600 atoms: past 2,000 bytes.
    const msg = [atom('before_it'), big, atom('after_it'), ...atoms('spelled_', 600), atom('before_it')];
    const { enc, moved } = write(cache, [msg], true, 1);
    // The first ref, `before_it`: its text (11 bytes) in place of a 2-byte ref.
    expect(moved).toBe(9);
    expect(cache.headerBytes).toBe(0);
    const bytes = Buffer.concat(enc.segments());
    // No refs: every atom in text, and the header still `131, 68, 0`.
    const got = read(bytes, mirror);
    expect(got.refs).toStrictEqual([]);
    expect(got.terms).toStrictEqual([msg]);
    // Nothing was committed: the same atoms are new in the next frame.
    expect(read(frame(cache, [[atom('before_it'), atom('after_it')]]), mirror).terms).toStrictEqual([
      [atom('before_it'), atom('after_it')],
    ]);
  });
});

describe('atom cache refs between two erldist nodes', () => {
  it('frames whose encoding fails, and frames with refs written out, leave the cache in step', async () => {
    const p = await nodePair({ a: { fragmentSize: 16 * 1024 } });
    try {
      const box = p.b.spawn();
      const fresh = pids('before_failure', 10);
      const bad = [...fresh, () => 1] as unknown as Term;
      expect(() => p.ab.send(box.pid, bad)).toThrow(expect.objectContaining({ code: 'ENCODE' }) as ErldistError);
      // Past the fragment size: the refs of its first 16 KiB are written out (those of the failed
      // frame, had they been kept, would be written out at positions that are not refs).
      const big = pids('a_long_frame_of_nodes', 2000);
      p.ab.send(box.pid, big);
      // Had the failed frame's entries been committed, these would be refs to slots b never filled;
      // big[0] had a ref before it was written out: kept, it would be one too.
      p.ab.send(box.pid, [...fresh, big[0] as Pid]);
      expect(await box.receive({ timeout: 5000 })).toStrictEqual(big);
      expect(await box.receive({ timeout: 5000 })).toStrictEqual([...fresh, big[0]]);
      expect(p.b.stats.dropped).toBe(0);
    } finally {
      await p.close();
    }
  });

  it('a header of long new nodes counts against the fragment size: such a frame goes out in fragments', async () => {
    // b takes frames of at most 6 KiB; a sends fragments of 4 KiB. Twenty pids of new nodes of
    // 400 bytes each make a header of 8 KiB in front of 300 bytes of terms.
    const p = await nodePair({ a: { fragmentSize: 4096 }, b: { maxFrameSize: 6 * 1024 } });
    try {
      const box = p.b.spawn();
      const long = Array.from({ length: 20 }, (_, i) => new Pid(atom(`${i}@`.padEnd(200, 'ж')), 1, 0, 1));
      p.ab.send(box.pid, long);
      expect(await box.receive({ timeout: 5000 })).toStrictEqual(long);
      p.ab.send(box.pid, [long[0], atom('after')]);
      expect(await box.receive({ timeout: 5000 })).toStrictEqual([long[0], atom('after')]);
    } finally {
      await p.close();
    }
  });
});

describe('a control term longer than a fragment', () => {
  it('with its refs written out, the first fragment still holds it whole', async () => {
    const socket = new KeepingSocket();
    const out = new Outbound(socket as never, 'peer@host', {
      stats: { framesOut: 0, bytesOut: 0, ticksOut: 0 },
      fragmentSize: 1024,
      headers: true,
      atomCacheRefs: true,
      highWaterMark: 1e9,
      maxBuffered: 1e12,
    });
    const from = new Pid(atom('me@host'), 1, 0, 1);
    // 300 atoms in the options: 2 bytes each as refs, about 15 in text; then a payload of 4 KiB.
    const control: Control = {
      op: Op.SPAWN_REQUEST,
      reqId: new Reference(atom('me@host'), 1, [1, 2, 3]),
      from,
      groupLeader: from,
      mfa: [atom('m'), atom('f'), 1],
      options: atoms('option_', 300),
    };
    out.send(control, ['x'.repeat(4096)]);
    for (let i = 0; i < 100 && out.buffered > 0; i++) await new Promise((r) => setImmediate(r));
    const [first] = socket.frames();
    // `131, 69, SeqId, FragId, 0`, then the control term: decodable from this frame alone.
    expect([first?.[0], first?.[1], first?.[18]]).toStrictEqual([131, 69, 0]);
    const c = decodeAt(first as Buffer, 19);
    expect(decodeControl(c.term)).toStrictEqual(control);
  });
});
