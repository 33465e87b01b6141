/**
 * One distribution connection after the handshake: `Len:32` frames, ticks, and control messages
 * with their payloads (protocol-notes §3). Knows nothing of mailboxes or callers: it hands each
 * decoded message to `onMessage` and reports its end once to `onClose`.
 */
import type { Socket } from 'node:net';
import { ErldistError } from '../errors.js';
import { type Atom, type DecodeOptions, type Term, TermDecoder, TermEncoder, VERSION_MAGIC } from '../term/index.js';
import { type WaitOptions, waitFor } from '../wait.js';
import { type Control, decodeControl, encodeControl, hasPayload } from './control.js';
import { DFLAG } from './flags.js';
import { FrameParser } from './framing.js';
import type { HandshakeResult } from './handshake.js';
import { ATOM_CACHE_SIZE, DIST_HEADER, readDistHeader } from './header.js';

/** A frame without a distribution header starts with this (PASS_THROUGH). */
const PASS_THROUGH = 112;

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
  /** `send` returns false once this many bytes wait in the socket (bytes). */
  highWaterMark: number;
  /** `send` throws BUFFER_FULL rather than queue more than this (bytes). */
  maxBuffered: number;
  /** How payloads are decoded (exact, binaries, maps...). */
  decode: DecodeOptions;
}

export interface ConnectionHandlers {
  onMessage(control: Control, payload: Term | undefined): void;
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
  private lastPeerTick = Date.now();
  private readonly tickGaps: number[] = [];
  private peerTickGap = Infinity;
  private closed = false;
  private drainWaiters: (() => void)[] = [];
  /** With DIST_HDR_ATOM_CACHE agreed: frames carry a header (and no version bytes), and the peer's atoms are cached. */
  private readonly atomCache: (Atom | undefined)[] | undefined;

  constructor(
    private readonly socket: Socket,
    handshake: HandshakeResult,
    private readonly options: ConnectionOptions,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.peerName = handshake.peerName;
    this.peerCreation = handshake.peerCreation;
    this.flags = handshake.flags;
    if (this.flags & DFLAG.DIST_HDR_ATOM_CACHE)
      this.atomCache = new Array<Atom | undefined>(ATOM_CACHE_SIZE).fill(undefined);
    this.parser = new FrameParser(
      options.maxFrameSize,
      (frame) => this.onFrame(frame),
      () => this.onPeerTick(),
    );
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.releaseDrainWaiters());
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
      if (handshake.leftover.length > 0) this.onData(handshake.leftover);
      socket.resume();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** True while the bytes waiting to be written are at or above the high-water mark. */
  get overHighWaterMark(): boolean {
    return this.buffered >= this.options.highWaterMark;
  }

  /** Bytes waiting to be written. */
  get buffered(): number {
    return this.socket.writableLength + (this.batch?.pos ?? 0);
  }

  /**
   * Sends a control message and its payload in one frame. Returns false when the socket's buffer
   * is above the high-water mark (wait for `drain()`); throws BUFFER_FULL past `maxBuffered`.
   */
  send(control: Control, payload?: Term): boolean {
    if (this.closed)
      throw new ErldistError('NODE_DOWN', `connection to ${this.peerName} is closed`, { node: this.peerName });
    if (this.buffered > this.options.maxBuffered) {
      throw new ErldistError(
        'BUFFER_FULL',
        `more than ${this.options.maxBuffered} bytes wait to be written to ${this.peerName}; await drain() before sending more`,
        { node: this.peerName },
      );
    }
    // Frames sent in one tick of the event loop are encoded into one buffer and go out in one
    // write(2), as the BEAM's distribution port batches what is queued.
    let batch = this.batch;
    if (batch === undefined) {
      batch = this.batch = new TermEncoder(4096);
      process.nextTick(this.flush);
    }
    const start = batch.pos;
    try {
      batch.u32(0); // length, filled in below
      if (this.atomCache) {
        // A header that uses no cache refs; then the terms without version bytes.
        batch.u8(VERSION_MAGIC);
        batch.u8(DIST_HEADER);
        batch.u8(0);
        batch.writeTerm(encodeControl(control));
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
      batch.pos = start; // an ENCODE error leaves no half frame behind
      throw err;
    }
    batch.buf.writeUInt32BE(batch.pos - start - 4, start);
    this.options.stats.framesOut++;
    this.lastWrite = Date.now();
    return this.buffered < this.options.highWaterMark;
  }

  private batch: TermEncoder | undefined;
  private readonly flush = () => {
    const batch = this.batch;
    this.batch = undefined;
    if (batch === undefined || this.closed || batch.pos === 0) return;
    const bytes = batch.bytes();
    this.options.stats.bytesOut += bytes.length;
    this.socket.write(bytes);
    if (this.drainWaiters.length > 0 && this.buffered < this.options.highWaterMark) this.releaseDrainWaiters();
  };

  /**
   * Resolves when the socket's buffer is below the high-water mark (at once if it is already, or
   * once the connection is closed); rejects TIMEOUT or ABORTED, and the waiter is forgotten, so
   * abandoned waits do not pile up.
   */
  drain(options: WaitOptions = {}): Promise<void> {
    if (this.closed || !this.overHighWaterMark) return Promise.resolve();
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
    this.socket.destroy();
    this.releaseDrainWaiters();
    this.handlers.onClose(error);
  }

  private onData(chunk: Buffer): void {
    this.lastRead = Date.now();
    this.options.stats.bytesIn += chunk.length;
    try {
      this.parser.push(chunk);
    } catch (err) {
      this.fail(asProtocolError(err, this.peerName));
    }
  }

  private onTickTimer(): void {
    if (this.closed) return;
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
   * is it. Gaps under 100 ms are ticks that TCP delivered together, not a period.
   */
  private onPeerTick(): void {
    this.options.stats.ticksIn++;
    const now = Date.now();
    const gap = now - this.lastPeerTick;
    this.lastPeerTick = now;
    if (gap < 100) return;
    this.tickGaps.push(gap);
    if (this.tickGaps.length > 5) this.tickGaps.shift();
    if (this.tickGaps.length >= 2) this.peerTickGap = Math.min(...this.tickGaps);
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

  private onFrame(frame: Buffer): void {
    if (this.closed) return;
    this.options.stats.framesIn++;
    let control: Control;
    let payload: Term | undefined;
    try {
      if (this.atomCache) {
        const { refs, pos } = readDistHeader(frame, this.atomCache);
        const head = new TermDecoder(frame, pos, { atomCache: refs });
        control = decodeControl(head.readTerm(0));
        if (hasPayload(control.op)) {
          const body = new TermDecoder(frame, head.pos, { ...this.options.decode, atomCache: refs });
          payload = body.readTerm(0);
          if (body.pos !== frame.length) throw new Error(`${frame.length - body.pos} bytes after the payload`);
        } else if (head.pos !== frame.length) {
          throw new Error(`${frame.length - head.pos} bytes after a control message without payload`);
        }
      } else {
        if (frame[0] !== PASS_THROUGH) throw new Error(`a frame starting with ${frame[0]}, expected 112`);
        const head = new TermDecoder(frame, 1);
        control = decodeControl(head.readVersionedTerm());
        if (hasPayload(control.op)) {
          const body = new TermDecoder(frame, head.pos, this.options.decode);
          payload = body.readVersionedTerm();
          if (body.pos !== frame.length) throw new Error(`${frame.length - body.pos} bytes after the payload`);
        } else if (head.pos !== frame.length) {
          throw new Error(`${frame.length - head.pos} bytes after a control message without payload`);
        }
      }
    } catch (err) {
      throw asProtocolError(err, this.peerName);
    }
    this.handlers.onMessage(control, payload);
  }
}

function asProtocolError(err: unknown, node: string): ErldistError {
  if (err instanceof ErldistError && err.code === 'PROTOCOL') return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ErldistError('PROTOCOL', `${node} sent a malformed message: ${message}`, {
    node,
    cause: err,
    step: 'decode',
  });
}
