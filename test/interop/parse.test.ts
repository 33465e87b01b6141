/**
 * parseTerm against Erlang's own reader: on every runtime of the matrix (runtimes.ts), Erlang
 * evaluates texts printed by `inspect` (erl_scan, erl_parse, erl_eval) and its value must equal what
 * `parseTerm` makes of the same text.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, inspect, type Term } from '../../src/index.js';
import { parseTerm } from '../../src/term/parse.js';
import { ErlPort } from '../support/erl-port.js';
import { literalTerms } from '../support/literal.js';
import { runtimes } from '../support/runtimes.js';

const TEXTS_PER_RUNTIME = 300;

/** Hand-written texts in forms that inspect never prints. */
const HANDWRITTEN = [
  '16#ff',
  '-2#1010',
  '36#Zz',
  '$a',
  '-$\\n',
  '1_000_000',
  '1.0e10',
  '2.5e-3',
  '1.0E+2',
  '-0.0',
  "'with \\'escape'",
  '"\\x{1F600}\\xff\\101\\e\\s\\^a\\d"',
  '"a" "b"',
  '<<"é"/utf8, "x"/utf16, 1:3, -1:5/signed>>',
  '<<1:16/little, 1.5/float, 2.5:32/float-little, 16#1F600/utf32>>',
  '<<<<1,2>>/binary, <<5:3>>/bits>>',
  '<<"é">>',
  '[1 | [2 | x]]',
  "#{a => 1, a => 2, {k, 1} => 3, {k, 1} => 4, 'true' => 5}",
  "fun 'my mod':'receive'/3",
  '  [1, % comment\n 2]',
];

describe.each(runtimes())('parseTerm agrees with Erlang on $label', (rt) => {
  let erl: ErlPort;
  beforeAll(async () => {
    erl = await ErlPort.start(rt);
  });
  afterAll(async () => {
    await erl?.close();
  });

  async function erlangValue(text: string): Promise<Term> {
    return decode(await erl.request('e', Buffer.from(`${text}.`, 'utf8')), { exact: true });
  }

  it(`${TEXTS_PER_RUNTIME} texts printed by inspect`, async () => {
    // Erlang has no literal for pids: leave them out.
    const texts = literalTerms(7, TEXTS_PER_RUNTIME, false).map((t) => inspect(t));
    const values = await Promise.all(texts.map((text) => erlangValue(text)));
    for (const [i, text] of texts.entries()) expect(parseTerm(text), text).toStrictEqual(values[i]);
  });

  it('hand-written texts', async () => {
    for (const text of HANDWRITTEN) expect(parseTerm(text), text).toStrictEqual(await erlangValue(text));
  });
});
