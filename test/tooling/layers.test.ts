import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// scripts/check-layers.mjs (design.md, "Layers") run on small src/ trees written to a temp dir.

interface Violation {
  file: string;
  line: number;
  message: string;
}

const SCRIPT = resolve(import.meta.dirname, '../../scripts/check-layers.mjs');
let checkLayers: (root: string) => Violation[];
let base: string;
let trees = 0;

/** A clean tree that uses every allowed direction, and every import form the checker reads. */
const CLEAN: Record<string, string> = {
  'src/term/types.ts': 'export class Atom {}\n',
  'src/errors.ts':
    "import type { Atom } from './term/types.js';\nexport class ErldistError extends Error { a?: Atom; }\n",
  'src/wait.ts': "import { ErldistError } from './errors.js';\nexport const wait = () => new ErldistError();\n",
  'src/bytes.ts': "export * from './errors.js';\nexport class Reader {}\n",
  'src/term/decode.ts':
    "import { Reader } from '../bytes.js';\nimport { Atom } from './types.js';\nexport const decode = () => [new Reader(), new Atom()];\n",
  'src/term/tags.ts': 'export const SMALL_INTEGER_EXT = 97;\n',
  'src/term/index.ts': "export { decode } from './decode.js';\nexport * from './types.js';\n",
  'src/epmd/client.ts':
    "import { wait } from '../wait.js';\nimport { Socket } from 'node:net';\nexport const port = () => [wait, Socket];\n",
  'src/distribution/connection.ts':
    "import type { Atom } from '../term/index.js';\nimport { wait } from '../wait.js';\nexport class Connection { a?: Atom; w = wait; }\n",
  'src/node/keys.ts': 'export const key = (n: string) => n;\n',
  'src/node/peer.ts':
    "import { Connection } from '../distribution/connection.js';\nexport class Peer { c = new Connection(); }\n",
  'src/node/node.ts': [
    "import { port } from '../epmd/client.js';",
    "import type { Peer } from './peer.js';",
    "export class LocalNode { p?: Peer; e = port; t?: import('../term/types.js').Atom;",
    "  async load() { return import('../term/index.js'); } }",
    '',
  ].join('\n'),
  'src/index.ts': "export { LocalNode } from './node/node.js';\nexport { decode } from './term/index.js';\n",
  'src/cli/main.ts':
    "import { readFileSync } from 'node:fs';\nimport { LocalNode, decode } from '../index.js';\nexport const main = () => [readFileSync, LocalNode, decode];\n",
};

/** Writes CLEAN with `changes` applied (a null content removes the file) and returns its root. */
function tree(changes: Record<string, string | null> = {}): string {
  const root = join(base, `tree${trees++}`);
  for (const [path, text] of Object.entries({ ...CLEAN, ...changes })) {
    if (text === null) continue;
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'erldist-layers-'));
  // A computed URL: the checker is plain JavaScript with no declaration file.
  const url = pathToFileURL(SCRIPT).href;
  ({ checkLayers } = (await import(url)) as { checkLayers: typeof checkLayers });
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('check-layers', () => {
  it('passes a clean tree that uses every allowed direction and import form', () => {
    expect(checkLayers(tree())).toEqual([]);
  });

  it('catches an upward import, with its file and line', () => {
    const root = tree({
      'src/term/decode.ts':
        "import { Reader } from '../bytes.js';\n\nimport { key } from '../node/keys.js';\nexport const decode = () => [new Reader(), key];\n",
    });
    const found = checkLayers(root);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ file: 'src/term/decode.ts', line: 3 });
    expect(found[0].message).toContain('layer term imports src/node/keys.ts of layer node');
  });

  // Each upward import below goes to a file that imports nothing, so that it makes no cycle too.
  it('catches upward imports written as export-from, dynamic import() and import() types', () => {
    const root = tree({
      'src/epmd/client.ts': "export { Atom } from '../term/types.js';\n",
      'src/errors.ts':
        "export class ErldistError extends Error {\n  t?: typeof import('./term/tags.js').SMALL_INTEGER_EXT;\n}\n",
      'src/distribution/connection.ts': "export class Connection { load() { return import('../node/keys.js'); } }\n",
    });
    const found = checkLayers(root).map((v) => `${v.file}:${v.line}`);
    expect(found).toEqual(['src/distribution/connection.ts:1', 'src/epmd/client.ts:1', 'src/errors.ts:2']);
  });

  it('catches a cycle made of type-only imports, naming every import on it', () => {
    const root = tree({
      'src/node/peer.ts': [
        "import { Connection } from '../distribution/connection.js';",
        "import type { LocalNode } from './node.js';",
        'export class Peer { c = new Connection(); n?: LocalNode; }',
        '',
      ].join('\n'),
    });
    const found = checkLayers(root);
    expect(found.map((v) => `${v.file}:${v.line}`)).toEqual(['src/node/node.ts:2', 'src/node/peer.ts:2']);
    expect(found[0].message).toBe(
      'import cycle: src/node/node.ts:2 -> src/node/peer.ts, src/node/peer.ts:2 -> src/node/node.ts',
    );
  });

  it('catches a longer cycle inside one layer and a file importing itself', () => {
    const root = tree({
      'src/term/a.ts': "export * from './b.js';\n",
      'src/term/b.ts': "export * from './c.js';\n",
      'src/term/c.ts': "export type { X } from './a.js';\nexport type X = 1;\n",
      'src/term/self.ts': "import type { Y } from './self.js';\nexport type Y = Y[];\n",
    });
    const found = checkLayers(root).map((v) => v.message);
    expect(found).toContain(
      'import cycle: src/term/a.ts:1 -> src/term/b.ts, src/term/b.ts:1 -> src/term/c.ts, src/term/c.ts:1 -> src/term/a.ts',
    );
    expect(found).toContain('import cycle: src/term/self.ts:1 -> src/term/self.ts');
    expect(found).toHaveLength(4);
  });

  it('catches the CLI importing src/node instead of src/index.ts', () => {
    const root = tree({
      'src/cli/main.ts':
        "import { decode } from '../index.js';\nimport { LocalNode } from '../node/node.js';\nexport const main = () => [decode, LocalNode];\n",
    });
    const found = checkLayers(root);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ file: 'src/cli/main.ts', line: 2 });
    expect(found[0].message).toContain('layer cli imports src/node/node.ts of layer node (cli may import cli, index)');
  });

  it('catches epmd using the term layer, a package import and a file in no layer', () => {
    const root = tree({
      'src/epmd/client.ts':
        "import type { Atom } from '../term/index.js';\nimport x from 'left-pad';\nexport type A = [Atom, typeof x];\n",
      'src/util/misc.ts': 'export const n = 1;\n',
    });
    const found = checkLayers(root).map((v) => `${v.file}:${v.line}: ${v.message}`);
    expect(found).toHaveLength(3);
    expect(found[0]).toMatch(/^src\/epmd\/client\.ts:1: layer epmd imports src\/term\/index\.ts of layer term/);
    expect(found[1]).toMatch(/^src\/epmd\/client\.ts:2: imports package 'left-pad'/);
    expect(found[2]).toMatch(/^src\/util\/misc\.ts:1: belongs to no layer/);
  });

  it('as a command: prints file:line per violation and exits 1; exits 0 on a clean tree', { timeout: 30_000 }, () => {
    const bad = tree({ 'src/cli/main.ts': "import { Peer } from '../node/peer.js';\nexport const p = Peer;\n" });
    const failed = spawnSync(process.execPath, [SCRIPT, bad], { encoding: 'utf8' });
    expect(failed.status).toBe(1);
    expect(failed.stdout).toMatch(/^src\/cli\/main\.ts:1: layer cli imports src\/node\/peer\.ts/m);
    const passed = spawnSync(process.execPath, [SCRIPT, tree()], { encoding: 'utf8' });
    expect(passed.status).toBe(0);
    expect(passed.stdout).toContain('check-layers: ok');
  });
});
