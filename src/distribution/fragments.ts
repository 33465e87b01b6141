/**
 * Reassembly of fragmented messages (DFLAG_FRAGMENTS; erl_ext_dist.md "Distribution Header for
 * fragmented messages"; protocol-notes §3). A message too large for one frame arrives as
 * `131, 69, SeqId, FragId=N, header, data` then `131, 70, SeqId, FragId` for N-1 down to 1.
 * Sequences of different sender processes interleave. As the BEAM does (dist.c,
 * erts_net_message), a second first fragment for a live sequence, a continuation of an unknown
 * sequence or a FragId out of order is PROTOCOL; unlike the BEAM, which keeps a partial message
 * until the connection ends, a sequence that sees no fragment for `timeout` ms is freed.
 */
import { ErldistError } from '../errors.js';
import type { Atom } from '../term/index.js';

export interface ReassemblyOptions {
  /** Largest reassembled message (bytes of control message and payload). */
  maxMessageSize: number;
  /** Most bytes held by all partial messages of one connection. */
  maxBytes: number;
  /** A partial message that receives no fragment for this long is freed (ms). */
  timeout: number;
}

/** A connection's fragment settings: reassembly, and the size messages are cut at when sent. */
export interface FragmentOptions extends ReassemblyOptions {
  size: number;
}

/** A whole message: its data (control term then payload, no version bytes) and header atoms. */
export interface Assembled {
  data: Buffer;
  refs: Atom[];
}

/** What reassembly did, for tests and diagnostics. */
export interface ReassemblyStats {
  /** Bytes copied into reassembly buffers (each byte once, unless a buffer had to grow). */
  copiedBytes: number;
  /** Buffers that grew because a peer's fragments were larger than its first one. */
  grown: number;
  /** Partial messages freed after `timeout`. */
  expired: number;
}

/** A message whose fragments are still arriving. */
export interface PartialMessage {
  refs: Atom[];
  buf: Buffer;
  filled: number;
  /** The FragId the next fragment must carry. */
  next: bigint;
  /** When its last fragment or piece of one arrived (ms). */
  last: number;
  /** Freed by `sweep` while one of its fragments was streaming in: the rest of it is dropped. */
  freed: boolean;
}

/**
 * What a message reserves for its last fragment, often short: a reassembly buffer becomes the binary
 * the user keeps, and V8 collects for every 64 MB or so of such external memory, so reserved bytes
 * never filled cost collections; a fragment longer than its reserve costs a copy of the message.
 * A message of at most FEW fragments reserves TAIL bytes until messages were joined, then the
 * longest last fragment of the last TAILS messages (rounded up to TAIL_ROUND). A longer message,
 * whose growth copies more, reserves a whole fragment unless the last TAILS last fragments were
 * within STEADY bytes of each other (messages of one shape), then their longest plus STEADY.
 */
const FEW = 4;
const TAIL = 4096;
const TAILS = 8;
const TAIL_ROUND = 64;
const STEADY = 4096;

/** Remembered ids of expired sequences whose late fragments are dropped, not taken as errors. */
const MAX_EXPIRED = 1024;

function bad(why: string): ErldistError {
  return new ErldistError('PROTOCOL', `bad fragment: ${why}`, { step: 'fragments' });
}

export class Reassembler {
  readonly stats: ReassemblyStats = { copiedBytes: 0, grown: 0, expired: 0 };
  /** Lengths of the last fragments of recent messages (a ring), 0 where none yet. */
  private readonly tails = new Array<number>(TAILS).fill(0);
  private tailAt = 0;
  private readonly sequences = new Map<bigint, PartialMessage>();
  /** Expired sequence id -> the FragId its next late fragment carries. */
  private readonly expired = new Map<bigint, bigint>();
  private heldBytes = 0;

  constructor(private readonly options: ReassemblyOptions) {}

  /** Bytes held (allocated) by partial messages. */
  get held(): number {
    return this.heldBytes;
  }

  /** Partial messages being collected. */
  get pending(): number {
    return this.sequences.size;
  }

  /** The counters, and what partial messages hold now. */
  summary(): ReassemblyStats & { held: number; pending: number } {
    return { ...this.stats, held: this.heldBytes, pending: this.sequences.size };
  }

  /**
   * A first fragment whose header was read: `data` is what follows the header. Returns the message
   * when it is also the last one (FragId 1), else keeps a copy of its data.
   */
  first(seqId: bigint, fragId: bigint, refs: Atom[], data: Buffer, now: number): Assembled | undefined {
    if (fragId === 1n) {
      this.start(seqId);
      return { data, refs };
    }
    const seq = this.firstBegin(seqId, fragId, refs, data.length, now);
    this.append(seq, data);
    seq.next = fragId - 1n;
    return undefined;
  }

  /**
   * A first fragment whose data (`dataLength` bytes) comes in pieces: contPiece each, then contEnd.
   * The BEAM cuts every fragment but the last at the same size: the buffer is sized for that, so
   * each byte is copied once, as it arrives, and no copy of the whole stalls the event loop at the
   * end. A claim larger than the limits reserves only what the limits allow.
   */
  firstBegin(seqId: bigint, fragId: bigint, refs: Atom[], dataLength: number, now: number): PartialMessage {
    this.start(seqId);
    const { maxMessageSize, maxBytes } = this.options;
    // The last fragment, often short, gets what recent ones needed; the buffer grows to its size
    // only if it is longer (its length is known when it starts).
    const n = Number(fragId);
    const claimed = (n - 1) * dataLength + this.tailFor(dataLength, n);
    const size = Math.max(dataLength, Math.min(claimed, maxMessageSize, maxBytes - this.heldBytes));
    this.reserve(size);
    const seq: PartialMessage = {
      refs,
      buf: Buffer.allocUnsafe(size),
      filled: 0,
      next: fragId,
      last: now,
      freed: false,
    };
    this.sequences.set(seqId, seq);
    return seq;
  }

  /** A continuation: `data` is what follows `131, 70, SeqId, FragId`. */
  cont(seqId: bigint, fragId: bigint, data: Buffer, now: number): Assembled | undefined {
    const seq = this.contBegin(seqId, fragId, now, data.length);
    if (seq === undefined) return undefined;
    this.append(seq, data);
    return this.contEnd(seqId, seq, fragId);
  }

  /**
   * A continuation whose data comes in pieces (contPiece each, then contEnd): its partial message,
   * or undefined for a late fragment of an expired sequence (dropped).
   */
  contBegin(seqId: bigint, fragId: bigint, now: number, dataLength?: number): PartialMessage | undefined {
    const seq = this.sequences.get(seqId);
    if (seq === undefined) {
      const late = this.expired.get(seqId);
      if (late === undefined) throw bad(`continuation of unknown sequence ${seqId}`);
      if (late !== fragId) throw bad(`fragment ${fragId} of sequence ${seqId}, expected ${late}`);
      if (fragId === 1n) this.expired.delete(seqId);
      else this.expired.set(seqId, fragId - 1n);
      return undefined;
    }
    if (fragId !== seq.next) throw bad(`fragment ${fragId} of sequence ${seqId}, expected ${seq.next}`);
    seq.last = now;
    if (fragId === 1n && dataLength !== undefined) {
      this.tails[this.tailAt] = dataLength;
      this.tailAt = (this.tailAt + 1) % TAILS;
      this.fit(seq, seq.filled + dataLength);
    }
    return seq;
  }

  /** Part of a fragment's data (copied), news of the sequence as much as a fragment. */
  contPiece(seq: PartialMessage, data: Buffer, now: number): void {
    if (seq.freed) return;
    seq.last = now;
    this.append(seq, data);
  }

  /** The end of fragment `fragId` (first or continuation): the whole message when it was the last one. */
  contEnd(seqId: bigint, seq: PartialMessage, fragId: bigint): Assembled | undefined {
    if (seq.freed) {
      // Freed while this fragment streamed in: its later fragments are late ones.
      if (fragId > 1n) this.expired.set(seqId, fragId - 1n);
      else this.expired.delete(seqId);
      return undefined;
    }
    if (fragId > 1n) {
      seq.next = fragId - 1n;
      return undefined;
    }
    this.forget(seqId, seq);
    return { data: seq.buf.subarray(0, seq.filled), refs: seq.refs };
  }

  /** Frees partial messages that received nothing for `timeout` ms; returns how many. */
  sweep(now: number): number {
    let freed = 0;
    for (const [seqId, seq] of this.sequences) {
      if (now - seq.last < this.options.timeout) continue;
      this.forget(seqId, seq);
      this.expired.set(seqId, seq.next);
      if (this.expired.size > MAX_EXPIRED) this.expired.delete(this.expired.keys().next().value as bigint);
      freed++;
    }
    this.stats.expired += freed;
    return freed;
  }

  /** Frees everything (the connection ended). */
  clear(): void {
    this.sequences.clear();
    this.expired.clear();
    this.heldBytes = 0;
  }

  /** Bytes a message of `n` fragments of `dataLength` reserves for its last one. */
  private tailFor(dataLength: number, n: number): number {
    let longest = 0;
    let shortest = Number.POSITIVE_INFINITY;
    for (const t of this.tails) {
      longest = Math.max(longest, t);
      shortest = Math.min(shortest, t);
    }
    const tail = Math.ceil(longest / TAIL_ROUND) * TAIL_ROUND;
    if (n <= FEW) return Math.min(dataLength, longest === 0 ? TAIL : tail);
    if (shortest === 0 || longest - shortest > STEADY) return dataLength;
    return Math.min(dataLength, tail + STEADY);
  }

  private append(seq: PartialMessage, data: Buffer): void {
    const need = seq.filled + data.length;
    this.fit(seq, need, Math.max(need, seq.buf.length * 2));
    data.copy(seq.buf, seq.filled);
    seq.filled = need;
    this.stats.copiedBytes += data.length;
  }

  /** Makes room for `need` bytes (`size` if the limits allow): PROTOCOL past maxMessageSize. */
  private fit(seq: PartialMessage, need: number, size = need): void {
    const { maxMessageSize } = this.options;
    if (need > maxMessageSize) throw bad(`a message of more than ${maxMessageSize} bytes (maxMessageSize)`);
    if (need <= seq.buf.length) return;
    size = Math.min(size, maxMessageSize);
    this.reserve(size - seq.buf.length);
    const grown = Buffer.allocUnsafe(size);
    seq.buf.copy(grown, 0, 0, seq.filled);
    this.stats.copiedBytes += seq.filled;
    this.stats.grown++;
    seq.buf = grown;
  }

  /** A first fragment of `seqId` arrived: an error if its sequence is under way. */
  private start(seqId: bigint): void {
    if (this.sequences.has(seqId)) throw bad(`sequence ${seqId} started twice`);
    this.expired.delete(seqId);
  }

  private reserve(bytes: number): void {
    if (this.heldBytes + bytes > this.options.maxBytes)
      throw bad(`partial messages would hold more than ${this.options.maxBytes} bytes (maxReassemblyBytes)`);
    this.heldBytes += bytes;
  }

  private forget(seqId: bigint, seq: PartialMessage): void {
    this.sequences.delete(seqId);
    this.heldBytes -= seq.buf.length;
    seq.freed = true;
  }
}
