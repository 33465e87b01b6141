/**
 * Joining real BEAM nodes as a hidden node (issue: EPMD, handshake, messages, rpc, GenServer):
 * every test runs on every runtime of the matrix, against Erlang and Elixir nodes started here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atom, connect, createNode, ImproperList, type Peer, type Term, tuple } from '../../src/index.js';
import { TermGen } from '../support/gen.js';
import { freePort } from '../support/net.js';
import {
  type BeamNode,
  ERLANG_MAILBOX_ECHO,
  isStopped,
  randomCookie,
  startElixirNode,
  startEpmd,
  startErlangNode,
  stopAll,
} from '../support/nodes.js';
import { rejection } from '../support/rejection.js';
import { runtimes } from '../support/runtimes.js';
import { eventually, pause } from '../support/wait.js';

describe.each(runtimes())('hidden node on $label', (rt) => {
  let epmdPort: number;
  let erl: BeamNode;
  let pinned: BeamNode;
  let ex: BeamNode;

  beforeAll(async () => {
    const epmd = await startEpmd(rt);
    epmdPort = epmd.port;
    [erl, pinned, ex] = await Promise.all([
      startErlangNode(rt, { epmdPort, eval: ERLANG_MAILBOX_ECHO }),
      startErlangNode(rt, { epmdPort, pinnedPort: await freePort(), netTicktime: 4 }),
      startElixirNode(rt, { epmdPort }),
    ]);
  });
  afterAll(async () => {
    await stopAll();
  });

  describe('Erlang node through EPMD', () => {
    let peer: Peer;
    beforeAll(async () => {
      peer = await connect(erl.name, { cookie: erl.cookie, epmdPort, exact: true });
    });
    afterAll(async () => {
      await peer?.close();
    });

    it('pings', async () => {
      expect(await peer.ping()).toBe(true);
    });

    it('is a hidden node there', async () => {
      expect(await erl.eval('nodes()')).toBe('[]');
      expect(await erl.eval('nodes(hidden)')).toContain(peer.node.name);
    });

    it('rpc with every kind of argument and result (300 seeded terms, exact)', async () => {
      const gen = new TermGen(4242);
      for (let i = 0; i < 300; i++) {
        const t = gen.term(0, true);
        // erlang:hd([T]) returns T unchanged: the term goes there and back.
        expect(await peer.rpc('erlang', 'hd', [[t]])).toStrictEqual(t);
      }
      expect(await peer.rpc('erlang', 'node', [])).toBe(atom(erl.name));
      expect(await peer.rpc('lists', 'seq', [1, 3])).toStrictEqual([1, 2, 3]);
      expect(await peer.rpc('erlang', 'list_to_tuple', [[atom('a'), 1n << 70n]])).toStrictEqual(
        tuple(atom('a'), 1n << 70n),
      );
      expect(await peer.rpc('erlang', 'make_ref', [])).toHaveProperty('ids');
    });

    it('rpc errors: badrpc, undef, exceptions', async () => {
      const undef = await rejection(peer.rpc('no_such_module', 'f', [1]));
      expect(undef.code).toBe('BAD_RPC');
      const reason = undef.reason as { elements: Term[] };
      expect(reason.elements[0]).toBe(atom('EXIT'));
      const badarg = await rejection(peer.rpc('erlang', 'atom_to_list', [1]));
      expect(badarg.code).toBe('BAD_RPC');
    });

    it('rpc timeout and abort', async () => {
      const t = await rejection(peer.rpc('timer', 'sleep', [2000], { timeout: 100 }));
      expect(t.code).toBe('TIMEOUT');
      const ac = new AbortController();
      const p = peer.rpc('timer', 'sleep', [2000], { signal: ac.signal, timeout: 5000 });
      ac.abort(); // while the rpc waits for its answer
      expect((await rejection(p)).code).toBe('ABORTED');
      // The connection stays usable.
      expect(await peer.rpc('erlang', 'abs', [-3])).toBe(3);
    });

    it('1,000 concurrent rpcs settle each on its own', async () => {
      const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => peer.rpc('erlang', 'abs', [-i])));
      expect(results).toStrictEqual(Array.from({ length: 1000 }, (_, i) => i));
    });

    it('a 16 MiB binary each way', async () => {
      const big = Buffer.alloc(16 * 1024 * 1024, 0xab);
      big[0] = 0xff; // not UTF-8: stays a Buffer
      expect(await peer.rpc('erlang', 'byte_size', [big], { timeout: 30_000 })).toBe(big.length);
      const back = (await peer.rpc('binary', 'copy', [Buffer.from([0xfe]), 16 * 1024 * 1024], {
        timeout: 30_000,
      })) as Buffer;
      expect(back.length).toBe(16 * 1024 * 1024);
      expect(back[123456]).toBe(0xfe);
    });

    it('messages: send to a registered process that answers our mailbox', async () => {
      const box = peer.node.spawn();
      box.send('mailbox_echo', tuple(box.pid, new ImproperList([1], 2)), peer);
      expect(await box.receive({ timeout: 5000 })).toStrictEqual(tuple(atom('echo'), new ImproperList([1], 2)));
      // And to a pid: Erlang sends to our mailbox's pid.
      await peer.rpc('erlang', 'send', [box.pid, atom('direct')]);
      expect(await box.receive({ timeout: 5000 })).toBe(atom('direct'));
      // A message to a pid that no longer exists is dropped and counted, never thrown.
      const dead = peer.node.spawn();
      dead.close();
      const before = peer.node.stats.dropped;
      await peer.rpc('erlang', 'send', [dead.pid, atom('lost')]);
      await peer.ping();
      expect(peer.node.stats.dropped).toBe(before + 1);
      box.close();
    });

    it('GenServer call into a dead or missing server rejects at once', async () => {
      const started = Date.now();
      const missing = await rejection(peer.call('no_such_server', atom('x'), { timeout: 10_000 }));
      expect(missing.code).toBe('NO_PROC');
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('a node killed mid-rpc: pending calls reject NODE_DOWN within a second', async () => {
      const victim = await startErlangNode(rt, { epmdPort });
      const p2 = await connect(victim.name, { cookie: victim.cookie, epmdPort });
      const pending = Array.from({ length: 20 }, () => p2.rpc('timer', 'sleep', [30_000], { timeout: 60_000 }));
      // A round trip after the spawn requests: the node has them all before it dies.
      expect(await p2.ping()).toBe(true);
      const killedAt = Date.now();
      victim.kill('SIGKILL');
      const errors = await Promise.all(pending.map(rejection));
      expect(errors.every((e) => e.code === 'NODE_DOWN')).toBe(true);
      expect(Date.now() - killedAt).toBeLessThan(1000);
      // The peer is a handle on the node: it tries to reconnect, until closed.
      expect(p2.connected).toBe(false);
      expect(p2.isClosed).toBe(false);
      await p2.close();
    });

    it('a frozen node (SIGSTOP) is NODE_DOWN after the tick time', async () => {
      const victim = await startErlangNode(rt, { epmdPort });
      const p2 = await connect(victim.name, { cookie: victim.cookie, epmdPort, tickTime: 1000 });
      expect(await p2.ping()).toBe(true);
      victim.kill('SIGSTOP');
      const stoppedAt = Date.now();
      await eventually(() => isStopped(victim.pid), { what: 'beam is stopped' });
      const pending = p2.rpc('erlang', 'node', [], { timeout: 30_000 });
      try {
        expect((await rejection(pending)).code).toBe('NODE_DOWN');
        const took = Date.now() - stoppedAt;
        expect(took).toBeGreaterThanOrEqual(900);
        expect(took).toBeLessThan(3000);
      } finally {
        victim.kill('SIGCONT');
        await p2.close();
      }
    });
  });

  describe('Erlang node pinned to one port, without EPMD', () => {
    it('connects with name@host:port, and outlives 3 tick periods of net_ticktime 4', async () => {
      // No EPMD for this one: a port nothing listens on proves it is not asked.
      const peer = await connect(`${pinned.name}:${pinned.distPort}`, {
        cookie: pinned.cookie,
        epmdPort: await freePort(),
      });
      try {
        expect(await peer.ping()).toBe(true);
        // Letting three tick periods pass is the point: the connection must survive them.
        await pause(13_000);
        expect(peer.isClosed).toBe(false);
        expect(await peer.rpc('erlang', 'abs', [-1])).toBe(1);
        expect(await pinned.eval('nodes(hidden)')).toContain(peer.node.name);
      } finally {
        await peer.close();
      }
    }, 30_000);
  });

  describe('faults with real nodes', () => {
    it('a wrong cookie is AUTH_FAILED, and the cookie is in no message', async () => {
      const cookie = randomCookie();
      const err = await rejection(connect(erl.name, { cookie, epmdPort }));
      expect(err.code).toBe('AUTH_FAILED');
      expect(err.message).not.toContain(cookie);
      expect(err.message).not.toContain(erl.cookie);
    });

    it('an unknown node name is NODE_NOT_FOUND', async () => {
      const err = await rejection(connect('nobody_here@127.0.0.1', { cookie: erl.cookie, epmdPort }));
      expect(err.code).toBe('NODE_NOT_FOUND');
    });

    it('no EPMD listening is EPMD_UNREACHABLE', async () => {
      const err = await rejection(connect(erl.name, { cookie: erl.cookie, epmdPort: await freePort() }));
      expect(err.code).toBe('EPMD_UNREACHABLE');
    });

    it('node.close() rejects pending calls and frees everything', async () => {
      const node = createNode({ cookie: erl.cookie, epmdPort });
      const peer = await node.connect(erl.name);
      const box = node.spawn();
      const waiting = box.receive();
      const pending = peer.rpc('timer', 'sleep', [10_000], { timeout: 20_000 });
      await node.close();
      expect((await rejection(pending)).code).toBe('NODE_DOWN');
      expect((await rejection(waiting)).code).toBe('NODE_DOWN');
      expect(peer.isClosed).toBe(true);
      await expect(node.connect(erl.name)).rejects.toMatchObject({ code: 'NODE_DOWN' });
    });

    it('a closed peer stays closed; connecting again makes a new connection', async () => {
      const node = createNode({ cookie: erl.cookie, epmdPort });
      const first = await node.connect(erl.name);
      await first.close();
      expect(first.isClosed).toBe(true);
      await expect(first.ping()).resolves.toBe(false);
      const second = await node.connect(erl.name);
      expect(second).not.toBe(first);
      expect(await second.ping()).toBe(true);
      await node.close();
    });
  });

  describe('Elixir node', () => {
    let peer: Peer;
    beforeAll(async () => {
      peer = await connect(ex.name, { cookie: ex.cookie, epmdPort });
    });
    afterAll(async () => {
      await peer?.close();
    });

    it('pings and rpcs', async () => {
      expect(await peer.ping()).toBe(true);
      expect(await peer.rpc('Elixir.String', 'upcase', ['héllo'])).toBe('HÉLLO');
      expect(await peer.rpc('Elixir.Enum', 'sum', [[1, 2, 3]])).toBe(6);
    });

    it('send to a registered process that answers our mailbox', async () => {
      const box = peer.node.spawn();
      box.send('mailbox_echo', tuple(box.pid, { hello: 'world' }), peer);
      expect(await box.receive({ timeout: 5000 })).toStrictEqual(tuple(atom('echo'), { hello: 'world' }));
      box.close();
    });

    it('GenServer call and cast', async () => {
      expect(await peer.call('echo_server', tuple(atom('echo'), [1, 'two', atom('three')]))).toStrictEqual([
        1,
        'two',
        atom('three'),
      ]);
      peer.cast('echo_server', tuple(atom('store'), 'kept'));
      expect(await peer.call('echo_server', atom('get'))).toBe('kept');
    });

    it('a GenServer that crashes during the call: CALL_EXIT with the reason', async () => {
      const err = await rejection(peer.call('echo_server', atom('crash'), { timeout: 10_000 }));
      expect(err.code).toBe('CALL_EXIT');
      expect(err.reason).toBeDefined();
      // The supervisor restarts it.
      await eventually(
        async () => (await peer.call('echo_server', tuple(atom('echo'), 1)).catch(() => undefined)) === 1,
        {
          timeout: 5000,
          what: 'echo_server is back',
        },
      );
    });

    it('concurrent GenServer calls', async () => {
      const replies = await Promise.all(
        Array.from({ length: 500 }, (_, i) => peer.call('echo_server', tuple(atom('echo'), i))),
      );
      expect(replies).toStrictEqual(Array.from({ length: 500 }, (_, i) => i));
    });
  });
});
