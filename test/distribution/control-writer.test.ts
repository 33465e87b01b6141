/**
 * ControlWriter: a SPAWN_REQUEST with frozen From, GroupLeader, MFA and options has its tail
 * copied from the last one; every control must come out as encodeControl writes it.
 */
import { describe, expect, it } from 'vitest';
import { OutputAtomCache } from '../../src/distribution/atom-cache.js';
import { type Control, encodeControl, Op } from '../../src/distribution/control.js';
import { ControlWriter } from '../../src/distribution/control-writer.js';
import { type Atom, atom, Pid, Reference, type Term, TermEncoder, tuple } from '../../src/term/index.js';

const node = atom('me@host');
const caller = Object.freeze(new Pid(node, 1, 0, 7));
const mfa = Object.freeze([atom('erpc'), atom('execute_call'), 4]) as unknown as [Atom, Atom, number];
const monitored = Object.freeze([atom('monitor')]) as unknown as Term[];
const ref = (n: number) => new Reference(node, 7, [n, 2, 3]);

function spawnRequest(reqId: Reference, from: Pid, m = mfa, options = monitored): Control {
  return { op: Op.SPAWN_REQUEST, reqId, from, groupLeader: from, mfa: m, options };
}

/** The bytes the writer produces for `control`, next to those of encodeControl. */
function both(writer: ControlWriter, control: Control): [Buffer, Buffer] {
  const a = new TermEncoder(16, { referenceFrom: 4096 });
  writer.write(a, control);
  const b = new TermEncoder(16, { referenceFrom: 4096 });
  b.writeTerm(encodeControl(control));
  return [Buffer.concat(a.segments()), Buffer.concat(b.segments())];
}

describe('ControlWriter', () => {
  it('writes the bytes encodeControl writes, whether the tail is kept, copied or not cacheable', () => {
    const writer = new ControlWriter();
    const other = Object.freeze(new Pid(node, 2, 0, 7));
    const cases: Control[] = [
      spawnRequest(ref(1), caller), // written, kept
      spawnRequest(ref(2), caller), // copied
      spawnRequest(ref(3), other), // another pid: written again
      spawnRequest(ref(4), caller, [atom('m'), atom('f'), 1], [atom('link')]), // not frozen
      spawnRequest(ref(5), caller), // copied again
      spawnRequest(ref(6), new Pid(node, 1, 0, 7)), // same fields, not frozen
      { op: Op.DEMONITOR_P, from: caller, to: other, ref: ref(7) },
    ];
    for (const control of cases) {
      const [got, want] = both(writer, control);
      expect(got.equals(want)).toBe(true);
    }
  });

  it('with atom cache refs, only the request id uses them: the kept tail spells its atoms out', () => {
    const writer = new ControlWriter();
    const cache = new OutputAtomCache();
    for (const n of [1, 2, 3]) {
      const enc = new TermEncoder(16);
      cache.begin(0);
      // As Outbound writes a control term: every atom may be a ref.
      enc.atomRefs = cache;
      enc.allAtomRefs = true;
      writer.write(enc, spawnRequest(ref(n), caller));
      enc.atomRefs = undefined;
      enc.allAtomRefs = false;
      // {29, ReqId, ...}: the reference's node is ATOM_CACHE_REF 0; what follows is written out.
      const head = new TermEncoder(16);
      head.u8(104);
      head.u8(6);
      head.u8(97);
      head.u8(Op.SPAWN_REQUEST);
      head.u8(90);
      head.u8(0);
      head.u8(3);
      head.u8(82);
      head.u8(0);
      const tail = new TermEncoder(16);
      for (const t of [caller, caller, tuple(...mfa), monitored]) tail.writeTerm(t);
      const got = Buffer.from(enc.bytes());
      const idWords = 4 + 3 * 4;
      expect(got.subarray(0, head.pos).equals(head.bytes())).toBe(true);
      expect(got.subarray(head.pos + idWords).equals(tail.bytes())).toBe(true);
      expect(cache.size).toBe(1);
      cache.abort();
    }
  });

  it('does not keep a tail with a binary written by reference', () => {
    const writer = new ControlWriter();
    const big = Buffer.alloc(8192, 1);
    const options = Object.freeze([big]) as unknown as Term[];
    for (const n of [1, 2]) {
      const [got, want] = both(writer, spawnRequest(ref(n), caller, mfa, options));
      expect(got.equals(want)).toBe(true);
    }
  });
});
