/**
 * Discovery of real BEAM nodes, on every runtime: three Erlang nodes named `app@127.x.y.n`, as pods
 * named `app@$(POD_IP)` are, each listening on its own loopback address and the same pinned port
 * (`inet_dist_use_interface`), each with its own EPMD (as each pod has). There is no cluster DNS
 * here: a fake resolver answers with their addresses, as a headless Service's A records would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atom, createNode, type DiscoveryResolver, discover, type LocalNode, type SrvRecord } from '../../src/index.js';
import { freePort } from '../support/net.js';
import { type BeamNode, randomCookie, startEpmd, startErlangNode, stopAll } from '../support/nodes.js';
import { runtimes } from '../support/runtimes.js';
import { eventually } from '../support/wait.js';

const SERVICE = 'app-headless.default.svc.cluster.local';

class FakeResolver implements DiscoveryResolver {
  a: string[] = [];
  async resolve4(name: string): Promise<string[]> {
    if (name !== SERVICE) throw Object.assign(new Error(`queryA ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return [...this.a];
  }
  async resolve6(name: string): Promise<string[]> {
    throw Object.assign(new Error(`queryAaaa ENODATA ${name}`), { code: 'ENODATA' });
  }
  async resolveSrv(name: string): Promise<SrvRecord[]> {
    throw Object.assign(new Error(`querySrv ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  }
}

describe.each(runtimes())('discovery of three Erlang nodes on $label', (rt) => {
  const b = 1 + Math.floor(Math.random() * 250);
  const c = 1 + Math.floor(Math.random() * 250);
  const ip = (n: number) => `127.${b}.${c}.${n}`;
  const cookie = randomCookie();
  let port: number;
  let epmdPorts: number[];
  let members: BeamNode[];
  let node: LocalNode;

  beforeAll(async () => {
    port = await freePort();
    const epmds = await Promise.all([1, 2, 3].map(() => startEpmd(rt)));
    epmdPorts = epmds.map((e) => e.port);
    members = await Promise.all(
      [1, 2, 3].map((n, i) =>
        startErlangNode(rt, {
          epmdPort: epmdPorts[i] as number,
          name: `app@${ip(n)}`,
          cookie,
          pinnedPort: port,
          erlArgs: ['-kernel', 'inet_dist_use_interface', `{127,${b},${c},${n}}`],
        }),
      ),
    );
    node = createNode({ name: `disc${process.pid}@127.0.0.1`, cookie });
  });
  afterAll(async () => {
    await node?.close();
    await stopAll();
  });

  it('finds, connects to, calls and lets go of them as the answers change', async () => {
    const names = members.map((m) => m.name);
    expect(names).toEqual([1, 2, 3].map((n) => `app@${ip(n)}`));
    const dns = new FakeResolver();
    dns.a = [ip(1), ip(2), ip(3)];
    const d = discover(node, {
      sources: [{ type: 'dns', service: SERVICE, basename: 'app', port }],
      resolver: dns,
      interval: 60_000,
    });
    const events: string[] = [];
    d.on('join', (n) => events.push(`join ${n}`));
    d.on('leave', (n, reason) => events.push(`leave ${n} ${reason}`));
    d.on('error', (err) => events.push(`error ${err.code} ${err.node}`));
    try {
      await d.ready({ timeout: 15_000 });
      expect(d.nodes()).toEqual(names);
      expect([...events].sort()).toEqual(names.map((n) => `join ${n}`));
      for (const m of members) expect(await m.eval('nodes(hidden)')).toContain(node.name);

      // rpc:multicall across them: each answers with its own name.
      const results = await d.multicall('erlang', 'node', [], { timeout: 5000 });
      expect(results).toEqual(names.map((n) => ({ node: n, ok: true, value: atom(n) })));

      // Round-robin: three calls, three different nodes.
      const answered = new Set();
      for (let i = 0; i < 3; i++) answered.add(await d.anyCall('erlang', 'node', [], { timeout: 5000 }));
      expect(answered).toEqual(new Set(names.map((n) => atom(n))));

      // The second pod leaves the Service: discovery disconnects, and the node sees it.
      const [one, two] = members as [BeamNode, BeamNode, BeamNode];
      dns.a = [ip(1), ip(3)];
      await d.refresh();
      expect(d.nodes()).toEqual([names[0], names[2]]);
      await eventually(async () => !(await two.eval('nodes(hidden)')).includes(node.name), {
        timeout: 5000,
        what: `${two.name} sees the discovering node go`,
      });
      expect(await one.eval('nodes(hidden)')).toContain(node.name);

      // It is listed again: connected again.
      dns.a = [ip(1), ip(2), ip(3)];
      await d.refresh();
      expect(d.nodes()).toEqual(names);
      expect(await d.peer(names[1] as string)?.rpc('erlang', 'node', [])).toBe(atom(names[1] as string));
      expect(events.slice(3)).toEqual([`leave ${names[1]} gone`, `join ${names[1]}`]);
    } finally {
      await d.stop();
    }
    // stop() let go of every node.
    for (const m of members) {
      await eventually(async () => !(await m.eval('nodes(hidden)')).includes(node.name), {
        timeout: 5000,
        what: `${m.name} sees the discovering node go after stop()`,
      });
    }
  });

  it("EPMD's NAMES on each host: the same three nodes, dialled at the port EPMD gives", async () => {
    const d = discover(node, {
      sources: [1, 2, 3].map((n, i) => ({
        type: 'epmd' as const,
        hosts: [ip(n)],
        epmdPort: epmdPorts[i],
        basename: 'app',
      })),
      interval: 60_000,
    });
    try {
      await d.ready({ timeout: 15_000 });
      expect(d.nodes()).toEqual(members.map((m) => m.name));
      const results = await d.multicall('erlang', 'system_info', [atom('otp_release')], { timeout: 5000 });
      expect(results.map((r) => r.ok)).toEqual([true, true, true]);
    } finally {
      await d.stop();
    }
  });

  it('a killed member still listed fails its part of a multicall; once unlisted it leaves', async () => {
    const dns = new FakeResolver();
    dns.a = [ip(1), ip(2), ip(3)];
    const d = discover(node, {
      sources: [{ type: 'dns', service: SERVICE, basename: 'app', port }],
      resolver: dns,
      interval: 60_000,
    });
    const left: string[] = [];
    d.on('leave', (n) => left.push(n));
    d.on('error', () => {});
    try {
      await d.ready({ timeout: 15_000 });
      const dead = members[2] as BeamNode;
      dead.kill('SIGKILL');
      await dead.exited;
      const results = await d.multicall('erlang', 'node', [], { timeout: 1500 });
      expect(results.map((r) => r.ok)).toEqual([true, true, false]);
      const failed = results[2];
      expect(failed?.ok === false && ['NODE_DOWN', 'TIMEOUT'].includes(failed.error.code)).toBe(true);

      dns.a = [ip(1), ip(2)];
      await d.refresh();
      expect(left).toEqual([dead.name]);
      expect(d.nodes()).toEqual([members[0]?.name, members[1]?.name]);
    } finally {
      await d.stop();
    }
  });
});
