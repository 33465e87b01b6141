import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { decodeControl, encodeControl, Op } from '../../src/distribution/control.js';
import { DFLAG, DFLAG_ERLDIST, DFLAG_MANDATORY_26 } from '../../src/distribution/flags.js';
import { FrameParser } from '../../src/distribution/framing.js';
import { genDigest } from '../../src/distribution/handshake.js';
import { atom, ErldistError, Pid, Reference, tuple } from '../../src/index.js';

function frames(...bodies: Buffer[]): Buffer {
  return Buffer.concat(
    bodies.map((b) => {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(b.length);
      return Buffer.concat([h, b]);
    }),
  );
}

describe('FrameParser', () => {
  const stream = frames(
    Buffer.from('a'),
    Buffer.alloc(0),
    Buffer.from('hello'),
    Buffer.alloc(300, 7),
    Buffer.alloc(0),
    Buffer.from('z'),
  );
  const expected = ['61', '68656c6c6f', Buffer.alloc(300, 7).toString('hex'), '7a'];

  it('splits at every offset, in two and three pieces', () => {
    for (let i = 0; i <= stream.length; i++) {
      for (const j of [i, Math.min(stream.length, i + 3), Math.min(stream.length, i + 200)]) {
        const got: string[] = [];
        let ticks = 0;
        const p = new FrameParser(
          1 << 20,
          (f) => got.push(f.toString('hex')),
          () => ticks++,
        );
        p.push(stream.subarray(0, i));
        p.push(stream.subarray(i, j));
        p.push(stream.subarray(j));
        expect(got).toEqual(expected);
        expect(ticks).toBe(2);
      }
    }
  });

  it('byte by byte', () => {
    const got: string[] = [];
    const p = new FrameParser(
      1 << 20,
      (f) => got.push(f.toString('hex')),
      () => {},
    );
    for (const b of stream) p.push(Buffer.from([b]));
    expect(got).toEqual(expected);
  });

  it('frames inside one chunk are views, not copies', () => {
    const seen: Buffer[] = [];
    const p = new FrameParser(
      1 << 20,
      (f) => seen.push(f),
      () => {},
    );
    p.push(stream);
    expect(seen.every((f) => f.buffer === stream.buffer)).toBe(true);
  });

  it('random frames (ticks, 0 B to 200 KiB) in random chunks come out whole and in order', () => {
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 20; round++) {
      const bodies: Buffer[] = [];
      for (let i = 0; i < 40; i++) {
        const size = [0, 1, 3, 40, 300, 5000, 70_000, 200_000][next(8)];
        bodies.push(Buffer.alloc(size, i + 1));
      }
      const all = frames(...bodies);
      const got: Buffer[] = [];
      let ticks = 0;
      const p = new FrameParser(
        1 << 20,
        (f) => got.push(Buffer.from(f)),
        () => ticks++,
      );
      for (let at = 0; at < all.length; ) {
        const size = [1, 2, 5, 100, 1400, 65_536, 300_000][next(7)];
        p.push(all.subarray(at, at + size));
        at += size;
      }
      expect(ticks).toBe(bodies.filter((b) => b.length === 0).length);
      expect(got).toEqual(bodies.filter((b) => b.length > 0));
    }
  });

  it('a large frame is allocated once half of it has arrived, and later chunks are copied as they come', () => {
    const body = Buffer.alloc(1 << 20, 9);
    const all = frames(body);
    const got: Buffer[] = [];
    const p = new FrameParser(
      4 << 20,
      (f) => got.push(f),
      () => {},
    );
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    try {
      const chunks: Buffer[] = [];
      for (let at = 0; at < all.length; at += 65_536) chunks.push(Buffer.from(all.subarray(at, at + 65_536)));
      for (const c of chunks.slice(0, 8)) p.push(c); // 4 bytes short of half: held, nothing allocated
      expect(alloc).not.toHaveBeenCalled();
      p.push(chunks[8]); // past half
      expect(alloc).toHaveBeenCalledTimes(1);
      expect(alloc).toHaveBeenCalledWith(1 << 20);
      for (const c of chunks.slice(9)) {
        p.push(c);
        c.fill(0); // the parser keeps no reference to a chunk it copied
      }
      expect(alloc).toHaveBeenCalledTimes(1);
    } finally {
      alloc.mockRestore();
    }
    expect(got).toHaveLength(1);
    expect(got[0].equals(body)).toBe(true);
  });

  it('spanning frames that `parts` wants are streamed piece by piece, in order with the others', () => {
    const cont = Buffer.concat([Buffer.from([131, 70]), Buffer.alloc(100_000, 9)]);
    const whole = Buffer.concat([Buffer.from([131, 68]), Buffer.alloc(90_000, 8)]);
    const input = frames(cont, Buffer.from([131, 70, 1]), whole, cont);
    const out: string[] = [];
    let pieces: Buffer[] = [];
    const parser = new FrameParser(
      1 << 20,
      (frame) => out.push(`frame ${frame.length}`),
      () => out.push('tick'),
      {
        wants: (a, b) => a === 131 && b === 70,
        piece: (bytes, first, last) => {
          if (first) pieces = [];
          pieces.push(Buffer.from(bytes));
          if (!last) return;
          expect(Buffer.concat(pieces).equals(cont)).toBe(true);
          out.push(`streamed in ${pieces.length}`);
        },
      },
    );
    for (let at = 0; at < input.length; at += 65_536) parser.push(input.subarray(at, at + 65_536));
    // The 3-byte continuation sits inside one chunk (a view, as every such frame); the other
    // spanning frame is not wanted and is copied whole.
    expect(out).toEqual(['streamed in 2', 'frame 3', 'frame 90002', 'streamed in 3']);
  });

  it('transient chunks (one reused read buffer): frames come out whole, held bytes survive the next read', () => {
    const bodies = [Buffer.alloc(5, 1), Buffer.alloc(70_000, 2), Buffer.alloc(3, 3), Buffer.alloc(200_000, 4)];
    const input = frames(...bodies, Buffer.alloc(0), Buffer.alloc(10, 5));
    const reused = Buffer.alloc(4096);
    const got: string[] = [];
    const parser = new FrameParser(
      1 << 20,
      (frame, transient) =>
        got.push(`${transient ? 'view' : 'own'} ${Buffer.from(frame).toString('hex').slice(0, 2)} ${frame.length}`),
      () => got.push('tick'),
    );
    for (let at = 0; at < input.length; at += 4096) {
      const n = input.copy(reused, 0, at, at + 4096);
      parser.push(reused.subarray(0, n), true);
      reused.fill(0xee); // what the socket's next read would do
    }
    expect(got).toEqual(['view 01 5', 'own 02 70000', 'view 03 3', 'own 04 200000', 'tick', 'view 05 10']);
  });

  it('a frame longer than maxFrameSize throws PROTOCOL before buffering it', () => {
    const p = new FrameParser(
      1000,
      () => {},
      () => {},
    );
    expect(() => p.push(Buffer.from([0, 0, 0x10, 0]))).toThrow(ErldistError);
  });
});

describe('handshake digest', () => {
  it('is MD5(cookie ++ unsigned decimal challenge)', () => {
    // erlang:md5(["secret", integer_to_list(4294967295)])
    expect(genDigest(0xffffffff, 'secret').toString('hex')).toBe(
      createHash('md5').update('secret4294967295').digest('hex'),
    );
    expect(genDigest(-1, 'secret')).toEqual(genDigest(0xffffffff, 'secret'));
  });
});

describe('flags', () => {
  it('advertise the OTP 26 mandatory set, the digest flag, monitors; never PUBLISHED', () => {
    expect(DFLAG_ERLDIST & DFLAG_MANDATORY_26).toBe(DFLAG_MANDATORY_26);
    expect(DFLAG_ERLDIST & DFLAG.MANDATORY_25_DIGEST).toBe(DFLAG.MANDATORY_25_DIGEST);
    expect(DFLAG_ERLDIST & DFLAG.PUBLISHED).toBe(0n);
    // Checked against OTP 25, 27 and 29 in protocol-notes §2; FRAGMENTS (0x80_0000) and ALIAS (1 << 35) since issue 11.
    expect(DFLAG_ERLDIST).toBe(0xd_07c7_2fbcn);
  });
});

describe('control messages', () => {
  const a = new Pid(atom('a@h'), 1, 0, 1);
  const b = new Pid(atom('b@h'), 2, 0, 2);
  const r = new Reference(atom('a@h'), 1, [1, 2, 3]);
  it('round-trip through their tuples', () => {
    const cases = [
      { op: Op.LINK, from: a, to: b },
      { op: Op.SEND, to: b },
      { op: Op.EXIT, from: a, to: b, reason: atom('kill') },
      { op: Op.REG_SEND, from: a, toName: atom('rex') },
      { op: Op.MONITOR_P, from: a, to: atom('srv'), ref: r },
      { op: Op.DEMONITOR_P, from: a, to: b, ref: r },
      { op: Op.MONITOR_P_EXIT, from: b, to: a, ref: r, reason: atom('noproc') },
      { op: Op.PAYLOAD_MONITOR_P_EXIT, from: b, to: a, ref: r },
      { op: Op.UNLINK_ID, id: 7, from: a, to: b },
      { op: Op.SPAWN_REPLY, reqId: r, to: a, flags: 3, result: b },
    ] as const;
    for (const c of cases) expect(decodeControl(encodeControl(c))).toEqual(c);
  });
  it('trace-token variants decode to their base op', () => {
    expect(decodeControl(tuple(16, a, atom(''), atom('rex'), atom('tok')))).toEqual({
      op: Op.REG_SEND,
      from: a,
      toName: atom('rex'),
      token: atom('tok'),
    });
  });
  it('malformed ones are PROTOCOL errors', () => {
    for (const t of [tuple(), tuple(99), tuple(2, atom(''), 5), tuple(atom('x')), tuple(19, a, 5, r)]) {
      expect(() => decodeControl(t)).toThrow(expect.objectContaining({ code: 'PROTOCOL' }));
    }
  });
});

describe('distribution header (DIST_HDR_ATOM_CACHE)', () => {
  it('reads new and cached entries, short and long atoms', async () => {
    const { readDistHeader } = await import('../../src/distribution/header.js');
    const cache: (ReturnType<typeof atom> | undefined)[] = new Array(2048).fill(undefined);
    // 2 refs: ref0 new in segment 1 slot 5 "echo", ref1 new in segment 0 slot 7 "x".
    // Flag nibbles: ref0 = 8|1, ref1 = 8|0; last nibble (LongAtoms) = 0.
    const frame = Buffer.from([131, 68, 2, 0x89, 0x00, 5, 4, ...Buffer.from('echo'), 7, 1, ...Buffer.from('x'), 0xaa]);
    const first = readDistHeader(frame, cache);
    expect(first.refs).toEqual([atom('echo'), atom('x')]);
    expect(frame[first.pos]).toBe(0xaa);
    expect(cache[256 + 5]).toBe(atom('echo'));
    // Next message refers to the cached slot: old entry (flag 1 = segment 1), long atoms set.
    const again = readDistHeader(Buffer.from([131, 68, 1, 0x11, 5]), cache);
    expect(again.refs).toEqual([atom('echo')]);
    // An empty slot, a truncated header, fragments: PROTOCOL.
    for (const bad of [
      [131, 68, 1, 0x02, 9],
      [131, 68, 1, 0x08],
      [131, 69, 0],
      [131, 68, 1, 0x08, 1, 200, 65],
    ]) {
      expect(() => readDistHeader(Buffer.from(bad), cache)).toThrow(expect.objectContaining({ code: 'PROTOCOL' }));
    }
  });
});
