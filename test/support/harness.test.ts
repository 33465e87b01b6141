/**
 * The test harness's own pure parts, which need no BEAM: ERLDIST_TEST_RUNTIMES parsing, the term
 * server's frame decoder, cookies and ports. The parts that start runtimes are checked in
 * test/interop/harness.test.ts and test/interop/nodes.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { FrameDecoder, frame } from './erl-port.js';
import { freePort } from './net.js';
import { randomCookie } from './nodes.js';
import { command, parseRuntimes } from './runtimes.js';

describe('runtimes()', () => {
  it('command() puts the runtime prefix before the executable', () => {
    expect(command({ label: 'host', prefix: [] }, 'erl', ['-noshell'])).toEqual(['erl', ['-noshell']]);
    expect(command({ label: 'chroot /x', prefix: ['chroot', '/x'] }, 'erl', ['-noshell'])).toEqual([
      'chroot',
      ['/x', 'erl', '-noshell'],
    ]);
  });

  it('parses ERLDIST_TEST_RUNTIMES', () => {
    expect(parseRuntimes(undefined)).toEqual([{ label: 'host', prefix: [] }]);
    expect(parseRuntimes('')).toEqual([{ label: 'host', prefix: [] }]);
    expect(parseRuntimes(';chroot  /opt/x ; ;chroot /opt/x')).toEqual([
      { label: 'host', prefix: [] },
      { label: 'chroot /opt/x', prefix: ['chroot', '/opt/x'] },
    ]);
  });

  it('FrameDecoder handles arbitrary chunking', () => {
    const frames = [Buffer.alloc(0), Buffer.from('a'), Buffer.alloc(70_000, 7), Buffer.from('xyz')];
    const stream = Buffer.concat(frames.map(frame));
    for (const step of [1, 2, 3, 5, 4096]) {
      const d = new FrameDecoder();
      const got: Buffer[] = [];
      for (let i = 0; i < stream.length; i += step) got.push(...d.push(stream.subarray(i, i + step)));
      expect(got.length).toBe(frames.length);
      for (const [i, g] of got.entries()) expect(g.equals(frames[i] as Buffer)).toBe(true);
      expect(d.pending.length).toBe(0);
    }
  });
});

describe('helpers', () => {
  it('randomCookie and freePort', async () => {
    const a = randomCookie();
    expect(a).toMatch(/^[A-Z]{20}$/);
    expect(randomCookie()).not.toBe(a);
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
  });
});
