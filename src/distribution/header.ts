/**
 * The distribution header (erl_ext_dist.md "Distribution Header"; protocol-notes §3), used on
 * connections that agreed DFLAG_DIST_HDR_ATOM_CACHE or DFLAG_FRAGMENTS: `131, 68, NumRefs, Flags,
 * Refs`, or for the first fragment of a message `131, 69, SeqId:64, FragId:64, NumRefs, Flags, Refs`.
 * Each ref names a slot of the connection's atom cache (8 segments of 256), new ones carrying the
 * atom's text; ATOM_CACHE_REF in the terms that follow indexes this message's list of refs.
 */
import { isUtf8 } from 'node:buffer';
import { ByteReader } from '../bytes.js';
import { ErldistError } from '../errors.js';
import { type Atom, internAtom } from '../term/index.js';

/** A frame without a distribution header starts with this (protocol-notes §3). */
export const PASS_THROUGH = 112;
export const DIST_HEADER = 68;
export const DIST_FRAG_HEADER = 69;
export const DIST_FRAG_CONT = 70;
export const ATOM_CACHE_SIZE = 2048;

function bad(why: string): ErldistError {
  return new ErldistError('PROTOCOL', `malformed distribution header: ${why}`, { step: 'header' });
}

const runsPast = (what: string) => bad(`${what} runs past the frame`);

/** The `i`th four flag bits of the header's flags at `at` (the low nibble first). */
function nibble(frame: Buffer, at: number, i: number): number {
  return ((frame[at + (i >> 1)] as number) >> ((i & 1) * 4)) & 0xf;
}

/** A header read: the message's atoms, where its data starts, and for a fragment its ids. */
export interface DistHeader {
  tag: typeof DIST_HEADER | typeof DIST_FRAG_HEADER | typeof DIST_FRAG_CONT;
  refs: Atom[];
  pos: number;
  /** Fragments only: the sequence (one message) and this fragment's id, counting down to 1. */
  seqId: bigint;
  fragId: bigint;
}

/**
 * Reads the header at the start of `frame`. A continuation (`131, 70, SeqId, FragId`) has no atom
 * refs; its data starts after the ids. `fragments` is false when DFLAG_FRAGMENTS was not agreed.
 */
export function readDistHeader(frame: Buffer, cache: (Atom | undefined)[], fragments = true): DistHeader {
  const r = new ByteReader(frame, 0, runsPast);
  if (frame.length < 3 || r.u8() !== 131) throw bad('no version byte');
  const tag = r.u8();
  let seqId = 0n;
  let fragId = 0n;
  if (tag === DIST_FRAG_HEADER || tag === DIST_FRAG_CONT) {
    if (!fragments) throw bad(`tag ${tag} (fragments are not negotiated)`);
    seqId = r.u64('the sequence id');
    fragId = r.u64('the fragment id');
    if (fragId === 0n) throw bad('fragment id 0');
    if (tag === DIST_FRAG_CONT) return { tag, refs: [], pos: r.pos, seqId, fragId };
  } else if (tag !== DIST_HEADER) {
    throw bad(`tag ${tag}`);
  }
  const numRefs = r.u8('the number of refs');
  if (numRefs === 0) return { tag, refs: [], pos: r.pos, seqId, fragId };
  // Four flag bits per ref, two refs a byte, then the bits that apply to all of them.
  const flagsAt = r.pos;
  r.skip((numRefs >> 1) + 1, 'the flags');
  const longAtoms = (nibble(frame, flagsAt, numRefs) & 1) === 1;
  const refs = new Array<Atom>(numRefs);
  for (let i = 0; i < numRefs; i++) {
    const flag = nibble(frame, flagsAt, i);
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
  return { tag, refs, pos: r.pos, seqId, fragId };
}
