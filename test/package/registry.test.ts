/**
 * The term model's registry on `globalThis` (src/term/types.ts): a second copy of the module takes
 * the classes and atom table the first registered, and ignores a registry under another version key.
 * Each `copy()` evaluates src/term/types.ts afresh, as a second build of the package would.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

const V1 = Symbol.for('erldist.term.v1');
const V2 = Symbol.for('erldist.term.v2');
const registry = globalThis as Record<symbol, unknown>;

const CLASSES = [
  'Atom',
  'Tuple',
  'Float',
  'Pid',
  'Reference',
  'Port',
  'BitBinary',
  'ImproperList',
  'ExportFun',
  'Fun',
] as const;

async function copy() {
  vi.resetModules();
  return await import('../../src/term/types.js');
}

describe('term model registry', () => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, V1);

  afterEach(() => {
    delete registry[V1];
    delete registry[V2];
    if (saved !== undefined) Object.defineProperty(globalThis, V1, saved);
  });

  it('a second copy exports the classes and atoms of the first', async () => {
    const a = await copy();
    const b = await copy();
    expect(b.tuple).not.toBe(a.tuple); // two evaluations of the module
    for (const name of CLASSES) expect(b[name], name).toBe(a[name]);
    expect(b.atom('registry_shared')).toBe(a.atom('registry_shared'));
    expect(b.internAtom('registry_interned')).toBe(a.atom('registry_interned'));
    expect(b.tuple(1)).toBeInstanceOf(a.Tuple);
  });

  it('is not enumerable on globalThis', async () => {
    await copy();
    expect(Object.getOwnPropertyDescriptor(globalThis, V1)?.enumerable).toBe(false);
  });

  it('ignores a registry under another version', async () => {
    class Alien {
      constructor(readonly name = 'alien') {}
    }
    const alien: Record<string, unknown> = { internAtom: () => new Alien() };
    for (const name of CLASSES) alien[name] = Alien;
    delete registry[V1];
    registry[V2] = alien;

    const c = await copy();
    for (const name of CLASSES) expect(c[name], name).not.toBe(Alien);
    expect(c.atom('ok')).not.toBeInstanceOf(Alien);
    expect(c.atom('ok')).toBeInstanceOf(c.Atom);
    expect(c.atom('ok')).toBe(c.atom('ok'));
    expect((registry[V1] as Record<string, unknown>).Atom).toBe(c.Atom);
    expect(registry[V2]).toBe(alien);
    expect(alien.Atom).toBe(Alien);
  });

  it('fills in what a registry lacks without replacing what it holds', async () => {
    const a = await copy();
    delete registry[V1];
    registry[V1] = { Atom: a.Atom };
    const b = await copy();
    expect(b.Atom).toBe(a.Atom);
    expect(b.Tuple).not.toBe(a.Tuple);
    expect(b.atom('x')).toBeInstanceOf(a.Atom);
    expect((registry[V1] as Record<string, unknown>).Tuple).toBe(b.Tuple);
  });
});
