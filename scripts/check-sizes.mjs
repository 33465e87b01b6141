#!/usr/bin/env node
// Keeps the shape of issue 8: node.ts under 300 lines, no file of src/node or src/cli over 400, no
// syntax file of the term reader over 600 (the codec's decoder and encoder may stay whole).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const limits = [
  { dir: 'src/node', match: /^node\.ts$/, max: 299 },
  { dir: 'src/node', match: /\.ts$/, max: 400 },
  { dir: 'src/cli', match: /\.ts$/, max: 400 },
  { dir: 'src/term', match: /^parse.*\.ts$/, max: 600 },
];
const failures = [];
for (const { dir, match, max } of limits) {
  for (const file of readdirSync(join(root, dir))) {
    if (!match.test(file)) continue;
    const lines = readFileSync(join(root, dir, file), 'utf8').split('\n').length - 1;
    if (lines > max) failures.push(`${dir}/${file}: ${lines} lines, more than ${max}`);
  }
}
if (failures.length > 0) {
  console.error(`check-sizes: split these files:\n${failures.join('\n')}`);
  process.exit(1);
}
console.log('check-sizes: ok');
