/** Seeded terms that have a literal syntax, for the parser's round-trip tests. */
import { atom, ImproperList, Pid, Port, Reference, type Term, Tuple } from '../../src/index.js';
import { TermGen } from './gen.js';

/**
 * What the parser can read back: references, ports and local funs have no literal syntax (they
 * become atoms here), and a pid's creation is not printed (it becomes 0).
 */
function literal(t: Term, pids: boolean): Term {
  if (t instanceof Reference || t instanceof Port) return atom('no_literal');
  if (t instanceof Pid) return pids ? new Pid(t.node, t.id, t.serial, 0) : atom('no_literal');
  if (Array.isArray(t)) return t.map((x) => literal(x, pids));
  if (t instanceof Tuple) return new Tuple(t.elements.map((x) => literal(x, pids)));
  if (t instanceof ImproperList)
    return new ImproperList(
      t.elements.map((x) => literal(x, pids)),
      literal(t.tail, pids),
    );
  if (t instanceof Map) return new Map([...t].map(([k, v]) => [literal(k, pids), literal(v, pids)]));
  if (typeof t === 'object' && t !== null && Object.getPrototypeOf(t) === Object.prototype) {
    const out: { [k: string]: Term } = {};
    for (const [k, v] of Object.entries(t)) out[k] = literal(v, pids);
    return out;
  }
  return t;
}

/** Seeded terms that parse back: also used by the interop test. */
export function literalTerms(seed: number, count: number, pids: boolean): Term[] {
  const gen = new TermGen(seed);
  return Array.from({ length: count }, () => literal(gen.term(0, true), pids));
}
