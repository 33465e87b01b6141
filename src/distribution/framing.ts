/**
 * Splits the byte stream of a connection into `Len:32` frames (protocol-notes §3). A frame that sits
 * inside one socket chunk is handed out as a view (no copy); one that spans chunks is joined once,
 * when its last byte arrives, so a peer that announces a large frame costs nothing until it sends it.
 */
import { ErldistError } from '../errors.js';

export class FrameParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Length of the frame being collected, or -1 while its header is incomplete. */
  private need = -1;

  constructor(
    private readonly maxFrameSize: number,
    private readonly onFrame: (frame: Buffer) => void,
    private readonly onTick: () => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.buffered === 0 && this.need < 0) {
      chunk = this.consume(chunk);
      if (chunk.length === 0) return;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (true) {
      if (this.need < 0) {
        if (this.buffered < 4) return;
        const head = this.take(4);
        this.need = this.checkLength(head.readUInt32BE(0));
        if (this.need === 0) {
          this.need = -1;
          this.onTick();
          continue;
        }
      }
      if (this.buffered < this.need) return;
      const frame = this.take(this.need);
      this.need = -1;
      this.onFrame(frame);
      if (this.buffered === 0) return;
      // Whole frames left in the one remaining chunk go out as views.
      if (this.chunks.length === 1) {
        const rest = this.consume(this.chunks[0]);
        this.chunks = rest.length > 0 ? [rest] : [];
        this.buffered = rest.length;
        if (rest.length === 0) return;
      }
    }
  }

  /** Emits the whole frames at the start of `chunk`; returns what is left. */
  private consume(chunk: Buffer): Buffer {
    let p = 0;
    while (chunk.length - p >= 4) {
      const len = this.checkLength(chunk.readUInt32BE(p));
      if (len === 0) {
        p += 4;
        this.onTick();
        continue;
      }
      if (chunk.length - p - 4 < len) break;
      this.onFrame(chunk.subarray(p + 4, p + 4 + len));
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

  /** Removes and returns the first `n` buffered bytes (copying only when they span chunks). */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}
