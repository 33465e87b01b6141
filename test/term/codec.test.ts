import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type Atom,
  atom,
  decode,
  ErldistError,
  encode,
  Float,
  Pid,
  Port,
  Reference,
  type Term,
  tuple,
} from '../../src/index.js';
import { TermGen } from '../support/gen.js';
import { expectSame, expectSameBytes } from '../support/same.js';
import { decodeOnlyCases, goldenCases } from './golden-cases.js';

const fixturePath = new URL('../fixtures/golden.json', import.meta.url);
const golden: Record<string, string> = existsSync(fixturePath) ? JSON.parse(readFileSync(fixturePath, 'utf8')) : {};

describe('golden bytes (captured from the newest OTP)', () => {
  it('has a fixture for every case', () => {
    expect(goldenCases.filter((c) => golden[c.name] === undefined).map((c) => c.name)).toEqual([]);
  });
  for (const c of goldenCases) {
    it(c.name, () => {
      const bytes = Buffer.from(golden[c.name], 'hex');
      expect(decode(bytes, { exact: true })).toStrictEqual(c.js());
      expect(encode(c.js()).toString('hex')).toBe(golden[c.name]);
    });
  }
});

describe('old and non-canonical forms', () => {
  for (const c of decodeOnlyCases) {
    it(c.name, () => {
      const term = decode(Buffer.from(c.hex, 'hex'), { exact: true });
      expect(term).toStrictEqual(c.js());
      expect(encode(term).toString('hex')).toBe(c.canonical);
    });
  }
});

describe('default mapping', () => {
  it('integral floats decode to numbers, and re-encode as integers', () => {
    expect(decode(encode(new Float(1)))).toBe(1);
    expect(decode(encode(new Float(-0)))).toBe(-0);
    expect(decode(encode(new Float(1)), { exact: true })).toStrictEqual(new Float(1));
  });
  it('maps: atom keys give plain objects, other keys a Map; maps: "map" always gives a Map', () => {
    expect(decode(encode({ a: 1, b: [] }))).toStrictEqual({ a: 1, b: [] });
    const mixed = decode(
      encode(
        new Map<Term, Term>([
          [atom('a'), 1],
          ['b', 2],
        ]),
      ),
    );
    expect(mixed).toStrictEqual(
      new Map<Term, Term>([
        [atom('a'), 1],
        ['b', 2],
      ]),
    );
    expect(decode(encode({ a: 1 }), { maps: 'map' })).toStrictEqual(new Map([[atom('a'), 1]]));
    expect(decode(encode(new Map([[true, 1]])))).toStrictEqual({ true: 1 });
  });
  it('a __proto__ key stays an own property', () => {
    const bytes = encode(new Map([[atom('__proto__'), 1]]));
    const obj = decode(bytes) as Record<string, unknown>;
    expect(Object.keys(obj)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(obj)).toBe(Object.prototype);
    expect(encode(obj as Term)).toEqual(bytes);
  });
  it('binaries: valid UTF-8 gives a string, else a Buffer; binaries: "buffer" always gives Buffers', () => {
    expect(decode(encode('héllo'))).toBe('héllo');
    expect(decode(encode(Buffer.from([0xff])))).toStrictEqual(Buffer.from([0xff]));
    expect(decode(encode('abc'), { binaries: 'buffer' })).toStrictEqual(Buffer.from('abc'));
  });
  it('Buffers are views into the input unless copyBinaries is set', () => {
    const bytes = encode(Buffer.from([0xff, 1]));
    const view = decode(bytes) as Buffer;
    const copy = decode(bytes, { copyBinaries: true }) as Buffer;
    bytes[bytes.length - 1] = 2;
    expect(view[1]).toBe(2);
    expect(copy[1]).toBe(1);
  });
  it('tuples destructure', () => {
    const [ok, v] = decode(encode(tuple(atom('ok'), 5))) as Iterable<Term>;
    expect(ok).toBe(atom('ok'));
    expect(v).toBe(5);
  });
  it('large safe numbers and bigints', () => {
    expect(encode(2 ** 53 - 1)).toEqual(encode(2n ** 53n - 1n));
    expect(decode(encode(2n ** 53n))).toBe(2n ** 53n);
    expect(decode(encode(12n))).toBe(12);
    expect(decode(encode([1n, 2n]))).toEqual([1, 2]);
  });
  it('non-integral numbers and numbers beyond 2^53 encode as floats', () => {
    expect(encode(0.5)[1]).toBe(70);
    expect(encode(1e300)[1]).toBe(70);
  });
});

describe('compression', () => {
  it('writes tag 80 when it helps and reads it back', () => {
    const term = Array.from({ length: 100 }, () => 'abc');
    const bytes = encode(term, { compressed: 6 });
    expect(bytes[1]).toBe(80);
    expect(bytes.length).toBeLessThan(encode(term).length);
    expect(decode(bytes)).toStrictEqual(term);
  });
  it('keeps the plain form when compression would not shrink it', () => {
    expect(encode(atom('ok'), { compressed: 9 })).toEqual(encode(atom('ok')));
  });
});

describe('property: decode(encode(x)) deep-equals x (seeded)', () => {
  it('exact mode, 5,000 terms', () => {
    const gen = new TermGen(20261127);
    for (let i = 0; i < 5000; i++) {
      const t = gen.term(0, true);
      const bytes = encode(t);
      expectSame(decode(bytes, { exact: true }), t);
      // Canonical encoding is a fixed point.
      expectSameBytes(encode(decode(bytes, { exact: true })), bytes);
    }
  });
  it('default mode, 5,000 terms', () => {
    const gen = new TermGen(7);
    for (let i = 0; i < 5000; i++) {
      const t = gen.term(0, false);
      expectSame(decode(encode(t)), t);
    }
  });
});

describe('encode errors carry the path', () => {
  const cases: [string, () => unknown, string][] = [
    ['function', () => ({ a: [1, () => 1] }), '$.a[1]'],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the path the encoder reports for a tuple element
    ['symbol', () => tuple(1, Symbol('s') as unknown as Term), '${1}'],
    ['undefined', () => ({ x: undefined }), '$.x'],
    ['NaN', () => [NaN], '$[0]'],
    ['Infinity', () => new Map<Term, Term>([['k', Infinity]]), '$.get("k")'],
    ['null', () => ({ 'odd key': null }), '$["odd key"]'],
    ['Date', () => [new Date(0)], '$[0]'],
    ['-Infinity Float', () => [new Float(-Infinity)], '$[0]'],
  ];
  for (const [name, make, path] of cases) {
    it(name, () => {
      let caught: unknown;
      try {
        encode(make() as Term);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ErldistError);
      expect((caught as ErldistError).code).toBe('ENCODE');
      expect((caught as ErldistError).path).toBe(path);
    });
  }
  it('pids, ports and references with fields out of range or of the wrong type, or no atom for a node', () => {
    const node = atom('n@h');
    const bad: [string, () => unknown][] = [
      ['negative pid id', () => new Pid(node, -1, 0, 1)],
      ['fractional pid serial', () => new Pid(node, 1, 0.5, 1)],
      ['pid creation past 32 bits', () => new Pid(node, 1, 0, 2 ** 32)],
      ['bigint pid id', () => new Pid(node, 1n as unknown as number, 0, 1)],
      ['string pid id', () => new Pid(node, '1' as unknown as number, 0, 1)],
      ['pid node a string', () => new Pid('n@h' as unknown as Atom, 1, 0, 1)],
      ['pid node undefined', () => new Pid(undefined as unknown as Atom, 1, 0, 1)],
      ['reference with no words', () => new Reference(node, 1, [])],
      ['reference id NaN', () => new Reference(node, 1, [1, Number.NaN])],
      ['reference creation negative', () => new Reference(node, -1, [1])],
      ['reference node null', () => new Reference(null as unknown as Atom, 1, [1])],
      ['reference ids an object', () => new Reference(node, 1, {} as unknown as number[])],
      ['reference ids null', () => new Reference(node, 1, null as unknown as number[])],
      ['port id fractional', () => new Port(node, 1.5, 1)],
      ['port id NaN', () => new Port(node, Number.NaN, 1)],
      ['port id past 64 bits', () => new Port(node, 2n ** 64n, 1)],
    ];
    for (const [name, make] of bad) {
      // After a good pid of another node, so that a node remembered from it cannot stand in.
      expect(() => encode([new Pid(atom('m@h'), 1, 0, 1), make() as Term]), name).toThrow(
        expect.objectContaining({ code: 'ENCODE' }),
      );
    }
    // Two nodes in one term: each pid keeps its own.
    const a = new Pid(atom('a@h'), 1, 2, 3);
    const b = new Pid(atom('b@h'), 4, 5, 6);
    expect(decode(encode([a, b, a]))).toEqual([a, b, a]);
  });
  it('a frozen pid written twice, and a mutable one changed between writes, give the right bytes', () => {
    const frozen = Object.freeze(new Pid(atom('a@h'), 1, 2, 3));
    const twice = encode([frozen, frozen, new Pid(atom('a@h'), 1, 2, 3)]);
    expect(decode(twice)).toEqual([frozen, frozen, frozen]);
    expect(decode(encode(frozen))).toEqual(frozen);
    const mutable = new Pid(atom('a@h'), 1, 2, 3);
    expect(decode(encode(mutable))).toEqual(mutable);
    (mutable as { id: number }).id = 9;
    expect((decode(encode(mutable)) as Pid).id).toBe(9);
  });
  it('a cycle', () => {
    const a: Term[] = [1];
    a.push({ back: a });
    expect(() => encode({ root: a })).toThrow(/cyclic value: the value at \$\.root(\[1\])? contains itself/);
  });
  it('nesting deeper than maxDepth', () => {
    let t: Term = 1;
    for (let i = 0; i < 50; i++) t = [t, 0];
    expect(() => encode(t, { maxDepth: 20 })).toThrow(expect.objectContaining({ code: 'ENCODE' }));
    expect(() => encode(t)).not.toThrow();
  });
});

describe('funs decoded through an atom cache', () => {
  it('spell the cached atoms out, so the fun re-encodes without cache refs', async () => {
    const { decodeAt, encode: enc, Fun: FunClass } = await import('../../src/index.js');
    // A NEW_FUN_EXT whose module atom and pid node come from the atom cache (ATOM_CACHE_REF 0 and 1).
    const body = Buffer.concat([
      Buffer.from([0]), // Arity
      Buffer.alloc(16, 0xab), // Uniq
      Buffer.from([0, 0, 0, 3]), // Index
      Buffer.from([0, 0, 0, 0]), // NumFree
      Buffer.from([82, 0]), // Module: cache ref 0
      Buffer.from([97, 1]), // OldIndex
      Buffer.from([97, 2]), // OldUniq
      Buffer.from([88, 82, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]), // Pid on node: cache ref 1
    ]);
    const fun = Buffer.concat([Buffer.from([112]), Buffer.alloc(4), body]);
    fun.writeUInt32BE(fun.length - 1, 1);
    const { term } = decodeAt(fun, 0, { atomCache: [atom('mymod'), atom('a@b')] });
    expect(term).toBeInstanceOf(FunClass);
    const bytes = (term as InstanceType<typeof FunClass>).bytes;
    expect([...bytes].includes(82)).toBe(false);
    const again = decode(enc(term)) as InstanceType<typeof FunClass>;
    expect(again.module).toBe(atom('mymod'));
    expect(Buffer.from(again.bytes).equals(Buffer.from(bytes))).toBe(true);
  });
});
