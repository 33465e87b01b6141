/**
 * Splits the byte stream of a connection into `Len:32` frames (protocol-notes §3). A frame that sits
 * inside one socket chunk is handed out as a view (no copy). One that spans chunks is copied once
 * into a buffer of its own: the chunks are held until half of the frame has arrived, then the frame
 * is allocated and every later chunk is copied in as it arrives (while still in cache), so a peer
 * that announces a large frame makes us hold at most twice what it sent. A spanning frame that
 * `parts` claims by its first two bytes (a fragment's continuation, which reassembly copies out at
 * once) is streamed to it piece by piece as the chunks arrive: its bytes are copied once, by it.
 *
 * A transient chunk (read into a buffer the socket reuses) is valid only during `push`: what the
 * parser keeps of it is copied, and a frame that is a view of it is handed out as transient.
 */
import { ErldistError } from '../errors.js';

const EMPTY = Buffer.alloc(0);

/** Who takes spanning frames piece by piece, chosen by their first two bytes. */
export interface FrameParts {
  wants(byte0: number, byte1: number): boolean;
  /** The frame's next bytes (a view valid only during the call); `first` and `last` mark its ends. */
  piece(bytes: Buffer, first: boolean, last: boolean, length: number): void;
}

/** Spanning frames up to this size are allocated when their length is read, if their chunks are transient. */
const EARLY_ALLOCATION = 1024 * 1024;

export class FrameParser {
  /** Bytes of an incomplete frame or header, oldest first, from `first` on. */
  private chunks: Buffer[] = [];
  private first = 0;
  private buffered = 0;
  /** Length of the frame being collected, or -1 while its header is incomplete. */
  private need = -1;
  /** The frame being filled once half of it has arrived, and how much of it is filled. */
  private frame: Buffer | undefined;
  private filled = 0;
  /** Whether `parts` takes the frame being collected (undefined: not known yet). */
  private asParts: boolean | undefined;
  /** Bytes of a frame being streamed to `parts` that have not arrived yet, and its length. */
  private streaming = 0;
  private streamLength = 0;
  /** Whether the chunk being pushed is transient. */
  private transient = false;

  constructor(
    private readonly maxFrameSize: number,
    /** A whole frame; `transient` when it is a view of a transient chunk (valid during the call only). */
    private readonly onFrame: (frame: Buffer, transient: boolean) => void,
    private readonly onTick: () => void,
    private readonly parts?: FrameParts,
  ) {}

  push(chunk: Buffer, transient = false): void {
    if (chunk.length === 0) return;
    this.transient = transient;
    this.pushChunk(chunk);
    if (transient) this.keepCopies(chunk);
  }

  private pushChunk(chunk: Buffer): void {
    if (this.streaming > 0) {
      chunk = this.stream(chunk);
      if (chunk.length === 0) return;
    }
    if (this.frame !== undefined) {
      chunk = this.fill(chunk);
      if (chunk.length === 0) return;
    }
    if (this.buffered === 0 && this.need < 0) {
      chunk = this.consume(chunk);
      if (chunk.length === 0) return;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (true) {
      if (this.need < 0) {
        if (this.buffered < 4) return;
        this.need = this.checkLength(this.readHeader());
        if (this.need === 0) {
          this.need = -1;
          this.onTick();
          if (this.buffered === 0) return;
          if (this.chunks.length - this.first === 1) return this.restart();
          continue;
        }
      }
      if (this.buffered < this.need) {
        if (this.asParts === undefined && this.parts !== undefined && this.buffered >= 2)
          this.asParts = this.parts.wants(this.peek(0), this.peek(1));
        if (this.asParts === true) return this.startStreaming();
        // Past half of a frame that spans chunks (or at once, for a transient chunk and a frame of
        // reasonable size): copy what is held into the frame, and the rest as it arrives.
        const early = this.transient && this.need <= EARLY_ALLOCATION;
        if (early || this.buffered * 2 >= this.need) {
          const held = this.buffered;
          this.frame = Buffer.allocUnsafe(this.need);
          this.copyOut(this.frame, held);
          this.filled = held;
        }
        return;
      }
      const view = this.chunks[this.first].length >= this.need;
      const frame = this.take(this.need);
      this.need = -1;
      this.asParts = undefined;
      this.onFrame(frame, view && this.transient);
      if (this.buffered === 0) return;
      // Whole frames left in the one remaining chunk go out as views.
      if (this.chunks.length - this.first === 1) return this.restart();
    }
  }

  /** Copies the start of `chunk` into the frame being filled; returns what follows the frame. */
  private fill(chunk: Buffer): Buffer {
    const frame = this.frame as Buffer;
    const k = Math.min(chunk.length, frame.length - this.filled);
    chunk.copy(frame, this.filled, 0, k);
    this.filled += k;
    if (this.filled < frame.length) return EMPTY;
    this.frame = undefined;
    this.need = -1;
    this.asParts = undefined;
    this.onFrame(frame, false);
    return chunk.subarray(k);
  }

  /** With one chunk held: starts over from it, as a chunk that just arrived. */
  private restart(): void {
    const rest = this.chunks[this.first];
    this.chunks = [];
    this.first = 0;
    this.buffered = 0;
    this.pushChunk(rest);
  }

  /** Emits the whole frames at the start of `chunk`; returns what is left. */
  private consume(chunk: Buffer): Buffer {
    let p = 0;
    const n = chunk.length;
    while (n - p >= 4) {
      const len = this.checkLength(chunk.readUInt32BE(p));
      if (len === 0) {
        p += 4;
        this.onTick();
        continue;
      }
      if (n - p - 4 < len) break;
      this.onFrame(chunk.subarray(p + 4, p + 4 + len), this.transient);
      p += 4 + len;
    }
    return p === 0 ? chunk : chunk.subarray(p);
  }

  private checkLength(len: number): number {
    if (len > this.maxFrameSize) {
      throw new ErldistError(
        'PROTOCOL',
        `peer announced a frame of ${len} bytes, more than maxFrameSize (${this.maxFrameSize})`,
        {
          step: 'framing',
        },
      );
    }
    return len;
  }

  /** Removes the 4-byte length from the held bytes (which may span chunks) and returns it. */
  private readHeader(): number {
    const c = this.chunks[this.first];
    if (c.length >= 4) {
      const len = c.readUInt32BE(0);
      this.drop(4);
      return len;
    }
    let len = 0;
    for (let i = 0; i < 4; i++) {
      const head = this.chunks[this.first];
      len = len * 256 + head[0];
      this.drop(1);
    }
    return len;
  }

  /** Removes `n` held bytes from the front. */
  private drop(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const c = this.chunks[this.first];
      if (c.length > n) {
        this.chunks[this.first] = c.subarray(n);
        return;
      }
      n -= c.length;
      this.chunks[this.first++] = EMPTY;
    }
    this.compact();
  }

  /** Removes and returns the first `n` held bytes (copying only when they span chunks). */
  private take(n: number): Buffer {
    const c = this.chunks[this.first];
    if (c.length >= n) {
      this.drop(n);
      return c.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    this.copyOut(out, n);
    return out;
  }

  /** Hands what is held of a frame `parts` takes to it; the rest follows as it arrives. */
  private startStreaming(): void {
    const parts = this.parts as FrameParts;
    const held = this.buffered;
    this.streamLength = this.need;
    this.streaming = this.need - held;
    this.need = -1;
    this.asParts = undefined;
    let first = true;
    while (this.buffered > 0) {
      const c = this.chunks[this.first];
      this.drop(c.length);
      parts.piece(c, first, false, this.streamLength);
      first = false;
    }
  }

  /** Streams the start of `chunk` to `parts`; returns what follows the frame. */
  private stream(chunk: Buffer): Buffer {
    const k = Math.min(chunk.length, this.streaming);
    this.streaming -= k;
    (this.parts as FrameParts).piece(chunk.subarray(0, k), false, this.streaming === 0, this.streamLength);
    return chunk.subarray(k);
  }

  /** Copies what is held of a transient chunk, which its socket is about to overwrite. */
  private keepCopies(chunk: Buffer): void {
    for (let i = this.first; i < this.chunks.length; i++)
      if (this.chunks[i].buffer === chunk.buffer) this.chunks[i] = Buffer.from(this.chunks[i]);
  }

  /** Held byte `i` (the chunks may be short). */
  private peek(i: number): number {
    for (let j = this.first; j < this.chunks.length; j++) {
      const c = this.chunks[j];
      if (i < c.length) return c[i];
      i -= c.length;
    }
    return -1;
  }

  /** Moves the first `n` held bytes into the start of `out`. */
  private copyOut(out: Buffer, n: number): void {
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[this.first];
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      this.drop(k);
    }
  }

  /** Forgets the chunks already used up, once they are most of the array. */
  private compact(): void {
    if (this.first === this.chunks.length) {
      this.chunks = [];
      this.first = 0;
    } else if (this.first > 64 && this.first * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }
}
