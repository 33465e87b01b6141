/**
 * The listening side without a BEAM: registering with erldist's own EPMD server, being found
 * through it, getting the name back when EPMD restarts, and refused or stalled handshakes.
 */
import { type AddressInfo, createServer, connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createNode, type EpmdServer, type ErldistError, type LocalNode, startEpmd } from '../../src/index.js';
import { randomTestCookie, uniqueName } from '../support/pair.js';
import { rejection } from '../support/rejection.js';
import { eventually, nextEvent } from '../support/wait.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function epmd(port = 0): Promise<EpmdServer> {
  const server = await startEpmd({ port, host: '127.0.0.1' });
  cleanup.push(() => server.close());
  return server;
}

function node(options: Parameters<typeof createNode>[0]): LocalNode {
  const n = createNode({ name: uniqueName('n'), ...options });
  cleanup.push(() => n.close());
  return n;
}

describe('listening with EPMD', () => {
  it('registers with EPMD; another node finds it by name alone', async () => {
    const server = await epmd();
    const cookie = randomTestCookie();
    const b = node({ cookie, epmdPort: server.port });
    const listening = await b.listen({ host: '127.0.0.1' });
    expect(listening.epmdCreation).toBeGreaterThan(0);
    expect(server.names()).toContainEqual(
      expect.objectContaining({ name: b.name.split('@')[0], port: listening.port }),
    );
    const a = node({ cookie, epmdPort: server.port });
    const peer = await a.connect(b.name);
    expect(await peer.ping()).toBe(true);
    await b.close();
    await eventually(() => server.names().length === 0, { what: 'EPMD forgets the closed node' });
  });

  it('a name EPMD does not know: NODE_NOT_FOUND; no EPMD: EPMD_UNREACHABLE', async () => {
    const server = await epmd();
    const a = node({ cookie: 'c', epmdPort: server.port });
    expect((await rejection(a.connect('nobody@127.0.0.1'))).code).toBe('NODE_NOT_FOUND');
    const port = server.port;
    await server.close();
    expect((await rejection(a.connect('nobody@127.0.0.1'))).code).toBe('EPMD_UNREACHABLE');
    const b = node({ cookie: 'c', epmdPort: port });
    expect((await rejection(b.listen({ host: '127.0.0.1' }))).code).toBe('EPMD_UNREACHABLE');
  });

  it('when EPMD restarts, the node registers again', async () => {
    const server = await epmd();
    const port = server.port;
    const b = node({ cookie: 'c', epmdPort: port });
    await b.listen({ host: '127.0.0.1' });
    const lost = nextEvent(b, 'epmdlost');
    // The node tries again every second: on fake timers, the test need not wait that second.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      await server.close();
      await lost;
      const again = await epmd(port);
      const registered = new Promise<void>((resolve) => b.once('epmdregistered', () => resolve()));
      await vi.advanceTimersByTimeAsync(1000);
      await registered;
      expect(again.names().map((e) => e.name)).toEqual([b.name.split('@')[0]]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a port in use: LISTEN_FAILED, and the node can listen again elsewhere', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => taken.close(() => resolve())));
    const b = node({ cookie: 'c' });
    const err = await rejection(
      b.listen({ epmd: false, host: '127.0.0.1', port: (taken.address() as AddressInfo).port }),
    );
    expect(err.code).toBe('LISTEN_FAILED');
    expect((await b.listen({ epmd: false, host: '127.0.0.1' })).port).toBeGreaterThan(0);
  });
});

describe('incoming handshakes', () => {
  it('a wrong cookie: AUTH_FAILED for the dialer, handshakeError on the listener', async () => {
    const b = node({ cookie: 'right' });
    const { port } = await b.listen({ epmd: false });
    const refused = nextEvent(b, 'handshakeError');
    const a = node({ cookie: 'wrong' });
    expect((await rejection(a.connect(`${b.name}:${port}`))).code).toBe('AUTH_FAILED');
    const [error, from] = (await refused) as [ErldistError, string];
    expect(error.code).toBe('AUTH_FAILED');
    expect(from).toBe(a.name);
    expect(error.message).not.toContain('right');
  });

  it('a connection that says nothing: handshakeError TIMEOUT after handshakeTimeout', async () => {
    const b = node({ cookie: 'c' });
    const { port } = await b.listen({ epmd: false, handshakeTimeout: 50 });
    const stalled = nextEvent(b, 'handshakeError');
    const socket = netConnect({ host: '127.0.0.1', port });
    cleanup.push(async () => void socket.destroy());
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const [error] = (await stalled) as [ErldistError];
    expect(error.code).toBe('TIMEOUT');
    await closed;
  });

  it('beyond maxPendingHandshakes, connections are closed at once', async () => {
    const b = node({ cookie: 'c' });
    const { port } = await b.listen({ epmd: false, maxPendingHandshakes: 0 });
    const a = node({ cookie: 'c' });
    expect((await rejection(a.connect(`${b.name}:${port}`))).code).toBe('CONNECT_FAILED');
  });

  it('a node that dials a node already connected to it reuses the connection', async () => {
    const cookie = randomTestCookie();
    const a = node({ cookie });
    const b = node({ cookie });
    const [pa, pb] = await Promise.all([a.listen({ epmd: false }), b.listen({ epmd: false })]);
    const ab = await a.connect(`${b.name}:${pb.port}`);
    await nextEventUnlessConnected(b, a.name);
    const ba = await b.connect(`${a.name}:${pa.port}`);
    expect(await ab.ping()).toBe(true);
    expect(await ba.ping()).toBe(true);
    expect(b.peer(a.name)).toBe(ba);
  });

  it('two nodes dialling each other at once end up with one working connection', async () => {
    const cookie = randomTestCookie();
    const a = node({ cookie });
    const b = node({ cookie });
    const [pa, pb] = await Promise.all([a.listen({ epmd: false }), b.listen({ epmd: false })]);
    const [ab, ba] = await Promise.all([a.connect(`${b.name}:${pb.port}`), b.connect(`${a.name}:${pa.port}`)]);
    expect(await ab.ping()).toBe(true);
    expect(await ba.ping()).toBe(true);
  });
});

async function nextEventUnlessConnected(n: LocalNode, name: string): Promise<void> {
  if (n.peer(name)) return;
  await nextEvent(n, 'nodeup');
}
