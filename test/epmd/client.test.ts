/**
 * EPMD client against scripted TCP servers (no real EPMD here; see test/interop/epmd.test.ts):
 * chunked replies, garbage, timeouts, aborts, unreachable hosts, registration lifetime.
 */
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { epmdPort, MAX_NAMES_REPLY_BYTES, names, portPlease2, register } from '../../src/epmd/client.js';
import { ErldistError } from '../../src/errors.js';
import { hex } from '../support/bytes.js';
import { rejection } from '../support/rejection.js';
import { eventually, pause } from '../support/wait.js';

const FOUND = hex('77 00 9d6c 4d 00 0006 0006 0003 666f6f 0000');

type Script = (socket: Socket, request: Buffer) => void | Promise<void>;

interface Fake {
  port: number;
  requests: Buffer[];
  /** Resolves when every accepted socket closed. */
  allClosed(): Promise<void>;
  sockets: Socket[];
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.close();
    s.unref();
  }
});

/** A server that reads one `Len:16` request per connection and runs `script`. */
async function fake(script: Script): Promise<Fake> {
  const requests: Buffer[] = [];
  const sockets: Socket[] = [];
  const closes: Promise<unknown>[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    closes.push(new Promise((resolve) => socket.on('close', resolve)));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    let done = false;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (done || buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      done = true;
      const request = buf.subarray(2, 2 + buf.readUInt16BE(0));
      requests.push(request);
      void script(socket, request);
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return { port, requests, sockets, allClosed: async () => void (await Promise.all(closes)) };
}

/** Writes `bytes` one byte per tick, then optionally ends. */
async function dribble(socket: Socket, bytes: Buffer, end = true): Promise<void> {
  for (const b of bytes) {
    socket.write(Buffer.from([b]));
    // On purpose: each byte in its own TCP segment, so the client reads the reply in pieces.
    await pause(1);
  }
  if (end) socket.end();
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}

/** Counts the abort listeners added to and removed from `signal`. */
function trackListeners(signal: AbortSignal): { count: number; added: number } {
  const live = { count: 0, added: 0 };
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<AbortSignal['addEventListener']>) => {
    live.count++;
    live.added++;
    add(...args);
  };
  signal.removeEventListener = (...args: Parameters<AbortSignal['removeEventListener']>) => {
    live.count--;
    remove(...args);
  };
  return live;
}

describe('portPlease2', () => {
  it('sends PORT_PLEASE2_REQ and reads a reply that arrives a byte at a time', async () => {
    const f = await fake((s) => dribble(s, FOUND));
    const info = await portPlease2('foo', '127.0.0.1', { port: f.port });
    expect(f.requests[0]!.toString('hex')).toBe('7a666f6f');
    expect(info).toEqual({
      port: 40300,
      nodeType: 77,
      protocol: 0,
      highestVersion: 6,
      lowestVersion: 6,
      name: 'foo',
      extra: Buffer.alloc(0),
    });
    await f.allClosed();
  });

  it('resolves without waiting for EPMD to close, and closes the socket itself', async () => {
    const f = await fake((s) => void s.write(FOUND));
    expect((await portPlease2('foo', '127.0.0.1', { port: f.port })).port).toBe(40300);
    await f.allClosed();
  });

  it('unknown name: NODE_NOT_FOUND naming the node and host', async () => {
    const f = await fake((s) => void s.end(hex('7701')));
    const err = await rejection(portPlease2('nobody', '127.0.0.1', { port: f.port }));
    expect(err.code).toBe('NODE_NOT_FOUND');
    expect(err.message).toContain('nobody');
    expect(err.message).toContain('127.0.0.1');
    expect(err.node).toBe('nobody@127.0.0.1');
  });

  it('garbage and truncated replies: PROTOCOL', async () => {
    const garbage = await fake((s) => void s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    expect((await rejection(portPlease2('foo', '127.0.0.1', { port: garbage.port }))).code).toBe('PROTOCOL');
    const short = await fake((s) => void s.end(FOUND.subarray(0, 7)));
    const err = await rejection(portPlease2('foo', '127.0.0.1', { port: short.port }));
    expect(err.code).toBe('PROTOCOL');
    expect(err.message).toMatch(/closed the connection before a complete reply/);
    const extra = await fake((s) => void s.end(Buffer.concat([FOUND, hex('00')])));
    expect((await rejection(portPlease2('foo', '127.0.0.1', { port: extra.port }))).code).toBe('PROTOCOL');
    const empty = await fake((s) => void s.end());
    expect((await rejection(portPlease2('foo', '127.0.0.1', { port: empty.port }))).code).toBe('PROTOCOL');
  });

  it('connection reset: EPMD_UNREACHABLE', async () => {
    const f = await fake((s) => void s.resetAndDestroy());
    expect((await rejection(portPlease2('foo', '127.0.0.1', { port: f.port }))).code).toBe('EPMD_UNREACHABLE');
  });

  it('refused: EPMD_UNREACHABLE', async () => {
    const err = await rejection(portPlease2('foo', '127.0.0.1', { port: await closedPort() }));
    expect(err.code).toBe('EPMD_UNREACHABLE');
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('DNS failure: EPMD_UNREACHABLE', async () => {
    const err = await rejection(portPlease2('foo', 'no-such-host.invalid', { port: 4369, timeout: 20_000 }));
    expect(err.code).toBe('EPMD_UNREACHABLE');
  });

  it('a silent server: TIMEOUT, and the socket is closed', async () => {
    const f = await fake(() => {});
    const t0 = Date.now();
    const err = await rejection(portPlease2('foo', '127.0.0.1', { port: f.port, timeout: 150 }));
    expect(err.code).toBe('TIMEOUT');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    await f.allClosed();
  });

  it('a pre-aborted signal rejects at once, without connecting', async () => {
    const f = await fake(() => {});
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    const err = await rejection(portPlease2('foo', '127.0.0.1', { port: f.port, signal: ac.signal }));
    expect(err.code).toBe('ABORTED');
    expect((err.cause as Error).message).toBe('stop');
    // Proving silence: a connection attempt would have reached the fake server by now.
    await pause(50);
    expect(f.sockets.length).toBe(0);
  });

  it('abort while waiting: ABORTED, socket closed, listener removed', async () => {
    const f = await fake(() => {});
    const ac = new AbortController();
    const live = trackListeners(ac.signal);
    const p = portPlease2('foo', '127.0.0.1', { port: f.port, signal: ac.signal });
    await eventually(() => f.requests.length > 0, { what: 'the request reaches the fake EPMD' });
    expect(live.count).toBe(1);
    ac.abort();
    expect((await rejection(p)).code).toBe('ABORTED');
    await f.allClosed();
    expect(live.count).toBe(0);
  });

  it('success and failure remove the abort listener too', async () => {
    const ok = await fake((s) => void s.end(FOUND));
    const bad = await fake((s) => void s.end(hex('7701')));
    const ac = new AbortController();
    const live = trackListeners(ac.signal);
    await portPlease2('foo', '127.0.0.1', { port: ok.port, signal: ac.signal });
    await rejection(portPlease2('foo', '127.0.0.1', { port: bad.port, signal: ac.signal }));
    expect(live.added).toBe(2);
    expect(live.count).toBe(0);
  });

  it('checks arguments before any I/O', async () => {
    expect((await rejection(portPlease2('', '127.0.0.1'))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(portPlease2('a', ''))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(portPlease2('a', '127.0.0.1', { port: 70000 }))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(portPlease2('a', '127.0.0.1', { port: 1, timeout: -1 }))).code).toBe('INVALID_ARGUMENT');
  });
});

describe('epmdPort', () => {
  it('explicit, then ERL_EPMD_PORT, then 4369', () => {
    const saved = process.env.ERL_EPMD_PORT;
    try {
      delete process.env.ERL_EPMD_PORT;
      expect(epmdPort()).toBe(4369);
      process.env.ERL_EPMD_PORT = '5000';
      expect(epmdPort()).toBe(5000);
      expect(epmdPort(6000)).toBe(6000);
      process.env.ERL_EPMD_PORT = 'abc';
      expect(() => epmdPort()).toThrow(/ERL_EPMD_PORT/);
      process.env.ERL_EPMD_PORT = '70000';
      expect(() => epmdPort()).toThrow(ErldistError);
    } finally {
      if (saved === undefined) delete process.env.ERL_EPMD_PORT;
      else process.env.ERL_EPMD_PORT = saved;
    }
  });

  it('portPlease2 uses ERL_EPMD_PORT', async () => {
    const f = await fake((s) => void s.end(FOUND));
    const saved = process.env.ERL_EPMD_PORT;
    process.env.ERL_EPMD_PORT = String(f.port);
    try {
      expect((await portPlease2('foo', '127.0.0.1')).port).toBe(40300);
    } finally {
      if (saved === undefined) delete process.env.ERL_EPMD_PORT;
      else process.env.ERL_EPMD_PORT = saved;
    }
  });
});

describe('names', () => {
  it('reads until EPMD closes, chunked', async () => {
    const reply = Buffer.concat([hex('00001111'), Buffer.from('name a at port 1\nname b at port 2\n')]);
    const f = await fake((s) => dribble(s, reply));
    expect(await names('127.0.0.1', { port: f.port })).toEqual({
      epmdPort: 4369,
      nodes: [
        { name: 'a', port: 1 },
        { name: 'b', port: 2 },
      ],
    });
    expect(f.requests[0]!.toString('hex')).toBe('6e');
  });

  it('a reply that never ends: PROTOCOL past the size bound', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const f = await fake(async (s) => {
      s.write(hex('00001111'));
      for (let sent = 0; sent <= MAX_NAMES_REPLY_BYTES && !s.destroyed; sent += chunk.length) {
        if (s.write(chunk)) continue;
        await new Promise((resolve) => {
          s.once('drain', resolve);
          s.once('close', resolve);
        });
      }
    });
    const err = await rejection(names('127.0.0.1', { port: f.port }));
    expect(err.code).toBe('PROTOCOL');
    expect(err.message).toMatch(/longer than/);
    await f.allClosed();
  });

  it('garbage: PROTOCOL; silence: TIMEOUT', async () => {
    const g = await fake((s) => void s.end('garbage garbage\n'));
    expect((await rejection(names('127.0.0.1', { port: g.port }))).code).toBe('PROTOCOL');
    const t = await fake((s) => void s.write(hex('00001111')));
    expect((await rejection(names('127.0.0.1', { port: t.port, timeout: 100 }))).code).toBe('TIMEOUT');
  });
});

describe('register', () => {
  it('sends ALIVE2_REQ (6/6, protocol 0, type 77/72) and keeps the socket open', async () => {
    const f = await fake((s) => void dribble(s, hex('76 00 0000abcd'), false));
    const reg = await register({ name: 'foo', port: 0x1234, epmdPort: f.port });
    expect(f.requests[0]!.toString('hex')).toBe('7812344d0000060006000366 6f6f0000'.replace(/ /g, ''));
    expect(reg.creation).toBe(0xabcd);
    expect(reg.active).toBe(true);
    expect(f.sockets[0]!.destroyed).toBe(false);
    await reg.close();
    expect(reg.active).toBe(false);
    expect(await reg.closed).toEqual({ reason: 'closed' });
    await f.allClosed();
    await reg.close(); // idempotent

    const h = await fake((s) => void s.write(hex('79 00 0007')));
    const hidden = await register({ name: 'bar', port: 1, hidden: true, epmdPort: h.port, extra: Buffer.from([9]) });
    expect(h.requests[0]!.toString('hex')).toBe('780001480000060006000362617200' + '0109');
    expect(hidden.creation).toBe(7);
    expect(hidden.nodeType).toBe(72);
    await hidden.close();
  });

  it('a name in use: NOT_ALLOWED, socket closed', async () => {
    const f = await fake((s) => void s.write(hex('76 01 00000000')));
    const err = await rejection(register({ name: 'foo', port: 1, epmdPort: f.port }));
    expect(err.code).toBe('NOT_ALLOWED');
    expect(err.message).toContain('foo');
    await f.allClosed();
  });

  it('EPMD dropping the registration emits close with reason lost', async () => {
    const f = await fake((s) => void s.write(hex('76 00 00000001')));
    const reg = await register({ name: 'foo', port: 1, epmdPort: f.port });
    const events: unknown[] = [];
    reg.on('close', (end) => events.push(end));
    f.sockets[0]!.end();
    expect(await reg.closed).toEqual({ reason: 'lost' });
    expect(events).toEqual([{ reason: 'lost' }]);
    expect(reg.active).toBe(false);
  });

  it('bytes after the reply end the registration with PROTOCOL', async () => {
    const f = await fake((s) => void s.write(hex('76 00 00000001')));
    const reg = await register({ name: 'foo', port: 1, epmdPort: f.port });
    f.sockets[0]!.write('x');
    const end = await reg.closed;
    expect(end.reason).toBe('lost');
    expect(end.reason === 'lost' && (end.error as ErldistError).code).toBe('PROTOCOL');
    await f.allClosed();
  });

  it('failures: refused, timeout, abort, garbage', async () => {
    expect((await rejection(register({ name: 'a', port: 1, epmdPort: await closedPort() }))).code).toBe(
      'EPMD_UNREACHABLE',
    );
    const silent = await fake(() => {});
    expect((await rejection(register({ name: 'a', port: 1, epmdPort: silent.port, timeout: 100 }))).code).toBe(
      'TIMEOUT',
    );
    const ac = new AbortController();
    ac.abort();
    expect((await rejection(register({ name: 'a', port: 1, epmdPort: silent.port, signal: ac.signal }))).code).toBe(
      'ABORTED',
    );
    const garbage = await fake((s) => void s.write(hex('77 00')));
    expect((await rejection(register({ name: 'a', port: 1, epmdPort: garbage.port }))).code).toBe('PROTOCOL');
    expect((await rejection(register({ name: 'a', port: 0, epmdPort: 1 }))).code).toBe('INVALID_ARGUMENT');
    await silent.allClosed();
  });
});
