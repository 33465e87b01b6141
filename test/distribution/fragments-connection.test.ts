/**
 * DFLAG_FRAGMENTS on live connections without a BEAM: two erldist nodes with a small fragment size,
 * and a fake peer (real handshake, then hand-made frames) that sends fragments out of order, too
 * many bytes, a sequence it never finishes, or a payload that cannot be decoded.
 * Against real nodes: test/interop/fragments.test.ts.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Control, encodeControl, Op } from '../../src/distribution/control.js';
import { FragmentWriter } from '../../src/distribution/fragment-writer.js';
import { atom, createNode, type ErldistError, type LocalNode, Pid, type Term, tuple } from '../../src/index.js';
import { TermEncoder } from '../../src/term/index.js';
import { type FakePeer, startFakePeer } from '../support/fake-peer.js';
import { nodePair } from '../support/pair.js';
import { deferred, eventually, nextEvent } from '../support/wait.js';

const COOKIE = `fragments-cookie-${Math.random().toString(36).slice(2)}`;
const FAKE = 'fake@127.0.0.1';
const FROM = new Pid(atom(FAKE), 1, 0, 1234);

/** A message's data as it follows a header: control term then payload, no version bytes. */
function messageData(control: Control, payload: Term | Buffer): { data: Buffer; ctlLen: number } {
  const enc = new TermEncoder(256);
  enc.writeTerm(encodeControl(control));
  const ctlLen = enc.pos;
  if (Buffer.isBuffer(payload)) enc.raw(payload);
  else enc.writeTerm(payload);
  return { data: Buffer.from(enc.bytes()), ctlLen };
}

/** The frames of a message in fragments of `size` bytes (sequence ids count from 1 per writer). */
function fragmentFrames(writer: FragmentWriter, control: Control, payload: Term): Buffer[] {
  const { data, ctlLen } = messageData(control, payload);
  writer.pushMessage('k', data, ctlLen);
  const frames: Buffer[] = [];
  for (let parts = writer.next(); parts !== undefined; parts = writer.next()) frames.push(Buffer.concat(parts));
  return frames;
}

/** One frame with the header `131, 68, 0`. */
function wholeFrame(control: Control, payload: Term | Buffer): Buffer {
  const { data } = messageData(control, payload);
  const head = Buffer.from([0, 0, 0, 0, 131, 68, 0]);
  head.writeUInt32BE(3 + data.length);
  return Buffer.concat([head, data]);
}

const toInbox = (): Control => ({ op: Op.REG_SEND, from: FROM, toName: atom('inbox') });

let fake: FakePeer | undefined;
let node: LocalNode | undefined;
afterEach(async () => {
  await node?.close();
  await fake?.close();
  node = undefined;
  fake = undefined;
});

/** A node connected to a fake peer; resolves with the fake's socket and the node's inbox. */
async function connectToFake(options: Parameters<typeof createNode>[0] = {}) {
  const socket = deferred<Socket>();
  fake = await startFakePeer({ kind: 'handshake', cookie: COOKIE, after: (s) => socket.resolve(s) }, FAKE);
  node = createNode({ cookie: COOKIE, reconnect: false, decode: { binaries: 'buffer' }, ...options });
  const inbox = node.spawn();
  node.register('inbox', inbox);
  const peer = await node.connect(`${FAKE}:${fake.port}`);
  return { socket: await socket.promise, inbox, peer, node };
}

describe('fragments between two erldist nodes', () => {
  it('a message above fragmentSize goes in fragments; a small one to another process passes it', async () => {
    const p = await nodePair({ a: { fragmentSize: 1024 }, b: { decode: { binaries: 'buffer' } } });
    try {
      const big = p.b.spawn();
      const small = p.b.spawn();
      const order: string[] = [];
      const blob = Buffer.alloc(1024 * 1024, 3);
      p.ab.send(big.pid, blob);
      p.ab.send(small.pid, 'hello');
      const arrival = (name: string) => (m: unknown) => {
        order.push(name);
        return m;
      };
      const [a, b] = await Promise.all([
        big.receive({ timeout: 4000 }).then(arrival('big')),
        small.receive({ timeout: 4000 }).then(arrival('small')),
      ]);
      // equals(): toStrictEqual compares a large Buffer byte by byte, slowly.
      expect(blob.equals(a as Buffer)).toBe(true);
      expect(b).toStrictEqual(Buffer.from('hello'));
      expect(order).toStrictEqual(['small', 'big']);
      expect(p.ab.connection?.fragments.out).toBeGreaterThanOrEqual(1024);
      // Each received byte copied once, from the socket's chunks into the message.
      const received = p.ba.connection?.fragments;
      expect(received?.copiedBytes).toBeGreaterThan(blob.length);
      expect(received?.copiedBytes).toBeLessThan(blob.length + 1024);
      expect(received?.held).toBe(0);
    } finally {
      await p.close();
    }
  });

  it('what one process sends after a fragmented message to the same process arrives after it', async () => {
    const p = await nodePair({ a: { fragmentSize: 1024 }, b: { decode: { binaries: 'buffer' } } });
    try {
      const box = p.b.spawn();
      const blob = Buffer.alloc(256 * 1024, 5);
      p.ab.send(box.pid, blob);
      p.ab.send(box.pid, 'after');
      expect(blob.equals((await box.receive({ timeout: 4000 })) as Buffer)).toBe(true);
      expect(await box.receive({ timeout: 4000 })).toStrictEqual(Buffer.from('after'));
    } finally {
      await p.close();
    }
  });

  it('a message larger than maxBuffered is taken when little waits; a second one is BUFFER_FULL, a small one is not', async () => {
    const p = await nodePair({ a: { fragmentSize: 1024, highWaterMark: 16 * 1024, maxBuffered: 64 * 1024 } });
    try {
      const box = p.b.spawn();
      const blob = Buffer.alloc(512 * 1024, 1);
      expect(p.ab.send(box.pid, blob)).toBe(false);
      expect(() => p.ab.connection?.send({ op: Op.SEND, to: box.pid }, blob)).toThrow(
        expect.objectContaining({ code: 'BUFFER_FULL' }),
      );
      expect(p.ab.send(box.pid, 'small')).toBe(false);
      await p.ab.drain({ timeout: 4000 });
      expect(await box.receive({ timeout: 4000 })).toHaveLength(blob.length);
      expect(await box.receive({ timeout: 4000 })).toBe('small');
    } finally {
      await p.close();
    }
  });
});

describe('fragments from a fake peer', () => {
  it('interleaved sequences are reassembled; each byte copied once', async () => {
    const { socket, inbox, peer } = await connectToFake();
    const writer = new FragmentWriter(100);
    const one = fragmentFrames(writer, toInbox(), tuple(atom('one'), Buffer.alloc(1000, 1)));
    const two = fragmentFrames(writer, toInbox(), tuple(atom('two'), Buffer.alloc(500, 2)));
    for (let i = 0; i < one.length; i++) socket.write(Buffer.concat([one[i] as Buffer, two[i] ?? Buffer.alloc(0)]));
    expect(await inbox.receive({ timeout: 2000 })).toStrictEqual(tuple(atom('two'), Buffer.alloc(500, 2)));
    expect(await inbox.receive({ timeout: 2000 })).toStrictEqual(tuple(atom('one'), Buffer.alloc(1000, 1)));
    expect(peer.connection?.fragments.held).toBe(0);
    const ctlAndTerms = one.concat(two).reduce((n, f) => n + f.length - 4 - (f[5] === 69 ? 19 : 18), 0);
    expect(peer.connection?.fragments.copiedBytes).toBe(ctlAndTerms);
  });

  it('a sequence abandoned halfway is freed after fragmentTimeout; the connection goes on', async () => {
    const { socket, inbox, peer } = await connectToFake({ fragmentTimeout: 200 });
    const frames = fragmentFrames(new FragmentWriter(64 * 1024), toInbox(), Buffer.alloc(1024 * 1024));
    socket.write(Buffer.concat(frames.slice(0, 8)));
    await eventually(() => peer.connection?.fragments.pending === 1, { what: 'a partial message' });
    expect(peer.connection?.fragments.held).toBeGreaterThanOrEqual(512 * 1024);
    await eventually(() => peer.connection?.fragments.held === 0, { what: 'the partial message freed', timeout: 2000 });
    expect(peer.connection?.fragments.expired).toBe(1);
    socket.write(wholeFrame(toInbox(), atom('still_here')));
    expect(await inbox.receive({ timeout: 2000 })).toStrictEqual(atom('still_here'));
    expect(peer.isClosed).toBe(false);
  });

  it.each([
    ['a FragId out of order', (f: Buffer[]) => [f[0], f[2]]],
    ['a continuation of an unknown sequence', (f: Buffer[]) => [f[1]]],
    ['a sequence started twice', (f: Buffer[]) => [f[0], f[0]]],
  ])('%s is PROTOCOL: the connection closes', async (_, pick) => {
    const { socket, node } = await connectToFake();
    const frames = fragmentFrames(new FragmentWriter(100), toInbox(), Buffer.alloc(1000));
    const down = nextEvent(node, 'nodedown');
    socket.write(Buffer.concat(pick(frames) as Buffer[]));
    const [, error] = await down;
    expect((error as ErldistError).code).toBe('PROTOCOL');
  });

  it('more than maxMessageSize in fragments is PROTOCOL', async () => {
    const { socket, node } = await connectToFake({ maxMessageSize: 4096 });
    const down = nextEvent(node, 'nodedown');
    socket.write(Buffer.concat(fragmentFrames(new FragmentWriter(1000), toInbox(), Buffer.alloc(8000))));
    const [, error] = await down;
    expect((error as ErldistError).message).toMatch(/maxMessageSize/);
  });

  it('a payload that cannot be decoded is dropped with a DECODE warning; the connection goes on', async () => {
    const { socket, inbox, peer, node } = await connectToFake();
    const warning = nextEvent(node, 'warning');
    socket.write(wholeFrame(toInbox(), Buffer.from([0xff])));
    const [error] = await warning;
    expect((error as ErldistError).code).toBe('DECODE');
    expect((error as ErldistError).message).toMatch(/unknown tag 255/);
    expect(node.stats.dropped).toBe(1);
    socket.write(wholeFrame(toInbox(), atom('next')));
    expect(await inbox.receive({ timeout: 2000 })).toStrictEqual(atom('next'));
    expect(peer.isClosed).toBe(false);
  });

  it('a control message that cannot be decoded is PROTOCOL', async () => {
    const { socket, node } = await connectToFake();
    const down = nextEvent(node, 'nodedown');
    socket.write(Buffer.from([0, 0, 0, 5, 131, 68, 0, 0xff, 0]));
    const [, error] = await down;
    expect((error as ErldistError).code).toBe('PROTOCOL');
  });
});
