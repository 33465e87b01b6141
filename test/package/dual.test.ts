/**
 * The dual-package hazard: one process loads both the ESM build (dist/index.js) and the CJS build
 * (dist/index.cjs), as when an application and one of its dependencies reach erldist through
 * `import` and `require`. Terms made by one copy must encode, compare and `instanceof` in the other,
 * and errors must be recognised by both. Runs the built files: `npm test` builds first.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

import type * as erldist from '../../src/index.js';

type Erldist = typeof erldist;

const ESM_URL = new URL('../../dist/index.js', import.meta.url);
const CJS_URL = new URL('../../dist/index.cjs', import.meta.url);

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

/**
 * term_to_binary({fun() -> ok end, self(), make_ref(), 1.0, 2.5, <<5:3>>, [a|b], fun erlang:node/0,
 * #{k => [1]}, 1 bsl 70, -5, "ab", <<"s">>, true}, [{minor_version, 2}]) on OTP 25 (the fun is an
 * erl_eval fun made by `erl -eval`).
 */
const GOLDEN = Buffer.from(
  '83680e700000008800065361aa461590d1bdf1eb62d1a6eb080000002b00000001770865726c5f6576616c612b6200329b0d58770d6e6f6e6f6465406e6f686f7374000000090000000000000000680661016a77046e6f6e6577046e6f6e6574000000006c0000000168057706636c6175736561016a6a6c000000016803770461746f6d610177026f6b6a6a58770d6e6f6e6f6465406e6f686f73740000000900000000000000005a0003770d6e6f6e6f6465406e6f686f7374000000000002e04ca4c400021e73ba4c463ff00000000000004640040000000000004d0000000103a06c0000000177016177016271770665726c616e6777046e6f64656100740000000177016b6b0001016e090000000000000000004062fffffffb6b000261626d0000000173770474727565',
  'hex',
);

function requireBuilt(): void {
  for (const url of [ESM_URL, CJS_URL]) {
    if (!existsSync(url)) {
      throw new Error(
        `${fileURLToPath(url)} is missing: run \`npm run build\` first (npm test and npm run test:unit build before testing)`,
      );
    }
  }
}

/** The error `fn` throws (fails the test if it returns). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

/** One of every kind of term, built with the constructors of `e`. */
function everyKind(e: Erldist, fun: erldist.Fun) {
  const node = e.atom('a@b');
  return e.tuple(
    e.atom('ok'),
    e.tuple(),
    new e.Pid(node, 1, 2, 3),
    new e.Reference(node, 4, [5, 6, 7]),
    new e.Port(node, 2n ** 60n, 8),
    e.float(1),
    -0.5,
    new e.BitBinary(Uint8Array.of(0xff, 0xa0), 3),
    new e.ImproperList([e.atom('a'), 1], e.atom('tail')),
    new e.ExportFun(e.atom('erlang'), e.atom('node'), 0),
    fun,
    new Map<erldist.Term, erldist.Term>([
      [e.atom('k'), [1, 2]],
      [e.tuple(1), 'v'],
    ]),
    { key: e.atom('value') },
    2n ** 70n,
    'text',
    Buffer.from([1, 2, 3]),
    [true, false, []],
  );
}

describe('ESM and CJS builds in one process', () => {
  let esm: Erldist;
  let cjs: Erldist;

  beforeAll(async () => {
    requireBuilt();
    esm = await import(ESM_URL.href);
    cjs = createRequire(import.meta.url)('../../dist/index.cjs');
  });

  it('loads two copies (otherwise this file tests nothing)', () => {
    expect(esm.encode).not.toBe(cjs.encode);
    expect(esm.decode).not.toBe(cjs.decode);
    expect(esm.atom).not.toBe(cjs.atom);
  });

  it('shares one atom table', () => {
    expect(cjs.atom('ok')).toBe(esm.atom('ok'));
    expect(esm.atom('dual_first_in_esm')).toBe(cjs.atom('dual_first_in_esm'));
    expect(cjs.atom('dual_first_in_cjs')).toBe(esm.atom('dual_first_in_cjs'));
    expect(esm.decode(cjs.encode(cjs.atom('dual_round_trip')))).toBe(esm.atom('dual_round_trip'));
  });

  it('shares the term classes', () => {
    for (const name of CLASSES) {
      expect(cjs[name], name).toBe(esm[name]);
      expect(esm[name].name, name).toBe(name);
    }
    expect(cjs.tuple(1)).toBeInstanceOf(esm.Tuple);
    expect(esm.float(1)).toBeInstanceOf(cjs.Float);
    expect(cjs.atom('x')).toBeInstanceOf(esm.Atom);
  });

  it('each copy encodes the other copy’s terms, byte for byte', () => {
    const fun = (cjs.decode(GOLDEN, { exact: true }) as erldist.Tuple).get(0) as erldist.Fun;
    const fromCjs = everyKind(cjs, fun);
    const fromEsm = everyKind(esm, fun);
    const expected = Buffer.from(cjs.encode(fromCjs));
    expect(Buffer.from(esm.encode(fromCjs))).toEqual(expected);
    expect(Buffer.from(cjs.encode(fromEsm))).toEqual(expected);
    expect(Buffer.from(esm.encode(fromEsm))).toEqual(expected);
    expect(Buffer.from(esm.encode(cjs.atom('ok')))).toEqual(Buffer.from([131, 119, 2, 111, 107]));
  });

  it('decodes into terms the other copy recognises', () => {
    const t = cjs.decode(GOLDEN, { exact: true });
    expect(t).toBeInstanceOf(esm.Tuple);
    const parts = [...(t as erldist.Tuple)];
    expect(parts[0]).toBeInstanceOf(esm.Fun);
    expect(parts[1]).toBeInstanceOf(esm.Pid);
    expect(parts[2]).toBeInstanceOf(esm.Reference);
    expect(parts[3]).toBeInstanceOf(esm.Float);
    expect(parts[5]).toBeInstanceOf(esm.BitBinary);
    expect(parts[6]).toBeInstanceOf(esm.ImproperList);
    expect(parts[7]).toBeInstanceOf(esm.ExportFun);
    expect((parts[1] as erldist.Pid).node).toBe(esm.atom('nonode@nohost'));
    expect(Buffer.from(esm.encode(t))).toEqual(GOLDEN);
    expect(Buffer.from(cjs.encode(esm.decode(GOLDEN, { exact: true })))).toEqual(GOLDEN);
    expect(esm.inspect(t)).toBe(cjs.inspect(t));
  });

  it('recognises the other copy’s errors', () => {
    const fromCjs = thrown(() => cjs.decode(Buffer.from([1, 2, 3])));
    expect(fromCjs).toBeInstanceOf(esm.ErldistError);
    expect(fromCjs).toBeInstanceOf(cjs.ErldistError);
    expect(fromCjs).toBeInstanceOf(Error);
    expect(esm.isErldistError(fromCjs, 'DECODE')).toBe(true);
    expect(esm.isErldistError(fromCjs, 'ENCODE')).toBe(false);

    const fromEsm = thrown(() => esm.encode(Symbol('no') as never));
    expect(fromEsm).toBeInstanceOf(cjs.ErldistError);
    expect(cjs.isErldistError(fromEsm, 'ENCODE')).toBe(true);

    expect(new cjs.ErldistError('TIMEOUT', 'x')).toBeInstanceOf(esm.ErldistError);
    expect(new Error('x')).not.toBeInstanceOf(esm.ErldistError);
    expect({ code: 'DECODE', message: 'x' }).not.toBeInstanceOf(cjs.ErldistError);
    expect(esm.isErldistError(null)).toBe(false);
  });

  it('works the same when the CJS build is loaded first', () => {
    // A fresh process, so that the CJS copy registers the classes this time.
    const script = `
      import { createRequire } from 'node:module';
      const cjs = createRequire(${JSON.stringify(fileURLToPath(CJS_URL))})(${JSON.stringify(fileURLToPath(CJS_URL))});
      const esm = await import(${JSON.stringify(ESM_URL.href)});
      let err;
      try { esm.decode(Buffer.from([1, 2, 3])); } catch (e) { err = e; }
      console.log(JSON.stringify({
        copies: esm.encode !== cjs.encode,
        atoms: cjs.atom('ok') === esm.atom('ok'),
        classes: ${JSON.stringify(CLASSES)}.every((c) => cjs[c] === esm[c]),
        encode: Buffer.from(cjs.encode(esm.tuple(esm.atom('a'), esm.float(1)))).toString('hex'),
        error: err instanceof cjs.ErldistError && cjs.isErldistError(err, 'DECODE'),
      }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 4_000,
    });
    expect(JSON.parse(out)).toEqual({
      copies: true,
      atoms: true,
      classes: true,
      encode: '836802770161463ff0000000000000',
      error: true,
    });
  });
});
