import { afterEach, describe, expect, it } from 'vitest';
import { connect, createNode, type ErldistError } from '../../src/index.js';
import { distFrame, type FakePeer, startFakePeer } from '../support/fake-peer.js';
import { rejection } from '../support/rejection.js';
import { eventually, nextEvent, pause } from '../support/wait.js';

const COOKIE = `fake-peer-cookie-${Math.random().toString(36).slice(2)}`;
let peer: FakePeer | undefined;
afterEach(async () => {
  await peer?.close();
  peer = undefined;
});

describe('hostile or broken peers', () => {
  it('garbage instead of a status: PROTOCOL', async () => {
    peer = await startFakePeer({ kind: 'garbage', bytes: Buffer.from('\x00\x05hello world') });
    const err = await rejection(connect(`fake@127.0.0.1:${peer.port}`, { cookie: COOKIE }));
    expect(err.code).toBe('PROTOCOL');
    expect(err.step).toBe('recvStatus');
  });

  it('a handshake packet claiming 65535 bytes: PROTOCOL', async () => {
    peer = await startFakePeer({ kind: 'garbage', bytes: Buffer.from([0xff, 0xff, 1, 2, 3]) });
    expect((await rejection(connect(`fake@127.0.0.1:${peer.port}`, { cookie: COOKIE }))).code).toBe('PROTOCOL');
  });

  it('closes during the handshake: CONNECT_FAILED', async () => {
    peer = await startFakePeer({ kind: 'close-after-name' });
    const err = await rejection(connect(`fake@127.0.0.1:${peer.port}`, { cookie: COOKIE }));
    expect(err.code).toBe('CONNECT_FAILED');
  });

  it('goes silent during the handshake: TIMEOUT', async () => {
    peer = await startFakePeer({ kind: 'silent' });
    const started = Date.now();
    const err = await rejection(connect(`fake@127.0.0.1:${peer.port}`, { cookie: COOKIE, handshakeTimeout: 300 }));
    expect(err.code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a closed port: CONNECT_FAILED', async () => {
    peer = await startFakePeer({ kind: 'silent' });
    const port = peer.port;
    await peer.close();
    peer = undefined;
    expect((await rejection(connect(`fake@127.0.0.1:${port}`, { cookie: COOKIE }))).code).toBe('CONNECT_FAILED');
  });

  it('a wrong digest from our side (peer closes): AUTH_FAILED, cookie never in the message', async () => {
    peer = await startFakePeer({ kind: 'handshake', cookie: 'the-peers-cookie', after: () => {} });
    const err = await rejection(connect(`fake@127.0.0.1:${peer.port}`, { cookie: COOKIE }));
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.message).toMatch(/cookie was probably wrong/);
    expect(err.message).not.toContain(COOKIE);
    expect(JSON.stringify(err)).not.toContain(COOKIE);
  });

  it('a frame longer than maxFrameSize: PROTOCOL then NODE_DOWN, connection closed', async () => {
    let sawClose = false;
    peer = await startFakePeer({
      kind: 'handshake',
      cookie: COOKIE,
      after: (socket) => {
        socket.on('close', () => (sawClose = true));
        const head = Buffer.alloc(4);
        head.writeUInt32BE(2 ** 31);
        socket.write(head);
      },
    });
    // The oversized header may come in the same segment as the handshake's last packet: listen for
    // nodedown before connecting, so that an immediate failure is not missed.
    const node = createNode({ cookie: COOKIE, maxFrameSize: 1 << 20, reconnect: false });
    const down = nextEvent(node, 'nodedown');
    const p = await node.connect(`fake@127.0.0.1:${peer.port}`);
    const [, reason] = await down;
    expect((reason as ErldistError).code).toBe('PROTOCOL');
    expect(p.isClosed).toBe(true);
    await expect(p.rpc('erlang', 'node', [])).rejects.toMatchObject({ code: 'NODE_DOWN' });
    await eventually(() => sawClose, { what: 'the fake peer sees the connection close' });
    await node.close();
  });

  it('garbage frames after the handshake: PROTOCOL, pending calls reject NODE_DOWN', async () => {
    let socketRef: import('node:net').Socket | undefined;
    peer = await startFakePeer({ kind: 'handshake', cookie: COOKIE, after: (s) => (socketRef = s) });
    const p = await connect(`fake@127.0.0.1:${peer.port}`, { cookie: COOKIE });
    const call = p.rpc('erlang', 'node', [], { timeout: 5000 });
    socketRef!.write(Buffer.from([0, 0, 0, 5, 112, 131, 104, 1, 255]));
    await expect(call).rejects.toMatchObject({ code: 'NODE_DOWN' });
    await p.close();
  });

  it('a silent connection is down after tickTime', async () => {
    peer = await startFakePeer({ kind: 'handshake', cookie: COOKIE, after: () => {} });
    const p = await connect(`fake@127.0.0.1:${peer.port}`, { cookie: COOKIE, tickTime: 400 });
    const started = Date.now();
    const call = p.rpc('erlang', 'node', [], { timeout: 10_000 });
    await expect(call).rejects.toMatchObject({ code: 'NODE_DOWN' });
    expect(Date.now() - started).toBeLessThan(1500);
    await p.close();
  });

  it('no cookie anywhere: INVALID_ARGUMENT before any socket', async () => {
    const env = { ...process.env };
    delete process.env.ERLANG_COOKIE;
    delete process.env.RELEASE_COOKIE;
    process.env.HOME = '/nonexistent-home';
    try {
      const err = await rejection(connect('x@127.0.0.1:1'));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toMatch(/no cookie/);
    } finally {
      process.env = env;
    }
  });

  it('a pre-aborted signal: ABORTED', async () => {
    const err = await rejection(connect('x@127.0.0.1:1', { cookie: COOKIE, signal: AbortSignal.abort() }));
    expect(err.code).toBe('ABORTED');
  });
});

describe('the cookie stays secret', () => {
  it('util.inspect and JSON of a node and a peer never show it', async () => {
    const { inspect: show } = await import('node:util');
    const secret = `never-print-this-${Math.random().toString(36).slice(2)}`;
    const peerFake = await startFakePeer({ kind: 'handshake', cookie: secret, after: () => {} });
    try {
      const p = await connect(`fake@127.0.0.1:${peerFake.port}`, { cookie: secret });
      p.node.setCookie('other@127.0.0.1', `${secret}-2`);
      for (const text of [
        show(p, { depth: 20, showHidden: true }),
        show(p.node, { depth: 20, showHidden: true }),
        String(p),
        JSON.stringify(p.node),
      ]) {
        expect(text).not.toContain(secret);
      }
      await p.close();
    } finally {
      await peerFake.close();
    }
  });
});

describe('a peer that stops reading', () => {
  it('a call that times out while the buffer is over maxBuffered rejects TIMEOUT and throws nothing', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('uncaughtException', onUnhandled);
    process.on('unhandledRejection', onUnhandled);
    const fake = await startFakePeer({ kind: 'handshake', cookie: COOKIE, after: (s) => s.pause() });
    try {
      const p = await connect(`fake@127.0.0.1:${fake.port}`, {
        cookie: COOKIE,
        maxBuffered: 1 << 20,
        highWaterMark: 1 << 16,
      });
      const call = p.call('srv', 'x', { timeout: 300 });
      // Fill the socket past maxBuffered while the call waits: its DEMONITOR at the timeout cannot be sent.
      // One turn of the event loop: the call's MONITOR_P and REG_SEND are written first.
      await new Promise((r) => setImmediate(r));
      p.send('sink', Buffer.alloc(32 * 1024 * 1024, 1));
      await expect(call).rejects.toMatchObject({ code: 'TIMEOUT' });
      // The 32 MiB waits in fragments (FRAGMENTS agreed): a small message is still taken (it waits
      // behind them, from the same sender to the same name), a second large one is not.
      expect(p.send('sink', 'more')).toBe(false);
      expect(() => p.send('sink', Buffer.alloc(512 * 1024, 2))).toThrow(
        expect.objectContaining({ code: 'BUFFER_FULL' }),
      );
      // Proving silence: a timer or a late write that threw would have done so by now.
      await pause(50);
      expect(unhandled).toEqual([]);
      await p.close();
    } finally {
      process.off('uncaughtException', onUnhandled);
      process.off('unhandledRejection', onUnhandled);
      await fake.close();
    }
  });
});

describe('signals that do not come from the sending node', () => {
  it('LINK and EXIT with a third node as From are dropped (protocol-notes §4)', async () => {
    const { encodeControl, Op } = await import('../../src/distribution/control.js');
    const { Pid, atom: a, tuple: t } = await import('../../src/index.js');
    let socketRef: import('node:net').Socket | undefined;
    const fake = await startFakePeer({ kind: 'handshake', cookie: COOKIE, after: (s) => (socketRef = s) });
    try {
      const p = await connect(`fake@127.0.0.1:${fake.port}`, { cookie: COOKIE });
      const box = p.node.spawn();
      const third = new Pid(a('third@127.0.0.1'), 7, 0, 1);
      const fromFake = new Pid(a('fake@127.0.0.1'), 8, 0, 1234);
      const before = p.node.stats.dropped;
      socketRef!.write(
        Buffer.concat([
          distFrame(encodeControl({ op: Op.LINK, from: third, to: box.pid })),
          distFrame(encodeControl({ op: Op.EXIT2, from: third, to: box.pid, reason: a('forged') })),
          distFrame(encodeControl({ op: Op.EXIT2, from: fromFake, to: box.pid, reason: a('real') })),
        ]),
      );
      const got = await box.receive({ timeout: 2000 });
      expect(got).toStrictEqual(t(a('EXIT'), fromFake, a('real')));
      expect(p.node.stats.dropped).toBe(before + 2);
      expect(box.size).toBe(0);
      await p.close();
    } finally {
      await fake.close();
    }
  });
});
