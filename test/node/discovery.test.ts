/**
 * Discovery against erldist nodes on loopback, no BEAM: members `app@127.x.y.n` listen on one
 * shared port, each on its own loopback address (as pods do on one pinned port), and a fake
 * resolver gives the answers a headless Service would, changing them as pods come and go.
 */
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  anyCall,
  atom,
  createNode,
  type Discovery,
  type DiscoveryResolver,
  type DiscoverySource,
  discover,
  type EpmdServer,
  ErldistError,
  type LeaveReason,
  type LocalNode,
  multicall,
  type Peer,
  type SrvRecord,
  startEpmd,
} from '../../src/index.js';
import { querySource } from '../../src/node/discovery-sources.js';
import { rejection } from '../support/rejection.js';
import { deferred, eventually, pause } from '../support/wait.js';

const cookie = `discovery-${Math.random().toString(36).slice(2)}`;
const SERVICE = 'app-headless.default.svc.cluster.local';

/** A resolver whose answers the test sets; a name with no answer is NXDOMAIN, as in cluster DNS. */
class FakeResolver implements DiscoveryResolver {
  a = new Map<string, string[]>();
  aaaa = new Map<string, string[]>();
  srv = new Map<string, SrvRecord[]>();
  /** Every query fails with this while it is set. */
  failure: (Error & { code?: string }) | undefined;
  /** Every query waits for this while it is set. */
  hold: Promise<void> | undefined;
  queries = 0;

  resolve4(name: string): Promise<string[]> {
    return this.answer(this.a.get(name));
  }
  resolve6(name: string): Promise<string[]> {
    return this.answer(this.aaaa.get(name));
  }
  resolveSrv(name: string): Promise<SrvRecord[]> {
    return this.answer(this.srv.get(name));
  }
  private async answer<T>(records: T[] | undefined): Promise<T[]> {
    this.queries += 1;
    if (this.hold) await this.hold;
    if (this.failure) throw this.failure;
    if (records === undefined) throw Object.assign(new Error('queryA ENOTFOUND'), { code: 'ENOTFOUND' });
    return [...records];
  }
}

function dnsError(code: string): Error & { code: string } {
  return Object.assign(new Error(`queryA ${code} ${SERVICE}`), { code });
}

const nodes: LocalNode[] = [];
const discoveries: Discovery<Peer>[] = [];
let epmd: EpmdServer | undefined;

afterEach(async () => {
  await Promise.all(discoveries.splice(0).map((d) => d.stop()));
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  await epmd?.close();
  epmd = undefined;
});

function track(node: LocalNode): LocalNode {
  nodes.push(node);
  return node;
}

/** Loopback addresses of a /24 of 127/8 that this run picks at random (files run in parallel). */
function subnet(): (n: number) => string {
  const b = 1 + Math.floor(Math.random() * 250);
  const c = 1 + Math.floor(Math.random() * 250);
  return (n) => `127.${b}.${c}.${n}`;
}

interface Cluster {
  ip: (n: number) => string;
  port: number;
  /** Starts member `n` (`app@ip(n)`), listening on the shared port. */
  member(n: number): Promise<LocalNode>;
}

/** A cluster whose members all listen on one port, each on its own address. */
async function cluster(): Promise<Cluster> {
  for (let tries = 0; ; tries++) {
    const ip = subnet();
    const first = track(createNode({ name: `app@${ip(1)}`, cookie }));
    try {
      const { port } = await first.listen({ host: ip(1), epmd: false });
      expose(first);
      const member = async (n: number) => {
        if (n === 1) return first;
        const node = track(createNode({ name: `app@${ip(n)}`, cookie }));
        await node.listen({ host: ip(n), port, epmd: false });
        expose(node);
        return node;
      };
      return { ip, port, member };
    } catch (err) {
      if (tries > 3) throw err;
    }
  }
}

function expose(node: LocalNode): void {
  node.expose('m', {
    who: () => atom(node.name),
    boom: () => {
      throw new Error('boom');
    },
    // Answers only when the test lets it: a member that takes too long.
    slow: () => new Promise(() => {}),
  });
}

function client(): LocalNode {
  return track(createNode({ name: `client${process.pid}@127.0.0.1`, cookie }));
}

function start(node: LocalNode, sources: DiscoverySource[], resolver: DiscoveryResolver, extra = {}): Discovery<Peer> {
  // A long interval: the tests poll with refresh(), except where the timer is the point.
  const d = node.discover({ sources, resolver, interval: 60_000, connectTimeout: 2000, ...extra });
  discoveries.push(d);
  return d;
}

/** Every event of a discovery, in order, as text. */
function record(d: Discovery<Peer>): string[] {
  const seen: string[] = [];
  d.on('join', (node) => seen.push(`join ${node}`));
  d.on('leave', (node, reason) => seen.push(`leave ${node} ${reason}`));
  d.on('error', (err) => seen.push(`error ${err.code} ${err.node ?? '-'}`));
  return seen;
}

describe('discovery through A records (a headless Service)', () => {
  it('connects to every listed member but itself, lists them, and calls them all', async () => {
    const c = await cluster();
    await Promise.all([c.member(2), c.member(3)]);
    // The discovering node is a member too: it finds its own address and skips it.
    const self = await c.member(4);
    const dns = new FakeResolver();
    dns.a.set(SERVICE, [c.ip(1), c.ip(2), c.ip(3), c.ip(4)]);
    const d = start(self, [{ type: 'dns', service: SERVICE, basename: 'app', port: c.port }], dns);
    const seen = record(d);
    await d.ready({ timeout: 3000 });
    const members = [1, 2, 3].map((n) => `app@${c.ip(n)}`);
    expect(d.nodes()).toEqual([...members].sort());
    expect([...seen].sort()).toEqual(members.map((m) => `join ${m}`).sort());
    expect(d.peers().map((p) => p.name)).toEqual(d.nodes());
    expect(d.peer(members[0])?.name).toBe(members[0]);

    const results = await d.multicall('m', 'who', [], { timeout: 2000 });
    expect(results).toEqual(d.nodes().map((node) => ({ node, ok: true, value: atom(node) })));
  });

  it('lets go of a vanished member, and joins it again when it comes back', async () => {
    const c = await cluster();
    const two = await c.member(2);
    const dns = new FakeResolver();
    dns.a.set(SERVICE, [c.ip(1), c.ip(2)]);
    const node = client();
    const d = start(node, [{ type: 'dns', service: SERVICE, basename: 'app', port: c.port }], dns);
    const seen = record(d);
    await d.ready();
    expect(d.nodes()).toEqual([`app@${c.ip(1)}`, `app@${c.ip(2)}`]);
    const peer = d.peer(`app@${c.ip(2)}`);

    // The pod is gone from the Service: its peer is closed (the member sees us go).
    const down = new Promise((resolve) => two.once('nodedown', resolve));
    dns.a.set(SERVICE, [c.ip(1)]);
    await d.refresh();
    expect(d.nodes()).toEqual([`app@${c.ip(1)}`]);
    expect(peer?.isClosed).toBe(true);
    await down;

    dns.a.set(SERVICE, [c.ip(1), c.ip(2)]);
    await d.refresh();
    expect(d.nodes()).toEqual([`app@${c.ip(1)}`, `app@${c.ip(2)}`]);
    expect(await d.peer(`app@${c.ip(2)}`)?.rpc('m', 'who', [])).toBe(atom(`app@${c.ip(2)}`));
    expect(seen.slice(2)).toEqual([`leave app@${c.ip(2)} gone`, `join app@${c.ip(2)}`]);

    // No pod ready: the Service has no record at all (NXDOMAIN), so every member leaves.
    dns.a.delete(SERVICE);
    await d.refresh();
    expect(d.nodes()).toEqual([]);
    expect(seen.filter((e) => e.startsWith('error'))).toEqual([]);
  });

  it('a member whose peer was closed leaves, and joins again while it is listed', async () => {
    const c = await cluster();
    const dns = new FakeResolver();
    dns.a.set(SERVICE, [c.ip(1)]);
    const d = start(client(), [{ type: 'dns', service: SERVICE, basename: 'app', port: c.port }], dns);
    const seen = record(d);
    await d.ready();
    const first = d.peer(`app@${c.ip(1)}`) as Peer;
    await first.close();
    expect(d.nodes()).toEqual([]);
    await d.refresh();
    expect(seen).toEqual([`join app@${c.ip(1)}`, `leave app@${c.ip(1)} closed`, `join app@${c.ip(1)}`]);
    expect(d.peer(`app@${c.ip(1)}`)).not.toBe(first);
    expect(await d.peer(`app@${c.ip(1)}`)?.ping()).toBe(true);
  });

  it('a resolver failure is an error event and keeps the members; a timeout too', async () => {
    const c = await cluster();
    await c.member(2);
    const dns = new FakeResolver();
    dns.a.set(SERVICE, [c.ip(1), c.ip(2)]);
    const d = start(client(), [{ type: 'dns', service: SERVICE, basename: 'app', port: c.port }], dns, {
      queryTimeout: 100,
    });
    const errors: ErldistError[] = [];
    d.on('error', (err) => errors.push(err));
    await d.ready();

    dns.failure = dnsError('ESERVFAIL');
    await d.refresh();
    expect(d.nodes()).toHaveLength(2);
    // One error per source that failed (its A or its AAAA query).
    expect(errors.map((e) => e.code)).toEqual(['CONNECT_FAILED']);
    expect(errors[0].message).toContain('ESERVFAIL');
    expect(errors[0].cause).toBe(dns.failure);

    // A resolver that does not answer: the query times out, the poll ends, members stay.
    dns.failure = undefined;
    const held = deferred();
    dns.hold = held.promise;
    const started = Date.now();
    await d.refresh();
    expect(Date.now() - started).toBeLessThan(1500);
    expect(errors.slice(1).map((e) => e.code)).toEqual(['TIMEOUT']);
    expect(d.nodes()).toHaveLength(2);
    dns.hold = undefined;
    held.resolve();

    // Answers again, with one pod gone.
    dns.a.set(SERVICE, [c.ip(2)]);
    await d.refresh();
    expect(d.nodes()).toEqual([`app@${c.ip(2)}`]);
  });

  it('a listed member that cannot be reached is an error naming it, and joins once it listens', async () => {
    const c = await cluster();
    const dns = new FakeResolver();
    dns.a.set(SERVICE, [c.ip(1), c.ip(5)]);
    const d = start(client(), [{ type: 'dns', service: SERVICE, basename: 'app', port: c.port }], dns);
    const seen = record(d);
    await d.ready();
    expect(d.nodes()).toEqual([`app@${c.ip(1)}`]);
    expect(seen).toContain(`error CONNECT_FAILED app@${c.ip(5)}`);

    await c.member(5);
    await d.refresh();
    expect(d.nodes()).toEqual([`app@${c.ip(1)}`, `app@${c.ip(5)}`]);
  });

  it('erldist nodes that discover each other end up with one connection per pair', async () => {
    const c = await cluster();
    const all = await Promise.all([1, 2, 3].map((n) => c.member(n)));
    const dns = new FakeResolver();
    dns.a.set(SERVICE, [c.ip(1), c.ip(2), c.ip(3)]);
    const ds = all.map((n) => start(n, [{ type: 'dns', service: SERVICE, basename: 'app', port: c.port }], dns));
    await Promise.all(ds.map((d) => d.ready()));
    ds.forEach((d, i) => {
      expect(d.nodes()).toEqual(all.filter((_, j) => j !== i).map((n) => n.name));
    });
    // Each pair talks over one connection, whichever side dialled.
    for (const [i, d] of ds.entries()) {
      for (const peer of d.peers())
        expect(all.find((n) => n.name === peer.name)?.peer(all[i]?.name as string)).toBeDefined();
      const results = await d.multicall('m', 'who', [], { timeout: 2000 });
      expect(results.every((r) => r.ok)).toBe(true);
    }
  });

  it('polls by itself at the interval', async () => {
    const c = await cluster();
    await c.member(2);
    const dns = new FakeResolver();
    dns.a.set(SERVICE, [c.ip(1)]);
    const d = start(client(), [{ type: 'dns', service: SERVICE, basename: 'app', port: c.port }], dns, {
      interval: 50,
      jitter: 0.5,
    });
    await d.ready();
    dns.a.set(SERVICE, [c.ip(1), c.ip(2)]);
    await eventually(() => d.nodes().length === 2, { what: 'the second member joins without refresh()' });
    dns.a.set(SERVICE, [c.ip(2)]);
    await eventually(() => d.nodes().length === 1, { what: 'the first member leaves without refresh()' });
    expect(d.nodes()).toEqual([`app@${c.ip(2)}`]);
  });

  it('IPv6: AAAA records give app@<ipv6>, dialled in brackets; family picks A or AAAA', async () => {
    const dns = new FakeResolver();
    dns.a.set(SERVICE, ['10.1.2.3']);
    dns.aaaa.set(SERVICE, ['fd00::12', '::1']);
    const source = { type: 'dns', service: SERVICE, basename: 'app', port: 43691 } as const;
    expect(await querySource(source, dns, {})).toEqual([
      { node: 'app@10.1.2.3', target: 'app@10.1.2.3:43691' },
      { node: 'app@fd00::12', target: 'app@[fd00::12]:43691' },
      { node: 'app@::1', target: 'app@[::1]:43691' },
    ]);
    expect(await querySource({ ...source, family: 6, port: undefined }, dns, {})).toEqual([
      { node: 'app@fd00::12', target: 'app@[fd00::12]' },
      { node: 'app@::1', target: 'app@[::1]' },
    ]);
    expect(await querySource({ ...source, family: 4 }, dns, {})).toHaveLength(1);
    // A record that is no address fails the source.
    dns.a.set(SERVICE, ['not an address']);
    expect((await rejection(querySource(source, dns, {}))).code).toBe('INVALID_ARGUMENT');
  });
  it('IPv6: a member on ::1 found through AAAA is connected as app@::1', async () => {
    const c = await cluster();
    const v6 = track(createNode({ name: 'app@::1', cookie }));
    await v6.listen({ host: '::1', port: c.port, epmd: false });
    expose(v6);
    const dns = new FakeResolver();
    dns.a.set(SERVICE, [c.ip(1)]);
    dns.aaaa.set(SERVICE, ['::1']);
    const d = start(client(), [{ type: 'dns', service: SERVICE, basename: 'app', port: c.port }], dns);
    await d.ready();
    expect(d.nodes()).toEqual([`app@${c.ip(1)}`, 'app@::1']);
    expect(await d.peer('app@::1')?.rpc('m', 'who', [])).toBe(atom('app@::1'));
  });
});

describe('discovery through SRV records and EPMD', () => {
  it('SRV targets give basename@<target> (final dot or not); the record port is not used', async () => {
    const c = await cluster();
    await c.member(2);
    const dns = new FakeResolver();
    // Cluster DNS gives pod FQDNs; here the targets are addresses the test machine can reach.
    dns.srv.set(SERVICE, [
      { name: `${c.ip(1)}.`, port: 4369, priority: 0, weight: 50 },
      { name: c.ip(2), port: 4369, priority: 0, weight: 50 },
    ]);
    const d = start(client(), [{ type: 'srv', service: SERVICE, basename: 'app', port: c.port }], dns);
    await d.ready();
    expect(d.nodes()).toEqual([`app@${c.ip(1)}`, `app@${c.ip(2)}`]);
    dns.srv.set(SERVICE, []);
    await d.refresh();
    expect(d.nodes()).toEqual([]);
  });

  it("EPMD's NAMES lists nodes on a host; basename keeps one kind; the client itself is skipped", async () => {
    epmd = await startEpmd({ port: 0, host: '127.0.0.1' });
    const epmdPort = epmd.port;
    const names = ['worker', 'worker2', 'other'].map((n) => `${n}${process.pid}`);
    for (const n of names) {
      const node = track(createNode({ name: `${n}@127.0.0.1`, cookie, epmdPort }));
      await node.listen({ host: '127.0.0.1' });
    }
    const self = track(createNode({ name: `self${process.pid}@127.0.0.1`, cookie, epmdPort }));
    await self.listen({ host: '127.0.0.1' });
    const resolver = new FakeResolver();
    const all = start(self, [{ type: 'epmd', hosts: ['127.0.0.1'], epmdPort }], resolver);
    await all.ready();
    expect(all.nodes()).toEqual(names.map((n) => `${n}@127.0.0.1`).sort());
    expect(resolver.queries).toBe(0);

    const one = start(self, [{ type: 'epmd', hosts: ['127.0.0.1'], epmdPort, basename: names[0] }], resolver);
    await one.ready();
    expect(one.nodes()).toEqual([`${names[0]}@127.0.0.1`]);

    // A filter narrows any source.
    const filtered = start(self, [{ type: 'epmd', hosts: ['127.0.0.1'], epmdPort }], resolver, {
      filter: (node: string) => node.startsWith('other'),
    });
    await filtered.ready();
    expect(filtered.nodes()).toEqual([`${names[2]}@127.0.0.1`]);
  });

  it('an EPMD that does not answer is an error event (EPMD_UNREACHABLE)', async () => {
    epmd = await startEpmd({ port: 0, host: '127.0.0.1' });
    const epmdPort = epmd.port;
    await epmd.close();
    epmd = undefined;
    const d = start(client(), [{ type: 'epmd', hosts: ['127.0.0.1'], epmdPort }], new FakeResolver());
    const seen = record(d);
    await d.ready();
    expect(seen).toEqual(['error EPMD_UNREACHABLE -']);
  });
});

describe('calls on the members', () => {
  it('multicall: a value or an error per node', async () => {
    const c = await cluster();
    await c.member(2);
    const dns = new FakeResolver();
    dns.a.set(SERVICE, [c.ip(1), c.ip(2)]);
    const d = start(client(), [{ type: 'dns', service: SERVICE, basename: 'app', port: c.port }], dns);
    const results = await d.multicall('m', 'boom', [], { timeout: 2000 });
    expect(results.map((r) => [r.node, r.ok])).toEqual([
      [`app@${c.ip(1)}`, false],
      [`app@${c.ip(2)}`, false],
    ]);
    for (const r of results) if (!r.ok) expect(r.error.code).toBe('BAD_RPC');

    // The same on any set of peers, named as they name themselves.
    const mixed = await multicall(d.peers(), 'm', 'who', [], { timeout: 2000 });
    expect(mixed.map((r) => r.ok && r.value)).toEqual([atom(`app@${c.ip(1)}`), atom(`app@${c.ip(2)}`)]);
  });

  it('anyCall goes round the members, and moves on from one that does not answer in time', async () => {
    const c = await cluster();
    await Promise.all([c.member(2), c.member(3)]);
    const dns = new FakeResolver();
    dns.a.set(SERVICE, [c.ip(1), c.ip(2), c.ip(3)]);
    const d = start(client(), [{ type: 'dns', service: SERVICE, basename: 'app', port: c.port }], dns);
    const answered = new Set<unknown>();
    for (let i = 0; i < 3; i++) answered.add(await d.anyCall('m', 'who', [], { timeout: 2000 }));
    expect(answered.size).toBe(3);

    // A BAD_RPC is an answer: it is not tried elsewhere.
    expect((await rejection(d.anyCall('m', 'boom', []))).code).toBe('BAD_RPC');

    // The first member in the order hangs: after attemptTimeout the next one answers.
    const [p1, p2] = d.peers();
    const hanging = { name: p1.name, rpc: () => p1.rpc('m', 'slow', [], { timeout: 150 }) };
    const started = Date.now();
    expect(await anyCall([hanging, p2], 'm', 'who', [], { timeout: 3000, attemptTimeout: 150 })).toBe(
      atom(`app@${c.ip(2)}`),
    );
    expect(Date.now() - started).toBeLessThan(2000);

    // race: every member at once; a member that never answers does not hold it up.
    expect(await anyCall([hanging, p2], 'm', 'who', [], { race: true, timeout: 1000 })).toBe(atom(`app@${c.ip(2)}`));
  });

  it('anyCall with no member rejects NODE_DOWN; an aborted signal rejects ABORTED', async () => {
    const dns = new FakeResolver();
    const d = start(client(), [{ type: 'dns', service: SERVICE, basename: 'app', port: 43691 }], dns);
    expect((await rejection(d.anyCall('m', 'who', []))).code).toBe('NODE_DOWN');
    expect(await d.multicall('m', 'who', [])).toEqual([]);
    const aborted = AbortSignal.abort();
    expect((await rejection(d.anyCall('m', 'who', [], { signal: aborted }))).code).toBe('ABORTED');
  });
});

describe('stopping, and failures with nobody listening', () => {
  it('stop() closes the members and polls no more; an aborted signal and a closed node stop it too', async () => {
    const c = await cluster();
    const dns = new FakeResolver();
    dns.a.set(SERVICE, [c.ip(1)]);
    const d = start(client(), [{ type: 'dns', service: SERVICE, basename: 'app', port: c.port }], dns, {
      interval: 20,
    });
    await d.ready();
    const peer = d.peers()[0];
    await d.stop();
    expect(d.stopped).toBe(true);
    expect(peer.isClosed).toBe(true);
    expect(d.nodes()).toEqual([]);
    const queries = dns.queries;
    await d.refresh();
    // Several intervals pass on purpose: no poll runs.
    await pause(100);
    expect(dns.queries).toBe(queries);

    const abort = new AbortController();
    const bySignal = start(client(), [{ type: 'dns', service: SERVICE, basename: 'app', port: c.port }], dns, {
      signal: abort.signal,
    });
    await bySignal.ready();
    expect(bySignal.nodes()).toHaveLength(1);
    abort.abort();
    await eventually(() => bySignal.stopped && bySignal.nodes().length === 0);

    const owner = client();
    const byClose = start(owner, [{ type: 'dns', service: SERVICE, basename: 'app', port: c.port }], dns);
    await byClose.ready();
    await owner.close();
    await byClose.refresh();
    expect(byClose.stopped).toBe(true);
  });

  it("failures go to the node's 'warning' event while nobody listens to 'error'", async () => {
    const dns = new FakeResolver();
    dns.failure = dnsError('ECONNREFUSED');
    const node = client();
    const warnings: unknown[] = [];
    node.on('warning', (w) => warnings.push(w));
    const d = start(node, [{ type: 'dns', service: SERVICE, basename: 'app', family: 4 }], dns);
    await d.ready();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toBeInstanceOf(ErldistError);
  });

  it('bad options throw INVALID_ARGUMENT before any query', () => {
    const node = client();
    const dns = new FakeResolver();
    const bad: unknown[] = [
      {},
      { sources: [] },
      { sources: [{ type: 'dns', service: '', basename: 'app' }] },
      { sources: [{ type: 'dns', service: SERVICE, basename: 'a@b' }] },
      { sources: [{ type: 'srv', service: SERVICE, basename: 'app', port: 70000 }] },
      { sources: [{ type: 'epmd', hosts: 'h' }] },
      { sources: [{ type: 'k8s-api' }] },
      { sources: [{ type: 'dns', service: SERVICE, basename: 'app' }], interval: 0 },
      { sources: [{ type: 'dns', service: SERVICE, basename: 'app' }], jitter: 2 },
    ];
    for (const options of bad) {
      expect(() => discover(node, { resolver: dns, ...(options as { sources: DiscoverySource[] }) })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
    expect(dns.queries).toBe(0);
  });

  it('types: a LocalNode is a discovery host, and events are typed', () => {
    const node = client();
    const d = discover(node, {
      sources: [{ type: 'dns', service: SERVICE, basename: 'app' }],
      resolver: new FakeResolver(),
      signal: AbortSignal.abort(),
    });
    expectTypeOf(d).toEqualTypeOf<Discovery<Peer>>();
    d.on('leave', (_node, reason) => expectTypeOf(reason).toEqualTypeOf<LeaveReason>());
    // @ts-expect-error: no such event
    d.on('joined', () => {});
    expect(d.stopped).toBe(true);
  });
});
