/**
 * Golden cases: an Erlang expression, the JS value erldist maps it to, and (in
 * test/fixtures/golden.json, written by scripts/golden.mjs from the newest OTP) the bytes of
 * `term_to_binary(Expr, [{minor_version, 2}])`. The unit test checks both directions offline; the
 * interop test re-checks every expression against each live runtime.
 */
import {
  atom,
  BitBinary,
  ExportFun,
  Float,
  ImproperList,
  Pid,
  Port,
  Reference,
  type Term,
  tuple,
} from '../../src/index.js';

export interface GoldenCase {
  name: string;
  /** Erlang expression (no trailing dot). */
  erl: string;
  /** What `decode(bytes, { exact: true })` gives; `encode` of it must give the bytes back. */
  js: () => Term;
  /** Only the newest OTP writes these bytes (e.g. ports: OTP 25 writes NEW_PORT_EXT). */
  newestOnly?: boolean;
}

const ext = (hex: string) =>
  `binary_to_term(<<${hex
    .match(/../g)!
    .map((b) => parseInt(b, 16))
    .join(',')}>>)`;
const nodeAtomHex = `7703${Buffer.from('a@b').toString('hex')}`; // SMALL_ATOM_UTF8 'a@b'
const range = (n: number, f: (i: number) => Term) => Array.from({ length: n }, (_, i) => f(i));

export const goldenCases: GoldenCase[] = [
  // integers: SMALL_INTEGER / INTEGER / SMALL_BIG / LARGE_BIG boundaries
  { name: 'int 0', erl: '0', js: () => 0 },
  { name: 'int 255', erl: '255', js: () => 255 },
  { name: 'int 256', erl: '256', js: () => 256 },
  { name: 'int -1', erl: '-1', js: () => -1 },
  { name: 'int 2^31-1', erl: '2147483647', js: () => 2147483647 },
  { name: 'int 2^31', erl: '2147483648', js: () => 2147483648 },
  { name: 'int -2^31', erl: '-2147483648', js: () => -2147483648 },
  { name: 'int -2^31-1', erl: '-2147483649', js: () => -2147483649 },
  { name: 'int 2^53-1', erl: '9007199254740991', js: () => 9007199254740991 },
  { name: 'int 2^53', erl: '9007199254740992', js: () => 9007199254740992n },
  { name: 'int -(2^53-1)', erl: '-9007199254740991', js: () => -9007199254740991 },
  { name: 'int -2^53', erl: '-9007199254740992', js: () => -9007199254740992n },
  { name: 'int 2^64-1', erl: '18446744073709551615', js: () => 18446744073709551615n },
  { name: 'int 2^64', erl: '18446744073709551616', js: () => 18446744073709551616n },
  { name: 'int -2^64', erl: '-18446744073709551616', js: () => -18446744073709551616n },
  { name: 'int 255-byte big', erl: '(1 bsl 2040) - 1', js: () => (1n << 2040n) - 1n },
  { name: 'int 256-byte big', erl: '1 bsl 2040', js: () => 1n << 2040n },
  { name: 'int -256-byte big', erl: '-(1 bsl 2047)', js: () => -(1n << 2047n) },
  // floats
  { name: 'float 1.5', erl: '1.5', js: () => 1.5 },
  { name: 'float 0.0', erl: '0.0', js: () => new Float(0) },
  { name: 'float -0.0', erl: '-0.0', js: () => new Float(-0) },
  { name: 'float 1.0', erl: '1.0', js: () => new Float(1) },
  { name: 'float 1.0e300', erl: '1.0e300', js: () => 1e300 },
  { name: 'float smallest', erl: '5.0e-324', js: () => 5e-324 },
  // atoms
  { name: "atom ''", erl: "''", js: () => atom('') },
  { name: 'atom ok', erl: 'ok', js: () => atom('ok') },
  { name: 'atom true', erl: 'true', js: () => true },
  { name: 'atom false', erl: 'false', js: () => false },
  { name: 'atom latin-1', erl: "'caf\\x{e9}'", js: () => atom('café') },
  { name: 'atom unicode', erl: "'\\x{3bb}x'", js: () => atom('λx') },
  { name: 'atom 255 bytes', erl: 'list_to_atom(lists:duplicate(255, $a))', js: () => atom('a'.repeat(255)) },
  { name: 'atom 256 bytes', erl: 'list_to_atom(lists:duplicate(128, 16#e9))', js: () => atom('é'.repeat(128)) },
  {
    name: 'atom 255 chars 510 bytes',
    erl: 'list_to_atom(lists:duplicate(255, 16#3bb))',
    js: () => atom('λ'.repeat(255)),
  },
  // binaries and bitstrings
  { name: 'binary empty', erl: '<<>>', js: () => '' },
  { name: 'binary text', erl: '<<"hello">>', js: () => 'hello' },
  { name: 'binary utf8', erl: '<<"h\\x{e9}llo \\x{1F600}"/utf8>>', js: () => 'héllo 😀' },
  { name: 'binary bytes', erl: '<<255,0,128>>', js: () => Buffer.from([255, 0, 128]) },
  { name: 'bitstring 1 bit', erl: '<<1:1>>', js: () => new BitBinary(Buffer.from([0x80]), 1) },
  { name: 'bitstring 2 bytes 3 bits', erl: '<<255, 5:3>>', js: () => new BitBinary(Buffer.from([255, 0xa0]), 3) },
  // tuples
  { name: 'tuple empty', erl: '{}', js: () => tuple() },
  { name: 'tuple pair', erl: '{ok, 1}', js: () => tuple(atom('ok'), 1) },
  { name: 'tuple 255', erl: 'list_to_tuple(lists:seq(1, 255))', js: () => tuple(...range(255, (i) => i + 1)) },
  { name: 'tuple 256', erl: 'list_to_tuple(lists:seq(1, 256))', js: () => tuple(...range(256, (i) => i + 1)) },
  // lists
  { name: 'list empty', erl: '[]', js: () => [] },
  { name: 'list of bytes', erl: '[1, 2, 3]', js: () => [1, 2, 3] },
  { name: 'list with 256', erl: '[1, 256]', js: () => [1, 256] },
  { name: 'list mixed', erl: '[a, <<"b">>, {c}]', js: () => [atom('a'), 'b', tuple(atom('c'))] },
  { name: 'list improper', erl: '[1 | 2]', js: () => new ImproperList([1], 2) },
  { name: 'list improper atoms', erl: '[a, b | c]', js: () => new ImproperList([atom('a'), atom('b')], atom('c')) },
  { name: 'list 65535 bytes', erl: 'lists:duplicate(65535, 7)', js: () => range(65535, () => 7) },
  { name: 'list 65536 bytes', erl: 'lists:duplicate(65536, 7)', js: () => range(65536, () => 7) },
  { name: 'list nested', erl: '[[], [[]]]', js: () => [[], [[]]] },
  // maps (single key, so the bytes do not depend on key order)
  { name: 'map empty', erl: '#{}', js: () => ({}) },
  { name: 'map atom key', erl: '#{a => 1}', js: () => ({ a: 1 }) },
  { name: 'map binary key', erl: '#{<<"k">> => [1]}', js: () => new Map<Term, Term>([['k', [1]]]) },
  { name: 'map integer key', erl: '#{1 => 2}', js: () => new Map<Term, Term>([[1, 2]]) },
  { name: 'map float key', erl: '#{1.0 => 2}', js: () => new Map<Term, Term>([[new Float(1), 2]]) },
  // pids, references, ports, funs
  {
    name: 'pid',
    erl: ext(`8358${nodeAtomHex}000000010000000200000003`),
    js: () => new Pid(atom('a@b'), 1, 2, 3),
  },
  {
    name: 'reference 3 words',
    erl: ext(`835a0003${nodeAtomHex}00000007000000010000000200000003`),
    js: () => new Reference(atom('a@b'), 7, [1, 2, 3]),
  },
  {
    name: 'reference 5 words',
    erl: ext(`835a0005${nodeAtomHex}0000000700000001000000020000000300000004ffffffff`),
    js: () => new Reference(atom('a@b'), 7, [1, 2, 3, 4, 0xffffffff]),
  },
  {
    name: 'port 64-bit id',
    erl: ext(`8378${nodeAtomHex}000000050000000600000009`),
    js: () => new Port(atom('a@b'), 0x500000006, 9),
  },
  {
    name: 'port small id',
    erl: ext(`8378${nodeAtomHex}000000000000000600000009`),
    js: () => new Port(atom('a@b'), 6, 9),
    newestOnly: true,
  },
  { name: 'export fun', erl: 'fun erlang:node/0', js: () => new ExportFun(atom('erlang'), atom('node'), 0) },
  // nesting
  {
    name: 'nested',
    erl: '{[#{k => {<<255>>, -1.5}}], [x | y]}',
    js: () => tuple([{ k: tuple(Buffer.from([255]), -1.5) }], new ImproperList([atom('x')], atom('y'))),
  },
];

/** Encodings erldist decodes but never writes: old forms and non-canonical ones. */
export interface DecodeOnlyCase {
  name: string;
  hex: string;
  js: () => Term;
  /** Canonical bytes for the same term. */
  canonical: string;
}

export const decodeOnlyCases: DecodeOnlyCase[] = [
  { name: 'ATOM_EXT', hex: '8364000161', js: () => atom('a'), canonical: '83770161' },
  { name: 'SMALL_ATOM_EXT latin-1', hex: '837301e9', js: () => atom('é'), canonical: '837702c3a9' },
  { name: 'ATOM_UTF8_EXT short', hex: '8376000161', js: () => atom('a'), canonical: '83770161' },
  { name: 'ATOM_EXT true', hex: '83640004' + '74727565', js: () => true, canonical: '83770474727565' },
  {
    name: 'FLOAT_EXT',
    hex: `8363${Buffer.from('1.50000000000000000000e+00').toString('hex')}0000000000`,
    js: () => 1.5,
    canonical: '83463ff8000000000000',
  },
  { name: 'SMALL_BIG small value', hex: '836e02000001', js: () => 256, canonical: '836200000100' },
  { name: 'LARGE_BIG small value', hex: '836f00000001' + '01' + '05', js: () => -5, canonical: '8362fffffffb' },
  {
    name: 'PID_EXT',
    hex: `8367${nodeAtomHex}000000010000000203`,
    js: () => new Pid(atom('a@b'), 1, 2, 3),
    canonical: `8358${nodeAtomHex}000000010000000200000003`,
  },
  {
    name: 'PORT_EXT',
    hex: `8366${nodeAtomHex}0000000602`,
    js: () => new Port(atom('a@b'), 6, 2),
    canonical: `8378${nodeAtomHex}000000000000000600000002`,
  },
  {
    name: 'NEW_PORT_EXT',
    hex: `8359${nodeAtomHex}0000000600000009`,
    js: () => new Port(atom('a@b'), 6, 9),
    canonical: `8378${nodeAtomHex}000000000000000600000009`,
  },
  {
    name: 'REFERENCE_EXT',
    hex: `8365${nodeAtomHex}0000000401`,
    js: () => new Reference(atom('a@b'), 1, [4]),
    canonical: `835a0001${nodeAtomHex}0000000100000004`,
  },
  {
    name: 'NEW_REFERENCE_EXT',
    hex: `83720002${nodeAtomHex}010000000400000005`,
    js: () => new Reference(atom('a@b'), 1, [4, 5]),
    canonical: `835a0002${nodeAtomHex}000000010000000400000005`,
  },
  {
    name: 'BIT_BINARY whole bytes',
    hex: '834d0000000208' + 'ff02',
    js: () => Buffer.from([255, 2]),
    canonical: '836d00000002ff02',
  },
  { name: 'BIT_BINARY empty', hex: '834d0000000000', js: () => '', canonical: '836d00000000' },
  {
    name: 'BIT_BINARY stray low bits',
    hex: '834d0000000101ff',
    js: () => new BitBinary(Buffer.from([0x80]), 1),
    canonical: '834d000000010180',
  },
  { name: 'LIST_EXT of bytes', hex: '836c00000002' + '61016102' + '6a', js: () => [1, 2], canonical: '836b00020102' },
  {
    name: 'LIST_EXT list tail',
    hex: '836c00000001' + '6101' + '6b000102',
    js: () => [1, 2],
    canonical: '836b00020102',
  },
  { name: 'LIST_EXT no elements', hex: '836c00000000' + '6101', js: () => 1, canonical: '836101' },
  { name: 'LARGE_TUPLE_EXT small', hex: '836900000001' + '6101', js: () => tuple(1), canonical: '83680161' + '01' },
];
