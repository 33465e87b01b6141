#!/usr/bin/env node
// TLS benchmark: erldist's echo throughput and rpc latency against an Erlang node over TLS
// distribution (-proto_dist inet_tls), next to the same against a plain TCP node.
//
//   npm run bench:tls                       (builds dist/ first)
//   node bench/tls.mjs [--echo-ms N] [--in-flight N] [--rpc-calls N] [--rounds N]
//
// Two Erlang nodes on 127.0.0.1 with pinned ports (no EPMD), each with a registered `echo` process
// ({From, Msg} -> From ! {echo, Msg}); one plain, one with TLS from an ssl_dist_optfile whose
// certificates (a throwaway CA, server and client) are made here with `openssl` and removed after.
// The two are measured in alternating rounds; the median of each is shown, and the ratio TLS / TCP.

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const opts = { echoMs: 2000, inFlight: 1000, rpcCalls: 3000, rounds: 3 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const n = Number(argv[i + 1]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${argv[i]} needs a positive integer`);
  if (argv[i] === '--echo-ms') opts.echoMs = n;
  else if (argv[i] === '--in-flight') opts.inFlight = n;
  else if (argv[i] === '--rpc-calls') opts.rpcCalls = n;
  else if (argv[i] === '--rounds') opts.rounds = n;
  else throw new Error(`unknown option ${argv[i]}`);
}

const { connect, tuple } = await import('../dist/index.js');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function makeCerts(dir) {
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=bench ca');
  for (const name of ['server', 'client']) {
    ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), 'subjectAltName=DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1\n');
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
    );
  }
  const f = (n) => JSON.stringify(join(dir, n));
  const optfile = join(dir, 'ssl_dist.conf');
  writeFileSync(
    optfile,
    `[{server, [{certfile, ${f('server.pem')}}, {keyfile, ${f('server.key')}}, {cacertfile, ${f('ca.pem')}}, {verify, verify_peer}, {fail_if_no_peer_cert, true}]},\n` +
      ` {client, [{certfile, ${f('client.pem')}}, {keyfile, ${f('client.key')}}, {cacertfile, ${f('ca.pem')}}, {verify, verify_peer}]}].\n`,
  );
  return optfile;
}

const ECHO =
  'true = register(echo, spawn(fun Loop() -> receive {From, Msg} -> From ! {echo, Msg}, Loop() end end)), io:format("ready~n")';

async function startNode(cookie, extra) {
  const port = await freePort();
  const name = `bench${randomBytes(4).toString('hex')}@127.0.0.1`;
  const args = [
    '-noshell',
    '-name',
    name,
    '-setcookie',
    cookie,
    '-start_epmd',
    'false',
    '-erl_epmd_port',
    String(port),
  ];
  args.push(
    '-kernel',
    'inet_dist_listen_min',
    String(port),
    'inet_dist_listen_max',
    String(port),
    ...extra,
    '-eval',
    ECHO,
  );
  const child = spawn('erl', args, { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`erl exited ${code}: ${out}`)));
  });
  return { target: `${name}:${port}`, child };
}

async function echoRound(peer) {
  const box = peer.node.spawn();
  const msg = tuple(box.pid, 'ping');
  let count = 0;
  for (let i = 0; i < opts.inFlight; i++) box.send('echo', msg, peer);
  const end = performance.now() + opts.echoMs;
  const started = performance.now();
  while (performance.now() < end) {
    await box.receive({ timeout: 10_000 });
    count++;
    box.send('echo', msg, peer);
  }
  const secs = (performance.now() - started) / 1000;
  for (let i = 0; i < opts.inFlight; i++) await box.receive({ timeout: 10_000 });
  box.close();
  return count / secs;
}

async function rpcRound(peer) {
  const times = [];
  for (let i = 0; i < opts.rpcCalls; i++) {
    const t = performance.now();
    await peer.rpc('erlang', 'abs', [-i]);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length / 2)] * 1000, p99: times[Math.floor(times.length * 0.99)] * 1000 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = mkdtempSync(join(tmpdir(), 'erldist-bench-tls-'));
const nodes = [];
try {
  const optfile = makeCerts(dir);
  const cookie = randomBytes(12).toString('hex');
  const plain = await startNode(cookie, []);
  nodes.push(plain.child);
  const secure = await startNode(cookie, ['-proto_dist', 'inet_tls', '-ssl_dist_optfile', optfile]);
  nodes.push(secure.child);
  const tcpPeer = await connect(plain.target, { cookie, reconnect: false });
  const tlsPeer = await connect(secure.target, {
    cookie,
    reconnect: false,
    tls: {
      ca: readFileSync(join(dir, 'ca.pem')),
      cert: readFileSync(join(dir, 'client.pem')),
      key: readFileSync(join(dir, 'client.key')),
    },
  });
  const results = { tcp: { echo: [], p50: [], p99: [] }, tls: { echo: [], p50: [], p99: [] } };
  for (const peer of [tcpPeer, tlsPeer]) await rpcRound(peer); // warm-up
  for (let r = 0; r < opts.rounds; r++) {
    for (const [label, peer] of [
      ['tcp', tcpPeer],
      ['tls', tlsPeer],
    ]) {
      results[label].echo.push(await echoRound(peer));
      const { p50, p99 } = await rpcRound(peer);
      results[label].p50.push(p50);
      results[label].p99.push(p99);
    }
  }
  const row = (label) => {
    const x = results[label];
    return `${label.toUpperCase().padEnd(4)} echo ${Math.round(median(x.echo)).toLocaleString('en-US').padStart(9)} msg/s   rpc p50 ${median(x.p50).toFixed(0).padStart(5)} µs   p99 ${median(x.p99).toFixed(0).padStart(5)} µs`;
  };
  const otp = execFileSync('erl', [
    '-noshell',
    '-eval',
    'io:format("~s", [erlang:system_info(otp_release)]), halt().',
  ]).toString();
  console.log(
    `TLS distribution vs plain TCP (erldist -> OTP ${otp} on 127.0.0.1, ${opts.inFlight} in flight, median of ${opts.rounds} rounds)`,
  );
  console.log(row('tcp'));
  console.log(row('tls'));
  const ratio = (a, b) => (a / b).toFixed(2);
  console.log(
    `TLS / TCP: echo throughput ${ratio(median(results.tls.echo), median(results.tcp.echo))}x, rpc p50 ${ratio(median(results.tls.p50), median(results.tcp.p50))}x`,
  );
  await tcpPeer.close();
  await tlsPeer.close();
} finally {
  for (const child of nodes) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
