#!/usr/bin/env node
// Phoenix.PubSub benchmark: broadcasts to one Elixir subscriber, from TypeScript and from an Elixir
// node, over the same kind of connection.
//
//   npm run bench:pubsub                      (builds dist/ first)
//   node bench/pubsub.mjs [--messages N] [--rounds N] [--erldist PATH] [--runtime PREFIX]
//
// Phoenix.PubSub 2.2.0 is compiled from ../shared/third_party with the runtime's elixirc (the host's,
// or --runtime "chroot /opt/erldist-otp/trixie" for another OTP; it stays out of the package). Three nodes on a private EPMD (erldist's own): `sub` runs MyApp.PubSub and a
// subscriber of "bench" that counts; `pub` (Elixir, connected to `sub`) broadcasts; this process is
// the TypeScript node. Each round asks the counter for N messages, broadcasts N, and times until
// the counter says it has them. The sides alternate; the median round is reported.

import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const messages = Number(opt('--messages', 50000));
const rounds = Number(opt('--rounds', 3));
// A command prefix that runs elixir/elixirc, e.g. "chroot /opt/erldist-otp/trixie" for OTP 27.
const runtime = opt('--runtime', '').split(' ').filter(Boolean);
const root = runtime[0] === 'chroot' ? runtime[1] : '';
const erldistPath = resolve(import.meta.dirname, opt('--erldist', '../dist/index.js'));
const { atom, createNode, startEpmd, tuple } = await import(pathToFileURL(erldistPath).href);
const log = (msg) => process.stderr.write(`${msg}\n`);

const SOURCE = resolve(import.meta.dirname, '../../shared/third_party/phoenix_pubsub-2.2.0/lib');

async function sources(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith('.ex')) out.push(p);
  }
  return out;
}

// The subscriber counts in a compiled module (defmodule compiles it), not a fun run by erl_eval.
const SUB = String.raw`
defmodule BenchCounter do
  def start, do: spawn(fn -> :ok = Phoenix.PubSub.subscribe(MyApp.PubSub, "bench"); Process.register(self(), :counter); loop() end)
  defp loop do
    receive do
      {:expect, n, from} -> count(n, from)
    end
  end
  defp count(0, from), do: (send(from, :done); loop())
  defp count(n, from) do
    receive do
      {:m, _} -> count(n - 1, from)
    end
  end
end
{:ok, _} = :pg.start(Phoenix.PubSub)
{:ok, sup} = Supervisor.start_link([{Phoenix.PubSub, name: MyApp.PubSub}], strategy: :one_for_one)
Process.unlink(sup)
BenchCounter.start()
Process.sleep(:infinity)
`;

const PUB = (sub) => String.raw`
defmodule Bench do
  def run(n), do: Enum.each(1..n, fn i -> Phoenix.PubSub.broadcast(MyApp.PubSub, "bench", {:m, i}) end)
end
{:ok, _} = :pg.start(Phoenix.PubSub)
{:ok, sup} = Supervisor.start_link([{Phoenix.PubSub, name: MyApp.PubSub}], strategy: :one_for_one)
Process.unlink(sup)
true = Node.connect(:"${sub}")
Process.sleep(:infinity)
`;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Inside the runtime's root, so that its own elixirc compiles and its nodes load the code.
const dir = await mkdtemp(join(root ? `${root}/tmp` : tmpdir(), 'erldist-bench-pubsub-'));
const inside = (path) => path.slice(root.length);
const children = [];
const epmd = await startEpmd({ port: 0, host: '127.0.0.1' });
const cookie = randomBytes(8).toString('hex');
const tag = randomBytes(3).toString('hex');
const node = createNode({ name: `bench${tag}@127.0.0.1`, cookie, epmdPort: epmd.port });
try {
  await mkdir(join(dir, 'ebin'));
  await cp(SOURCE, join(dir, 'lib'), { recursive: true });
  log('compiling Phoenix.PubSub 2.2.0 ...');
  const elixirc = [...runtime, 'elixirc', '--ignore-module-conflict', '-o', inside(join(dir, 'ebin'))];
  const files = (await sources(join(dir, 'lib'))).map(inside);
  await promisify(execFile)(elixirc[0], [...elixirc.slice(1), ...files], { env: { ...process.env, HOME: '/tmp' } });
  const env = { ...process.env, ERL_EPMD_PORT: String(epmd.port), HOME: '/tmp' };
  const start = (name, code) => {
    const cmd = [...runtime, 'elixir', '--name', name, '--cookie', cookie, '--erl', `-pa ${inside(join(dir, 'ebin'))}`];
    const child = spawn(cmd[0], [...cmd.slice(1), '-e', code], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(child);
  };
  const sub = `sub${tag}@127.0.0.1`;
  const pub = `pub${tag}@127.0.0.1`;
  start(sub, SUB);
  const ps = node.pubsub('MyApp.PubSub');
  const deadline = Date.now() + 60_000;
  let subPeer;
  while (!subPeer) {
    subPeer = await node.connect(sub, { timeout: 1000 }).catch(() => undefined);
    if (!subPeer && Date.now() > deadline) throw new Error(`${sub} did not come up`);
    if (!subPeer) await new Promise((r) => setTimeout(r, 200));
  }
  start(pub, PUB(sub));
  let pubPeer;
  while (!pubPeer) {
    pubPeer = await node.connect(pub, { timeout: 1000 }).catch(() => undefined);
    if (!pubPeer && Date.now() > deadline) throw new Error(`${pub} did not come up`);
    if (!pubPeer) await new Promise((r) => setTimeout(r, 200));
  }
  const ready = async () => {
    const counter = await subPeer.rpc('erlang', 'whereis', [atom('counter')]);
    const members = await subPeer.rpc('pg', 'get_members', [
      atom('Elixir.Phoenix.PubSub'),
      atom('Elixir.MyApp.PubSub.Adapter'),
    ]);
    const bench = await pubPeer.rpc('code', 'is_loaded', [atom('Elixir.Bench')]);
    return counter !== atom('undefined') && members.length === 3 && bench !== false;
  };
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error('the subscriber, both workers and Bench were not ready');
    await new Promise((r) => setTimeout(r, 200));
  }
  const box = node.spawn();
  const round = async (broadcast) => {
    box.send('counter', tuple(atom('expect'), messages, box.pid), sub);
    await subPeer.ping();
    const t0 = performance.now();
    await broadcast();
    await box.receive({ timeout: 120_000 });
    return messages / ((performance.now() - t0) / 1000);
  };
  const ts = [];
  const ex = [];
  for (let r = 0; r < rounds; r++) {
    ts.push(
      await round(async () => {
        for (let i = 1; i <= messages; i++) {
          ps.broadcast('bench', tuple(atom('m'), i));
          if (i % 1000 === 0) await subPeer.drain();
        }
      }),
    );
    ex.push(await round(() => pubPeer.rpc('Elixir.Bench', 'run', [messages], { timeout: 120_000 })));
  }
  const fmt = (n) => Math.round(n).toLocaleString('en-US');
  const release = await subPeer.rpc('erlang', 'system_info', [atom('otp_release')]);
  const otp = Array.isArray(release) ? String.fromCharCode(...release) : release;
  console.log(
    `Phoenix.PubSub broadcast to one Elixir subscriber (OTP ${otp}), ${messages} messages, median of ${rounds}`,
  );
  console.log(`  erldist (TypeScript)  ${fmt(median(ts))} msg/s`);
  console.log(`  Elixir node           ${fmt(median(ex))} msg/s`);
  console.log(`  ratio                 ${(median(ts) / median(ex)).toFixed(2)}x`);
} finally {
  await node.close();
  for (const child of children) child.kill('SIGKILL');
  await epmd.close();
  await rm(dir, { recursive: true, force: true });
}
