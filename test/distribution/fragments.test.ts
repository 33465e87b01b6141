/**
 * DFLAG_FRAGMENTS without sockets: the fragments FragmentWriter cuts (golden bytes), and what
 * Reassembler makes of fragments in order, interleaved, out of order, too large or abandoned.
 */
import { describe, expect, it } from 'vitest';
import { Op } from '../../src/distribution/control.js';
import { FragmentWriter, orderKey } from '../../src/distribution/fragment-writer.js';
import { type PartialMessage, Reassembler, type ReassemblyOptions } from '../../src/distribution/fragments.js';
import { FrameParser } from '../../src/distribution/framing.js';
import { readDistHeader } from '../../src/distribution/header.js';
import { FragmentStream, frameMessage, isFragment } from '../../src/distribution/inbound.js';
import { type Atom, atom, encode, Pid, tuple } from '../../src/index.js';
import { TermEncoder } from '../../src/term/index.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const MiB = 1024 * 1024;
const options: ReassemblyOptions = { maxMessageSize: 16 * MiB, maxBytes: 32 * MiB, timeout: 1000 };

/** All frames the writer has, as one buffer each. */
function drain(writer: FragmentWriter): Buffer[] {
  const frames: Buffer[] = [];
  for (let parts = writer.next(); parts !== undefined; parts = writer.next()) frames.push(Buffer.concat(parts));
  return frames;
}

describe('FragmentWriter', () => {
  it('cuts a message into fragments, FragId counting down to 1 (golden bytes)', () => {
    const writer = new FragmentWriter(4);
    expect(writer.fragments(4)).toBe(false);
    expect(writer.fragments(5)).toBe(true);
    writer.pushMessage('k', hex('01020304 05060708 090a'), 2);
    expect(writer.fragmentedBytes).toBe(10);
    expect(drain(writer)).toStrictEqual([
      hex('00000017 8345 0000000000000001 0000000000000003 00 01020304'),
      hex('00000016 8346 0000000000000001 0000000000000002 05060708'),
      hex('00000014 8346 0000000000000001 0000000000000001 090a'),
    ]);
    expect(writer.idle).toBe(true);
    expect(writer.fragmentedBytes).toBe(0);
    expect(writer.fragmentsOut).toBe(3);
  });

  it('keeps the whole control term in the first fragment', () => {
    const writer = new FragmentWriter(4);
    writer.pushMessage('k', hex('0102030405 0607'), 5);
    expect(drain(writer)).toStrictEqual([
      hex('00000018 8345 0000000000000001 0000000000000002 00 0102030405'),
      hex('00000014 8346 0000000000000001 0000000000000001 0607'),
    ]);
  });

  it('interleaves destinations round robin; a frame queued behind a message to its destination waits for it', () => {
    const writer = new FragmentWriter(2);
    writer.pushMessage('a', hex('aaaaaaaaaaaa'), 1);
    writer.pushFrame('a', hex('0000000101'));
    writer.pushMessage('b', hex('bbbbbb'), 1);
    expect(writer.busy('a')).toBe(true);
    expect(writer.busy('c')).toBe(false);
    expect(writer.queuedBytes).toBe(5);
    const seqOf = (f: Buffer) => (f.length > 5 ? `${f.readBigUInt64BE(6)}/${f.readBigUInt64BE(14)}` : 'frame');
    expect(drain(writer).map(seqOf)).toStrictEqual(['1/3', '2/2', '1/2', '2/1', '1/1', 'frame']);
  });

  it('orders by destination: a message and a signal to one process keep their order', () => {
    const p = (id: number) => new Pid(atom('n@h'), id, 0, 1);
    expect(orderKey({ op: Op.SEND, to: p(2) })).not.toBe(orderKey({ op: Op.SEND, to: p(3) }));
    expect(orderKey({ op: Op.SEND, to: p(2) })).toBe(
      orderKey({ op: Op.EXIT2, from: p(1), to: p(2), reason: atom('kill') }),
    );
    expect(orderKey({ op: Op.REG_SEND, from: p(1), toName: atom('x') })).toBe(
      orderKey({ op: Op.REG_SEND, from: p(4), toName: atom('x') }),
    );
    expect(orderKey({ op: Op.REG_SEND, from: p(1), toName: atom('x') })).not.toBe(
      orderKey({ op: Op.REG_SEND, from: p(1), toName: atom('net_kernel') }),
    );
  });

  it('what the writer cuts, the reassembler joins', () => {
    const writer = new FragmentWriter(1000);
    const data = Buffer.alloc(10_500, 7);
    data[0] = 1;
    writer.pushMessage('k', data, 10);
    const r = new Reassembler(options);
    let out: Buffer | undefined;
    for (const frame of drain(writer)) {
      const body = frame.subarray(4);
      const h = readDistHeader(body, []);
      const rest = body.subarray(h.pos);
      const m = h.tag === 69 ? r.first(h.seqId, h.fragId, h.refs, rest, 0) : r.cont(h.seqId, h.fragId, rest, 0);
      if (m) out = m.data;
    }
    expect(out).toStrictEqual(data);
    expect(r.stats.copiedBytes).toBe(data.length);
    expect(r.held).toBe(0);
  });

  it('cuts a message in segments (an encoder with referenceFrom) into the same fragments, without joining it', () => {
    const payload = tuple(atom('data'), Buffer.alloc(MiB, 9), Buffer.alloc(20_000, 8), 'tail');
    const control = encode(tuple(6, atom('from'), atom('inbox'))).subarray(1);
    const enc = new TermEncoder(256, { referenceFrom: 16 * 1024 });
    enc.raw(control);
    enc.writeTerm(payload);
    const segments = enc.segments();
    const joined = Buffer.concat(segments);
    // Buffer.equals: toStrictEqual walks 1 MiB byte by byte.
    expect(joined.equals(Buffer.concat([control, encode(payload).subarray(1)]))).toBe(true);
    const before = new FragmentWriter(64 * 1024);
    before.pushMessage('k', joined, control.length);
    const after = new FragmentWriter(64 * 1024);
    after.pushMessage('k', segments, control.length);
    expect(after.fragmentedBytes).toBe(joined.length);
    const big = segments.find((s) => s.length === MiB) as Buffer;
    let views = 0;
    for (let parts = after.next(); parts !== undefined; parts = after.next()) {
      const old = before.next() as Buffer[];
      if (!Buffer.concat(parts).equals(Buffer.concat(old))) expect.fail('a fragment differs');
      // The 1 MiB binary goes out as views of itself.
      views += parts.filter((p) => p.buffer === big.buffer).length;
    }
    expect(before.next()).toBeUndefined();
    expect(views).toBeGreaterThanOrEqual(16);
    expect(after.fragmentedBytes).toBe(0);
    expect(after.fragmentsOut).toBe(before.fragmentsOut);
  });

  it('queues a frame in segments behind a fragmented message', () => {
    const writer = new FragmentWriter(2);
    writer.pushMessage('a', [hex('aa'), hex(''), hex('aaaa')], 1);
    writer.pushFrame('a', [hex('00000002'), hex('0102')]);
    expect(writer.queuedBytes).toBe(6);
    expect(drain(writer)).toStrictEqual([
      hex('00000015 8345 0000000000000001 0000000000000002 00 aaaa'),
      hex('00000013 8346 0000000000000001 0000000000000001 aa'),
      hex('00000002 0102'),
    ]);
    expect(writer.queuedBytes).toBe(0);
  });
});

describe('Reassembler', () => {
  it('a single fragment (FragId 1) is the message itself, no copy', () => {
    const r = new Reassembler(options);
    const data = hex('0102');
    expect(r.first(5n, 1n, [], data, 0)?.data).toBe(data);
    expect(r.stats.copiedBytes).toBe(0);
  });

  it('interleaved sequences: each byte copied once, memory released when done', () => {
    const r = new Reassembler(options);
    expect(r.first(1n, 3n, [atom('a')], hex('0a0a'), 0)).toBeUndefined();
    expect(r.first(2n, 2n, [atom('b')], hex('0b0b'), 0)).toBeUndefined();
    expect(r.pending).toBe(2);
    expect(r.held).toBe(6 + 4);
    expect(r.cont(1n, 2n, hex('1a1a'), 1)).toBeUndefined();
    const b = r.cont(2n, 1n, hex('1b'), 1);
    expect(b?.data).toStrictEqual(hex('0b0b1b'));
    expect(b?.refs).toStrictEqual([atom('b')]);
    const a = r.cont(1n, 1n, hex('2a2a'), 2);
    expect(a?.data).toStrictEqual(hex('0a0a1a1a2a2a'));
    expect(r.stats.copiedBytes).toBe(9);
    expect(r.stats.grown).toBe(0);
    expect(r.held).toBe(0);
    expect(r.pending).toBe(0);
  });

  it('fragments larger than the first one grow the buffer (counted)', () => {
    const r = new Reassembler(options);
    r.first(1n, 2n, [], hex('01'), 0);
    expect(r.cont(1n, 1n, hex('020304'), 0)?.data).toStrictEqual(hex('01020304'));
    expect(r.stats.grown).toBe(1);
    expect(r.stats.copiedBytes).toBe(5);
  });

  it('the last fragment reserves what recent last fragments needed (whole fragments for long messages until steady)', () => {
    const r = new Reassembler(options);
    const K = 8192;
    let seq = 0n;
    /** Joins a message of `n` fragments of K bytes and a last one of `tail`; returns what its start reserved. */
    const join = (n: number, tail: number): number => {
      seq++;
      r.first(seq, BigInt(n), [], Buffer.alloc(K, 1), 0);
      const reserved = r.held;
      for (let f = n - 1; f > 1; f--) r.cont(seq, BigInt(f), Buffer.alloc(K, 2), 0);
      const whole = r.cont(seq, 1n, Buffer.alloc(tail, 3), 0);
      expect(whole?.data.length).toBe((n - 1) * K + tail);
      expect(whole?.data[whole.data.length - 1]).toBe(3);
      expect(r.held).toBe(0);
      return reserved;
    };
    expect(join(2, 100)).toBe(K + 4096); // nothing learned yet: TAIL
    expect(join(2, 100)).toBe(K + 128); // the last one's 100 bytes, rounded up
    expect(r.stats.grown).toBe(0);
    expect(join(2, 1000)).toBe(K + 128); // longer: grows once...
    expect(r.stats.grown).toBe(1);
    expect(join(2, 100)).toBe(K + 1024); // ...and the longest of the recent ones is reserved
    // Long messages reserve a whole last fragment until the recent last fragments are steady.
    expect(join(6, 100)).toBe(6 * K);
    for (let i = 0; i < 8; i++) join(2, 100);
    expect(join(6, 100)).toBe(5 * K + 128 + 4096);
    expect(r.stats.grown).toBe(1);
  });

  it.each([
    ['a continuation of an unknown sequence', (r: Reassembler) => r.cont(9n, 1n, hex('00'), 0)],
    ['a FragId out of order', (r: Reassembler) => r.cont(1n, 1n, hex('00'), 0)],
    ['a repeated FragId', (r: Reassembler) => r.cont(1n, 3n, hex('00'), 0)],
    ['a sequence started twice', (r: Reassembler) => r.first(1n, 2n, [], hex('00'), 0)],
  ])('%s is PROTOCOL', (_, bad) => {
    const r = new Reassembler(options);
    r.first(1n, 3n, [], hex('00'), 0);
    expect(() => bad(r)).toThrow(expect.objectContaining({ code: 'PROTOCOL' }));
  });

  it('FragId 0 in a header is PROTOCOL', () => {
    const frame = hex('8346 0000000000000001 0000000000000000');
    expect(() => readDistHeader(frame, [])).toThrow(expect.objectContaining({ code: 'PROTOCOL' }));
    expect(() => readDistHeader(hex('8345 0000000000000001 0000000000000002 00'), [], false)).toThrow(
      expect.objectContaining({ code: 'PROTOCOL' }),
    );
  });

  it('more than maxMessageSize in one message, or maxBytes held in all, is PROTOCOL', () => {
    const small = new Reassembler({ maxMessageSize: 10, maxBytes: 15, timeout: 1000 });
    small.first(1n, 2n, [], Buffer.alloc(6), 0);
    expect(() => small.cont(1n, 1n, Buffer.alloc(5), 0)).toThrow(/maxMessageSize/);
    const r = new Reassembler({ maxMessageSize: 10, maxBytes: 15, timeout: 1000 });
    r.first(1n, 2n, [], Buffer.alloc(5), 0); // reserves 10
    r.first(2n, 9n, [], Buffer.alloc(3), 0); // reserves what is left: 5
    expect(r.held).toBe(15);
    expect(() => r.cont(2n, 8n, Buffer.alloc(3), 0)).toThrow(/maxReassemblyBytes/);
    expect(() => r.first(3n, 2n, [], Buffer.alloc(1), 0)).toThrow(/maxReassemblyBytes/);
  });

  it('a claimed FragId count reserves no more than the limits', () => {
    const r = new Reassembler({ maxMessageSize: 100, maxBytes: 1000, timeout: 1000 });
    r.first(1n, 0xffffffffffffffffn, [], Buffer.alloc(10), 0);
    expect(r.held).toBe(100);
  });

  it('an abandoned sequence is freed after the timeout; its late fragments are dropped', () => {
    const r = new Reassembler(options);
    r.first(1n, 4n, [], Buffer.alloc(1000), 0);
    r.first(2n, 2n, [], Buffer.alloc(1000), 0);
    r.cont(1n, 3n, Buffer.alloc(1000), 500);
    expect(r.sweep(999)).toBe(0);
    expect(r.sweep(1000)).toBe(1); // sequence 2: nothing since 0
    expect(r.pending).toBe(1);
    expect(r.held).toBe(4000);
    expect(r.sweep(1500)).toBe(1);
    expect(r.held).toBe(0);
    expect(r.stats.expired).toBe(2);
    // Late fragments of a freed sequence, in order, are dropped; out of order still PROTOCOL.
    expect(r.cont(2n, 1n, Buffer.alloc(10), 2000)).toBeUndefined();
    expect(r.cont(1n, 2n, Buffer.alloc(10), 2000)).toBeUndefined();
    expect(() => r.cont(1n, 2n, Buffer.alloc(10), 2000)).toThrow(/expected 1/);
    expect(() => r.cont(2n, 1n, Buffer.alloc(10), 2000)).toThrow(/unknown sequence/);
    expect(r.held).toBe(0);
  });

  it('bytes of a fragment streaming in keep its sequence alive; one freed while a fragment streams is dropped once', () => {
    const r = new Reassembler({ ...options, timeout: 1000 });
    const seq = r.firstBegin(1n, 3n, [], 10, 0);
    r.contPiece(seq, Buffer.alloc(5), 900);
    expect(r.sweep(1500)).toBe(0); // a piece at 900 was news
    r.contPiece(seq, Buffer.alloc(5), 1000);
    expect(r.contEnd(1n, seq, 3n)).toBeUndefined();
    const held = r.held;
    expect(held).toBeGreaterThanOrEqual(10);
    const mid = r.contBegin(1n, 2n, 1100, 10) as PartialMessage;
    r.contPiece(mid, Buffer.alloc(4), 1200);
    expect(r.sweep(2200)).toBe(1); // freed while fragment 2 streams
    expect(r.held).toBe(0);
    r.contPiece(mid, Buffer.alloc(6), 2300); // the rest of fragment 2 still arrives
    expect(r.contEnd(1n, mid, 2n)).toBeUndefined();
    expect(r.held).toBe(0);
    // Its last fragment is a late one, dropped; the bound still counts from zero.
    expect(r.cont(1n, 1n, Buffer.alloc(3), 2400)).toBeUndefined();
    expect(r.held).toBe(0);
    expect(r.pending).toBe(0);
    const last = r.firstBegin(1n, 2n, [], 10, 2500);
    r.contPiece(last, Buffer.alloc(10), 2500);
    r.contEnd(1n, last, 2n);
    const tail = r.contBegin(1n, 1n, 2600, 2) as PartialMessage;
    expect(r.sweep(3700)).toBe(1); // freed while its last fragment streams
    r.contPiece(tail, Buffer.alloc(2), 3800);
    expect(r.contEnd(1n, tail, 1n)).toBeUndefined();
    expect(r.held).toBe(0);
    expect(r.stats.expired).toBe(2);
  });
});

describe('fragments streamed from the frame parser (FragmentStream)', () => {
  /** A 300-byte message in three fragments; the first's header makes a new atom cache entry. */
  function fragmentFrames(seq: number, data: Buffer): Buffer {
    const u64 = (n: number) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(n));
      return b;
    };
    const frame = (body: Buffer) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(body.length);
      return Buffer.concat([len, body]);
    };
    // NumRefs 1, flags 0x08 (new entry in segment 0; short atoms), InternalIx 5, "foo".
    const refs = Buffer.from([1, 0x08, 5, 3, ...Buffer.from('foo')]);
    return Buffer.concat([
      frame(Buffer.concat([Buffer.from([131, 69]), u64(seq), u64(3), refs, data.subarray(0, 100)])),
      frame(Buffer.concat([Buffer.from([131, 70]), u64(seq), u64(2), data.subarray(100, 200)])),
      frame(Buffer.concat([Buffer.from([131, 70]), u64(seq), u64(1), data.subarray(200)])),
    ]);
  }

  it('whatever the socket chunks, each message arrives whole, its header atoms read once', () => {
    const data = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
    const input = Buffer.concat([fragmentFrames(7, data), fragmentFrames(8, data)]);
    for (const size of [1, 2, 3, 5, 7, 16, 25, 26, 64, 1000]) {
      const cache = new Array<Atom | undefined>(2048).fill(undefined);
      const reassembler = new Reassembler(options);
      const stream = new FragmentStream(reassembler, cache);
      const got: Buffer[] = [];
      const take = (m: { data: Buffer; refs: Atom[] | undefined } | undefined) => {
        if (m === undefined) return;
        expect(m.refs).toStrictEqual([atom('foo')]);
        got.push(Buffer.from(m.data));
      };
      const parser = new FrameParser(
        1 << 20,
        (frame, transient) => take(frameMessage(frame, transient, cache, reassembler)),
        () => {},
        { wants: isFragment, piece: (b, first, last, length) => take(stream.piece(b, first, last, length)) },
      );
      for (let at = 0; at < input.length; at += size) parser.push(input.subarray(at, at + size), true);
      expect(got.map((m) => m.equals(data))).toStrictEqual([true, true]);
      expect(cache[5]).toBe(atom('foo'));
      expect(reassembler.summary()).toMatchObject({ held: 0, pending: 0 });
    }
  });
});

describe('reassembly buffer sizing', () => {
  it('a message of a few fragments reserves a short tail for its last one and grows to fit it exactly', () => {
    const r = new Reassembler(options);
    const first = Buffer.alloc(10_000, 1);
    r.first(1n, 2n, [], first, 0);
    expect(r.held).toBe(10_000 + 4096); // not 2 x 10,000
    const whole = r.cont(1n, 1n, Buffer.alloc(100, 2), 0);
    expect(whole?.data.length).toBe(10_100);
    expect(r.stats.grown).toBe(0);

    r.first(2n, 2n, [], first, 0);
    const big = r.cont(2n, 1n, Buffer.alloc(8000, 3), 0);
    expect(big?.data.length).toBe(18_000);
    expect(big?.data.buffer.byteLength).toBeGreaterThanOrEqual(18_000);
    expect(r.stats.grown).toBe(1); // once, to the exact size: the last fragment's length is known
    expect(
      Buffer.from(big?.data ?? [])
        .subarray(10_000)
        .equals(Buffer.alloc(8000, 3)),
    ).toBe(true);

    // Many fragments: a full fragment's room for each, no growth.
    r.first(3n, 20n, [], first, 0);
    expect(r.held).toBe(20 * 10_000);
    expect(r.summary()).toMatchObject({ pending: 1 });
  });
});
