/**
 * Phoenix.PubSub 2.2.0 on three Elixir nodes and a TypeScript node, with the default pool and with
 * `pool_size: 3`: broadcasts both ways reach exactly the subscribers of each topic, once.
 * Each Elixir node collects what its subscriber of "t" gets in the agent `:got`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atom, createNode, type LocalNode, type PubSub, tuple } from '../../src/index.js';
import { freePort } from '../support/net.js';
import { type BeamNode, randomCookie, randomNodeName, startElixirNode, startEpmd, stopAll } from '../support/nodes.js';
import { phoenixPubSubEbin } from '../support/phoenix.js';
import { runtimes } from '../support/runtimes.js';
import { eventually } from '../support/wait.js';

const within1s = (what: string) => ({ timeout: 1000, what });

function boot(poolSize: number): string {
  return String.raw`
{:ok, _} = :pg.start(Phoenix.PubSub)
{:ok, _} = Agent.start(fn -> [] end, name: :got)
{:ok, sup} = Supervisor.start_link([{Phoenix.PubSub, name: MyApp.PubSub, pool_size: ${poolSize}}], strategy: :one_for_one)
Process.unlink(sup)
parent = self()
spawn(fn ->
  :ok = Phoenix.PubSub.subscribe(MyApp.PubSub, "t")
  send(parent, :subscribed)
  loop = fn loop -> receive do m -> Agent.update(:got, fn got -> [m | got] end); loop.(loop) end end
  loop.(loop)
end)
receive do :subscribed -> :ok after 10_000 -> raise "no subscriber" end
`;
}

describe.each(runtimes())('Phoenix.PubSub on $label', (rt) => {
  afterAll(async () => {
    await stopAll();
  });

  it('an Elixir node that restarts gets TypeScript broadcasts again, with no user code', async () => {
    const epmdPort = (await startEpmd(rt)).port;
    const cookie = randomCookie();
    const ebin = await phoenixPubSubEbin(rt);
    const options = { epmdPort, cookie, eval: boot(1), erlArgs: ['-pa', ebin], name: randomNodeName() };
    const pinned = { ...options, pinnedPort: await freePort() };
    const first = await startElixirNode(rt, pinned);
    const ts = createNode({ name: `${randomNodeName()}@127.0.0.1`, cookie, epmdPort });
    try {
      const ps = ts.pubsub('MyApp.PubSub');
      await ts.connect(first.name);
      const ours = ':pg.get_members(Phoenix.PubSub, MyApp.PubSub.Adapter) |> Enum.count(&(node(&1) != node()))';
      await eventually(async () => (await first.evalElixir(ours)) === '1', within1s('worker on the first node'));
      first.kill('SIGKILL');
      const second = await startElixirNode(rt, pinned);
      // The peer reconnects by itself; its nodeup makes the scope discover the new node's scope.
      await eventually(async () => (await second.evalElixir(ours).catch(() => '')) === '1', {
        timeout: 5000,
        what: 'worker on the restarted node',
      });
      ps.broadcast('t', 'again');
      await eventually(async () => (await second.evalElixir('Agent.get(:got, & &1)')) === '["again"]', within1s('got'));
    } finally {
      await ts.close();
    }
  });

  describe.each([1, 3])('pool_size %i', (poolSize) => {
    let ts: LocalNode;
    let ps: PubSub;
    let exs: BeamNode[];
    let scopes: string[];

    beforeAll(async () => {
      const epmdPort = (await startEpmd(rt)).port;
      const cookie = randomCookie();
      const ebin = await phoenixPubSubEbin(rt);
      const options = { epmdPort, cookie, eval: boot(poolSize), erlArgs: ['-pa', ebin] };
      exs = await Promise.all([0, 1, 2].map(() => startElixirNode(rt, options)));
      ts = createNode({ name: `${randomNodeName()}@127.0.0.1`, cookie, epmdPort });
      ps = ts.pubsub('MyApp.PubSub');
      scopes = await Promise.all(exs.map((e) => e.evalElixir('Process.whereis(Phoenix.PubSub)')));
      await Promise.all(exs.map((e) => ts.connect(e.name)));
      // Every Elixir node lists our worker in each pool group before anything is broadcast.
      const groups = [':"Elixir.MyApp.PubSub.Adapter"'];
      for (let i = 2; i <= poolSize; i++) groups.push(`:"Elixir.MyApp.PubSub.Adapter_${i}"`);
      for (const e of exs)
        for (const g of groups)
          await eventually(async () => (await e.evalElixir(`length(:pg.get_members(Phoenix.PubSub, ${g}))`)) === '2', {
            timeout: 3000,
            what: `our worker in ${g} on ${e.name}`,
          });
    });
    afterAll(async () => {
      await ts?.close();
    });

    it('a TypeScript broadcast reaches each Elixir subscriber of the topic once', async () => {
      ps.broadcast('other', tuple(atom('not_for_t'), 0));
      ps.broadcast('t', tuple(atom('hi'), poolSize));
      for (const e of exs)
        await eventually(async () => (await e.evalElixir('Agent.get(:got, & &1)')) !== '[]', within1s(e.name));
      for (const e of exs) expect(await e.evalElixir('Agent.get(:got, & &1)')).toBe(`[hi: ${poolSize}]`);
    });

    it('an Elixir broadcast reaches each TypeScript subscriber of the topic once, from every node', async () => {
      const t = ps.subscribe('t');
      const u = ps.subscribe('u');
      for (const [i, e] of exs.entries()) {
        // From several processes: each picks its pool group by phash2(self()).
        await e.evalElixir(
          `for n <- 1..6, do: Task.async(fn -> Phoenix.PubSub.broadcast(MyApp.PubSub, "t", {:ex, ${i}, n}) end) |> Task.await()`,
        );
        for (let n = 1; n <= 6; n++) expect(await t.receive({ timeout: 1000 })).toEqual(tuple(atom('ex'), i, n));
      }
      ps.localBroadcast('u', 'marker');
      expect(await u.receive({ timeout: 1000 })).toBe('marker');
      expect(t.size).toBe(0);
      t.close();
      u.close();
    });

    it('directBroadcast reaches one node only; the pg scope processes never crashed', async () => {
      const before = await Promise.all(exs.map((e) => e.evalElixir('Agent.get(:got, &length/1)')));
      ps.directBroadcast(exs[1].name, 't', 'direct');
      await eventually(
        async () => (await exs[1].evalElixir('hd(Agent.get(:got, & &1))')) === '"direct"',
        within1s('direct'),
      );
      const after = await Promise.all(exs.map((e) => e.evalElixir('Agent.get(:got, &length/1)')));
      expect(after).toEqual(before.map((n, i) => (i === 1 ? String(Number(n) + 1) : n)));
      expect(ts.pg('Elixir.Phoenix.PubSub').members('Elixir.MyApp.PubSub.Adapter')).toHaveLength(exs.length + 1);
      expect(await Promise.all(exs.map((e) => e.evalElixir('Process.whereis(Phoenix.PubSub)')))).toEqual(scopes);
      expect(scopes.every((p) => p.startsWith('#PID<'))).toBe(true);
    });

    it('a dispatcher: ours names it to each Elixir node, and Elixir ones arrive as the plain message', async () => {
      const dispatcher = String.raw`
defmodule TestDispatcher do
  def dispatch(entries, _from, message), do: for({pid, _} <- entries, do: send(pid, {:dispatched, message}))
end
:ok`;
      for (const e of exs) await e.evalElixir(dispatcher);
      const t = ps.subscribe('t');
      ps.broadcast('t', 'via', { dispatcher: 'TestDispatcher' });
      for (const e of exs)
        await eventually(
          async () => (await e.evalElixir('hd(Agent.get(:got, & &1))')) === '{:dispatched, "via"}',
          within1s(e.name),
        );
      expect(await t.receive({ timeout: 1000 })).toBe('via');
      await exs[2].evalElixir('Phoenix.PubSub.broadcast(MyApp.PubSub, "t", :plain, TestDispatcher)');
      expect(await t.receive({ timeout: 1000 })).toEqual(atom('plain'));
      expect(() => ps.broadcast('t', 'x', { dispatcher: '' })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
      t.close();
    });
  });
});
