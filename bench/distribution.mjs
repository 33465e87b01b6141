#!/usr/bin/env node
// Distribution benchmark: erldist against a compiled Erlang client node, through the same compiled
// Erlang server node, in the same run (issue 11's goals).
//
//   npm run bench:distribution                (builds dist/ first)
//   node bench/distribution.mjs [options]
//
// Options:
//   --rounds N           rounds per case and side; medians are reported        (default 3)
//   --case LIST          cases to run, comma-separated: echo, echo-1k, echo-64k, echo-1m, rpc, call,
//                        tcp (default all)
//   --echo-ms N          length of one echo round in ms                         (default 2000)
//   --in-flight N        echo messages kept in flight                           (default 1000)
//   --in-flight-bytes N  cap on payload bytes in flight (64 KiB: 128, 1 MiB: 8)  (default 8 MiB)
//   --calls N            timed sequential rpc / GenServer calls per round, after  (default 5000)
//                        as many untimed ones (1,000 to 5,000) on each side
//   --only SIDE          measure only `erldist` or `erlang` (for profiling; no ratios)
//   --cpu-prof DIR       write a V8 CPU profile of each case's erldist rounds (not its warm-up)
//                        to DIR/<case>.cpuprofile; summarise with bench/cpuprofile-top.mjs
//   --heap-prof DIR      sample allocations (also those collected since) during each case's erldist
//                        rounds into DIR/<case>.heapprofile; summarise with bench/heapprofile-top.mjs
//   --json FILE          also write the results as JSON to FILE
//   --erldist PATH       load erldist from PATH instead of ../dist/index.js
//
// Three processes take part, and all Erlang code is compiled with erlc (bench/erlang/*.erl) into a
// temporary directory when the benchmark starts:
//   server  benchsrv<rand>@127.0.0.1 (pinned distribution port, no EPMD) running echo_bench: a
//           registered `echo` process ({From, Msg} -> From ! {echo, Msg}) and a registered
//           gen_server `bench_gs` (call ping -> pong)
//   client  a hidden Erlang node running bench_client: the Erlang baseline of every case, one
//           command a line on its stdin, one `result ...` line back on its stdout
//   this    Node.js, connected to the server with erldist
// For echoes of 64 KiB and more, erldist's rounds are followed by a floor: a fresh Buffer and one
// copy into it per message, which any JS receiver pays and the BEAM's allocator (reusing memory
// still in cache) does not; the share of the Erlang client's CPU it takes is printed below the table.
// The tcp case is no erldist code: a {packet, 4} echo over a plain socket to the server node, from
// Node.js (net.Socket) and from the Erlang client (gen_tcp), timed as rpc and call are. Node's bare
// round trip is the floor under erldist's rpc and call latencies; a note compares it with the
// Erlang client's rpc and call.
// The two sides never measure at the same time; their rounds alternate, and which side goes first
// alternates from one round to the next.

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { connect as connectTcp, createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

// ---------------------------------------------------------------------------------------------
// Options

const CASES = {
  echo: { kind: 'echo', size: 0, title: 'echo, small messages' },
  'echo-1k': { kind: 'echo', size: 1024, title: 'echo, 1 KiB binary' },
  'echo-64k': { kind: 'echo', size: 64 * 1024, title: 'echo, 64 KiB binary' },
  'echo-1m': { kind: 'echo', size: 1024 * 1024, title: 'echo, 1 MiB binary' },
  rpc: { kind: 'rpc', title: 'rpc erlang:node()' },
  call: { kind: 'call', title: 'GenServer call ping' },
  tcp: { kind: 'tcp', title: 'raw TCP round trip, 150 bytes' },
};

/** Bytes of the `tcp` case's packets (bench_client.erl TCP_PACKET). */
const TCP_PACKET = 150;

function parseArgs(argv) {
  const opts = {
    rounds: 3,
    cases: Object.keys(CASES),
    echoMs: 2000,
    inFlight: 1000,
    inFlightBytes: 8 * 1024 * 1024,
    calls: 5000,
    only: null,
    cpuProf: null,
    heapProf: null,
    json: null,
    erldist: null,
  };
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
    if (a === '--rounds') opts.rounds = int();
    else if (a === '--case') {
      opts.cases = val().split(',');
      for (const c of opts.cases) if (!(c in CASES)) die(`unknown case ${c} (${Object.keys(CASES).join(', ')})`);
    } else if (a === '--echo-ms') opts.echoMs = int();
    else if (a === '--in-flight') opts.inFlight = int();
    else if (a === '--in-flight-bytes') opts.inFlightBytes = int();
    else if (a === '--calls') opts.calls = int();
    else if (a === '--only') {
      opts.only = val();
      if (opts.only !== 'erldist' && opts.only !== 'erlang') die('--only takes erldist or erlang');
    } else if (a === '--cpu-prof') opts.cpuProf = val();
    else if (a === '--heap-prof') opts.heapProf = val();
    else if (a === '--json') opts.json = val();
    else if (a === '--erldist') opts.erldist = val();
    else if (a === '-h' || a === '--help') {
      process.stdout.write(
        'usage: node bench/distribution.mjs [--rounds N] [--case LIST] [--echo-ms N] [--in-flight N] ' +
          '[--in-flight-bytes N] [--calls N] [--only erldist|erlang] [--cpu-prof DIR] [--heap-prof DIR] [--json FILE] [--erldist PATH]\n',
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

/** Messages in flight for a payload size: `--in-flight`, fewer for big payloads. */
const inFlightFor = (opts, size) =>
  size === 0 ? opts.inFlight : Math.max(1, Math.min(opts.inFlight, Math.floor(opts.inFlightBytes / size)));

// ---------------------------------------------------------------------------------------------
// Erlang code: compiled with erlc into a temporary directory that is removed on exit.

let beamDir;

function compileErlang() {
  beamDir = mkdtempSync(join(tmpdir(), 'erldist-bench-'));
  const srcDir = fileURLToPath(new URL('./erlang/', import.meta.url));
  const sources = readdirSync(srcDir)
    .filter((f) => f.endsWith('.erl'))
    .map((f) => join(srcDir, f));
  execFileSync('erlc', ['-o', beamDir, ...sources], { stdio: ['ignore', 'inherit', 'inherit'] });
  return beamDir;
}

// ---------------------------------------------------------------------------------------------
// Child processes

const children = new Set();

function killChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  if (beamDir) rmSync(beamDir, { recursive: true, force: true });
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

/**
 * CPU time (user + system, all threads) a process has used, in ms, from /proc/PID/stat (fields 14
 * and 15, in ticks of 10 ms); NaN where there is no /proc. `erl` execs beam.smp in its own pid.
 */
function procCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------------------------------------
// erldist measurements

/**
 * Echo throughput: keeps `inFlight` messages in flight from one mailbox to {echo, Server}, one more
 * for every reply; the message is a counter or a binary of `size` random bytes (random, so that
 * the default decode keeps it a Buffer rather than a string).
 */
async function erldistEcho(lib, peer, ms, inFlight, size) {
  const { tuple } = lib;
  const box = peer.node.spawn();
  try {
    const self = box.pid;
    const payload = size === 0 ? null : randomBytes(size);
    const msg = (i) => tuple(self, payload ?? i);
    let next = 1;
    for (; next <= inFlight; next++) box.send('echo', msg(next), peer);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const deadline = t0 + ms;
    let count = 0;
    let t1;
    let cpu;
    while (true) {
      // Replies that arrived together are taken without a promise each.
      if (box.tryReceive() === undefined) await box.receive();
      box.send('echo', msg(next++), peer);
      count++;
      if ((count & 255) === 0 || size >= 65536) {
        const now = performance.now();
        if (now >= deadline) {
          t1 = now;
          cpu = process.cpuUsage(cpu0);
          break;
        }
      }
    }
    for (let i = 0; i < inFlight; i++) await box.receive({ timeout: 10_000 });
    return { count, us: (t1 - t0) * 1000, cpuUs: cpu.user + cpu.system };
  } finally {
    box.close();
  }
}

/**
 * What no JS receiver can avoid for a message of `size` bytes: a fresh Buffer that the message owns
 * (memory the BEAM's allocator reuses while it is still in cache) and one copy into it, with
 * `inFlight` of them alive as in the echo's window. CPU us per message, GC threads included; it
 * yields every 64 messages, as the echo does, so that the GC's tasks run.
 */
async function freshCopyFloor(size, inFlight, n) {
  const src = randomBytes(size);
  const ring = new Array(inFlight);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const b = Buffer.allocUnsafe(size);
    src.copy(b);
    ring[i % inFlight] = b;
    if (i % 64 === 63) await new Promise((resolve) => setImmediate(resolve));
  }
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / n;
}

/**
 * `warm` untimed calls of `f`, then `n` timed ones: their sorted latencies and the CPU time per
 * timed call, in microseconds.
 */
async function erldistLatencies(f, warm, n) {
  for (let i = 0; i < warm; i++) await f();
  const lat = new Float64Array(n);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await f();
    lat[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  const cpu = process.cpuUsage(cpu0);
  return { sorted: lat.sort(), cpu: (cpu.user + cpu.system) / n };
}

/**
 * A plain socket to the server's TCP echo: `roundTrip()` sends one {packet, 4} packet of
 * TCP_PACKET bytes and resolves when it is back, as an rpc resolves when its reply is read.
 */
async function tcpRoundTrips(port) {
  const socket = connectTcp({ port, host: '127.0.0.1', noDelay: true });
  await new Promise((ok, fail) => {
    socket.once('connect', ok);
    socket.once('error', fail);
  });
  const packet = Buffer.alloc(4 + TCP_PACKET, 7);
  packet.writeUInt32BE(TCP_PACKET, 0);
  let pending = 0;
  let done = null;
  socket.on('data', (chunk) => {
    pending -= chunk.length;
    if (pending === 0) done();
  });
  return {
    roundTrip: () =>
      new Promise((resolve) => {
        done = resolve;
        pending = packet.length;
        socket.write(packet);
      }),
    close: () => socket.destroy(),
  };
}

// Nearest rank, as in bench_client.erl.
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
const fmtMB = (bytesPerSec) => `(${fmtInt(bytesPerSec / 1e6)} MB/s)`;
const fmtNum = (x) =>
  Array.isArray(x)
    ? `p50 ${fmtUs(x[0])} us p99 ${fmtUs(x[1])} us (${fmtUs(x[2])} us CPU each)`
    : `${fmtInt(x.rate)}/s (${fmtUs(x.cpu)} us CPU each)`;
const verdict = (ok) => (ok ? 'ok' : 'MISSED');

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

/** An inspector session of this process with `domain` enabled, its output going to `dir`. */
async function inspectorSession(dir, domain) {
  mkdirSync(dir, { recursive: true });
  const session = new Session();
  session.connect();
  await session.post(`${domain}.enable`);
  return session;
}

/**
 * Samples the CPU only while erldist measures: the profile is started at `resume` and stopped at
 * `pause`; the profiles of one case are merged into DIR/<case>.cpuprofile by `save`.
 */
async function startProfiler(dir) {
  if (!dir) return null;
  const session = await inspectorSession(dir, 'Profiler');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  let parts = [];
  return {
    resume: () => session.post('Profiler.start'),
    pause: async () => parts.push((await session.post('Profiler.stop')).profile),
    save: (name) => {
      writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(mergeProfiles(parts)));
      parts = [];
    },
  };
}

/**
 * Samples allocations only while erldist measures, counting objects that were collected since
 * (what a round trip allocates, not what stays): one DIR/<case>.heapprofile per case.
 */
async function startHeapProfiler(dir) {
  if (!dir) return null;
  const session = await inspectorSession(dir, 'HeapProfiler');
  let parts = [];
  return {
    resume: () =>
      session.post('HeapProfiler.startSampling', {
        samplingInterval: 512,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      }),
    pause: async () => parts.push((await session.post('HeapProfiler.stopSampling')).profile),
    save: (name) => {
      writeFileSync(join(dir, `${name}.heapprofile`), JSON.stringify({ parts }));
      parts = [];
    },
  };
}

/** One profile from several: nodes renumbered, samples and deltas appended. */
function mergeProfiles(parts) {
  const out = { nodes: [], startTime: parts[0].startTime, endTime: 0, samples: [], timeDeltas: [] };
  let offset = 0;
  for (const p of parts) {
    for (const n of p.nodes) out.nodes.push({ ...n, id: n.id + offset, children: n.children?.map((c) => c + offset) });
    for (const s of p.samples) out.samples.push(s + offset);
    out.timeDeltas.push(...p.timeDeltas);
    out.endTime += p.endTime - p.startTime;
    offset += Math.max(...p.nodes.map((n) => n.id));
  }
  out.endTime += out.startTime;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const libPath = opts.erldist ? resolve(opts.erldist) : new URL('../dist/index.js', import.meta.url);
  const lib = await import(libPath instanceof URL ? libPath.href : pathToFileURL(libPath).href);
  const beams = compileErlang();

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
  const common = [
    '-noshell',
    '-pa',
    beams,
    '-setcookie',
    cookie,
    '-start_epmd',
    'false',
    '-erl_epmd_port',
    String(port),
  ];

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
    '-s',
    'echo_bench',
    'start',
  ]);
  await server.waitLine((l) => l === 'ready', 20_000, '"ready"');
  const serverCpuMs = () => procCpuMs(server.child.pid);
  const tcpPort = Number(server.lines.find((l) => l.startsWith('tcp '))?.slice(4));

  log(`starting ${clientName} ...`);
  const client = startErl('client', [
    ...noSpin,
    ...common,
    '-name',
    clientName,
    '-hidden',
    '-dist_listen',
    'false',
    '-run',
    'bench_client',
    'main',
    serverName,
  ]);
  await client.waitLine((l) => l === 'client ready', 30_000, '"client ready"');
  const otpLine = client.lines.find((l) => l.startsWith('otp ')) ?? '';
  const otp = otpLine ? `OTP ${otpLine.split(' ')[1]} (erts ${otpLine.split(' ')[2]})` : 'OTP ?';

  const erlang = async (cmd, kind, timeoutMs) => {
    const p = client.waitLine((l) => l.startsWith(`result ${kind} `), timeoutMs, `result for "${cmd}"`);
    client.child.stdin.write(`${cmd}\n`);
    return (await p).split(' ').slice(2).map(Number);
  };

  const peer = await lib.connect(`${serverName}:${port}`, { cookie });
  const serverAtom = lib.atom(serverName);
  const pong = lib.atom('pong');
  const ping = lib.atom('ping');
  const sides = opts.only ? [opts.only] : ['erldist', 'erlang'];
  const cpuProfiler = await startProfiler(opts.cpuProf);
  const heapProfiler = await startHeapProfiler(opts.heapProf);
  const profilers = [cpuProfiler, heapProfiler].filter(Boolean);
  const profiler = profilers.length
    ? {
        resume: () => Promise.all(profilers.map((p) => p.resume())),
        pause: () => Promise.all(profilers.map((p) => p.pause())),
        save: (name) => {
          for (const p of profilers) p.save(name);
        },
      }
    : null;
  /** One measurement per side and round, sides alternating: { erldist: [...], erlang: [...] }. */
  const alternate = async (name, measure) => {
    const out = { erldist: [], erlang: [] };
    for (let r = 0; r < opts.rounds; r++) {
      const order = r % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        if (side === 'erldist') await profiler?.resume();
        out[side].push(await measure(side));
        if (side === 'erldist') await profiler?.pause();
      }
      log(`${name} round ${r + 1}: ${sides.map((s) => `${s} ${fmtNum(out[s].at(-1))}`).join(', ')}`);
    }
    await profiler?.save(name);
    return out;
  };

  const results = {};
  try {
    if ((await peer.ping()) !== true) throw new Error('ping to the server failed');
    for (const name of opts.cases) {
      const c = CASES[name];
      if (c.kind === 'echo') {
        const inFlight = inFlightFor(opts, c.size);
        const run = async (side, ms) => {
          const srv0 = serverCpuMs();
          let out;
          if (side === 'erldist') {
            const js = await erldistEcho(lib, peer, ms, inFlight, c.size);
            out = { rate: (js.count * 1e6) / js.us, cpu: js.cpuUs / js.count, count: js.count };
            if (c.size >= 65536) out.floor = await freshCopyFloor(c.size, inFlight, Math.min(js.count, 20_000));
          } else {
            const cmd = `echo ${ms} ${inFlight} ${c.size}`;
            const [count, us, cpuMs] = await erlang(cmd, 'echo', ms + 30_000);
            out = { rate: (count * 1e6) / us, cpu: (cpuMs * 1000) / count, count };
          }
          // The server's window also holds the first burst and the drain: inFlight more round trips.
          out.server = ((serverCpuMs() - srv0) * 1000) / (out.count + inFlight);
          return out;
        };
        for (const side of sides) await run(side, Math.min(500, opts.echoMs)); // warm-up
        results[name] = { ...c, inFlight, rounds: await alternate(name, (side) => run(side, opts.echoMs)) };
      } else {
        // V8 compiles the call path's hottest functions with its optimizing tier only after some
        // thousands of calls (the BEAM's JIT compiles a module when it is loaded): 1,000 warm-up
        // calls left erldist's first round at 1.5x the CPU per call of its third.
        const warm = Math.min(5000, Math.max(1000, opts.calls));
        const tcp = c.kind === 'tcp' ? await tcpRoundTrips(tcpPort) : null;
        const f = tcp
          ? tcp.roundTrip
          : c.kind === 'rpc'
            ? async () => {
                if ((await peer.rpc('erlang', 'node', [])) !== serverAtom)
                  throw new Error('rpc erlang:node() is wrong');
              }
            : async () => {
                if ((await peer.call('bench_gs', ping)) !== pong) throw new Error('call ping did not pong');
              };
        const run = async (side) => {
          const srv0 = serverCpuMs();
          let out;
          if (side === 'erldist') {
            const { sorted, cpu } = await erldistLatencies(f, warm, opts.calls);
            out = [percentile(sorted, 0.5), percentile(sorted, 0.99), cpu];
          } else {
            const args = c.kind === 'tcp' ? `${tcpPort} ${warm} ${opts.calls}` : `${warm} ${opts.calls}`;
            out = await erlang(`${c.kind} ${args}`, c.kind, 120_000);
          }
          out[3] = ((serverCpuMs() - srv0) * 1000) / (warm + opts.calls); // warm-up calls included
          return out;
        };
        results[name] = { ...c, rounds: await alternate(name, run) };
        tcp?.close();
      }
    }
  } finally {
    await peer.close().catch(() => {});
    client.child.stdin.end('quit\n');
    server.child.kill('SIGKILL');
  }
  report(opts, results, otp, started);
}

/** Prints the table: medians per side, ratios erldist / Erlang and the issue's goals. */
function report(opts, results, otp, started) {
  const both = opts.only === null;
  const rows = [['case', 'erldist', 'Erlang client', 'ratio', 'paired', 'goal', 'rounds (erldist | Erlang)']];
  const json = {};
  const notes = [];
  /** One row: `get` picks a number from a round; `goal` is [op, value] on the ratio. */
  const row = (label, js, erl, get, fmt, goal) => {
    const a = js.length ? median(js.map(get)) : NaN;
    const b = erl.length ? median(erl.map(get)) : NaN;
    const ratio = a / b;
    const paired = median(js.slice(0, erl.length).map((x, i) => get(x) / get(erl[i])));
    const met = goal && (goal[0] === '>=' ? ratio >= goal[1] : ratio <= goal[1]);
    rows.push([
      label,
      js.length ? fmt(a) : '',
      erl.length ? fmt(b) : '',
      both && erl.length ? fmtRatio(ratio) : '',
      both && erl.length ? fmtRatio(paired) : '',
      goal && both ? `${goal[0]} ${goal[1].toFixed(1)}x ${verdict(met)}` : '',
      `${js.map((x) => fmt(get(x), true)).join(' ')} | ${erl.map((x) => fmt(get(x), true)).join(' ')}`,
    ]);
    return { erldist: a, erlang: b, ratio, paired };
  };
  for (const [name, r] of Object.entries(results)) {
    const js = r.rounds.erldist;
    const erl = r.rounds.erlang;
    if (r.kind === 'echo') {
      const goal = r.size === 0 ? ['>=', 1.1] : r.size >= 65536 ? ['>=', 1.0] : null;
      const rate = (x, short) => (r.size && !short ? `${fmtInt(x)} ${fmtMB(x * r.size * 2)}` : fmtInt(x));
      json[name] = {
        bytes: r.size,
        inFlight: r.inFlight,
        rounds: r.rounds,
        rate: row(
          `${r.title} (${r.inFlight} in flight): round trips/s${r.size ? ', MB/s both ways' : ''}`,
          js,
          erl,
          (x) => x.rate,
          rate,
          goal,
        ),
        cpu: row('  CPU us per round trip (client side)', js, erl, (x) => x.cpu, fmtUs, null),
        server: row('  CPU us per round trip (server node)', js, erl, (x) => x.server, fmtUs, null),
      };
      if (js.length && js[0].floor !== undefined) {
        const floor = row('  JS floor: fresh Buffer + one copy a message, CPU us', js, [], (x) => x.floor, fmtUs, null);
        json[name].floor = floor;
        const erlangCpu = json[name].cpu.erlang;
        if (Number.isFinite(erlangCpu))
          notes.push(
            `${r.title}: a fresh Buffer and one copy per message received cost ${fmtUs(floor.erldist)} us of CPU, ` +
              `${Math.round((100 * floor.erldist) / erlangCpu)}% of the Erlang client's whole round trip (${fmtUs(erlangCpu)} us)`,
          );
      }
    } else {
      json[name] = { rounds: r.rounds };
      for (const [i, label] of [
        [0, 'p50'],
        [1, 'p99'],
        [2, 'cpu'],
        [3, 'server'],
      ]) {
        const what = { cpu: 'client side', server: 'server node' }[label];
        json[name][label] = row(
          i < 2 ? `${r.title}: ${label} us (${fmtInt(opts.calls)} calls)` : `  CPU us per call (${what})`,
          js,
          erl,
          (x) => x[i],
          fmtUs,
          i === 0 && r.kind !== 'tcp' ? ['<=', 1.0] : null,
        );
      }
    }
  }
  const bare = json.tcp?.p50?.erldist;
  if (Number.isFinite(bare)) {
    const vs = ['rpc', 'call']
      .filter((k) => Number.isFinite(json[k]?.p50?.erlang))
      .map((k) => `${fmtRatio(bare / json[k].p50.erlang)} the Erlang client's ${k} p50`);
    notes.push(
      `Node.js's bare TCP round trip (${TCP_PACKET} bytes, no erldist): p50 ${fmtUs(bare)} us${vs.length ? `, ${vs.join(' and ')}` : ''}: ` +
        `the floor under erldist's rpc and call p50 (the Erlang client's gen_tcp round trip, ${fmtUs(json.tcp.p50.erlang)} us, ` +
        'is no floor for its distribution, which does not go through gen_tcp)',
    );
  }
  const cpu = cpus();
  const out = [
    `erldist distribution benchmark: Node ${process.version}, ${otp}, ${cpu.length} x ${cpu[0]?.model.trim() ?? '?'}, load ${loadavg()[0].toFixed(2)}`,
    `median of ${opts.rounds} rounds a side, sides alternating; ratio = erldist median / Erlang median, paired = median of the per-round ratios`,
    '(throughput: higher is better; CPU and latency: lower is better)',
    '',
    table(rows, ['l', 'r', 'r', 'r', 'r', 'l', 'l']),
    '',
    ...notes,
    ...(notes.length ? [''] : []),
    `total ${((performance.now() - started) / 1000).toFixed(1)} s`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  if (opts.json) {
    const doc = { node: process.version, otp, cpus: cpu.length, load: loadavg(), options: opts, results: json };
    writeFileSync(opts.json, `${JSON.stringify(doc, null, 2)}\n`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
