/**
 * The EPMD client against the real `epmd` and real nodes on every runtime (runtimes.ts): each
 * runtime gets its own private EPMD and an `erl -name` node registered with it.
 */
import { type AddressInfo, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EpmdRegistration, names, portPlease2, register } from '../../src/epmd/client.js';
import { freePort } from '../support/net.js';
import {
  type BeamNode,
  type EpmdProcess,
  randomNodeName,
  startEpmd,
  startErlangNode,
  stopAll,
} from '../support/nodes.js';
import { rejection } from '../support/rejection.js';
import { type Runtime, runtimes } from '../support/runtimes.js';
import { eventually } from '../support/wait.js';

const HOST = '127.0.0.1';

/** `net_adm:names()` as the node sees it (it talks to our EPMD through ERL_EPMD_PORT). */
async function erlNames(node: BeamNode): Promise<string> {
  return node.eval('{ok, Names} = net_adm:names(), lists:sort(Names)');
}

describe.each(runtimes())('EPMD on $label', (rt: Runtime) => {
  let epmd: EpmdProcess;
  let node: BeamNode;
  const regs: EpmdRegistration[] = [];
  let silent: Server | undefined;

  beforeAll(async () => {
    epmd = await startEpmd(rt);
    node = await startErlangNode(rt, { epmdPort: epmd.port });
  });
  afterAll(async () => {
    await Promise.all(regs.map((r) => r.close()));
    silent?.close();
    await stopAll();
  });

  it('portPlease2 finds the node on the port it listens on', async () => {
    const info = await portPlease2(node.shortName, HOST, { port: epmd.port });
    expect(info).toEqual({
      port: node.distPort,
      nodeType: 77,
      protocol: 0,
      highestVersion: 6,
      // OTP 25 to 29 register 6/5 (protocol-notes §1 says 6/6); erldist registers 6/6.
      lowestVersion: 5,
      name: node.shortName,
      extra: Buffer.alloc(0),
    });
  });

  it('portPlease2 finds a node on a pinned port, and a hidden node', async () => {
    const pinned = await freePort();
    const other = await startErlangNode(rt, { epmdPort: epmd.port, pinnedPort: pinned, hidden: true });
    try {
      const info = await portPlease2(other.shortName, HOST, { port: epmd.port });
      expect(info.port).toBe(pinned);
      // OTP registers hidden nodes as normal ones (77); hidden is a handshake matter.
      expect(info.nodeType).toBe(77);
    } finally {
      await other.stop();
    }
    await eventually(
      async () => !(await names(HOST, { port: epmd.port })).nodes.some((n) => n.name === other.shortName),
    );
  });

  it('names lists the node', async () => {
    const reply = await names(HOST, { port: epmd.port });
    expect(reply.epmdPort).toBe(epmd.port);
    expect(reply.nodes).toContainEqual({ name: node.shortName, port: node.distPort });
  });

  it('an unknown name: NODE_NOT_FOUND', async () => {
    const err = await rejection(portPlease2('nobody_here', HOST, { port: epmd.port }));
    expect(err.code).toBe('NODE_NOT_FOUND');
    expect(err.message).toContain('nobody_here');
    expect(err.message).toContain(HOST);
  });

  it('a closed port: EPMD_UNREACHABLE', async () => {
    const port = await freePort();
    expect((await rejection(portPlease2(node.shortName, HOST, { port }))).code).toBe('EPMD_UNREACHABLE');
    expect((await rejection(names(HOST, { port }))).code).toBe('EPMD_UNREACHABLE');
    expect((await rejection(register({ name: 'x', port: 1, epmdPort: port }))).code).toBe('EPMD_UNREACHABLE');
  });

  it('a silent TCP server: TIMEOUT', async () => {
    silent = createServer(() => {});
    await new Promise<void>((resolve) => silent!.listen(0, HOST, resolve));
    const port = (silent.address() as AddressInfo).port;
    const t0 = Date.now();
    expect((await rejection(portPlease2('x', HOST, { port, timeout: 200 }))).code).toBe('TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect((await rejection(names(HOST, { port, timeout: 200 }))).code).toBe('TIMEOUT');
  });

  it('register: the name shows in names, in net_adm:names() and to erl_epmd; close() removes it', async () => {
    const name = `fake_${randomNodeName()}`;
    const port = await freePort();
    const reg = await register({ name, port, epmdPort: epmd.port });
    regs.push(reg);
    expect(reg.active).toBe(true);
    expect(reg.creation).toBeGreaterThan(0);
    expect(reg.creation).toBeLessThanOrEqual(0xffffffff);

    expect((await names(HOST, { port: epmd.port })).nodes).toContainEqual({ name, port });
    expect(await erlNames(node)).toContain(`{"${name}",${port}}`);
    expect(await node.eval(`erl_epmd:port_please("${name}", "127.0.0.1")`)).toBe(`{port,${port},6}`);
    const info = await portPlease2(name, HOST, { port: epmd.port });
    expect(info).toMatchObject({ port, nodeType: 77, protocol: 0, highestVersion: 6, lowestVersion: 6, name });

    await reg.close();
    expect(reg.active).toBe(false);
    expect(await reg.closed).toEqual({ reason: 'closed' });
    await eventually(async () => !(await names(HOST, { port: epmd.port })).nodes.some((n) => n.name === name));
    expect(await erlNames(node)).not.toContain(name);
    expect((await rejection(portPlease2(name, HOST, { port: epmd.port }))).code).toBe('NODE_NOT_FOUND');

    // The name is free again.
    const again = await register({ name, port, epmdPort: epmd.port });
    regs.push(again);
    await again.close();
  });

  it('register: hidden type and extra reach EPMD', async () => {
    const name = `hid_${randomNodeName()}`;
    const reg = await register({ name, port: 4242, hidden: true, extra: Buffer.from('xyz'), epmdPort: epmd.port });
    regs.push(reg);
    const info = await portPlease2(name, HOST, { port: epmd.port });
    expect(info.nodeType).toBe(72);
    expect(info.extra.toString()).toBe('xyz');
    await reg.close();
  });

  it('a duplicate name: NOT_ALLOWED', async () => {
    const err = await rejection(register({ name: node.shortName, port: 1234, epmdPort: epmd.port }));
    expect(err.code).toBe('NOT_ALLOWED');
    expect(err.message).toContain(node.shortName);
    // The node's own registration is untouched.
    expect((await portPlease2(node.shortName, HOST, { port: epmd.port })).port).toBe(node.distPort);

    const name = `dup_${randomNodeName()}`;
    const first = await register({ name, port: 1111, epmdPort: epmd.port });
    regs.push(first);
    expect((await rejection(register({ name, port: 2222, epmdPort: epmd.port }))).code).toBe('NOT_ALLOWED');
    expect((await portPlease2(name, HOST, { port: epmd.port })).port).toBe(1111);
    await first.close();
  });

  it('EPMD going away ends a registration with close (reason lost)', async () => {
    const own = await startEpmd(rt);
    const reg = await register({ name: 'doomed', port: 1, epmdPort: own.port });
    regs.push(reg);
    const events: unknown[] = [];
    reg.on('close', (end) => events.push(end.reason));
    await own.stop();
    expect((await reg.closed).reason).toBe('lost');
    expect(events).toEqual(['lost']);
    expect(reg.active).toBe(false);
  });
});
