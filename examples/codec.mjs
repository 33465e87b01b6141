// A first look at erldist's term codec with a real Erlang next to it: Erlang encodes a term with
// term_to_binary, erldist decodes and prints it, then erldist encodes a JS value and Erlang reads it.
// Run: npm run demo   (needs `erl` on PATH)
import { execFileSync } from 'node:child_process';
import { atom, decode, encode, inspect, tuple } from '../dist/index.js';

function erl(expr) {
  return execFileSync('erl', ['-noshell', '-eval', `${expr}, halt().`], { encoding: 'utf8' });
}

const fromErlang = erl(
  `io:format("~s", [binary:encode_hex(term_to_binary({ok, #{name => <<"Ada"/utf8>>, langs => [erlang, elixir], n => 1 bsl 70, pid => self()}}))])`,
);
const term = decode(Buffer.from(fromErlang, 'hex'));
console.log('Erlang sent      ', inspect(term));
console.log('as Elixir        ', inspect(term, { syntax: 'elixir' }));
console.log('as JS            ', term);

const mine = tuple(atom('hello'), 'from node', [1, 2, 3], { at: Date.now() }, 2n ** 64n, 3.14);
const hex = encode(mine).toString('hex');
console.log('erldist sent     ', inspect(mine));
console.log('Erlang read      ', erl(`io:format("~p", [binary_to_term(binary:decode_hex(<<"${hex}">>))])`).trim());
