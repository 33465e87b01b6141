// Smoke test of the BUILT package (dist/index.js) against a real Erlang node, in plain JavaScript so
// that every runtime users have can run it:
//
//   npm run build
//   node test/smoke/smoke.mjs
//   bun test/smoke/smoke.mjs
//   deno run -A test/smoke/smoke.mjs
//
// It needs `erl`, `erlc` and `epmd` on PATH. It starts a private EPMD on a free port and one Erlang
// node (long name on 127.0.0.1, random cookie) running a small module compiled into a temp dir: a
// gen_server and an echo process. Then it checks connect, ping, rpc, a gen_server call, messages
// both ways through a mailbox, and listening (the Erlang node connects to a listening erldist node
// and sends it a message). One PASS/FAIL line per check; exit status 1 if any failed. EPMD, the node
// and the temp dir are removed at the end, also when a check fails; the node also halts by itself
// when its stdin closes (when this process dies) or after ERLDIST_SMOKE_DEADLINE ms.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { atom, connect, createNode, inspect, tuple } from '../../dist/index.js';

const HOST = '127.0.0.1';
const TIMEOUT = 10_000;
const DEADLINE = Number(process.env.ERLDIST_SMOKE_DEADLINE ?? 120_000);

const runtime = (() => {
  if (typeof globalThis.Bun !== 'undefined') return `bun ${globalThis.Bun.version}`;
  if (typeof globalThis.Deno !== 'undefined') return `deno ${globalThis.Deno.version.deno}`;
  return `node ${process.versions.node}`;
})();

// The Erlang side. start/0 is run by `erl -s erldist_smoke start`.
const MODULE = String.raw`-module(erldist_smoke).
-behaviour(gen_server).
-export([start/0, init/1, handle_call/3, handle_cast/2, handle_info/2]).

start() ->
    {ok, _} = gen_server:start({local, smoke_server}, ?MODULE, [], []),
    register(smoke_echo, spawn(fun echo/0)),
    Deadline = list_to_integer(os:getenv("ERLDIST_SMOKE_DEADLINE", "120000")),
    spawn(fun() -> watch_stdin() end),
    spawn(fun() -> timer:sleep(Deadline), erlang:halt(3) end),
    io:format("ERLDIST-SMOKE-READY ~s~n", [node()]).

%% Halts when the smoke script goes away (its pipe to our stdin closes).
watch_stdin() ->
    case io:get_line('') of
        eof -> erlang:halt(0);
        {error, _} -> erlang:halt(0);
        _ -> watch_stdin()
    end.

echo() ->
    receive
        {From, Msg} when is_pid(From) -> From ! {echo, node(), Msg};
        _ -> ok
    end,
    echo().

init([]) -> {ok, 0}.

handle_call({add, A, B}, _From, N) -> {reply, {sum, A + B}, N + 1};
handle_call(count, _From, N) -> {reply, N, N};
handle_call(_Other, _From, N) -> {reply, unknown_call, N}.

handle_cast(_Msg, N) -> {noreply, N}.

handle_info(_Msg, N) -> {noreply, N}.
`;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const randomName = (prefix) => `${prefix}${randomBytes(5).toString('hex')}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the first line of `child`'s stdout that starts with `marker`, or rejects. */
function waitForLine(child, marker, timeout, log) {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => finish(new Error(`no "${marker}" within ${timeout} ms`)), timeout);
    const onData = (chunk) => {
      buffered += chunk;
      log.push(chunk);
      const line = buffered.split('\n').find((l) => l.startsWith(marker));
      if (line !== undefined) finish(undefined, line);
    };
    const onExit = (code, signal) => finish(new Error(`exited (code ${code}, signal ${signal}) before "${marker}"`));
    const finish = (err, line) => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(line);
    };
    child.stdout.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Kills `child` (SIGTERM, then SIGKILL) and waits until it is gone. */
async function kill(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timedOut = await Promise.race([gone.then(() => false), sleep(3000).then(() => true)]);
  if (timedOut) {
    child.kill('SIGKILL');
    await gone;
  }
}

/** Closes the stdin of the sh that guards epmd, which kills epmd and exits. */
async function stopEpmd(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.stdin.end();
  const timedOut = await Promise.race([gone.then(() => false), sleep(3000).then(() => true)]);
  if (timedOut) await kill(child);
}

const results = [];
async function check(name, body) {
  const started = Date.now();
  try {
    const detail = await body();
    results.push({ name, ok: true });
    console.log(`PASS ${name} (${Date.now() - started} ms)${detail ? `: ${detail}` : ''}`);
  } catch (err) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name} (${Date.now() - started} ms): ${err?.code ? `${err.code} ` : ''}${err?.message ?? err}`);
  }
}

function expectEqual(actual, expected) {
  if (actual !== expected) throw new Error(`expected ${expected}, got ${actual}`);
  return actual;
}

async function main() {
  console.log(`erldist smoke test on ${runtime}`);
  const dir = mkdtempSync(join(tmpdir(), 'erldist-smoke-'));
  const erlLog = [];
  let epmd;
  let erl;
  let peer;
  let listening;
  try {
    // Setup: compile the module, start EPMD and the Erlang node. A failure here fails every check.
    writeFileSync(join(dir, 'erldist_smoke.erl'), MODULE);
    const erlc = spawnSync('erlc', ['-o', dir, join(dir, 'erldist_smoke.erl')], { encoding: 'utf8' });
    if (erlc.error || erlc.status !== 0) throw new Error(`erlc failed: ${erlc.error?.message ?? erlc.stderr}`);

    const epmdPort = await freePort();
    // epmd runs under sh, which kills it when its stdin (our pipe) closes: at the end, or when this
    // process dies.
    epmd = spawn('sh', ['-c', 'epmd -port "$1" & e=$!; read -r _; kill "$e"', 'sh', String(epmdPort)], {
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    await sleep(300);

    const cookie = randomBytes(12).toString('hex').toUpperCase();
    const erlName = `${randomName('smoke')}@${HOST}`;
    const env = { ...process.env, ERL_EPMD_PORT: String(epmdPort), ERLDIST_SMOKE_DEADLINE: String(DEADLINE) };
    erl = spawn(
      'erl',
      ['-noshell', '-name', erlName, '-setcookie', cookie, '-pa', dir, '-s', 'erldist_smoke', 'start'],
      {
        env,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    erl.stdout.setEncoding('utf8');
    erl.stderr.setEncoding('utf8');
    erl.stderr.on('data', (chunk) => erlLog.push(chunk));
    await waitForLine(erl, 'ERLDIST-SMOKE-READY', 30_000, erlLog);

    await check('connect', async () => {
      peer = await connect(erlName, { cookie, epmdPort, name: `${randomName('js')}@${HOST}`, timeout: TIMEOUT });
      return `${peer.node.name} -> ${peer.name}`;
    });
    if (!peer) throw new Error('not connected; the other checks need the connection');

    await check('ping', async () => expectEqual(await peer.ping(), true));

    await check('rpc erlang:node/0', async () => {
      const node = await peer.rpc('erlang', 'node', [], { timeout: TIMEOUT });
      return expectEqual(node, atom(erlName)) && inspect(node);
    });

    await check('gen_server call', async () => {
      const reply = await peer.call('smoke_server', tuple(atom('add'), 2, 3), { timeout: TIMEOUT });
      expectEqual(inspect(reply), '{sum,5}');
      peer.cast('smoke_server', atom('ignored'));
      return `${inspect(reply)}, count ${inspect(await peer.call('smoke_server', atom('count'), { timeout: TIMEOUT }))}`;
    });

    await check('mailbox send and receive', async () => {
      const box = peer.node.spawn();
      box.send('smoke_echo', tuple(box.pid, tuple(atom('hello'), 42)), peer);
      const reply = await box.receive({ timeout: TIMEOUT });
      return expectEqual(inspect(reply), `{echo,'${erlName}',{hello,42}}`);
    });

    await check('listen (Erlang connects and sends)', async () => {
      const jsName = `${randomName('jslisten')}@${HOST}`;
      listening = createNode({ name: jsName, cookie, epmdPort });
      await listening.listen();
      const inbox = listening.spawn();
      listening.register('inbox', inbox);
      // erlang:send/2 runs on the Erlang node: it looks jsName up in EPMD and dials us.
      await peer.rpc('erlang', 'send', [tuple(atom('inbox'), atom(jsName)), tuple(atom('hi_from'), atom(erlName))], {
        timeout: TIMEOUT,
      });
      const message = await inbox.receive({ timeout: TIMEOUT });
      return expectEqual(inspect(message), `{hi_from,'${erlName}'}`);
    });
  } catch (err) {
    results.push({ name: 'setup', ok: false });
    console.log(`FAIL setup: ${err?.message ?? err}`);
  } finally {
    await Promise.allSettled([peer?.close(), listening?.close()]);
    await kill(erl);
    await stopEpmd(epmd);
    rmSync(dir, { recursive: true, force: true });
  }

  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0 && erlLog.length > 0) console.log(`--- Erlang node output\n${erlLog.join('').slice(-4000)}`);
  console.log(
    failed.length === 0
      ? `smoke on ${runtime}: all ${results.length} checks passed`
      : `smoke on ${runtime}: ${failed.length} of ${results.length} checks FAILED (${failed.map((r) => r.name).join(', ')})`,
  );
  return failed.length === 0 ? 0 : 1;
}

// process.exit: a connection left half-open by a failure must not keep the runtime alive.
main().then(
  (code) => process.exit(code),
  (err) => {
    console.log(`FAIL smoke: ${err?.stack ?? err}`);
    process.exit(1);
  },
);
