/**
 * The normal distribution header (erl_ext_dist.md "Distribution Header"; protocol-notes §3), used on
 * connections that agreed DFLAG_DIST_HDR_ATOM_CACHE: `131, 68, NumRefs, Flags, Refs`. Each ref
 * names a slot of the connection's atom cache (8 segments of 256), new ones carrying the atom's
 * text; ATOM_CACHE_REF in the terms that follow indexes this message's list of refs.
 */
import { isUtf8 } from 'node:buffer';
import { ByteReader } from '../bytes.js';
import { ErldistError } from '../errors.js';
import { type Atom, internAtom } from '../term/index.js';

export const DIST_HEADER = 68;
export const ATOM_CACHE_SIZE = 2048;

function bad(why: string): ErldistError {
  return new ErldistError('PROTOCOL', `malformed distribution header: ${why}`, { step: 'header' });
}

const runsPast = (what: string) => bad(`${what} runs past the frame`);

/** Reads the header at the start of `frame`; returns this message's atoms and where the control term starts. */
export function readDistHeader(frame: Buffer, cache: (Atom | undefined)[]): { refs: Atom[]; pos: number } {
  const r = new ByteReader(frame, 0, runsPast);
  if (frame.length < 3 || r.u8() !== 131) throw bad('no version byte');
  const tag = r.u8();
  if (tag !== DIST_HEADER) throw bad(`tag ${tag} (fragments are not negotiated)`);
  const numRefs = r.u8();
  if (numRefs === 0) return { refs: [], pos: r.pos };
  // Four flag bits per ref, two refs a byte, then the bits that apply to all of them.
  const flags = r.bytes((numRefs >> 1) + 1, 'the flags');
  const nibble = (i: number) => (flags[i >> 1] >> ((i & 1) * 4)) & 0xf;
  const longAtoms = (nibble(numRefs) & 1) === 1;
  const refs = new Array<Atom>(numRefs);
  for (let i = 0; i < numRefs; i++) {
    const flag = nibble(i);
    const index = ((flag & 7) << 8) | r.u8('the refs');
    if ((flag & 8) === 0) {
      const known = cache[index];
      if (known === undefined) throw bad(`reference to empty atom cache slot ${index}`);
      refs[i] = known;
      continue;
    }
    const len = longAtoms ? r.u16('the atom length') : r.u8('the atom length');
    const text = r.bytes(len, 'the atom text');
    if (!isUtf8(text)) throw bad('atom text is not UTF-8');
    const name = text.toString('utf8');
    if ([...name].length > 255) throw bad('atom longer than 255 characters');
    const atom = internAtom(name);
    cache[index] = atom;
    refs[i] = atom;
  }
  return { refs, pos: r.pos };
}
