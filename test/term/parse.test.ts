import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ErldistError } from '../../src/errors.js';
import {
  atom,
  BitBinary,
  ExportFun,
  Float,
  ImproperList,
  inspect,
  Pid,
  type Term,
  tuple,
} from '../../src/term/index.js';
import { MAX_TEXT_LENGTH, type ParseOptions, parseTerm } from '../../src/term/parse.js';
import { MAX_INTEGER_BITS } from '../../src/term/parse-base.js';
import { MAX_BINARY_BITS } from '../../src/term/parse-bits.js';
import { rng } from '../support/gen.js';
import { literalTerms } from '../support/literal.js';

type Syntax = 'erlang' | 'elixir';
const a = atom;
const buf = (...bytes: number[]) => Buffer.from(bytes);
const pidOf = (node: string, id: number, serial: number) => new Pid(atom(node), id, serial, 0);

const ERLANG: [string, Term][] = [
  ['42', 42],
  ['-7', -7],
  ['+7', 7],
  ['- 7', -7],
  ['9007199254740991', Number.MAX_SAFE_INTEGER],
  ['9007199254740992', 2n ** 53n],
  ['-18446744073709551616', -(2n ** 64n)],
  ['16#ff', 255],
  ['16#FF_FF', 0xffff],
  ['2#1010', 10],
  ['36#zz', 35 * 36 + 35],
  ['-16#10', -16],
  ['$a', 97],
  ['$\\n', 10],
  ['$ ', 32],
  ['$\\x{1F600}', 0x1f600],
  ['-$a', -97],
  ['1_000', 1000],
  ['1.5', 1.5],
  ['-0.0', new Float(-0)],
  ['0.0', new Float(0)],
  ['1.0', new Float(1)],
  ['1.0e10', new Float(1e10)],
  ['2.5e-3', 0.0025],
  ['1.0e300', 1e300],
  ['1.0E+2', new Float(100)],
  ['1_000.5', 1000.5],
  ['ok', a('ok')],
  ['node@host', a('node@host')],
  ['élan', a('élan')],
  ["'quoted atom'", a('quoted atom')],
  ["'with \\'escape'", a("with 'escape")],
  ["'receive'", a('receive')],
  ["''", a('')],
  ["'λ😀'", a('λ😀')],
  ['true', true],
  ['false', false],
  ["'true'", true],
  ['nil', a('nil')],
  ['"abc"', [97, 98, 99]],
  ['""', []],
  ['"a" "b"', [97, 98]],
  ['"é😀"', [233, 0x1f600]],
  ['"\\n\\t\\\\\\"\\x{1F600}\\xff\\101\\e\\s\\^a"', [10, 9, 92, 34, 0x1f600, 255, 65, 27, 32, 1]],
  ['<<"text">>', 'text'],
  ['<<"é"/utf8>>', 'é'],
  ['<<"é">>', buf(0xe9)],
  ['<<"a", "b"/utf8, $c, 100>>', 'abcd'],
  ['<<1,2,3>>', '\x01\x02\x03'],
  ['<<255,1>>', buf(255, 1)],
  ['<<1,5:3>>', new BitBinary(buf(1, 0xa0), 3)],
  ['<<5:3>>', new BitBinary(buf(0xa0), 3)],
  ['<<>>', ''],
  ['<<65535:16>>', buf(255, 255)],
  ['<<256:16>>', '\x01\x00'],
  ['<<1:16/little>>', '\x01\x00'],
  ['<<1:3, 1:5>>', '!'],
  ['<<-1:16/signed>>', buf(255, 255)],
  ['<<1.5/float>>', buf(0x3f, 0xf8, 0, 0, 0, 0, 0, 0)],
  ['<<1.5:32/float-little>>', buf(0, 0, 0xc0, 0x3f)],
  ['<<16#1F600/utf8>>', '😀'],
  ['<<"ab"/utf16>>', '\x00a\x00b'],
  ['<<<<1,2>>/binary, 3>>', '\x01\x02\x03'],
  ['<<<<255>>:4/bits, 1:4>>', buf(0xf1)],
  ['<<<<1,5:3>>/bits, 0:5>>', buf(1, 0xa0)],
  ['[]', []],
  ['[1, 2, 3]', [1, 2, 3]],
  ['[1, 2 | tail]', new ImproperList([1, 2], a('tail'))],
  ['[1 | [2, 3]]', [1, 2, 3]],
  ['[1 | [2 | x]]', new ImproperList([1, 2], a('x'))],
  ['[$a | "bc"]', [97, 98, 99]],
  ['[a | <<"b">>]', new ImproperList([a('a')], 'b')],
  ['{}', tuple()],
  ['{a, b}', tuple(a('a'), a('b'))],
  ['{ok, {1, [2]}}', tuple(a('ok'), tuple(1, [2]))],
  ['#{}', {}],
  ['#{a => 1, b => <<"x">>}', { a: 1, b: 'x' }],
  ["#{'with space' => 1, true => 2}", { 'with space': 1, true: 2 }],
  [
    '#{<<"k">> => v, 1 => 2}',
    new Map<Term, Term>([
      ['k', a('v')],
      [1, 2],
    ]),
  ],
  [
    '#{a => 1, 1.0 => 2}',
    new Map<Term, Term>([
      [a('a'), 1],
      [new Float(1), 2],
    ]),
  ],
  ['#{a => 1, a => 2}', { a: 2 }],
  ['#{{a, 1} => x, {a, 1} => y}', new Map<Term, Term>([[tuple(a('a'), 1), a('y')]])],
  ['fun m:f/2', new ExportFun(a('m'), a('f'), 2)],
  ["fun 'my mod':'receive'/0", new ExportFun(a('my mod'), a('receive'), 0)],
  ['fun erlang:node/0', new ExportFun(a('erlang'), a('node'), 0)],
  ['#Pid<node@host.85.0>', pidOf('node@host', 85, 0)],
  ['#Pid<x@127.0.0.1.1.2>', pidOf('x@127.0.0.1', 1, 2)],
  ['#PID<a@b.1.2>', pidOf('a@b', 1, 2)],
  ['ok.', a('ok')],
  ['  [1, % one\n 2] . ', [1, 2]],
  ['{a,\n  b}.\n', tuple(a('a'), a('b'))],
];

const ELIXIR: [string, Term][] = [
  ['42', 42],
  ['-7', -7],
  ['1_000', 1000],
  ['0xff', 255],
  ['0xFF_FF', 0xffff],
  ['0b101', 5],
  ['0o17', 15],
  ['?a', 97],
  ['?\\n', 10],
  ['?😀', 0x1f600],
  ['1.5', 1.5],
  ['1.0', new Float(1)],
  ['-0.0', new Float(-0)],
  ['1.0e10', new Float(1e10)],
  ['2.5e-3', 0.0025],
  ['123456789012345678901234567890', 123456789012345678901234567890n],
  [':ok', a('ok')],
  [':ok?', a('ok?')],
  [':Foo', a('Foo')],
  [':a@b', a('a@b')],
  [':"quoted atom"', a('quoted atom')],
  [":'single'", a('single')],
  [':"Elixir.Foo"', a('Elixir.Foo')],
  [':""', a('')],
  [':"\\#{x}"', a('#{x}')],
  ['true', true],
  ['false', false],
  ['nil', a('nil')],
  [':true', true],
  ['MyApp.Repo', a('Elixir.MyApp.Repo')],
  ['URI', a('Elixir.URI')],
  ['Elixir.URI', a('Elixir.URI')],
  ['"text"', 'text'],
  ['""', ''],
  ['"é😀"', 'é😀'],
  ['"\\n\\t\\\\\\"\\u00e9\\u{1F600}\\x{7F}\\0"', '\n\t\\"é😀\x7f\x00'],
  ['"\\xff"', buf(255)],
  ['"\\xc3\\xa9"', 'é'],
  ['"a\\#{b}"', 'a#{b}'],
  ['"a#b"', 'a#b'],
  ['~s(a "b")', 'a "b"'],
  ['~c"abc"', [97, 98, 99]],
  ['~c[a]', [97]],
  ['~c""', []],
  ["'abc'", [97, 98, 99]],
  ['<<1, 2>>', '\x01\x02'],
  ['<<255, 1>>', buf(255, 1)],
  ['<<>>', ''],
  ['<<"é">>', 'é'],
  ['<<"a", ?b, 99>>', 'abc'],
  ['<<1, 5::3>>', new BitBinary(buf(1, 0xa0), 3)],
  ['<<1, 5::size(3)>>', new BitBinary(buf(1, 0xa0), 3)],
  ['<<1, 5:3>>', new BitBinary(buf(1, 0xa0), 3)],
  ['<<1::16-little>>', '\x01\x00'],
  ['<<255::integer-size(2)-unit(8)-little>>', buf(255, 0)],
  ['<<0x1F600::utf8>>', '😀'],
  ['<<"abc"::binary, "d">>', 'abcd'],
  ['<<1.5::float-32>>', buf(0x3f, 0xc0, 0, 0)],
  ['[]', []],
  ['[1, 2, 3]', [1, 2, 3]],
  ['[1, 2,]', [1, 2]],
  ['[1, 2 | :t]', new ImproperList([1, 2], a('t'))],
  ['[1 | [2]]', [1, 2]],
  ['["a" | "b"]', new ImproperList(['a'], 'b')],
  ['[a: 1, b: 2]', [tuple(a('a'), 1), tuple(a('b'), 2)]],
  ['[1, a: 2]', [1, tuple(a('a'), 2)]],
  ['["quoted key": 1, nil: 2, true: 3]', [tuple(a('quoted key'), 1), tuple(a('nil'), 2), tuple(true, 3)]],
  ['{}', tuple()],
  ['{:ok, 1}', tuple(a('ok'), 1)],
  ['{1, a: 2}', tuple(1, [tuple(a('a'), 2)])],
  ['%{}', {}],
  ['%{"k" => 1}', new Map<Term, Term>([['k', 1]])],
  ['%{a: 1}', { a: 1 }],
  ['%{"quoted key": 1}', { 'quoted key': 1 }],
  ['%{:a => 1, b: 2}', { a: 1, b: 2 }],
  [
    '%{"k" => 1, a: 2}',
    new Map<Term, Term>([
      ['k', 1],
      [a('a'), 2],
    ]),
  ],
  [
    '%{{:a, 1} => [], 1.0 => 2}',
    new Map<Term, Term>([
      [tuple(a('a'), 1), []],
      [new Float(1), 2],
    ]),
  ],
  ['%{true => 1, false => 2}', { true: 1, false: 2 }],
  ['%URI{host: "h", port: 80}', { __struct__: a('Elixir.URI'), host: 'h', port: 80 }],
  ['%URI{}', { __struct__: a('Elixir.URI') }],
  ['%{__struct__: Foo, a: 1}', { __struct__: a('Elixir.Foo'), a: 1 }],
  ['&:erlang.node/0', new ExportFun(a('erlang'), a('node'), 0)],
  ['&Mod.fun/1', new ExportFun(a('Elixir.Mod'), a('fun'), 1)],
  ['&MyApp.Repo.all?/2', new ExportFun(a('Elixir.MyApp.Repo'), a('all?'), 2)],
  ['&:m."with space"/3', new ExportFun(a('m'), a('with space'), 3)],
  ['& :lists.map / 2', new ExportFun(a('lists'), a('map'), 2)],
  ['#PID<node@host.85.0>', pidOf('node@host', 85, 0)],
  ['[1, # one\n 2]', [1, 2]],
];

/** [syntax, text, column (1-based), message fragment] */
const ERRORS: [Syntax, string, number, string][] = [
  ['erlang', '[1, {a,, b}]', 8, "unexpected ','"],
  ['erlang', '{ok, ,}', 6, "unexpected ','"],
  ['erlang', '[1, 2', 6, 'unexpected end of input'],
  ['erlang', '', 1, 'unexpected end of input'],
  ['erlang', '[1 2]', 4, "unexpected '2'"],
  ['erlang', '[1, 2,]', 7, "unexpected ']'"],
  ['erlang', 'ok ok', 4, "unexpected 'o'"],
  ['erlang', 'ok..', 4, "unexpected '.'"],
  ['erlang', 'X', 1, "variables are not supported ('X')"],
  ['erlang', '{a, Foo}', 5, 'variables are not supported'],
  ['erlang', 'receive', 1, 'reserved word'],
  ['erlang', '"abc', 1, 'unterminated'],
  ['erlang', "'abc", 1, 'unterminated'],
  ['erlang', '<0.1.0>', 1, 'pids need a node'],
  ['erlang', '#Pid<0.1>', 1, 'a pid is'],
  ['erlang', '#{a => }', 8, "unexpected '}'"],
  ['erlang', '#{a, b}', 4, "unexpected ','"],
  ['erlang', '1.0e400', 1, 'float out of range'],
  ['erlang', '37#1', 1, 'base 37'],
  ['erlang', '2#102', 5, "unexpected '2'"],
  ['erlang', '1__0', 2, "unexpected '_'"],
  ['erlang', '"\\x{110000}"', 2, 'invalid escape'],
  ['erlang', '<<1.5>>', 3, 'an integer segment needs an integer'],
  ['erlang', '<<"abc"/binary:8>>', 15, "unexpected ':'"],
  ['erlang', '<<"é"/utf16-foo>>', 13, "unknown type specifier 'foo'"],
  ['erlang', '<<X>>', 3, "unexpected 'X'"],
  ['erlang', '<<1/utf8:3>>', 9, "unexpected ':'"],
  ['erlang', 'fun m:f/256', 9, 'arity beyond 255'],
  ['erlang', 'fun (X) -> X end', 5, "unexpected '('"],
  ['erlang', `'${'a'.repeat(256)}'`, 1, 'at most 255 characters'],
  ['erlang', 'f(1)', 2, "unexpected '('"],
  ['erlang', '{a,\n  ,}', 3, "unexpected ',' at line 2, column 3"],
  ['erlang', '#Ref<a@b.1.2.3>', 1, "unexpected '#'"],
  ['elixir', '[1, {:a,, 2}]', 9, "unexpected ','"],
  ['elixir', '"a#{b}"', 3, 'interpolation is not supported'],
  ['elixir', 'x', 1, 'variables and calls are not supported'],
  ['elixir', 'Foo.bar', 1, 'function calls are not supported'],
  ['elixir', '[a: 1, 2]', 8, 'keywords must come last'],
  ['elixir', '%{a: 1, "k" => 2}', 9, 'keywords must come last'],
  ['elixir', '%{m | a: 1}', 3, "variables and calls are not supported ('m')"],
  ['elixir', '%URI{"a" => 1}', 1, 'the keys of a struct are atoms'],
  ['elixir', '#PID<0.1.0>', 1, 'pids need a node'],
  ['elixir', ':+', 2, 'operators must be quoted'],
  ['elixir', '~r/x/', 1, 'only the ~c and ~s sigils'],
  ['elixir', '&(&1 + 1)', 2, 'only remote captures'],
  ['elixir', '0x', 3, 'expected a base-16 digit'],
  ['elixir', 'ok.', 1, 'variables and calls'],
  ['elixir', ':"\\xff"', 2, 'not valid UTF-8'],
];

function parseError(text: string, syntax: Syntax): ErldistError {
  try {
    parseTerm(text, { syntax });
  } catch (err) {
    expect(err).toBeInstanceOf(ErldistError);
    return err as ErldistError;
  }
  throw new Error(`${JSON.stringify(text)} parsed`);
}

describe('parseTerm: Erlang syntax', () => {
  it.each(ERLANG)('%s', (text, expected) => {
    expect(parseTerm(text)).toStrictEqual(expected);
    expect(parseTerm(text, { syntax: 'erlang' })).toStrictEqual(expected);
  });

  it('local pids go through options.pid', () => {
    const node = atom('me@here');
    const pid = (x: number, y: number, z: number) => new Pid(node, y, z, x + 7);
    expect(parseTerm('[<0.85.2>]', { pid })).toStrictEqual([new Pid(node, 85, 2, 7)]);
    expect(parseTerm('#PID<0.85.2>', { syntax: 'elixir', pid })).toStrictEqual(new Pid(node, 85, 2, 7));
  });

  it('atoms are interned', () => {
    expect(parseTerm('ok')).toBe(atom('ok'));
    expect(parseTerm('{x, x}')).toStrictEqual(tuple(atom('x'), atom('x')));
  });

  it('a map with __proto__ as a key keeps it as data', () => {
    const m = parseTerm("#{'__proto__' => 1}") as Record<string, Term>;
    expect(Object.keys(m)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
  });

  it('refuses nesting deeper than 1000', () => {
    expect(parseTerm('['.repeat(999) + ']'.repeat(999))).toBeDefined();
    expect(parseError('['.repeat(2000) + ']'.repeat(2000), 'erlang').message).toMatch(/nesting deeper than 1000/);
  });
});

describe('parseTerm: Elixir syntax', () => {
  it.each(ELIXIR)('%s', (text, expected) => {
    expect(parseTerm(text, { syntax: 'elixir' })).toStrictEqual(expected);
  });
});

describe('parseTerm: errors', () => {
  it.each(ERRORS)('%s: %s', (syntax, text, column, fragment) => {
    const err = parseError(text, syntax);
    expect(err.code).toBe('PARSE');
    if (fragment !== null) expect(err.message).toContain(fragment);
    const [first, line, marker] = err.message.split('\n');
    expect(first).toMatch(new RegExp(`at (line \\d+, )?column ${column}\\b`));
    expect(marker.indexOf('^')).toBe(column - 1);
    if (text.length < 100) expect(text.split('\n')).toContain(line);
    // offset counts UTF-16 units from the start of the text
    const lineStart = text.lastIndexOf('\n', err.offset! - 1) + 1;
    expect([...text.slice(lineStart, err.offset)].length).toBe(column - 1);
  });

  it('the message shows the line and a marker under the column', () => {
    const err = parseError('[1, {a, <<"b">>},, 2]', 'erlang');
    expect(err.message).toBe(`unexpected ',' at column 18\n[1, {a, <<"b">>},, 2]\n                 ^`);
    expect(err.offset).toBe(17);
  });

  it('columns count characters, not UTF-16 units', () => {
    const err = parseError('["😀😀" x]', 'erlang');
    expect(err.message.split('\n')[0]).toBe("unexpected 'x', expected ',' at column 7");
    expect(err.offset).toBe(8);
  });

  it('a long line is cut around the column', () => {
    const text = `[${'1,'.repeat(200)}}]`;
    const [, line, marker] = parseError(text, 'erlang').message.split('\n');
    expect(line.length).toBeLessThan(110);
    expect(line[marker.indexOf('^')]).toBe('}');
  });

  it('text that is not a string is INVALID_ARGUMENT', () => {
    expect(thrown(() => parseTerm(42 as unknown as string)).code).toBe('INVALID_ARGUMENT');
  });
});

/** What `f` throws, which must be an ErldistError with code PARSE or INVALID_ARGUMENT. */
function thrown(f: () => unknown): ErldistError {
  let result: unknown;
  try {
    result = f();
  } catch (err) {
    expect(err).toBeInstanceOf(ErldistError);
    expect(['PARSE', 'INVALID_ARGUMENT']).toContain((err as ErldistError).code);
    return err as ErldistError;
  }
  throw new Error(`did not throw, returned ${inspect(result as Term)}`);
}

/** Parses, or throws an ErldistError with code PARSE or INVALID_ARGUMENT (and returns it). */
function parsesOrFails(text: string, options?: ParseOptions): Term | ErldistError {
  try {
    return parseTerm(text, options);
  } catch (err) {
    expect(err, JSON.stringify(text)).toBeInstanceOf(ErldistError);
    expect(['PARSE', 'INVALID_ARGUMENT'], JSON.stringify(text)).toContain((err as ErldistError).code);
    return err as ErldistError;
  }
}

/** Runs `f` with only about `frames` small stack frames left: recurses until the stack overflows, then unwinds. */
function withLittleStack<T>(frames: number, f: () => T): T {
  let result: { value: T } | undefined;
  const dive = (n: number): number => {
    let bottom: number;
    try {
      bottom = dive(n + 1);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      return n;
    }
    if (n === bottom - frames) result = { value: f() };
    return bottom;
  };
  dive(0);
  if (result === undefined) throw new Error('the stack holds fewer frames than asked');
  return result.value;
}

describe('parseTerm throws ErldistError only (INVALID_ARGUMENT or PARSE)', () => {
  describe('arguments and options: INVALID_ARGUMENT', () => {
    const badText: [string, unknown][] = [
      ['a number', 42],
      ['null', null],
      ['undefined', undefined],
      ['a String object', new String('ok')],
      ['a Buffer', Buffer.from('ok')],
    ];
    it.each(badText)('text is %s', (_name, text) => {
      const err = thrown(() => parseTerm(text as string));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toContain('text must be a string');
    });

    const getterThrows = Object.defineProperty({}, 'syntax', {
      get() {
        throw new Error('no');
      },
    });
    const badOptions: [string, unknown, string][] = [
      ['null', null, 'options must be an object'],
      ['a string', 'elixir', 'options must be an object'],
      ['a number', 1, 'options must be an object'],
      ['syntax misspelt', { syntax: 'Elixir' }, `options.syntax must be 'erlang' or 'elixir', not "Elixir"`],
      ['syntax not a string', { syntax: 1 }, 'not number'],
      ['syntax an object', { syntax: { toString: () => 'elixir' } }, 'not object'],
      ['pid not a function', { pid: 'x' }, 'options.pid must be a function'],
      ['a getter that throws', getterThrows, 'options cannot be read'],
    ];
    it.each(badOptions)('options: %s', (_name, options, message) => {
      const err = thrown(() => parseTerm('ok', options as ParseOptions));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toContain(message);
    });

    it('undefined options are the defaults', () => {
      expect(parseTerm('ok', undefined)).toBe(atom('ok'));
      expect(parseTerm('ok', { syntax: undefined, pid: undefined })).toBe(atom('ok'));
    });

    it('options.pid throwing, or returning something other than a Pid', () => {
      const cause = new RangeError('no such node');
      const throws = thrown(() =>
        parseTerm('[1, <0.85.0>]', {
          pid: () => {
            throw cause;
          },
        }),
      );
      expect(throws.code).toBe('INVALID_ARGUMENT');
      expect(throws.message).toBe('options.pid(0, 85, 0) threw: no such node');
      expect(throws.cause).toBe(cause);
      expect(throws.offset).toBe(4);
      const notPid = thrown(() => parseTerm('<0.85.0>', { syntax: 'elixir', pid: () => 'pid' as unknown as Pid }));
      expect(notPid.code).toBe('INVALID_ARGUMENT');
      expect(notPid.message).toBe('options.pid(0, 85, 0) did not return a Pid');
    });

    it('options.pid is called on the options object', () => {
      const options = {
        node: atom('me@here'),
        pid(this: { node: typeof atom extends (n: string) => infer A ? A : never }, a: number, b: number, c: number) {
          return new Pid(this.node, b, c, a);
        },
      };
      expect(parseTerm('<1.2.3>', options)).toStrictEqual(new Pid(atom('me@here'), 2, 3, 1));
    });

    it(`a text longer than ${MAX_TEXT_LENGTH} UTF-16 code units`, () => {
      const err = thrown(() => parseTerm(' '.repeat(MAX_TEXT_LENGTH + 1)));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toContain('text longer than');
    });
  });

  describe('huge numbers: PARSE', () => {
    // Erlang's largest integer has MAX_INTEGER_BITS bits; its reader fails with system_limit beyond.
    const hexDigits = MAX_INTEGER_BITS / 4;
    it('integers up to Erlang limit', () => {
      expect(parseTerm(`16#${'f'.repeat(hexDigits)}`)).toBe(2n ** BigInt(MAX_INTEGER_BITS) - 1n);
      expect(parseTerm(`-0x${'f'.repeat(hexDigits)}`, { syntax: 'elixir' })).toBe(1n - 2n ** BigInt(MAX_INTEGER_BITS));
      expect(parseTerm(`16#${'0'.repeat(100_000)}1`)).toBe(1);
    });

    const tooLarge: [Syntax, string, () => string][] = [
      ['erlang', 'one hex digit more', () => `16#1${'0'.repeat(hexDigits)}`],
      ['erlang', '10.2 million decimal digits', () => '9'.repeat(10_200_000)],
      ['erlang', '6.5 million digits of base 36', () => `36#${'z'.repeat(6_500_000)}`],
      ['elixir', 'one hex digit more', () => `0x1${'0'.repeat(hexDigits)}`],
      ['elixir', '10.2 million decimal digits, in a list', () => `[${'9'.repeat(10_200_000)}]`],
    ];
    it.each(tooLarge)('%s: beyond Erlang limit: %s', (syntax, _name, text) => {
      const err = thrown(() => parseTerm(text(), { syntax }));
      expect(err.code).toBe('PARSE');
      expect(err.message).toMatch(
        /^integer too large \(Erlang's integers have at most 33554368 bits\) at column [12]\n/,
      );
    });

    it('a long number of base 36 is read in less than quadratic time', () => {
      const digits = 'z9'.repeat(50_000);
      const v = parseTerm(`36#${digits}`) as bigint;
      expect(v.toString(36)).toBe(digits);
    });

    const bits: [Syntax, string, string][] = [
      ['erlang', '<<1:99999999999999999999>>', `a size beyond ${MAX_BINARY_BITS}`],
      ['erlang', `<<1:${'9'.repeat(400)}>>`, 'a size beyond'],
      ['erlang', '<<1:4294967296>>', 'a size beyond'],
      ['erlang', `<<0:${MAX_BINARY_BITS + 1}>>`, 'a size beyond'],
      ['erlang', '<<1:100000/unit:100000>>', 'a binary larger than 64 MiB'],
      ['erlang', `<<1:8, 0:${MAX_BINARY_BITS}>>`, 'a binary larger than 64 MiB'],
      ['erlang', `<<${2n ** 1024n}/float>>`, 'the integer is too large for a float segment'],
      ['elixir', '<<1::size(99999999999999999999)>>', 'a size beyond'],
      ['elixir', '<<1::unit(4294967296)-size(2)>>', 'a size beyond'],
      ['elixir', '<<1::size(65536)-unit(65536)>>', 'a binary larger than 64 MiB'],
      ['elixir', `<<-${2n ** 1024n}::float-32>>`, 'the integer is too large for a float segment'],
    ];
    it.each(bits)('%s: %s', (syntax, text, message) => {
      const err = thrown(() => parseTerm(text, { syntax }));
      expect(err.code).toBe('PARSE');
      expect(err.message).toContain(message);
    });

    it('a segment of 8 MiB is written in linear time', () => {
      const b = parseTerm(`<<1:1, -1:${8 * 1024 * 1024 * 8}, 0:7>>`) as Buffer;
      expect(b.length).toBe(8 * 1024 * 1024 + 1);
      expect(b[0]).toBe(0xff);
      expect(b.subarray(1, -1).every((x) => x === 255)).toBe(true);
      expect(b.at(-1)).toBe(0x80);
    });

    it('floats and other numbers beyond their ranges', () => {
      for (const text of ['1.0e309', '-1.0e99999999999999999999', `${'9'.repeat(400)}.0`]) {
        expect(thrown(() => parseTerm(text)).message).toContain('float out of range');
      }
      expect(parseTerm('1.0e-99999999999999999999')).toStrictEqual(new Float(0));
      expect(thrown(() => parseTerm('99999999999999999999#1')).message).toContain('is not within 2..36');
      expect(thrown(() => parseTerm('#Pid<a@b.99999999999999999999.0>')).message).toContain('pid number out of range');
      expect(thrown(() => parseTerm('fun m:f/99999999999999999999')).message).toContain('arity beyond 255');
      expect(thrown(() => parseTerm('$\\x{FFFFFFFFFF}')).message).toContain('invalid escape');
    });
  });

  describe('lone surrogates', () => {
    const cases: [Syntax, string, string | null][] = [
      ['erlang', '\ud800', "unexpected '\ud800'"],
      ['erlang', "'\udc00'", 'U+DC00 cannot be encoded in UTF-8'],
      ['erlang', "'a\ud800b'", 'U+D800 cannot be encoded in UTF-8'],
      ['erlang', '<<"\ud800"/utf8>>', 'U+D800 is not a character'],
      ['erlang', '<<"\ud800"/binary>>', 'a character beyond 255 needs /utf8'],
      ['erlang', '<<$\udfff/utf16>>', 'U+DFFF is not a character'],
      ['erlang', '[1, \ud83d]', "unexpected '\ud83d'"],
      ['erlang', '"\ud800', 'unterminated quoted text'],
      ['elixir', '"\udc00"', 'U+DC00 cannot be encoded in UTF-8'],
      ['elixir', ':"\ud800"', 'U+D800 cannot be encoded in UTF-8'],
      ['elixir', '["\ud800": 1]', 'U+D800 cannot be encoded in UTF-8'],
      ['elixir', '~s(\ud800)', 'U+D800 cannot be encoded in UTF-8'],
      ['elixir', '<<"\ud800">>', 'U+D800 cannot be encoded in UTF-8'],
      ['elixir', '<<?\ud800::utf8>>', 'U+D800 is not a character'],
      ['elixir', '%{a: \udbff}', "unexpected '\udbff'"],
    ];
    it.each(cases)('%s: %j', (syntax, text, message) => {
      const err = thrown(() => parseTerm(text, { syntax }));
      expect(err.code).toBe('PARSE');
      if (message !== null) expect(err.message).toContain(message);
      // the marker still lines up: the column counts the lone surrogate as one character
      const [first, line, marker] = err.message.split('\n');
      const column = Number(/column (\d+)/.exec(first)?.[1]);
      expect(marker.indexOf('^')).toBe(column - 1);
      expect(text).toContain(line);
    });

    it('as code points in charlists and characters, they are data', () => {
      expect(parseTerm('"\ud800"')).toStrictEqual([0xd800]);
      expect(parseTerm('$\udc00')).toBe(0xdc00);
      expect(parseTerm("'\ud800'", { syntax: 'elixir' })).toStrictEqual([0xd800]);
      expect(parseTerm('?\ud800', { syntax: 'elixir' })).toBe(0xd800);
    });
  });

  describe('invalid UTF-8', () => {
    it('a binary that is not UTF-8 is a Buffer', () => {
      expect(parseTerm('"\\xff\\xc3"', { syntax: 'elixir' })).toStrictEqual(buf(0xff, 0xc3));
      expect(parseTerm('~s(\\xc3)', { syntax: 'elixir' })).toStrictEqual(buf(0xc3));
      expect(parseTerm('<<"\\xc3"::binary, 0x28>>', { syntax: 'elixir' })).toStrictEqual(buf(0xc3, 0x28));
      expect(parseTerm('<<16#c3, 16#28>>')).toStrictEqual(buf(0xc3, 0x28));
      expect(parseTerm('<<"\\xff\\xfe">>')).toStrictEqual(buf(0xff, 0xfe));
    });

    const cases: [string, string][] = [
      [':"\\xc3"', 'text is not valid UTF-8'],
      ['["\\xff": 1]', "unexpected ':'"],
      ['%{"\\xff": 1}', "unexpected ':'"],
      ['&:"\\xff".f/0', 'text is not valid UTF-8'],
      ['&:m."\\xed\\xa0\\x80"/0', 'text is not valid UTF-8'],
      ['~c"\\xff"', null as unknown as string],
    ];
    it.each(cases)('elixir: %s', (text, message) => {
      const result = parsesOrFails(text, { syntax: 'elixir' });
      if (message === null) return;
      expect(result).toBeInstanceOf(ErldistError);
      expect((result as ErldistError).message).toContain(message);
    });
  });

  describe('deep nesting: PARSE', () => {
    const deep: [Syntax, string, string][] = [
      ['erlang', '{', '}'],
      ['erlang', '#{a => ', '}'],
      ['erlang', '[1 | ', ']'],
      ['erlang', '<<', '>>'],
      ['elixir', '[', ']'],
      ['elixir', '[a: ', ']'],
      ['elixir', '{1, a: ', '}'],
      ['elixir', '%{a: ', '}'],
      ['elixir', '%{"k" => ', '}'],
      ['elixir', '<<', '>>'],
    ];
    it.each(deep)('%s: %s…%s', (syntax, open, close) => {
      expect(parseTerm(`${open.repeat(999)}1${close.repeat(999)}`.replace('<<1>>', '<<>>'), { syntax })).toBeDefined();
      const err = thrown(() => parseTerm(`${open.repeat(100_000)}1${close.repeat(100_000)}`, { syntax }));
      expect(err.code).toBe('PARSE');
      expect(err.message).toContain('nesting deeper than 1000');
    });

    it('a map key nested 997 deep', () => {
      expect(parseTerm(`#{${'['.repeat(997)}${']'.repeat(997)} => 1}`)).toBeInstanceOf(Map);
    });

    it('the JS stack running out (parseTerm called deep in a recursion) is PARSE', () => {
      const text = `${'[{'.repeat(499)}1${'}]'.repeat(499)}`;
      const outcomes = [100, 300, 1000].map((frames) => withLittleStack(frames, () => parsesOrFails(text)));
      const stackErrors = outcomes.filter((o) => o instanceof ErldistError);
      expect(stackErrors.length).toBeGreaterThan(0);
      for (const err of stackErrors as ErldistError[]) {
        expect(err.code).toBe('PARSE');
        expect(err.message).toMatch(/^nesting too deep for the JS stack at column \d+\n/);
        expect(err.cause).toBeInstanceOf(RangeError);
      }
      for (const o of outcomes) if (!(o instanceof ErldistError)) expect(o).toStrictEqual(parseTerm(text));
    });
  });

  it('an error on a line of a megabyte shows 100 characters of it', () => {
    const text = `[${'1,'.repeat(500_000)})]`;
    const err = thrown(() => parseTerm(text));
    const [first, line, marker] = err.message.split('\n');
    expect(first).toBe("unexpected ')' at column 1000002");
    expect(line).toBe(`...${'1,'.repeat(49)})]`);
    expect(line[marker.indexOf('^')]).toBe(')');
  });

  describe.each<Syntax>(['erlang', 'elixir'])('fuzz, %s syntax', (syntax) => {
    it('5,000 mutated texts: a term or an ErldistError', () => {
      const next = rng(syntax === 'erlang' ? 2024 : 2025);
      const pick = (n: number) => Math.floor(next() * n);
      const table = syntax === 'erlang' ? ERLANG : ELIXIR;
      const pool = [
        ...table.map(([text]) => text),
        ...ERRORS.filter(([s]) => s === syntax).map(([, text]) => text),
        ...literalTerms(syntax === 'erlang' ? 31 : 32, 200, true).map((t) => inspect(t, { syntax })),
      ];
      const pieces = [
        ...'<>[]{}()#%$?~:,.|/\\-+_=\'"` \n0123456789azAZ@&!é😀',
        '\ud800',
        '\udc00',
        '\u0000',
        '::',
        '=>',
        '<<',
        '>>',
        '#{',
        '%{',
        '#Pid<',
        '\\x',
        '\\u{',
        'e+',
        '16#',
        '0x',
        'unit:',
        'size(',
        '9'.repeat(25),
      ];
      let parsed = 0;
      for (let i = 0; i < 5_000; i++) {
        let text = pool[pick(pool.length)];
        for (let k = 1 + pick(3); k > 0; k--) {
          const at = pick(text.length + 1);
          const other = pool[pick(pool.length)];
          switch (pick(5)) {
            case 0:
              text = text.slice(0, at) + pieces[pick(pieces.length)] + text.slice(at);
              break;
            case 1:
              text = text.slice(0, at) + text.slice(at + 1 + pick(4));
              break;
            case 2:
              text = text.slice(0, at) + other.slice(pick(other.length + 1));
              break;
            case 3:
              text = text.slice(0, at) + String.fromCharCode(pick(0x10000)) + text.slice(at + 1);
              break;
            default:
              text = text.slice(0, at) + other + text.slice(at);
          }
        }
        if (!(parsesOrFails(text, { syntax }) instanceof ErldistError)) parsed++;
      }
      expect(parsed).toBeGreaterThan(250);
    });
  });
});

describe.each<Syntax>(['erlang', 'elixir'])('parseTerm(inspect(t)) round trip, %s syntax', (syntax) => {
  it('3000 seeded terms', () => {
    const terms = literalTerms(syntax === 'erlang' ? 1 : 2, 3000, true);
    let checked = 0;
    for (const t of terms) {
      const text = inspect(t, { syntax });
      let back: Term;
      try {
        back = parseTerm(text, { syntax });
      } catch (err) {
        throw new Error(`${(err as Error).message}\nwhile parsing ${text}`);
      }
      if (!isDeepStrictEqual(back, t)) expect(back, text).toStrictEqual(t);
      checked++;
    }
    expect(checked).toBe(3000);
  });

  it('prints what it parses, for the examples', () => {
    for (const [text, expected] of syntax === 'erlang' ? ERLANG : ELIXIR) {
      if (PRINTER_GAPS.has(text)) continue;
      expect(parseTerm(inspect(expected, { syntax }), { syntax }), text).toStrictEqual(expected);
    }
  });
});

/**
 * Examples that inspect does not print back in a form that parses: an Elixir atom, map key or fun
 * name containing `#{` is printed without escaping it (`:"#{x}"`), which Elixir reads as
 * interpolation. The parser refuses interpolation, as Elixir would need a variable `x`.
 */
const PRINTER_GAPS = new Set([':"\\#{x}"']);

describe('known printer gaps (remove from PRINTER_GAPS once inspect escapes them)', () => {
  it('Elixir atom with #{ in its name', () => {
    expect(parseTerm(inspect(atom('#{x}'), { syntax: 'elixir' }), { syntax: 'elixir' })).toBe(atom('#{x}'));
  });
});
