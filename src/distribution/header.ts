/**
 * The normal distribution header (erl_ext_dist.md "Distribution Header"; protocol-notes §3), used on
 * connections that agreed DFLAG_DIST_HDR_ATOM_CACHE: `131, 68, NumRefs, Flags, Refs`. Each ref
 * names a slot of the connection's atom cache (8 segments of 256), new ones carrying the atom's
 * text; ATOM_CACHE_REF in the terms that follow indexes this message's list of refs.
 */
import { isUtf8 } from 'node:buffer';
import { ErldistError } from '../errors.js';
import { type Atom, internAtom } from '../term/index.js';

export const DIST_HEADER = 68;
export const ATOM_CACHE_SIZE = 2048;

function bad(why: string): ErldistError {
  return new ErldistError('PROTOCOL', `malformed distribution header: ${why}`, { step: 'header' });
}

/** Reads the header at the start of `frame`; returns this message's atoms and where the control term starts. */
export function readDistHeader(frame: Buffer, cache: (Atom | undefined)[]): { refs: Atom[]; pos: number } {
  if (frame.length < 3 || frame[0] !== 131) throw bad('no version byte');
  if (frame[1] !== DIST_HEADER) throw bad(`tag ${frame[1]} (fragments are not negotiated)`);
  const numRefs = frame[2];
  let pos = 3;
  if (numRefs === 0) return { refs: [], pos };
  const flagsAt = pos;
  pos += (numRefs >> 1) + 1;
  if (pos > frame.length) throw bad('flags run past the frame');
  const nibble = (i: number) => (frame[flagsAt + (i >> 1)] >> ((i & 1) * 4)) & 0xf;
  const longAtoms = (nibble(numRefs) & 1) === 1;
  const refs = new Array<Atom>(numRefs);
  for (let i = 0; i < numRefs; i++) {
    const flag = nibble(i);
    if (pos >= frame.length) throw bad('refs run past the frame');
    const index = ((flag & 7) << 8) | frame[pos++];
    if ((flag & 8) === 0) {
      const known = cache[index];
      if (known === undefined) throw bad(`reference to empty atom cache slot ${index}`);
      refs[i] = known;
      continue;
    }
    let len: number;
    if (longAtoms) {
      if (pos + 2 > frame.length) throw bad('atom length runs past the frame');
      len = frame.readUInt16BE(pos);
      pos += 2;
    } else {
      if (pos + 1 > frame.length) throw bad('atom length runs past the frame');
      len = frame[pos++];
    }
    if (pos + len > frame.length) throw bad('atom text runs past the frame');
    const text = frame.subarray(pos, pos + len);
    pos += len;
    if (!isUtf8(text)) throw bad('atom text is not UTF-8');
    const name = text.toString('utf8');
    if ([...name].length > 255) throw bad('atom longer than 255 characters');
    const atom = internAtom(name);
    cache[index] = atom;
    refs[i] = atom;
  }
  return { refs, pos };
}
