#!/usr/bin/env node
// Distribution benchmark: erldist against an Erlang node doing the same work over the same wire.
//
//   npm run bench:distribution                (builds dist/ first)
//   node bench/distribution.mjs [options]
//
// Options:
//   --json FILE        also write the results as JSON to FILE
//   --echo-ms N        length of one echo throughput round in ms        (default 3000)
//   --echo-rounds N    echo rounds per side; the median is reported     (default 3)
//   --in-flight N      echo messages kept in flight                     (default 1000)
//   --rpc-calls N      timed sequential rpc calls per round             (default 5000)
//   --rpc-rounds N     rpc rounds per side; the median p50/p99 is shown (default 3)
//   --erldist PATH     load erldist from PATH instead of ../dist/index.js (development only)
//
// Three processes take part:
//   server  an Erlang node (benchsrv<rand>@127.0.0.1, pinned distribution port, no EPMD) with a
//           registered `echo` process: {From, Msg} -> From ! {echo, Msg}
//   client  a hidden Erlang node that connects to the server and runs the Erlang baselines on
//           command (one line on its stdin per measurement, one `result ...` line back on stdout)
//   this    Node.js, connected to the server with erldist
// The two sides never measure at the same time; their rounds alternate.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

// ---------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const opts = { json: null, echoMs: 3000, echoRounds: 3, inFlight: 1000, rpcCalls: 5000, rpcRounds: 3, erldist: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) die(`${a} needs a value`);
      return argv[++i];
    };
    const int = () => {
      const n = Number(val());
      if (!Number.isInteger(n) || n <= 0) die(`${a} needs a positive integer`);
      return n;
    };
    if (a === '--json') opts.json = val();
    else if (a === '--echo-ms') opts.echoMs = int();
    else if (a === '--echo-rounds') opts.echoRounds = int();
    else if (a === '--in-flight') opts.inFlight = int();
    else if (a === '--rpc-calls') opts.rpcCalls = int();
    else if (a === '--rpc-rounds') opts.rpcRounds = int();
    else if (a === '--erldist') opts.erldist = val();
    else if (a === '-h' || a === '--help') {
      process.stdout.write(
        'usage: node bench/distribution.mjs [--json FILE] [--echo-ms N] [--echo-rounds N] [--in-flight N] ' +
          '[--rpc-calls N] [--rpc-rounds N] [--erldist PATH]\n',
      );
      process.exit(0);
    } else die(`unknown option ${a}`);
  }
  return opts;
}

function die(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(1);
}

const log = (msg) => process.stderr.write(`${msg}\n`);

// ---------------------------------------------------------------------------------------------
// Erlang code

// The server: register `echo` and say so. Evaluated with -eval.
const SERVER_EVAL =
  'Echo = spawn(fun Loop() -> receive {From, Msg} -> From ! {echo, Msg}, Loop() end end), ' +
  'true = register(echo, Echo), ' +
  'io:format("ready~n").';

// The client: the Erlang side of every measurement. Compiled inside the client node from
// BENCH_CLIENT_SRC (see CLIENT_EVAL), then erldist_dist_bench:main(ServerNode) runs.
const CLIENT_MODULE = String.raw`-module(erldist_dist_bench).
-export([main/1]).

main(Server) ->
    case net_adm:ping(Server) of
        pong -> ok;
        pang -> io:format("error cannot reach ~s~n", [Server]), halt(3)
    end,
    io:format("otp ~s ~s~n", [erlang:system_info(otp_release), erlang:system_info(version)]),
    io:format("client ready~n"),
    loop(Server).

%% One command per stdin line; eof (the benchmark went away) ends the node.
loop(Server) ->
    case io:get_line("") of
        eof -> halt();
        {error, _} -> halt();
        Line ->
            case string:lexemes(string:trim(Line), " ") of
                ["echo", Ms, InFlight] ->
                    {Count, Us} = fresh(fun() -> echo(Server, int(Ms), int(InFlight)) end),
                    io:format("result echo ~w ~w~n", [Count, Us]);
                ["rpc", Warm, N] ->
                    F = fun() -> 1 = rpc:call(Server, erlang, abs, [-1]) end,
                    report(rpc, fresh(fun() -> latencies(F, int(Warm), int(N)) end));
                ["rex", Warm, N] ->
                    F = fun() -> 1 = gen_server:call({rex, Server}, {call, erlang, abs, [-1], user}) end,
                    report(rex, fresh(fun() -> latencies(F, int(Warm), int(N)) end));
                ["quit"] ->
                    halt();
                Other ->
                    io:format("error unknown command ~p~n", [Other])
            end,
            loop(Server)
    end.

int(S) -> list_to_integer(S).

%% Runs F in a new process, so that every measurement starts with an empty mailbox.
fresh(F) ->
    Parent = self(),
    Ref = make_ref(),
    spawn_link(fun() -> Parent ! {Ref, F()} end),
    receive {Ref, R} -> R end.

%% Keeps InFlight messages in flight to {echo, Server}: one more for every reply. Counts replies
%% from the end of the first burst until Ms have passed; then takes the rest in.
echo(Server, Ms, InFlight) ->
    Dest = {echo, Server},
    Self = self(),
    lists:foreach(fun(I) -> Dest ! {Self, I} end, lists:seq(1, InFlight)),
    T0 = erlang:monotonic_time(),
    Deadline = T0 + erlang:convert_time_unit(Ms, millisecond, native),
    {Count, T1} = echo_loop(Dest, Self, InFlight + 1, 0, Deadline),
    drain(InFlight),
    {Count, erlang:convert_time_unit(T1 - T0, native, microsecond)}.

echo_loop(Dest, Self, Next, Count0, Deadline) ->
    receive {echo, _} -> ok end,
    Dest ! {Self, Next},
    Count = Count0 + 1,
    case Count band 255 of
        0 ->
            Now = erlang:monotonic_time(),
            if Now >= Deadline -> {Count, Now};
               true -> echo_loop(Dest, Self, Next + 1, Count, Deadline)
            end;
        _ ->
            echo_loop(Dest, Self, Next + 1, Count, Deadline)
    end.

drain(0) -> ok;
drain(N) -> receive {echo, _} -> drain(N - 1) after 10000 -> exit(echo_lost) end.

%% Warm calls, then N timed ones; returns the sorted latencies in nanoseconds.
latencies(F, Warm, N) ->
    lists:foreach(fun(_) -> F() end, lists:seq(1, Warm)),
    lists:sort([begin
                    T0 = erlang:monotonic_time(),
                    F(),
                    erlang:convert_time_unit(erlang:monotonic_time() - T0, native, nanosecond)
                end || _ <- lists:seq(1, N)]).

%% Nearest-rank percentiles, in microseconds.
report(Name, Sorted) ->
    N = length(Sorted),
    P = fun(Q) -> lists:nth(max(1, ceil(Q * N)), Sorted) / 1000 end,
    io:format("result ~s ~.2f ~.2f ~w~n", [Name, P(0.50), P(0.99), N]).
`;

// Scans the source, splits the tokens at each `dot`, parses and compiles the forms, loads the
// module, and starts it. Evaluated with -eval; the server's node name arrives in BENCH_SERVER.
const CLIENT_EVAL = `
{ok, Tokens, _} = erl_scan:string(os:getenv("BENCH_CLIENT_SRC")),
{[], FormTokens} = lists:foldl(
    fun({dot, _} = Dot, {Cur, Acc}) -> {[], [lists:reverse([Dot | Cur]) | Acc]};
       (T, {Cur, Acc}) -> {[T | Cur], Acc}
    end, {[], []}, Tokens),
Forms = [begin {ok, F} = erl_parse:parse_form(Ts), F end || Ts <- lists:reverse(FormTokens)],
{ok, Mod, Bin} = compile:forms(Forms, [return_errors]),
{module, Mod} = code:load_binary(Mod, "erldist_dist_bench.erl", Bin),
Mod:main(list_to_atom(os:getenv("BENCH_SERVER"))).
`;

// ---------------------------------------------------------------------------------------------
// Child processes

const children = new Set();

function killChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

process.on('exit', killChildren);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(130));

async function freePort() {
  const server = createServer();
  await new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', res);
  });
  const { port } = server.address();
  await new Promise((res) => server.close(res));
  return port;
}

/**
 * Starts `erl` with `args`. Lines on its stdout are split out; `waitLine(pred)` resolves with the
 * first (later) line that satisfies pred, and rejects if the node exits first.
 */
function startErl(label, args, env) {
  const child = spawn('erl', args, {
    env: { ...process.env, ERL_CRASH_DUMP_SECONDS: '0', ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.add(child);
  const waiters = [];
  const lines = [];
  let buf = '';
  let exited = null;
  const failAll = (err) => {
    for (const w of waiters.splice(0)) w.reject(err);
  };
  child.on('error', (err) => {
    exited = new Error(`${label}: cannot run erl: ${err.message}`);
    failAll(exited);
  });
  child.on('exit', (code, signal) => {
    children.delete(child);
    exited = new Error(
      `${label} node exited (${signal ?? `status ${code}`})${lines.length ? `; last output:\n  ${lines.slice(-5).join('\n  ')}` : ''}`,
    );
    failAll(exited);
  });
  child.stdin.on('error', () => {}); // EPIPE after the node is gone is reported by 'exit'
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      lines.push(line);
      if (lines.length > 50) lines.shift();
      if (line.startsWith('error ')) {
        failAll(new Error(`${label}: ${line.slice(6)}`));
        continue;
      }
      const i = waiters.findIndex((w) => w.pred(line));
      if (i >= 0) waiters.splice(i, 1)[0].resolve(line);
    }
  });
  const waitLine = (pred, timeoutMs, what) =>
    new Promise((res, rej) => {
      if (exited) return rej(exited);
      const timer = setTimeout(() => rej(new Error(`${label}: no ${what} within ${timeoutMs} ms`)), timeoutMs);
      waiters.push({
        pred,
        resolve: (line) => {
          clearTimeout(timer);
          res(line);
        },
        reject: (err) => {
          clearTimeout(timer);
          rej(err);
        },
      });
    });
  return { child, waitLine, lines };
}

// ---------------------------------------------------------------------------------------------
// erldist measurements

/** Echo throughput: keeps `inFlight` messages in flight from one mailbox; replies per second. */
async function erldistEcho(lib, peer, ms, inFlight) {
  const { tuple } = lib;
  const box = peer.node.spawn();
  try {
    const self = box.pid;
    let next = 1;
    for (; next <= inFlight; next++) box.send('echo', tuple(self, next), peer);
    const t0 = performance.now();
    const deadline = t0 + ms;
    let count = 0;
    let t1;
    while (true) {
      await box.receive();
      box.send('echo', tuple(self, next++), peer);
      count++;
      if ((count & 255) === 0) {
        const now = performance.now();
        if (now >= deadline) {
          t1 = now;
          break;
        }
      }
    }
    for (let i = 0; i < inFlight; i++) await box.receive({ timeout: 10_000 });
    return { count, us: (t1 - t0) * 1000 };
  } finally {
    box.close();
  }
}

/** Sequential rpc erlang:abs(-1): sorted latencies in microseconds. */
async function erldistRpc(peer, warm, n) {
  for (let i = 0; i < warm; i++) await peer.rpc('erlang', 'abs', [-1]);
  const lat = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = await peer.rpc('erlang', 'abs', [-1]);
    lat[i] = Number(process.hrtime.bigint() - t0) / 1000;
    if (r !== 1) throw new Error(`rpc erlang:abs(-1) returned ${r}`);
  }
  return lat.sort();
}

// Nearest rank, as in the Erlang module.
const percentile = (sorted, q) => sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1];
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ---------------------------------------------------------------------------------------------
// Output

const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
const fmtUs = (n) => n.toFixed(1);
const fmtRatio = (r) => `${r.toFixed(2)}x`;

function table(rows, align) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows
    .map(
      (r, i) =>
        r
          .map((cell, c) => (align[c] === 'r' ? String(cell).padStart(widths[c]) : String(cell).padEnd(widths[c])))
          .join('   ')
          .trimEnd() + (i === 0 ? `\n${widths.map((w) => '-'.repeat(w)).join('   ')}` : ''),
    )
    .join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const libPath = opts.erldist ? resolve(opts.erldist) : new URL('../dist/index.js', import.meta.url);
  const lib = await import(libPath instanceof URL ? libPath.href : pathToFileURL(libPath).href);

  const cookie = randomBytes(16).toString('hex');
  const rand = randomBytes(4).toString('hex');
  const port = await freePort();
  const serverName = `benchsrv${rand}@127.0.0.1`;
  const clientName = `benchcli${rand}@127.0.0.1`;
  // No EPMD anywhere: both nodes take the server's port from -erl_epmd_port. The client does not
  // listen (-dist_listen false, which also makes it hidden); it only dials the server.
  // Idle BEAM schedulers busy-wait by default (+sbwt): the client node would then take CPU from
  // the server while erldist measures. The client sleeps when idle; the server, which both sides
  // use, keeps the default.
  const noSpin = ['+sbwt', 'none', '+sbwtdcpu', 'none', '+sbwtdio', 'none'];
  const common = ['-noshell', '-setcookie', cookie, '-start_epmd', 'false', '-erl_epmd_port', String(port)];

  log(`starting ${serverName} on port ${port} ...`);
  const server = startErl('server', [
    ...common,
    '-name',
    serverName,
    '-kernel',
    'inet_dist_listen_min',
    String(port),
    'inet_dist_listen_max',
    String(port),
    '-eval',
    SERVER_EVAL,
  ]);
  await server.waitLine((l) => l === 'ready', 20_000, '"ready"');

  log(`starting ${clientName} ...`);
  const client = startErl(
    'client',
    [...noSpin, ...common, '-name', clientName, '-hidden', '-dist_listen', 'false', '-eval', CLIENT_EVAL],
    { BENCH_CLIENT_SRC: CLIENT_MODULE, BENCH_SERVER: serverName },
  );
  await client.waitLine((l) => l === 'client ready', 30_000, '"client ready"');
  const otpLine = client.lines.find((l) => l.startsWith('otp ')) ?? '';
  const otp = otpLine ? `OTP ${otpLine.split(' ')[1]} (erts ${otpLine.split(' ')[2]})` : 'OTP ?';

  const erlang = async (cmd, kind, timeoutMs) => {
    const p = client.waitLine((l) => l.startsWith(`result ${kind} `), timeoutMs, `result for "${cmd}"`);
    client.child.stdin.write(`${cmd}\n`);
    return (await p).split(' ').slice(2).map(Number);
  };

  const peer = await lib.connect(`${serverName}:${port}`, { cookie });
  try {
    if ((await peer.ping()) !== true) throw new Error('ping to the server failed');

    // --- echo throughput -----------------------------------------------------------------------
    const warmMs = Math.min(1000, opts.echoMs);
    log(`echo: warm-up (${warmMs} ms each side) ...`);
    await erldistEcho(lib, peer, warmMs, opts.inFlight);
    await erlang(`echo ${warmMs} ${opts.inFlight}`, 'echo', warmMs + 30_000);
    const echo = { erldist: [], erlang: [] };
    for (let r = 1; r <= opts.echoRounds; r++) {
      const js = await erldistEcho(lib, peer, opts.echoMs, opts.inFlight);
      echo.erldist.push((js.count * 1e6) / js.us);
      const [count, us] = await erlang(`echo ${opts.echoMs} ${opts.inFlight}`, 'echo', opts.echoMs + 30_000);
      echo.erlang.push((count * 1e6) / us);
      log(`echo round ${r}: erldist ${fmtInt(echo.erldist.at(-1))}/s, Erlang ${fmtInt(echo.erlang.at(-1))}/s`);
    }

    // --- rpc latency ---------------------------------------------------------------------------
    const warm = Math.min(1000, opts.rpcCalls);
    const rpc = { erldist: [], rpc: [], rex: [] };
    for (let r = 1; r <= opts.rpcRounds; r++) {
      const lat = await erldistRpc(peer, warm, opts.rpcCalls);
      rpc.erldist.push([percentile(lat, 0.5), percentile(lat, 0.99)]);
      rpc.rpc.push(await erlang(`rpc ${warm} ${opts.rpcCalls}`, 'rpc', 60_000));
      rpc.rex.push(await erlang(`rex ${warm} ${opts.rpcCalls}`, 'rex', 60_000));
      log(
        `rpc round ${r}: p50 erldist ${fmtUs(rpc.erldist.at(-1)[0])} us, rpc:call ${fmtUs(rpc.rpc.at(-1)[0])} us, rex ${fmtUs(rpc.rex.at(-1)[0])} us`,
      );
    }

    // --- report --------------------------------------------------------------------------------
    const echoJs = median(echo.erldist);
    const echoErl = median(echo.erlang);
    const p = (rounds, i) => median(rounds.map((x) => x[i]));
    const lat = {
      erldist: { p50: p(rpc.erldist, 0), p99: p(rpc.erldist, 1) },
      rpc: { p50: p(rpc.rpc, 0), p99: p(rpc.rpc, 1) },
      rex: { p50: p(rpc.rex, 0), p99: p(rpc.rex, 1) },
    };
    const echoRatio = echoJs / echoErl;
    const rpcRatio = lat.erldist.p50 / lat.rpc.p50;
    const rexRatio = lat.erldist.p50 / lat.rex.p50;
    const verdict = (ok) => (ok ? 'ok' : 'MISSED');

    const cpu = cpus();
    const out = [];
    out.push(
      `erldist distribution benchmark: Node ${process.version}, ${otp}, ${cpu.length} x ${cpu[0]?.model.trim() ?? '?'}, load ${loadavg()[0].toFixed(2)}`,
    );
    out.push('');
    out.push(
      `Echo throughput: ${fmtInt(opts.inFlight)} messages in flight to {echo, Server}, ${opts.echoMs} ms rounds, median of ${opts.echoRounds}`,
    );
    out.push(
      table(
        [
          ['sender', 'round trips/s', 'rounds'],
          ['erldist mailbox', fmtInt(echoJs), echo.erldist.map(fmtInt).join(' / ')],
          ['Erlang process (client node)', fmtInt(echoErl), echo.erlang.map(fmtInt).join(' / ')],
          ['ratio erldist / Erlang', fmtRatio(echoRatio), `target >= 1.00x: ${verdict(echoRatio >= 1)}`],
        ],
        ['l', 'r', 'l'],
      ),
    );
    out.push('');
    out.push(
      `Sequential rpc erlang:abs(-1): ${fmtInt(opts.rpcCalls)} calls after ${fmtInt(warm)} warm-up, us, median of ${opts.rpcRounds} rounds`,
    );
    out.push(
      table(
        [
          ['caller', 'p50 us', 'p99 us', 'p50 ratio'],
          ['erldist peer.rpc (erpc)', fmtUs(lat.erldist.p50), fmtUs(lat.erldist.p99), ''],
          [
            'Erlang rpc:call (erpc)',
            fmtUs(lat.rpc.p50),
            fmtUs(lat.rpc.p99),
            `${fmtRatio(rpcRatio)}  target <= 1.50x: ${verdict(rpcRatio <= 1.5)}`,
          ],
          ['Erlang gen_server:call({rex, S})', fmtUs(lat.rex.p50), fmtUs(lat.rex.p99), fmtRatio(rexRatio)],
        ],
        ['l', 'r', 'r', 'l'],
      ),
    );
    out.push('');
    out.push("p50 ratio = erldist p50 / that row's p50 (same server, rounds alternate between the sides).");
    out.push(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
    process.stdout.write(`${out.join('\n')}\n`);

    if (opts.json) {
      const json = {
        node: process.version,
        otp,
        cpus: cpu.length,
        options: opts,
        echo: {
          erldist: echo.erldist,
          erlang: echo.erlang,
          medianErldist: echoJs,
          medianErlang: echoErl,
          ratio: echoRatio,
        },
        rpc: { rounds: rpc, median: lat, ratioVsRpcCall: rpcRatio, ratioVsRexCall: rexRatio },
      };
      writeFileSync(opts.json, `${JSON.stringify(json, null, 2)}\n`);
    }
  } finally {
    await peer.close();
    client.child.stdin.end('quit\n');
    server.child.kill('SIGKILL');
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
