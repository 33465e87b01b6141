#!/usr/bin/env node
// Checks the published declarations (dist/index.d.ts, built by `npm run build`): the public types
// must not show internals. Fails on
//   - an `@internal` tag: internal members are kept out of the public classes, not just tagged;
//   - a member named like a pending-call map (`pending`, `pendingReplies`, `pendingDowns`,
//     `pendingSpawns`, any `pendingXxx`), private or not: a caller's bookkeeping is no part of the API.
//
//   node scripts/check-types.mjs [FILE...]      (default: dist/index.d.ts and dist/index.d.cts)
//
// Prints each offending line as `file:line: reason: text` and exits 1 if there is any.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const RULES = [
  { reason: '@internal in the public types', test: (line) => line.includes('@internal') },
  {
    reason: 'pending-call map in the public types',
    // A class or interface member declaration: modifiers, the name, then `?`, `:`, `;`, `(` or `<`.
    test: (line) =>
      /^\s*(?:(?:private|protected|public|readonly|static|declare|abstract|override|get|set)\s+)*#?pending(?:[A-Z]\w*)?\??\s*[:;(<]/.test(
        line,
      ),
  },
];

let files = process.argv.slice(2).map((f) => resolve(f));
if (files.length === 0) {
  files = ['dist/index.d.ts', 'dist/index.d.cts'].map((f) => join(root, f)).filter((f) => existsSync(f));
  if (files.length === 0) {
    console.log('check-types: dist/index.d.ts not found; run `npm run build` first');
    process.exit(1);
  }
}

let found = 0;
for (const file of files) {
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    for (const rule of RULES) {
      if (!rule.test(line)) continue;
      console.log(`${relative(process.cwd(), file)}:${i + 1}: ${rule.reason}: ${line.trim()}`);
      found++;
    }
  });
}
if (found > 0) {
  console.log(`check-types: ${found} offending line(s)`);
  process.exit(1);
}
console.log(`check-types: ok (${files.map((f) => relative(process.cwd(), f)).join(', ')})`);
