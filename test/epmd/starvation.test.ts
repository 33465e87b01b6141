/**
 * The embedded EPMD under a connection storm (issue 9, item 6): idle sockets from the same address
 * as the legitimate client must not keep NAMES and PORT_PLEASE2 from being answered, and never end a
 * registration. The oldest connection that is not a registration makes room for a newcomer.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type EpmdRegistration, names, portPlease2, register } from '../../src/epmd/client.js';
import { type EpmdServer, type StartEpmdOptions, startEpmd } from '../../src/epmd/server.js';
import { ErldistError } from '../../src/errors.js';
import { closeSocket, openSocket, startStorm } from '../support/storm.js';
import { eventually } from '../support/wait.js';

const HOST = '127.0.0.1';
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function server(opts: StartEpmdOptions = {}): Promise<EpmdServer> {
  const s = await startEpmd({ port: 0, host: HOST, ...opts });
  cleanup.push(() => s.close());
  return s;
}

async function reg(epmd: EpmdServer, name: string, port: number): Promise<EpmdRegistration> {
  const r = await register({ name, port, epmdPort: epmd.port });
  cleanup.push(() => r.close());
  return r;
}

/** An idle socket, closed at the end of the test. */
async function idle(port: number): Promise<Socket> {
  const socket = await openSocket(port);
  cleanup.push(() => closeSocket(socket));
  return socket;
}

describe('the embedded EPMD under a storm', () => {
  it('3,000 idle sockets: NAMES and PORT_PLEASE2 are answered within 1 s; registrations stay', async () => {
    const epmd = await server();
    const before = await reg(epmd, 'before', 4001);
    const storm = await startStorm({ port: epmd.port, idle: 3000, reopen: false });
    cleanup.push(() => storm.stop());
    // A registration made during the storm is kept too.
    const during = await reg(epmd, 'during', 4002);
    for (let i = 0; i < 5; i++) {
      let t0 = performance.now();
      const listed = await names(HOST, { port: epmd.port, timeout: 1000 });
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(listed.nodes).toEqual([
        { name: 'before', port: 4001 },
        { name: 'during', port: 4002 },
      ]);
      t0 = performance.now();
      expect((await portPlease2('before', HOST, { port: epmd.port, timeout: 1000 })).port).toBe(4001);
      expect(performance.now() - t0).toBeLessThan(1000);
    }
    expect(before.active).toBe(true);
    expect(during.active).toBe(true);
    expect(epmd.connections).toBeLessThanOrEqual(1024);
    expect(storm.closedByServer).toBeGreaterThan(1976);
  });

  it('a full server evicts its oldest connection that is not a registration; registrations stay', async () => {
    const epmd = await server({ maxConnections: 3 });
    const kept = await reg(epmd, 'kept', 4003);
    const first = await idle(epmd.port);
    const second = await idle(epmd.port);
    await eventually(() => epmd.connections === 3);
    // A newcomer makes room by evicting the oldest idle connection, and its NAMES is answered.
    expect((await names(HOST, { port: epmd.port, timeout: 1000 })).nodes).toEqual([{ name: 'kept', port: 4003 }]);
    await eventually(() => first.closed, { what: 'the oldest idle connection evicted' });
    expect(second.closed).toBe(false);
    await eventually(() => epmd.connections === 2);
    // A registration may evict too; once every connection is a registration, newcomers are refused.
    const more = await reg(epmd, 'more', 4004);
    const third = await reg(epmd, 'third', 4005);
    await eventually(() => second.closed, { what: 'the last idle connection evicted' });
    const refused = await names(HOST, { port: epmd.port, timeout: 1000 }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ErldistError);
    expect([kept.active, more.active, third.active]).toEqual([true, true, true]);
    expect(epmd.names().map((e) => e.name)).toEqual(['kept', 'more', 'third']);
  });
});
