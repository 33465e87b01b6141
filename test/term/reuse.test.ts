// encode() and decode() reuse one encoder/decoder between calls (for speed): each call must still
// return memory of its own, start from a clean state after a failed call, and let go of its input.
import { describe, expect, it } from 'vitest';
import { atom, decode, ErldistError, encode, type Term, tuple } from '../../src/index.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('encode returns a Buffer the caller owns', () => {
  it('two results never share bytes', () => {
    const a = encode({ id: 1, name: 'a' });
    const before = hex(a);
    const b = encode({ id: 2, name: 'b' });
    expect(hex(a)).toBe(before);
    b.fill(0);
    expect(hex(a)).toBe(before);
    expect(decode(encode({ id: 3 }))).toEqual({ id: 3 });
  });

  it('a big binary is copied once into an output of exactly its size', () => {
    const payload = Buffer.alloc(200_000, 7);
    payload[0] = 1;
    payload[199_999] = 2;
    const out = encode(tuple(atom('data'), payload, 'tail'));
    expect(out.length).toBe(1 + 2 + 6 + 5 + 200_000 + 5 + 4);
    expect(out.buffer.byteLength).toBe(out.length);
    const back = decode(out, { binaries: 'buffer' }) as { elements: Term[] };
    expect(Buffer.compare(back.elements[1] as Buffer, payload)).toBe(0);
    payload[5] = 9; // the output is a copy, not a reference
    expect((decode(out, { binaries: 'buffer' }) as { elements: Buffer[] }).elements[1]?.[5]).toBe(7);
    expect(encode(payload).buffer.byteLength).toBe(6 + 200_000);
  });

  it('a term bigger than the kept scratch buffer encodes right, and so do small ones after it', () => {
    const big = Array.from({ length: 300_000 }, (_, i) => i * 1000);
    expect(decode(encode(big))).toEqual(big);
    expect(hex(encode([1, 2]))).toBe('836b00020102');
  });

  it('a getter that encodes while encode runs gets its own encoder', () => {
    const inner: Buffer[] = [];
    const value = {
      get x() {
        inner.push(encode(atom('inner')));
        return 1;
      },
      y: 'after',
    };
    const out = encode(value);
    expect(decode(out)).toEqual({ x: 1, y: 'after' });
    expect(decode(inner[0] as Buffer)).toEqual(atom('inner'));
  });

  it('a failed encode leaves nothing behind for the next call', () => {
    expect(() => encode([1, 2, { bad: null as unknown as Term }])).toThrow(ErldistError);
    expect(hex(encode(5))).toBe('836105');
    expect(() => encode([[[atom('x')]]], { maxDepth: 2 })).toThrow(/nesting deeper than 2/);
    expect(decode(encode([[[[[1]]]]]))).toEqual([[[[[1]]]]]);
  });
});

describe('decode starts clean after a failed call', () => {
  it('after an error inside a compressed term, offsets and the budget are reset', () => {
    const bad = encode(
      Array.from({ length: 50 }, () => 'same text over and over'),
      { compressed: 9 },
    );
    expect(bad[1]).toBe(80);
    expect(() => decode(bad.subarray(0, bad.length - 3))).toThrow(ErldistError);
    expect(() => decode(Buffer.from([131, 108, 0, 0, 0, 1, 97, 1, 97]))).toThrow(/at byte 9$/);
    expect(decode(bad)).toHaveLength(50);
  });

  it('after an error inside a map, duplicate keys are still found by the next call', () => {
    const map = (parts: number[][]) => Buffer.from([131, 116, 0, 0, 0, parts.length / 2, ...parts.flat()]);
    const a = [119, 1, 97]; // atom a
    const b = [119, 1, 98];
    expect(() => decode(map([a, [97, 1], b, [200]]))).toThrow(ErldistError);
    expect(() => decode(map([b, [97, 1], b, [97, 2]]))).toThrow(/duplicate key/);
    expect(decode(map([a, [97, 1], b, [97, 2]]))).toEqual({ a: 1, b: 2 });
  });

  it('the budget is whole again for each call', () => {
    const list = encode(Array.from({ length: 1000 }, () => []));
    for (let i = 0; i < 5; i++) expect(decode(list)).toHaveLength(1000);
    expect(() => decode(list, { maxHeap: 1000 })).toThrow(/maxHeap/);
    expect(decode(list)).toHaveLength(1000);
  });
});

describe('strings of up to 64 UTF-16 units are written in JS, as Buffer writes UTF-8', () => {
  const cases = [
    'é',
    'Łukasz',
    '€ and 中文',
    '\u{1F600} astral',
    'lone \ud800 high',
    'lone \udc00 low',
    'ends high \ud83d',
    '\udc00\ud800 reversed pair',
    '\u07ff\u0800\uffff\u0080',
    'é'.repeat(64),
    `${'x'.repeat(63)}\u{1F600}`,
    `${'x'.repeat(64)}é`,
  ];
  for (const s of cases) {
    it(JSON.stringify(s).slice(0, 40), () => {
      const out = encode(s);
      const utf8 = Buffer.from(s, 'utf8');
      expect(out.subarray(6).toString('hex')).toBe(utf8.toString('hex'));
      expect(out.readUInt32BE(2)).toBe(utf8.length);
    });
  }
});

describe('map keys found by the shape of the previous map', () => {
  const atomBytes = (name: string) => [119, name.length, ...Buffer.from(name, 'latin1')];
  const map = (pairs: [number[], number[]][]) =>
    Buffer.from([131, 116, 0, 0, 0, pairs.length, ...pairs.flatMap(([k, v]) => [...k, ...v])]);
  const one = [97, 1];

  it('keys that differ from the last shape, by text, length or type, are read as they are', () => {
    const pairs: [string, string, object][] = [
      ['ab', 'cd', { ab: 1, cd: 1 }],
      ['ab', 'ce', { ab: 1, ce: 1 }],
      ['abc', 'c', { abc: 1, c: 1 }],
      ['true', 'false', { true: 1, false: 1 }],
    ];
    for (const [a, b, want] of pairs) {
      expect(
        decode(
          map([
            [atomBytes(a), one],
            [atomBytes(b), one],
          ]),
        ),
      ).toEqual(want);
    }
    const mixed = decode(
      map([
        [[97, 7], one],
        [atomBytes('false'), one],
      ]),
    ) as Map<Term, Term>;
    expect([...mixed]).toEqual([
      [7, 1],
      [false, 1],
    ]);
    expect(
      decode(
        map([
          [atomBytes('ab'), one],
          [atomBytes('cd'), one],
        ]),
        { maps: 'map' },
      ),
    ).toEqual(
      new Map([
        [atom('ab'), 1],
        [atom('cd'), 1],
      ]),
    );
  });

  it('a duplicate key is found when both copies match the shape', () => {
    const twice = map([
      [atomBytes('k'), one],
      [atomBytes('k'), one],
    ]);
    // After a shape {k, k2} the first k matches; after a shape {k} it does too.
    for (const before of [
      map([
        [atomBytes('k'), one],
        [atomBytes('k2'), one],
      ]),
      map([[atomBytes('k'), one]]),
    ]) {
      decode(before);
      expect(() => decode(twice)).toThrow(/duplicate key/);
    }
  });

  it('a key cut off by the end of the input is an error, not a match', () => {
    const whole = map([[atomBytes('name'), one]]);
    expect(decode(whole)).toEqual({ name: 1 });
    expect(() => decode(whole.subarray(0, 9))).toThrow(ErldistError);
    expect(() => decode(whole.subarray(0, 12))).toThrow(ErldistError);
  });

  it('maps of many shapes in one term', () => {
    const rows = Array.from({ length: 100 }, (_, i) =>
      i % 3 === 0 ? { a: i, b: 'x' } : { b: i, a: 'y', [`k${i % 5}`]: i },
    );
    expect(decode(encode(rows))).toEqual(rows);
  });
});

describe('object keys written from the last shape', () => {
  it('keys of every length, ASCII or not, encode as the same map with atom keys does', () => {
    const names = ['', 'a', 'ab', 'abc', 'abcd', 'abcde', 'abcdef', 'abcdefg', 'abcdefgh', 'é', 'éé', 'ééé', 'ü1234'];
    const obj = Object.fromEntries(names.map((k, i) => [k, i]));
    const map = new Map(names.map((k, i) => [atom(k), i]));
    const want = hex(encode(map));
    for (let round = 0; round < 3; round++) expect(hex(encode(obj))).toBe(want);
    // A shape that changes at one position, then back.
    const other = { ...obj, abcd: undefined as unknown as Term, abcx: 4 };
    delete (other as Record<string, unknown>).abcd;
    expect(decode(encode(other))).toEqual(other);
    expect(hex(encode(obj))).toBe(want);
    expect(decode(encode([obj, other, obj, { a: [obj] }]))).toEqual([obj, other, obj, { a: [obj] }]);
  });
});
