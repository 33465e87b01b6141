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
 * seen yet. A frame found to need fragments has its refs written out as text, in place.
 */

import type { AtomRefs } from '../term/encode.js';
import type { Atom, TermEncoder } from '../term/index.js';
import { ATOM_CACHE_SIZE } from './header.js';

/** A header names at most 255 atoms (NumberOfAtomCacheRefs is one byte). */
const MAX_REFS = 255;
/**
 * Atoms past this many bytes of a frame are written as text: in a frame this long the BEAM's time
 * goes to the rest of it, and the refs to write out again if it goes out in fragments stay few.
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
  /** Bytes of the header the last `finish` put in front of its frame's terms. */
  headerBytes = 0;
  /** Where each ref of this frame was written in the encoder's buffer. */
  private readonly positions: number[] = [];
  /** The encoder's length where the frame's terms start, and past which atoms go as text. */
  private from = 0;
  private limit = 0;

  /** `fragmentSize`: longer frames go out in fragments, without refs. */
  constructor(private readonly fragmentSize = Infinity) {}

  /** Starts a frame whose terms are written from the encoder's length `from`. */
  begin(from: number): void {
    this.from = from;
    this.limit = from + REFS_WITHIN;
  }

  ref(atom: Atom, pos: number, length: number): number {
    if (length > this.limit) return -1;
    const i = this.index(atom);
    if (i >= 0) this.positions.push(pos);
    return i;
  }

  /** `atom`'s place in this frame's header, added if new; -1 when the header cannot take it. */
  private index(atom: Atom): number {
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

  /** Refs written in this frame so far (the control term's, when asked after it). */
  get written(): number {
    return this.positions.length;
  }

  /**
   * Ends a frame whose terms were written into `batch` from `termsAt`, just after its
   * NumberOfAtomCacheRefs byte: puts the rest of the header in front of the terms and commits the
   * new entries. A frame that would need fragments with them has its refs written out instead
   * (nothing committed). Returns how far the end of the control term moved, its first
   * `controlRefs` refs being the control's; `headerBytes` tells the header's part of that.
   */
  finish(batch: TermEncoder, termsAt: number, controlRefs: number): number {
    this.headerBytes = 0;
    const n = this.count;
    if (n === 0) return 0;
    const extra = this.headerLength();
    if (batch.length - this.from + extra > this.fragmentSize) {
      const moved = batch.spellOut(this.positions, this.atoms, controlRefs);
      this.abort();
      return moved;
    }
    batch.open(termsAt, extra);
    batch.buf[termsAt - 1] = n;
    this.writeHeader(batch.buf, termsAt);
    this.commit();
    this.headerBytes = extra;
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
    this.positions.length = 0;
  }

  /** The frame was not written (or is written without refs): the cache stays as it was. */
  abort(): void {
    for (let i = 0; i < this.count; i++) this.refAt[this.slotsUsed[i] as number] = -1;
    this.count = 0;
    this.positions.length = 0;
  }
}
