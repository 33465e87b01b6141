#!/usr/bin/env node
// Checks the layers of src/ (design.md, "Layers"): every import points down the table below, and no
// file imports itself back through any chain of imports (a cycle), type-only imports included.
//
//   node scripts/check-layers.mjs [ROOT]      (default: the repository; checks ROOT/src)
//
// Prints one line per violation, `file:line: message`, and exits 1 if there is any. Imports are read
// with TypeScript's own parser: `import`, `import type`, `export … from`, `import x = require()`,
// dynamic `import()` and `import('…')` types all count.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The layers, lowest first. A file belongs to the first layer whose `files` match its path (relative
 * to src/, with `/`): an exact file name, or a directory prefix ending in `/`. A file may import files
 * of its own layer and of the layers named in `may`. `'*'` allows every layer. A file of src/ that no
 * layer matches is a violation, so a new directory has to be placed here first.
 */
export const LAYERS = [
  { name: 'types', files: ['term/types.ts'], may: [] },
  { name: 'core', files: ['errors.ts', 'wait.ts', 'bytes.ts'], may: ['types'] },
  { name: 'term', files: ['term/'], may: ['types', 'core'] },
  { name: 'epmd', files: ['epmd/'], may: ['core'] },
  { name: 'distribution', files: ['distribution/'], may: ['types', 'core', 'term'] },
  { name: 'node', files: ['node/'], may: ['types', 'core', 'term', 'epmd', 'distribution'] },
  { name: 'index', files: ['index.ts'], may: ['*'] },
  // The CLI is a user of the package: it sees only what src/index.ts exports.
  { name: 'cli', files: ['cli/'], may: ['index'] },
];

const SOURCE = /\.(ts|mts|cts|tsx)$/;
const DECLARATION = /\.d\.(ts|mts|cts)$/;

function layerOf(rel) {
  for (const layer of LAYERS) {
    for (const f of layer.files) {
      if (f.endsWith('/') ? rel.startsWith(f) : rel === f) return layer;
    }
  }
  return undefined;
}

function listSources(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listSources(path));
    else if (SOURCE.test(entry.name) && !DECLARATION.test(entry.name)) out.push(path);
  }
  return out;
}

/** Every module specifier in a file, with its 1-based line. */
export function readImports(fileName, text) {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found = [];
  const add = (literal) => {
    if (!literal || !ts.isStringLiteralLike(literal)) return;
    const line = source.getLineAndCharacterOfPosition(literal.getStart(source)).line + 1;
    found.push({ specifier: literal.text, line });
  };
  const visit = (node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      add(node.moduleSpecifier);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The file of src/ a relative specifier names (`./x.js` is `./x.ts`), or undefined. */
function resolveImport(fromFile, specifier, files) {
  const base = resolve(dirname(fromFile), specifier);
  const stem = base.replace(/\.(m|c)?js$/, '');
  const candidates = [base, `${stem}.ts`, `${stem}.mts`, `${stem}.cts`, `${stem}.tsx`, join(base, 'index.ts')];
  return candidates.find((c) => files.has(c));
}

/**
 * Checks ROOT/src and returns the violations, each `{ file, line, message }` with `file` relative
 * to ROOT.
 */
export function checkLayers(root) {
  const srcDir = resolve(root, 'src');
  const files = new Set(listSources(srcDir));
  const rel = (path) => relative(srcDir, path).split(sep).join('/');
  const shown = (path) => relative(root, path).split(sep).join('/');
  const violations = [];
  const graph = new Map(); // file -> [{ to, line }]

  for (const file of [...files].sort()) {
    const layer = layerOf(rel(file));
    if (!layer) {
      violations.push({
        file: shown(file),
        line: 1,
        message: 'belongs to no layer (add it to LAYERS in scripts/check-layers.mjs)',
      });
    }
    const out = [];
    graph.set(file, out);
    for (const { specifier, line } of readImports(file, readFileSync(file, 'utf8'))) {
      const at = { file: shown(file), line };
      if (specifier.startsWith('node:')) continue;
      if (!specifier.startsWith('.') && !specifier.startsWith('/')) {
        violations.push({
          ...at,
          message: `imports package '${specifier}' (erldist has no runtime dependencies; builtins go through 'node:')`,
        });
        continue;
      }
      const target = resolveImport(file, specifier, files);
      if (!target) {
        violations.push({ ...at, message: `imports '${specifier}', which is not a file of src/` });
        continue;
      }
      out.push({ to: target, line });
      const targetLayer = layerOf(rel(target));
      if (!layer || !targetLayer || layer === targetLayer) continue;
      if (layer.may.includes('*') || layer.may.includes(targetLayer.name)) continue;
      violations.push({
        ...at,
        message: `layer ${layer.name} imports ${shown(target)} of layer ${targetLayer.name} (${layer.name} may import ${describe(layer)})`,
      });
    }
  }

  for (const cycle of findCycles(graph)) {
    const steps = cycle.map(({ from, line, to }) => `${shown(from)}:${line} -> ${shown(to)}`);
    const first = cycle[0];
    violations.push({ file: shown(first.from), line: first.line, message: `import cycle: ${steps.join(', ')}` });
  }
  return violations;
}

function describe(layer) {
  return [layer.name, ...layer.may].join(', ');
}

/**
 * Every import that lies on a cycle, each with the shortest way back: for each strongly connected
 * component of the import graph (Tarjan), every edge inside it, followed by the shortest chain of
 * imports inside the component that leads back to where it started. Cutting all the listed imports
 * but one may still leave a cycle; the list is the set to choose from.
 */
function findCycles(graph) {
  let index = 0;
  const indexOf = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const components = [];
  const strongConnect = (v) => {
    indexOf.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const { to } of graph.get(v) ?? []) {
      if (!indexOf.has(to)) {
        strongConnect(to);
        low.set(v, Math.min(low.get(v), low.get(to)));
      } else if (onStack.has(to)) {
        low.set(v, Math.min(low.get(v), indexOf.get(to)));
      }
    }
    if (low.get(v) === indexOf.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      const selfImport = (graph.get(v) ?? []).some((e) => e.to === v);
      if (component.length > 1 || selfImport) components.push(new Set(component));
    }
  };
  for (const v of [...graph.keys()].sort()) if (!indexOf.has(v)) strongConnect(v);

  const cycles = [];
  for (const members of components) {
    for (const from of [...members].sort()) {
      for (const edge of graph.get(from) ?? []) {
        if (members.has(edge.to)) cycles.push([{ from, ...edge }, ...pathBack(graph, members, edge.to, from)]);
      }
    }
  }
  return cycles;
}

/** The shortest chain of edges from `start` to `goal` that stays inside `members` (breadth first). */
function pathBack(graph, members, start, goal) {
  if (start === goal) return [];
  const via = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const edge of graph.get(v) ?? []) {
      if (!members.has(edge.to) || via.has(edge.to)) continue;
      via.set(edge.to, { from: v, ...edge });
      if (edge.to === goal) {
        const path = [];
        for (let step = via.get(goal); step; step = via.get(step.from)) path.unshift(step);
        return path;
      }
      queue.push(edge.to);
    }
  }
  return [];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const violations = checkLayers(root);
  for (const v of violations) console.log(`${v.file}:${v.line}: ${v.message}`);
  if (violations.length > 0) {
    console.log(
      `check-layers: ${violations.length} violation(s) (rules: design.md "Layers", table: scripts/check-layers.mjs)`,
    );
    process.exit(1);
  }
  console.log(`check-layers: ok (${listSources(resolve(root, 'src')).length} files of src/)`);
}
