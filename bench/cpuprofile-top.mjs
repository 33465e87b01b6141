#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function, with garbage
// collection, idle and program time as their own rows.
//
//   node --cpu-prof --cpu-prof-dir /tmp/prof bench/distribution.mjs --only erldist --case echo
//   node bench/cpuprofile-top.mjs /tmp/prof/*.cpuprofile [--top N]

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 30;

for (const file of args) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Sample i lasted timeDeltas[i + 1] µs (the delta before the next sample).
  const selfUs = new Map();
  const { samples, timeDeltas } = profile;
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const dt = timeDeltas[i + 1] ?? 0;
    const f = byId.get(samples[i]).callFrame;
    const where = f.url ? `${basename(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
    total += dt;
  }
  const rows = [...selfUs].sort((a, b) => b[1] - a[1]);
  const pct = (us) => `${((100 * us) / total).toFixed(1)}%`.padStart(6);
  process.stdout.write(`${file}: ${(total / 1e6).toFixed(2)} s sampled\n`);
  for (const special of ['(idle)', '(garbage collector)', '(program)']) {
    process.stdout.write(`  ${pct(selfUs.get(special) ?? 0)}  ${special}\n`);
  }
  process.stdout.write('  top self time:\n');
  for (const [key, us] of rows.filter(([k]) => !k.startsWith('(idle)')).slice(0, top)) {
    process.stdout.write(`  ${pct(us)}  ${key}\n`);
  }
}
