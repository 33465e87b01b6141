/**
 * The built `erldist` command, run as a subprocess against real nodes on every runtime; and the
 * Node.js service of examples/kubernetes, through its Elixir node's restart.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../support/cli.js';
import { freePort } from '../support/net.js';
import {
  type BeamNode,
  ERLANG_MAILBOX_ECHO,
  isStopped,
  randomCookie,
  randomNodeName,
  startElixirNode,
  startEpmd,
  startErlangNode,
  stopAll,
} from '../support/nodes.js';
import { runtimes } from '../support/runtimes.js';
import { eventually } from '../support/wait.js';

describe.each(runtimes())('erldist CLI on $label', (rt) => {
  let epmdPort: number;
  let erl: BeamNode;
  let ex: BeamNode;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    epmdPort = (await startEpmd(rt)).port;
    const cookie = randomCookie();
    [erl, ex] = await Promise.all([
      startErlangNode(rt, {
        epmdPort,
        cookie,
        eval:
          ERLANG_MAILBOX_ECHO +
          ', register(sink, spawn(fun S() -> receive {get, F} -> F ! sink_empty, S(); M -> receive {get, F} -> F ! M end, S() end end))',
      }),
      startElixirNode(rt, { epmdPort, cookie }),
    ]);
    env = { ERLANG_COOKIE: cookie, ERL_EPMD_PORT: String(epmdPort) };
  });
  afterAll(async () => {
    await stopAll();
  });

  it('ping: pong and exit 0; pang and exit 1 for a node that is not there', async () => {
    const ok = await runCli(['ping', erl.name], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`^pong from ${erl.name.replace(/\./g, '\\.')} in [\\d.]+ ms\\n$`));
    const missing = await runCli(['ping', 'nobody@127.0.0.1'], env);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/NODE_NOT_FOUND/);
  });

  it('ping through a pinned port, NODE from $RELEASE_NODE, --json', async () => {
    const r = await runCli(['ping', '--json'], { ...env, RELEASE_NODE: `${erl.name}:${erl.distPort}` });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ node: erl.name, pong: true });
  });

  it('a wrong cookie exits 3 and never prints a cookie', async () => {
    const r = await runCli(['ping', erl.name, '--cookie', 'not-the-cookie-123'], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/AUTH_FAILED/);
    expect(r.stdout + r.stderr).not.toContain('not-the-cookie-123');
    expect(r.stdout + r.stderr).not.toContain(env.ERLANG_COOKIE!);
  });

  it('rpc with Erlang-syntax arguments and output', async () => {
    const r = await runCli(
      ['rpc', erl.name, 'erlang', 'list_to_tuple', '[a, 1, <<"b">>, "cd", 1.0, 123456789012345678901234567890]'],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('{a,1,<<"b">>,"cd",1.0,123456789012345678901234567890}\n');
    const map = await runCli(['rpc', erl.name, 'maps', 'get', 'k', '#{k => [1, 2 | 3]}'], env);
    expect(map.stdout).toBe('[1,2 | 3]\n');
    const neg = await runCli(['rpc', erl.name, 'erlang', 'abs', '-5'], env);
    expect(neg.stdout).toBe('5\n');
  });

  it('rpc with Elixir syntax and an Elixir module', async () => {
    const r = await runCli(['rpc', ex.name, 'String', 'upcase', '"héllo"', '--elixir'], env);
    expect(r.stdout).toBe('"HÉLLO"\n');
    // One key: key order in printed maps is the VM's.
    const m = await runCli(['rpc', ex.name, 'Map', 'put', '%{}', ':b', '[1, 2]', '--elixir'], env);
    expect(m.stdout).toBe('%{b: [1, 2]}\n');
    const erlMod = await runCli(['rpc', ex.name, ':erlang', 'list_to_tuple', '[:ok, ~c"x"]', '--elixir'], env);
    expect(erlMod.stdout).toBe('{:ok, ~c"x"}\n');
  });

  it('rpc --json', async () => {
    const r = await runCli(
      ['rpc', erl.name, 'erlang', 'list_to_tuple', '[ok, 1, <<"s">>, 18446744073709551616]', '--json'],
      env,
    );
    expect(JSON.parse(r.stdout)).toEqual({ $tuple: [{ $atom: 'ok' }, 1, 's', { $bigint: '18446744073709551616' }] });
  });

  it('a remote error exits 1 with the reason', async () => {
    const r = await runCli(['rpc', erl.name, 'no_such_module', 'f'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/BAD_RPC/);
    expect(r.stderr).toMatch(/undef/);
  });

  it('a term that does not parse exits 2 and points at the column', async () => {
    const r = await runCli(['rpc', erl.name, 'erlang', 'abs', '{1, 2'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/PARSE/);
    expect(r.stderr).toMatch(/column \d+/);
  });

  it('eval in Erlang and Elixir', async () => {
    expect((await runCli(['eval', erl.name, 'lists:sum([1, 2, 3]) * 2'], env)).stdout).toBe('12\n');
    expect((await runCli(['eval', ex.name, 'Enum.map(1..3, &(&1 * 2))', '--elixir'], env)).stdout).toBe('[2, 4, 6]\n');
    const bad = await runCli(['eval', erl.name, 'lists:sum('], env);
    expect(bad.code).toBe(1);
  });

  it('send to a registered process', async () => {
    const r = await runCli(['send', erl.name, 'sink', '{hello, "world"}'], env);
    expect(r.code).toBe(0);
    expect(await erl.eval('sink ! {get, self()}, receive M -> M after 2000 -> timeout end')).toBe('{hello,"world"}');
  });

  it('names lists what EPMD knows', async () => {
    const r = await runCli(['names'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`name ${erl.shortName} at port ${erl.distPort}`);
  });

  it('--timeout is one deadline: ping of a frozen node (SIGSTOP) exits 3 within 2.5 s', async () => {
    const frozen = await startErlangNode(rt, { epmdPort, cookie: env.ERLANG_COOKIE });
    try {
      frozen.kill('SIGSTOP');
      await eventually(() => isStopped(frozen.pid), { what: 'the node stopped' });
      // Through EPMD (which answers) and straight to the port: TCP connects, the handshake hangs.
      for (const node of [frozen.name, `${frozen.name}:${frozen.distPort}`]) {
        const started = performance.now();
        const r = await runCli(['ping', node, '--timeout', '1500', '--json'], env);
        const ms = performance.now() - started;
        expect(r.code).toBe(3);
        expect(JSON.parse(r.stderr)).toMatchObject({ code: 'TIMEOUT', node: frozen.name, exit: 3 });
        expect(ms).toBeLessThan(2500);
      }
    } finally {
      await frozen.stop();
    }
  });

  it('the name part must be the one asked for: another node on the port exits 1; another host part is an alias', async () => {
    const wrong = await runCli(['ping', `wrong@127.0.0.1:${erl.distPort}`], env);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`WRONG_NODE: asked for wrong@127.0.0.1:${erl.distPort}, but ${erl.name} answered`);
    // 127.0.0.2 is loopback too: the node calls itself ...@127.0.0.1, and answers.
    const alias = await runCli(['ping', `${erl.shortName}@127.0.0.2:${erl.distPort}`], env);
    expect(alias.stderr).toBe('');
    expect(alias.stdout).toMatch(new RegExp(`^pong from ${erl.name.replace(/\./g, '\\.')} in`));
  });

  it('50 sequential and 5 concurrent pings add at most 16 atoms on the node', { timeout: 180_000 }, async () => {
    // What a first connection and the first evaluations load on the node (modules and their atoms:
    // over 200) is loaded before counting, also when this test runs alone.
    expect((await runCli(['ping', erl.name, '--name', 'warmup@127.0.0.1'], env)).code).toBe(0);
    const atoms = async () => Number(await erl.eval('erlang:system_info(atom_count)'));
    await atoms();
    await atoms();
    const before = await atoms();
    for (let i = 0; i < 50; i++) {
      const r = await runCli(['ping', erl.name], env);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    const runs = await Promise.all(Array.from({ length: 5 }, () => runCli(['ping', erl.name], env)));
    expect(runs.map((r) => r.stderr)).toEqual(Array(5).fill(''));
    expect(runs.map((r) => r.code)).toEqual(Array(5).fill(0));
    expect((await atoms()) - before).toBeLessThanOrEqual(16);
  });

  it('epmd: real nodes register with it and names lists them; SIGINT stops it', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'epmd', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await eventually(() => out.includes('listening'), { timeout: 10_000, what: 'erldist epmd listening' });
      const node = await startErlangNode(rt, { epmdPort: port, cookie: env.ERLANG_COOKIE });
      const r = await runCli(['names'], { ...env, ERL_EPMD_PORT: String(port) });
      expect(r.stdout).toContain(`name ${node.shortName} at port ${node.distPort}`);
      expect((await runCli(['ping', node.name], { ...env, ERL_EPMD_PORT: String(port) })).code).toBe(0);
      expect(out).toContain(`registered ${node.shortName}`);
      await node.stop();
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
  });
});

// The Elixir side of examples/kubernetes/pricing-api.ts.
const APP_PRICES = String.raw`
defmodule App.Prices do
  use GenServer
  def init(prices), do: {:ok, prices}
  def handle_call({:quote, symbol}, _from, prices), do: {:reply, Map.fetch(prices, symbol), prices}
end
{:ok, _} = GenServer.start(App.Prices, %{"ACME" => 101.5}, name: App.Prices)
`;
const PRICING_API = new URL('../../examples/kubernetes/pricing-api.ts', import.meta.url).pathname;

describe.each(runtimes())('examples/kubernetes/pricing-api.ts on $label', (rt) => {
  afterAll(async () => {
    await stopAll();
  });

  it('answers again after its Elixir node is killed and restarted, with no restart of its own', async () => {
    const epmdPort = (await startEpmd(rt)).port;
    const cookie = randomCookie();
    const name = randomNodeName();
    const pinnedPort = await freePort();
    const startApp = () => startElixirNode(rt, { epmdPort, cookie, name, pinnedPort, eval: APP_PRICES });
    let app = await startApp();
    const service = spawn(process.execPath, ['--import', 'tsx', PRICING_API], {
      env: {
        PATH: process.env.PATH,
        HOME: '/nonexistent',
        TARGET_NODE: `${name}@127.0.0.1:${pinnedPort}`,
        ERLDIST_NAME: `pricing-${randomNodeName()}@127.0.0.1`,
        ERLANG_COOKIE: cookie,
        PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    service.stdout.on('data', (d: Buffer) => (log += d.toString()));
    service.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise((resolve) => service.once('exit', resolve));
    try {
      await eventually(() => /listening on port \d+/.test(log), {
        timeout: 20_000,
        what: `pricing-api listening\n${log}`,
      });
      const port = /listening on port (\d+)/.exec(log)![1];
      const get = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        return { status: res.status, body: await res.json() };
      };
      expect(await get('/quote/ACME')).toEqual({ status: 200, body: { symbol: 'ACME', price: 101.5 } });
      expect((await get('/ready')).status).toBe(200);

      app.kill('SIGKILL');
      await app.exited;
      // While the node is away: not ready, and calls fail fast with 503, never hang.
      expect((await get('/ready')).status).toBe(503);
      expect(await get('/quote/ACME')).toMatchObject({ status: 503 });

      app = await startApp();
      const restarted = performance.now();
      await eventually(async () => (await get('/quote/ACME')).status === 200, {
        timeout: 10_000,
        interval: 50,
        what: `pricing-api answering after the restart\n${log}`,
      });
      expect(performance.now() - restarted).toBeLessThan(5000);
      expect((await get('/ready')).status).toBe(200);
      expect(service.exitCode).toBeNull();
    } finally {
      service.kill('SIGTERM');
      await exited;
      await app.stop();
    }
  });
});
