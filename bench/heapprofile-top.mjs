#!/usr/bin/env node
// Summarises the allocation samples that `bench/distribution.mjs --heap-prof DIR` wrote: bytes
// allocated per function (self), largest first; with --per N, also bytes per operation.
//
//   node bench/distribution.mjs --only erldist --case rpc --heap-prof /tmp/heap
//   node bench/heapprofile-top.mjs /tmp/heap/rpc.heapprofile [--top N] [--per N]

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args.splice(at, 2)[1]) : fallback;
};
const top = option('--top', 30);
const per = option('--per', 0);

for (const file of args) {
  const { parts } = JSON.parse(readFileSync(file, 'utf8'));
  const selfBytes = new Map();
  let total = 0;
  for (const profile of parts) {
    // Each sample stands for `size` bytes at the node that allocated it.
    const byId = new Map();
    const walk = (node) => {
      byId.set(node.id, node);
      for (const child of node.children) walk(child);
    };
    walk(profile.head);
    for (const { nodeId, size } of profile.samples) {
      const f = byId.get(nodeId).callFrame;
      const where = f.url ? `${basename(f.url)}:${f.lineNumber + 1}` : '';
      const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
      selfBytes.set(key, (selfBytes.get(key) ?? 0) + size);
      total += size;
    }
  }
  const fmt = (b) => (per ? `${(b / per).toFixed(0).padStart(8)} B/op` : `${(b / 1024).toFixed(0).padStart(10)} KiB`);
  console.log(`${file}: ${fmt(total)} sampled`);
  for (const [key, bytes] of [...selfBytes].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${((100 * bytes) / total).toFixed(1).padStart(5)}%  ${fmt(bytes)}  ${key}`);
}
