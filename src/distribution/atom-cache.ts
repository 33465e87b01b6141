/**
 * The sending side of the distribution header's atom cache (DFLAG_DIST_HDR_ATOM_CACHE; erl_ext_dist.md
 * "Distribution Header", protocol-notes §3). The peer keeps, per connection, 2048 slots that our
 * headers fill: a frame names each atom it uses once in its header, as a slot (new entries carry
 * the text), and its terms refer to the atom by its place in that list (ATOM_CACHE_REF). The BEAM
 * then resolves a cached atom by index instead of hashing and looking up its text (about 120 ns an
 * atom on OTP 25, measured with binary_to_term).
 *
 * Entries are committed only once their frame is wholly encoded, so an encoding error leaves the
 * cache as the peer knows it. Frames that go out in fragments, and frames queued behind them, carry
 * no refs: they may be written after later frames, which would then use entries the peer has not
 * seen yet.
 */

import type { AtomRefs } from '../term/encode.js';
import type { Atom, TermEncoder } from '../term/index.js';
import { ATOM_CACHE_SIZE } from './header.js';

/** A header names at most 255 atoms (NumberOfAtomCacheRefs is one byte). */
const MAX_REFS = 255;
/**
 * Frames longer than this carry no refs (they may go out in fragments). A frame found too long is
 * encoded again without refs, so this also bounds the work thrown away; in a frame this long, the
 * BEAM's time goes to the rest of it anyway.
 */
const REFS_WITHIN = 16 * 1024;

/** The slot an atom always goes to: FNV-1a over its name, folded to 11 bits. */
function slotOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> 11) ^ (h >>> 22)) & (ATOM_CACHE_SIZE - 1);
}

export class OutputAtomCache implements AtomRefs {
  /** What the peer holds in each slot, after the frames written so far. */
  private readonly slots = new Array<Atom | undefined>(ATOM_CACHE_SIZE).fill(undefined);
  /** This frame's refs: atom, slot, whether new; and each slot's ref in it (-1: none). */
  private readonly atoms: Atom[] = [];
  private readonly slotsUsed: number[] = [];
  private readonly isNew: boolean[] = [];
  private readonly refAt = new Int16Array(ATOM_CACHE_SIZE).fill(-1);
  private count = 0;
  /** UTF-8 length of each new entry's text, and whether one needs two length bytes (LongAtoms). */
  private readonly textLength: number[] = [];
  private longAtoms = false;
  /** The encoder length the frame's terms may reach. */
  private limit = 0;
  private readonly maxTerms: number;

  constructor(fragmentSize = Infinity) {
    this.maxTerms = Math.min(REFS_WITHIN, fragmentSize);
  }

  /** Starts a frame whose terms are written from the encoder's length `from`. */
  begin(from: number): void {
    this.limit = from + this.maxTerms;
  }

  ref(atom: Atom): number {
    const slot = slotOf(atom.name);
    const at = this.refAt[slot] as number;
    // A slot serves one atom a frame: a second atom for it is written as text.
    if (at >= 0) return this.atoms[at] === atom ? at : -1;
    const i = this.count;
    if (i === MAX_REFS) return -1;
    this.count = i + 1;
    this.refAt[slot] = i;
    this.atoms[i] = atom;
    this.slotsUsed[i] = slot;
    this.isNew[i] = this.slots[slot] !== atom;
    return i;
  }

  tooLong(length: number): boolean {
    return length > this.limit;
  }

  /** Refs in this frame. */
  get size(): number {
    return this.count;
  }

  /** Length of the header's bytes after NumberOfAtomCacheRefs (see `writeHeader`). */
  private headerLength(): number {
    const n = this.count;
    let size = (n >> 1) + 1 + n;
    let long = false;
    for (let i = 0; i < n; i++) {
      if (!this.isNew[i]) continue;
      const len = Buffer.byteLength((this.atoms[i] as Atom).name, 'utf8');
      this.textLength[i] = len;
      size += 1 + len;
      if (len > 255) long = true;
    }
    if (long) for (let i = 0; i < n; i++) if (this.isNew[i]) size++;
    this.longAtoms = long;
    return size;
  }

  /**
   * Writes those bytes at `p`: four flag bits a ref (NewCacheEntryFlag and the slot's segment), the
   * LongAtoms bit, then each ref's slot within its segment, and a new entry's length and text.
   */
  private writeHeader(buf: Buffer, p: number): void {
    const n = this.count;
    const flagBytes = (n >> 1) + 1;
    for (let i = 0; i < flagBytes; i++) buf[p + i] = 0;
    for (let i = 0; i < n; i++) {
      const flags = (this.isNew[i] ? 8 : 0) | ((this.slotsUsed[i] as number) >> 8);
      buf[p + (i >> 1)] |= flags << ((i & 1) * 4);
    }
    if (this.longAtoms) buf[p + (n >> 1)] |= 1 << ((n & 1) * 4);
    p += flagBytes;
    for (let i = 0; i < n; i++) {
      buf[p++] = (this.slotsUsed[i] as number) & 0xff;
      if (!this.isNew[i]) continue;
      const len = this.textLength[i] as number;
      if (this.longAtoms) buf[p++] = len >> 8;
      buf[p++] = len & 0xff;
      p += buf.write((this.atoms[i] as Atom).name, p, len, 'utf8');
    }
  }

  /**
   * Ends a frame whose terms were written into `batch` from `termsAt`, just after its
   * NumberOfAtomCacheRefs byte: puts the rest of the header in front of the terms and commits the
   * new entries. Returns the bytes added, or -1 with the terms dropped (and nothing committed) when
   * the frame with its header is too long for refs: it is then written again without.
   */
  finish(batch: TermEncoder, termsAt: number): number {
    const n = this.count;
    const extra = n === 0 ? 0 : this.headerLength();
    // A large binary at the end (written by reference), or new atoms of hundreds of bytes each.
    if (this.tooLong(batch.length + extra)) {
      this.abort();
      batch.truncate(termsAt);
      return -1;
    }
    if (n === 0) return 0;
    batch.open(termsAt, extra);
    batch.buf[termsAt - 1] = n;
    this.writeHeader(batch.buf, termsAt);
    this.commit();
    return extra;
  }

  /** The frame was written: the peer will hold its new entries. */
  private commit(): void {
    for (let i = 0; i < this.count; i++) {
      const slot = this.slotsUsed[i] as number;
      this.refAt[slot] = -1;
      if (this.isNew[i]) this.slots[slot] = this.atoms[i] as Atom;
    }
    this.count = 0;
  }

  /** The frame was not written (or is written without refs): the cache stays as it was. */
  abort(): void {
    for (let i = 0; i < this.count; i++) this.refAt[this.slotsUsed[i] as number] = -1;
    this.count = 0;
  }
}
