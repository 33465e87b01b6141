/**
 * The sending half of DFLAG_FRAGMENTS (protocol-notes §3): a message larger than the fragment size
 * goes out as `131, 69, SeqId, FragId=N, 0 refs, data` and `131, 70, SeqId, FragId` frames,
 * written a few at a time so that ticks and messages of other senders pass between them.
 *
 * Erlang orders signals per pair of processes, so frames are queued per destination (a superset of
 * the pair: SEND carries no sender, and a message and an exit signal to one process must stay in
 * order): what goes to a process after a fragmented message waits behind it; what goes to other
 * processes, ticks and calls do not. A process named once by pid and once by name counts as two.
 */
import type { Writable } from 'node:stream';
import { Atom, Pid, Reference } from '../term/index.js';
import type { Control } from './control.js';
import { DIST_FRAG_CONT, DIST_FRAG_HEADER } from './header.js';

/** A message being cut into fragments as it is written. */
interface Fragmented {
  seqId: bigint;
  /** Control term then payload, without a header, in segments (large binaries are the caller's). */
  data: readonly Buffer[];
  /** The segment the next fragment starts in, and the offset in it. */
  seg: number;
  segOffset: number;
  /** Bytes not yet cut. */
  left: number;
  first: boolean;
  /** The FragId of the next fragment; the first carries the count. */
  fragId: bigint;
  /** The first fragment's data length: the control term must be whole in it (dist.c decodes it at once). */
  firstLen: number;
}

/** A whole frame queued behind a fragmented message. */
interface Frame {
  parts: readonly Buffer[];
  length: number;
}

type Item = Frame | Fragmented;

/** The ordering key of a control message: its destination (a spawn request: its own id). */
export function orderKey(control: Control): string {
  const c = control as { to?: unknown; toName?: unknown; alias?: unknown; reqId?: unknown };
  return keyOf(c.to ?? c.toName ?? c.alias ?? c.reqId);
}

function keyOf(v: unknown): string {
  if (v instanceof Pid) return `${v.node.name}.${v.id}.${v.serial}.${v.creation}`;
  if (v instanceof Atom) return v.name;
  if (v instanceof Reference) return v.toString();
  return v === undefined ? '' : String(v);
}

export class FragmentWriter {
  /** Per ordering key, what waits to be written; the Map's order is the round robin. */
  private readonly queues = new Map<string, Item[]>();
  private lastSeqId = 0n;
  /** Bytes of fragmented messages not yet handed to the socket. */
  fragmentedBytes = 0;
  /** Bytes of whole frames queued behind them. */
  queuedBytes = 0;
  /** Fragments written. */
  fragmentsOut = 0;

  constructor(private readonly fragmentSize: number) {}

  /** True while `key` has a fragmented message (or frames behind one) waiting. */
  busy(key: string): boolean {
    return this.queues.has(key);
  }

  get idle(): boolean {
    return this.queues.size === 0;
  }

  /** True when data of this length is sent in fragments. */
  fragments(dataLength: number): boolean {
    return dataLength > this.fragmentSize;
  }

  /**
   * Queues a message's data (control term of `ctlLen` bytes, then payload; one buffer or segments)
   * to go out in fragments. Fragments are views of it: it must not change until written.
   */
  pushMessage(key: string, data: Buffer | readonly Buffer[], ctlLen: number): void {
    const segments = Buffer.isBuffer(data) ? [data] : data;
    let length = 0;
    for (const s of segments) length += s.length;
    const firstLen = Math.max(this.fragmentSize, ctlLen);
    const count = 1 + Math.ceil(Math.max(0, length - firstLen) / this.fragmentSize);
    // Never 0: the BEAM takes SeqId 0 for a message that is not fragmented.
    this.lastSeqId = (this.lastSeqId + 1n) & 0xffffffffffffffffn || 1n;
    const fragId = BigInt(count);
    this.push(key, {
      seqId: this.lastSeqId,
      data: segments,
      seg: 0,
      segOffset: 0,
      left: length,
      first: true,
      fragId,
      firstLen,
    });
    this.fragmentedBytes += length;
  }

  /** Queues a whole frame (`Len:32` and all, in segments) behind the fragmented message of `key`. */
  pushFrame(key: string, frame: Buffer | readonly Buffer[]): void {
    const parts = Buffer.isBuffer(frame) ? [frame] : frame;
    let length = 0;
    for (const p of parts) length += p.length;
    this.push(key, { parts, length });
    this.queuedBytes += length;
  }

  /** The next frame to write, as buffers to write in order (one fragment is a header and a view). */
  next(): Buffer[] | undefined {
    const first = this.queues.entries().next();
    if (first.done) return undefined;
    const [key, queue] = first.value;
    const item = queue[0] as Item;
    let out: Buffer[];
    if ('parts' in item) {
      queue.shift();
      this.queuedBytes -= item.length;
      out = item.parts as Buffer[];
    } else {
      out = this.fragment(item);
      if (item.fragId === 0n) queue.shift();
    }
    // Round robin: this key goes to the back, or away when it has nothing left.
    this.queues.delete(key);
    if (queue.length > 0) this.queues.set(key, queue);
    return out;
  }

  /**
   * Writes frames to `socket`, round robin, corked into one writev: at least one, at most
   * `maxFrames`, and no more once the socket holds `limit` bytes. Returns the frames written.
   */
  writeTo(socket: Writable, limit: number, maxFrames: number, count: (bytes: number) => void): number {
    let frames = 0;
    socket.cork();
    while (frames < maxFrames && (frames === 0 || socket.writableLength < limit)) {
      const parts = this.next();
      if (parts === undefined) break;
      for (const part of parts) {
        socket.write(part);
        count(part.length);
      }
      frames++;
    }
    socket.uncork();
    return frames;
  }

  /** Forgets everything (the connection ended). */
  clear(): void {
    this.queues.clear();
    this.fragmentedBytes = 0;
    this.queuedBytes = 0;
  }

  private push(key: string, item: Item): void {
    const queue = this.queues.get(key);
    if (queue) queue.push(item);
    else this.queues.set(key, [item]);
  }

  private fragment(m: Fragmented): Buffer[] {
    const isFirst = m.first;
    m.first = false;
    const len = Math.min(isFirst ? m.firstLen : this.fragmentSize, m.left);
    const headLen = isFirst ? 19 : 18;
    const head = Buffer.allocUnsafe(4 + headLen);
    head.writeUInt32BE(headLen + len, 0);
    head[4] = 131;
    head[5] = isFirst ? DIST_FRAG_HEADER : DIST_FRAG_CONT;
    head.writeBigUInt64BE(m.seqId, 6);
    head.writeBigUInt64BE(m.fragId, 14);
    if (isFirst) head[22] = 0; // no atom cache refs
    const out: Buffer[] = [head];
    // The fragment's bytes: views of the segments they lie in, none copied.
    for (let need = len; need > 0; ) {
      const seg = m.data[m.seg] as Buffer;
      const n = Math.min(need, seg.length - m.segOffset);
      if (n > 0) out.push(seg.subarray(m.segOffset, m.segOffset + n));
      need -= n;
      m.segOffset += n;
      if (m.segOffset === seg.length) {
        m.seg++;
        m.segOffset = 0;
      }
    }
    m.left -= len;
    m.fragId--;
    this.fragmentedBytes -= len;
    this.fragmentsOut++;
    return out;
  }
}
