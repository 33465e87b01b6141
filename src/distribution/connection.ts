/**
 * One distribution connection after the handshake: `Len:32` frames, ticks, and control messages
 * with their payloads (protocol-notes §3). Knows nothing of mailboxes or callers: it hands each
 * decoded message to `onMessage` and reports its end once to `onClose`.
 */
import type { Socket } from 'node:net';
import { ErldistError } from '../errors.js';
import { type Atom, type DecodeOptions, type Term, TermEncoder, VERSION_MAGIC } from '../term/index.js';
import { type WaitOptions, waitFor } from '../wait.js';
import { type Control, encodeControl } from './control.js';
import { DFLAG } from './flags.js';
import { FragmentWriter, orderKey } from './fragment-writer.js';
import { type FragmentOptions, Reassembler } from './fragments.js';
import { FrameParser } from './framing.js';
import type { HandshakeResult } from './handshake.js';
import { ATOM_CACHE_SIZE, DIST_HEADER } from './header.js';
import {
  decodeMessage,
  FragmentStream,
  frameMessage,
  type Inbound,
  isFragment,
  malformed,
  PASS_THROUGH,
} from './inbound.js';
import { readsOf } from './reads.js';

/** Frames a fragment pump writes before it lets the event loop turn (16 x 64 KiB by default). */
const FRAMES_PER_TURN = 16;
/** `131, 68, 0`: a header without atom cache refs. */
const HEADER_LEN = 3;
/**
 * Binaries of at least this size are written from the caller's buffer instead of copied into the
 * batch. Encoding and writing 16 frames a batch to a local socket cost the sender per frame, copied
 * vs referenced: 1 KiB 1.6 vs 1.7 us, 2 KiB 1.9 vs 1.7, 4 KiB 4.5 vs 2.5, 16 KiB 14 vs 9 (the copy
 * with a batch sized in advance; growing it costs more): twice the break-even, for fewer small
 * writev entries and fewer buffers held by reference.
 */
const REFERENCE_FROM = 4 * 1024;
/** A fragmented message with at most this many bytes of its own (not referenced) is copied out of the batch. */
const OWN_COPY_MAX = 4096;
/** A batch of frames goes out once it holds this much, and the next frame starts a new one. */
const BATCH_LIMIT = 64 * 1024;

/** Counters a connection adds to (shared by all connections of a node). */
export interface ConnectionStats {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  ticksIn: number;
  ticksOut: number;
}

export interface ConnectionOptions {
  /** Where frames, bytes and ticks are counted. */
  stats: ConnectionStats;
  /** The peer is down when nothing arrived for this long; we tick after a quarter of it (ms). */
  tickTime: number;
  /** Largest frame accepted from the peer (bytes). */
  maxFrameSize: number;
  /** With FRAGMENTS: the size messages are cut at, and the bounds of reassembly. */
  fragments: FragmentOptions;
  /** `send` returns false once this many bytes wait in the socket (bytes). */
  highWaterMark: number;
  /** `send` throws BUFFER_FULL rather than queue more than this (bytes). */
  maxBuffered: number;
  /** How payloads are decoded (exact, binaries, maps...). */
  decode: DecodeOptions;
}

export interface ConnectionHandlers {
  onMessage(control: Control, payload: Term | undefined): void;
  /** A message whose payload could not be decoded (DECODE) was dropped; the connection goes on. */
  onDropped?(error: ErldistError, control: Control): void;
  onClose(error: ErldistError): void;
}

export class Connection {
  readonly peerName: string;
  readonly peerCreation: number;
  /** The flags both sides agreed on. */
  readonly flags: bigint;
  private readonly parser: FrameParser;
  private readonly timer: NodeJS.Timeout;
  private lastRead = Date.now();
  private lastWrite = Date.now();
  /** When the peer's last tick arrived, and the last gaps between its ticks (its tick period). */
  private lastPeerTick = Number.NaN;
  private readonly tickGaps: number[] = [];
  private peerTickGap = Infinity;
  private closed = false;
  private drainWaiters: (() => void)[] = [];
  /**
   * With DIST_HDR_ATOM_CACHE or FRAGMENTS agreed: frames carry a header (and no version bytes), and
   * the peer's atoms are cached.
   */
  private readonly atomCache: (Atom | undefined)[] | undefined;
  /** With FRAGMENTS agreed: partial messages received, and messages being written in fragments. */
  private readonly reassembler: Reassembler | undefined;
  private readonly writer: FragmentWriter | undefined;
  private pumpScheduled = false;

  constructor(
    private readonly socket: Socket,
    handshake: HandshakeResult,
    private readonly options: ConnectionOptions,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.peerName = handshake.peerName;
    this.peerCreation = handshake.peerCreation;
    this.flags = handshake.flags;
    if (this.flags & (DFLAG.DIST_HDR_ATOM_CACHE | DFLAG.FRAGMENTS))
      this.atomCache = new Array<Atom | undefined>(ATOM_CACHE_SIZE).fill(undefined);
    if (this.flags & DFLAG.FRAGMENTS) {
      this.reassembler = new Reassembler(options.fragments);
      this.writer = new FragmentWriter(options.fragments.size);
    }
    // Fragments that span socket chunks stream into reassembly: no frame buffer, one copy per byte.
    const stream = this.reassembler && new FragmentStream(this.reassembler, this.atomCache ?? []);
    const parts = stream && {
      wants: isFragment,
      piece: (bytes: Buffer, first: boolean, last: boolean, length: number) => {
        const message = stream.piece(bytes, first, last, length);
        if (last) this.onMessageBytes(message);
      },
    };
    this.parser = new FrameParser(
      options.maxFrameSize,
      (frame, transient) =>
        this.closed || this.onMessageBytes(frameMessage(frame, transient, this.atomCache, this.reassembler)),
      () => this.onPeerTick(),
      parts,
    );
    socket.setNoDelay(true);
    const reads = readsOf(socket);
    if (reads === undefined) socket.on('data', (chunk: Buffer) => this.onData(chunk, false));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (err) =>
      this.fail(
        new ErldistError('NODE_DOWN', `connection to ${this.peerName} failed: ${err.message}`, {
          node: this.peerName,
          cause: err,
        }),
      ),
    );
    socket.on('close', () =>
      this.fail(new ErldistError('NODE_DOWN', `connection to ${this.peerName} closed`, { node: this.peerName })),
    );
    // Checked often enough to follow a peer whose net_ticktime is shorter than our tickTime.
    // Often enough to notice a peer whose net_ticktime is much shorter than our tickTime in time.
    const interval = Math.max(10, Math.min(250, Math.floor(options.tickTime / 4)));
    this.timer = setInterval(() => this.onTickTimer(), interval);
    this.timer.unref();
    // Frames that came with the handshake are read once the owner has this connection in hand.
    queueMicrotask(() => {
      if (this.closed) return;
      if (handshake.leftover.length > 0) this.onData(handshake.leftover, false);
      if (reads) {
        for (const chunk of reads.takeWaiting()) this.onData(chunk, false);
        reads.reader = (chunk) => this.onData(chunk, true);
      }
      socket.resume();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * True while the bytes ahead of a new small message are at or above the high-water mark: those
   * in the socket and this turn's batch, not those of messages still to go out in fragments, which
   * small messages pass (calls wait on this before they write).
   */
  get overHighWaterMark(): boolean {
    return this.buffered - (this.writer?.fragmentedBytes ?? 0) >= this.options.highWaterMark;
  }

  /** Bytes waiting to be written (in the socket, this turn's batch, and fragments to come). */
  get buffered(): number {
    const writer = this.writer;
    const queued = writer === undefined ? 0 : writer.fragmentedBytes + writer.queuedBytes;
    return this.socket.writableLength + (this.batch?.length ?? 0) + queued;
  }

  /** Reassembly (bytes held, partial messages, bytes copied, expired) and fragments sent. */
  get fragments(): ReturnType<Reassembler['summary']> & { out: number } {
    const none = { copiedBytes: 0, grown: 0, expired: 0, held: 0, pending: 0 };
    return { ...(this.reassembler?.summary() ?? none), out: this.writer?.fragmentsOut ?? 0 };
  }

  /**
   * Sends a control message and its payload: in one frame, or with FRAGMENTS in fragments when it
   * is larger than `fragmentSize`. Returns false when all the bytes waiting to be written, fragments
   * included, are above the high-water mark (wait for `drain()`). Throws BUFFER_FULL past
   * `maxBuffered`, where the bytes of messages still going out in fragments count only against
   * other large messages: a 200 MiB message does not stop pings and small messages, a second one
   * is refused until the first is under `maxBuffered`.
   *
   * Binaries of REFERENCE_FROM bytes or more are written from the caller's memory, not copied (as
   * `socket.write(buffer)` keeps the buffer, not a copy): they must not change until written.
   */
  send(control: Control, payload?: Term): boolean {
    if (this.closed)
      throw new ErldistError('NODE_DOWN', `connection to ${this.peerName} is closed`, { node: this.peerName });
    const bufferedBefore = this.buffered;
    if (bufferedBefore - (this.writer?.fragmentedBytes ?? 0) > this.options.maxBuffered) throw this.bufferFull();
    // Frames sent in one tick of the event loop are encoded into one batch and go out in one
    // write(2), as the BEAM's distribution port batches what is queued. Large binaries are not
    // copied into it but written from the caller's buffer; a batch past BATCH_LIMIT goes out now
    // and the next frame starts a new one, rather than the batch grow by copying.
    let batch = this.batch;
    if (batch !== undefined && batch.length >= BATCH_LIMIT) {
      this.flush();
      batch = undefined;
    }
    if (batch === undefined) {
      batch = this.batch = new TermEncoder(4096, { referenceFrom: REFERENCE_FROM });
      process.nextTick(this.flush);
    }
    const startPos = batch.pos;
    const start = batch.length;
    let controlEnd = 0;
    try {
      batch.u32(0); // length, filled in below
      if (this.atomCache) {
        // A header that uses no cache refs; then the terms without version bytes.
        batch.u8(VERSION_MAGIC);
        batch.u8(DIST_HEADER);
        batch.u8(0);
        batch.writeTerm(encodeControl(control));
        controlEnd = batch.length;
        if (payload !== undefined) batch.writeTerm(payload);
      } else {
        batch.u8(PASS_THROUGH);
        batch.u8(VERSION_MAGIC);
        batch.writeTerm(encodeControl(control));
        if (payload !== undefined) {
          batch.u8(VERSION_MAGIC);
          batch.writeTerm(payload);
        }
      }
    } catch (err) {
      batch.truncate(startPos); // an ENCODE error leaves no half frame behind
      throw err;
    }
    const end = batch.length;
    batch.buf.writeUInt32BE(end - start - 4, startPos);
    const writer = this.writer;
    if (writer !== undefined) {
      const key = orderKey(control);
      const dataStart = start + 4 + HEADER_LEN;
      if (writer.fragments(end - dataStart)) {
        if (bufferedBefore > this.options.maxBuffered) {
          batch.truncate(startPos);
          throw this.bufferFull();
        }
        if (batch.pos - startPos <= OWN_COPY_MAX) {
          // Little of the message is in the batch (its large binaries are referenced): copy that
          // out and keep the batch for the frames around it.
          writer.pushMessage(key, batch.segments(dataStart, end, true), controlEnd - dataStart);
          batch.truncate(startPos);
        } else {
          // The batch now belongs to this message: the frames before it go out now.
          if (start > 0) this.writeParts(batch.segments(0, start));
          this.batch = undefined;
          writer.pushMessage(key, batch.segments(dataStart, end), controlEnd - dataStart);
        }
        this.schedulePump();
        return this.buffered < this.options.highWaterMark;
      }
      if (writer.busy(key)) {
        // Behind the fragmented message to the same process (the batch's bytes copied, as it is reused).
        writer.pushFrame(key, batch.segments(start, end, true));
        batch.truncate(startPos);
        return this.buffered < this.options.highWaterMark;
      }
    }
    this.options.stats.framesOut++;
    this.lastWrite = Date.now();
    return this.buffered < this.options.highWaterMark;
  }

  private bufferFull(): ErldistError {
    return new ErldistError(
      'BUFFER_FULL',
      `more than ${this.options.maxBuffered} bytes wait to be written to ${this.peerName}; await drain() before sending more`,
      { node: this.peerName },
    );
  }

  /** Writes a frame's or batch's segments, corked into one writev when there are several. */
  private writeParts(parts: Buffer[]): void {
    const stats = this.options.stats;
    if (parts.length === 1) {
      const only = parts[0] as Buffer;
      stats.bytesOut += only.length;
      this.socket.write(only);
      return;
    }
    this.socket.cork();
    for (const part of parts) {
      stats.bytesOut += part.length;
      this.socket.write(part);
    }
    this.socket.uncork();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    setImmediate(this.pump);
  }

  /**
   * Writes a few queued fragments (and frames queued behind them), round robin over destinations,
   * while the socket holds less than half the high-water mark; then lets the event loop turn (reads,
   * timers, other sends) and goes on, or waits for the socket's 'drain'.
   */
  private readonly pump = () => {
    this.pumpScheduled = false;
    const writer = this.writer;
    if (writer === undefined || this.closed) return;
    // Fragments fill at most half the high-water mark, so that calls (which wait while the bytes
    // ahead of them are over it) pass them.
    const count = (bytes: number) => (this.options.stats.bytesOut += bytes);
    const frames = writer.writeTo(this.socket, this.options.highWaterMark / 2, FRAMES_PER_TURN, count);
    if (frames > 0) {
      this.options.stats.framesOut += frames;
      this.lastWrite = Date.now();
    }
    // More on the next turn, or once the socket has written what it holds.
    if (!writer.idle && !this.socket.writableNeedDrain) this.schedulePump();
    if (this.drainWaiters.length > 0 && this.buffered < this.options.highWaterMark) this.releaseDrainWaiters();
  };

  private onDrain(): void {
    if (this.writer !== undefined && !this.writer.idle) this.schedulePump();
    if (this.buffered < this.options.highWaterMark) this.releaseDrainWaiters();
  }

  private batch: TermEncoder | undefined;
  private readonly flush = () => {
    const batch = this.batch;
    this.batch = undefined;
    if (batch === undefined || this.closed || batch.length === 0) return;
    this.writeParts(batch.segments());
    if (this.drainWaiters.length > 0 && this.buffered < this.options.highWaterMark) this.releaseDrainWaiters();
  };

  /**
   * Resolves when the bytes waiting to be written, fragments included, are below the high-water
   * mark (at once if they are already, or once the connection is closed); rejects TIMEOUT or
   * ABORTED, and the waiter is forgotten, so abandoned waits do not pile up.
   */
  drain(options: WaitOptions = {}): Promise<void> {
    if (this.closed || this.buffered < this.options.highWaterMark) return Promise.resolve();
    return waitFor<void>(options, `drain of the connection to ${this.peerName}`, (resolve) => {
      const done = () => resolve();
      this.drainWaiters.push(done);
      return () => {
        const i = this.drainWaiters.indexOf(done);
        if (i >= 0) this.drainWaiters.splice(i, 1);
      };
    });
  }

  /** Closes the connection; `onClose` receives `reason`. */
  close(reason?: ErldistError): void {
    this.fail(
      reason ??
        new ErldistError('NODE_DOWN', `connection to ${this.peerName} was closed locally`, { node: this.peerName }),
    );
  }

  private releaseDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private fail(error: ErldistError): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.reassembler?.clear();
    this.writer?.clear();
    this.socket.destroy();
    this.releaseDrainWaiters();
    this.handlers.onClose(error);
  }

  private onData(chunk: Buffer, transient: boolean): void {
    if (this.closed) return;
    this.lastRead = Date.now();
    this.options.stats.bytesIn += chunk.length;
    try {
      this.parser.push(chunk, transient);
    } catch (err) {
      this.fail(malformed(err, this.peerName));
    }
  }

  private onTickTimer(): void {
    if (this.closed) return;
    this.reassembler?.sweep(Date.now());
    const silent = Date.now() - this.lastRead;
    // Down after the shorter of our tick time and the peer's own: it ticks every quarter of its
    // net_ticktime when idle, and the BEAM gives up after 4 to 5 of its tick periods.
    const limit = Math.min(this.options.tickTime, 5 * this.peerTickGap);
    if (silent > limit) {
      const why = `${this.peerName} sent nothing for ${silent} ms (limit ${Math.round(limit)} ms)`;
      this.fail(new ErldistError('NODE_DOWN', why, { node: this.peerName }));
      return;
    }
    // We tick after a quarter of our tick time, or as often as the peer ticks if that is more
    // often: a peer ticks every net_ticktime/4 and drops us after about net_ticktime of silence.
    const every = Math.min(this.options.tickTime / 4, this.peerTickGap);
    if (Date.now() - this.lastWrite >= every) {
      this.lastWrite = Date.now();
      this.options.stats.ticksOut++;
      this.socket.write(Buffer.alloc(4));
    }
  }

  /**
   * The peer's tick period. An idle BEAM ticks on every period of its ticker, a busy one skips
   * ticks, so gaps between ticks are whole multiples of the period: the shortest of the last five
   * is it, from the first gap on. Gaps under 100 ms are ticks that TCP delivered together, not a period.
   */
  private onPeerTick(): void {
    this.options.stats.ticksIn++;
    const now = Date.now();
    const gap = now - this.lastPeerTick;
    this.lastPeerTick = now;
    // NaN before the second tick: the time up to the first one is no period.
    if (!(gap >= 100)) return;
    this.tickGaps.push(gap);
    if (this.tickGaps.length > 5) this.tickGaps.shift();
    this.peerTickGap = Math.min(...this.tickGaps);
  }

  /** Ms since the peer last sent anything. */
  get silentFor(): number {
    return Date.now() - this.lastRead;
  }

  /** How often the peer ticks when idle (its tick period once seen, else a quarter of ours). */
  get peerTickInterval(): number {
    return Number.isFinite(this.peerTickGap) ? this.peerTickGap : this.options.tickTime / 4;
  }

  /** The peer's IP address. */
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  /** A frame read (`message` is what it completes, if anything). */
  private onMessageBytes(message: Inbound | undefined): void {
    if (this.closed) return;
    this.options.stats.framesIn++;
    if (message === undefined) return;
    const decoded = decodeMessage(message, this.options.decode, this.peerName);
    if (decoded.dropped) this.handlers.onDropped?.(decoded.dropped, decoded.control);
    else this.handlers.onMessage(decoded.control, decoded.payload);
  }
}
