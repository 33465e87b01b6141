import { describe, expect, it } from 'vitest';
import { atom, BitBinary, ExportFun, Float, ImproperList, inspect, Pid, type Term, tuple } from '../../src/index.js';

const both = (t: Term) => [inspect(t), inspect(t, { syntax: 'elixir' })];

describe('inspect', () => {
  it('atoms', () => {
    expect(both(atom('ok'))).toEqual(['ok', ':ok']);
    expect(both(atom('Hello world'))).toEqual(["'Hello world'", ':"Hello world"']);
    expect(both(atom('Elixir.MyApp.Repo'))).toEqual(["'Elixir.MyApp.Repo'", 'MyApp.Repo']);
    expect(both(atom('nil'))).toEqual(['nil', 'nil']);
    expect(both(atom('receive'))).toEqual(["'receive'", ':receive']);
    expect(both(true)).toEqual(['true', 'true']);
  });
  it('numbers', () => {
    expect(both(12)).toEqual(['12', '12']);
    expect(both(2n ** 70n)).toEqual(['1180591620717411303424', '1180591620717411303424']);
    expect(both(new Float(1))).toEqual(['1.0', '1.0']);
    expect(both(-0.5)).toEqual(['-0.5', '-0.5']);
    expect(both(1e300)).toEqual(['1.0e300', '1.0e300']);
    expect(both(new Float(-0))).toEqual(['-0.0', '-0.0']);
  });
  it('binaries, strings and charlists', () => {
    expect(both('hi "x"')).toEqual(['<<"hi \\"x\\"">>', '"hi \\"x\\""']);
    expect(both('é')).toEqual(['<<"é"/utf8>>', '"é"']);
    expect(both(Buffer.from([255, 1]))).toEqual(['<<255,1>>', '<<255, 1>>']);
    expect(both(new BitBinary(Buffer.from([1, 0xa0]), 3))).toEqual(['<<1,5:3>>', '<<1, 5::size(3)>>']);
    expect(both([104, 105])).toEqual(['"hi"', '~c"hi"']);
    expect(both('#{x}')[1]).toBe('"\\#{x}"');
  });
  it('containers', () => {
    expect(both(tuple(atom('ok'), [1, 300]))).toEqual(['{ok,[1,300]}', '{:ok, [1, 300]}']);
    expect(both(new ImproperList([1], 2))).toEqual(['[1 | 2]', '[1 | 2]']);
    expect(both({ a: 1, 'b c': 'x' })).toEqual(['#{a => 1,\'b c\' => <<"x">>}', '%{a: 1, "b c": "x"}']);
    expect(both(new Map<Term, Term>([['k', 1]]))).toEqual(['#{<<"k">> => 1}', '%{"k" => 1}']);
    expect(inspect({ __struct__: atom('Elixir.URI'), host: 'h' }, { syntax: 'elixir' })).toBe('%URI{host: "h"}');
  });
  it('pids and funs', () => {
    expect(both(new Pid(atom('a@b'), 85, 0, 1))).toEqual(['#Pid<a@b.85.0>', '#PID<a@b.85.0>']);
    expect(both(new ExportFun(atom('erlang'), atom('node'), 0))).toEqual(['fun erlang:node/0', '&:erlang.node/0']);
  });
  it('limit', () => {
    expect(inspect(Buffer.alloc(10, 255), { limit: 3 })).toBe('<<255,255,255,...>>');
    expect(
      inspect(
        Array.from({ length: 10 }, () => 300),
        { limit: 2 },
      ),
    ).toBe('[300,300,...]');
  });
});
