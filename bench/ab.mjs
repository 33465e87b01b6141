#!/usr/bin/env node
// A/B of two erldist builds in one process, against one compiled OTP node (bench/erlang/echo_bench):
// short slices of each build alternate, so that the load of a shared machine hits both alike. Where
// bench/distribution.mjs compares erldist with the BEAM, this compares erldist with itself: a
// change of a few percent shows here (an A/A run of one build against itself differs by 1-3%).
//
//   node bench/ab.mjs A_DIST B_DIST [--case rpc|call|echo] [--slices N] [--per N]
//
// A_DIST and B_DIST are directories with a built index.js (copy dist/ aside before a change).
// Prints each side's median p50 (rpc, call) or rate (echo) and client CPU, and the paired ratio B / A.

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args.splice(at, 2)[1] : fallback;
};
const kind = option('--case', 'rpc');
const slices = Number(option('--slices', 30));
const per = Number(option('--per', kind === 'echo' ? 300 : 1000));
if (args.length !== 2 || !['rpc', 'call', 'echo'].includes(kind)) {
  process.stderr.write('usage: node bench/ab.mjs A_DIST B_DIST [--case rpc|call|echo] [--slices N] [--per N]\n');
  process.exit(2);
}
const load = (dir) => import(pathToFileURL(join(resolve(dir), 'index.js')).href);
const [A, B] = [await load(args[0]), await load(args[1])];

const here = fileURLToPath(new URL('.', import.meta.url));
const beams = mkdtempSync(join(tmpdir(), 'erldist-ab-'));
execFileSync('erlc', ['-o', beams, join(here, 'erlang', 'echo_bench.erl')], { stdio: 'inherit' });
const cookie = randomBytes(16).toString('hex');
const name = `ab${randomBytes(4).toString('hex')}@127.0.0.1`;
const erl = spawn('erl', ['-noshell', '-pa', beams, '-name', name, '-setcookie', cookie, '-s', 'echo_bench', 'start'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((ok, fail) => {
  erl.stdout.on('data', (d) => String(d).includes('ready') && ok());
  erl.on('exit', () => fail(new Error('the Erlang node exited')));
});

const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];

/** One slice of `per` sequential calls: [p50 us, CPU us per call]. */
async function calls(lib, peer) {
  const ping = lib.atom('ping');
  const f = kind === 'rpc' ? () => peer.rpc('erlang', 'node', []) : () => peer.call('bench_gs', ping);
  const lat = new Float64Array(per);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < per; i++) {
    const t0 = performance.now();
    await f();
    lat[i] = (performance.now() - t0) * 1000;
  }
  const cpu = process.cpuUsage(cpu0);
  return [median(lat), (cpu.user + cpu.system) / per];
}

/** One slice of `per` ms of echo with 1,000 small messages in flight: [round trips/s, CPU us each]. */
async function echo(lib, peer) {
  const box = peer.node.spawn();
  const msg = (i) => lib.tuple(box.pid, i);
  let next = 1;
  for (; next <= 1000; next++) box.send('echo', msg(next), peer);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let count = 0;
  while (performance.now() - t0 < per) {
    for (let k = 0; k < 64; k++, count++) {
      if (box.tryReceive() === undefined) await box.receive();
      box.send('echo', msg(next++), peer);
    }
  }
  const us = (performance.now() - t0) * 1000;
  const cpu = process.cpuUsage(cpu0);
  for (let i = 0; i < 1000; i++) await box.receive({ timeout: 10_000 });
  box.close();
  return [(count * 1e6) / us, (cpu.user + cpu.system) / count];
}

const measure = kind === 'echo' ? echo : calls;
try {
  const pa = await A.connect(name, { cookie });
  const pb = await B.connect(name, { cookie });
  for (let i = 0; i < 5; i++) {
    await measure(A, pa);
    await measure(B, pb);
  }
  const ra = [];
  const rb = [];
  for (let i = 0; i < slices; i++) {
    // Which side goes first alternates.
    if (i % 2 === 0) {
      ra.push(await measure(A, pa));
      rb.push(await measure(B, pb));
    } else {
      rb.push(await measure(B, pb));
      ra.push(await measure(A, pa));
    }
  }
  const what = kind === 'echo' ? 'round trips/s' : 'p50 us';
  const fmt = (v) => (kind === 'echo' ? Math.round(v).toString() : v.toFixed(1));
  const paired = (i) => median(ra.map((a, j) => rb[j][i] / a[i])).toFixed(3);
  console.log(
    `${kind}, ${slices} slices a side: ${what} A ${fmt(median(ra.map((x) => x[0])))}, B ${fmt(median(rb.map((x) => x[0])))}, paired B/A ${paired(0)}`,
  );
  console.log(
    `  CPU us each: A ${median(ra.map((x) => x[1])).toFixed(2)}, B ${median(rb.map((x) => x[1])).toFixed(2)}, paired B/A ${paired(1)}`,
  );
  await pa.close();
  await pb.close();
} finally {
  erl.kill('SIGKILL');
  rmSync(beams, { recursive: true, force: true });
}
