/**
 * One distribution connection after the handshake: `Len:32` frames, ticks, and control messages
 * with their payloads (protocol-notes §3). Knows nothing of mailboxes or callers: it hands each
 * decoded message to `onMessage` and reports its end once to `onClose`.
 */
import type { Socket } from 'node:net';
import { ErldistError } from '../errors.js';
import type { Atom, DecodeOptions, Term } from '../term/index.js';
import type { WaitOptions } from '../wait.js';
import type { Control } from './control.js';
import { DFLAG } from './flags.js';
import { type FragmentOptions, Reassembler } from './fragments.js';
import { FrameParser } from './framing.js';
import type { HandshakeResult } from './handshake.js';
import { ATOM_CACHE_SIZE } from './header.js';
import { FragmentStream, frameMessage, type Inbound, isFragment, MessageDecoder, malformed } from './inbound.js';
import { Outbound } from './outbound.js';
import { readsOf } from './reads.js';

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
  /** When the peer's last tick arrived, and the last gaps between its ticks (its tick period). */
  private lastPeerTick = Number.NaN;
  private readonly tickGaps: number[] = [];
  private peerTickGap = Infinity;
  private closed = false;
  /**
   * With DIST_HDR_ATOM_CACHE or FRAGMENTS agreed: frames carry a header (and no version bytes), and
   * the peer's atoms are cached.
   */
  private readonly atomCache: (Atom | undefined)[] | undefined;
  /** With FRAGMENTS agreed: partial messages received. */
  private readonly reassembler: Reassembler | undefined;
  private readonly out: Outbound;
  private readonly decoder: MessageDecoder;

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
    const fragments = (this.flags & DFLAG.FRAGMENTS) !== 0n;
    if (fragments) this.reassembler = new Reassembler(options.fragments);
    this.decoder = new MessageDecoder(options.decode, this.peerName);
    this.out = new Outbound(socket, this.peerName, {
      stats: options.stats,
      fragmentSize: fragments ? options.fragments.size : undefined,
      headers: this.atomCache !== undefined,
      atomCacheRefs: (this.flags & DFLAG.DIST_HDR_ATOM_CACHE) !== 0n,
      highWaterMark: options.highWaterMark,
      maxBuffered: options.maxBuffered,
    });
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
    return this.out.overHighWaterMark;
  }

  /** Bytes waiting to be written (in the socket, this turn's batch, and fragments to come). */
  get buffered(): number {
    return this.out.buffered;
  }

  /** Reassembly (bytes held, partial messages, bytes copied, expired) and fragments sent. */
  get fragments(): ReturnType<Reassembler['summary']> & { out: number } {
    const none = { copiedBytes: 0, grown: 0, expired: 0, held: 0, pending: 0 };
    return { ...(this.reassembler?.summary() ?? none), out: this.out.fragmentsOut };
  }

  /**
   * Sends a control message and its payload: in one frame, or with FRAGMENTS in fragments when it
   * is larger than `fragmentSize`. Returns false when all the bytes waiting to be written, fragments
   * included, are above the high-water mark (wait for `drain()`). Throws BUFFER_FULL past
   * `maxBuffered`, where the bytes of messages still going out in fragments count only against
   * other large messages: a 200 MiB message does not stop pings and small messages, a second one
   * is refused until the first is under `maxBuffered`.
   *
   * Binaries of 4 KiB or more are written from the caller's memory, not copied (as
   * `socket.write(buffer)` keeps the buffer, not a copy): they must not change until written.
   */
  send(control: Control, payload?: Term): boolean {
    return this.out.send(control, payload);
  }

  /**
   * Resolves when the bytes waiting to be written, fragments included, are below the high-water
   * mark (at once if they are already, or once the connection is closed); rejects TIMEOUT or
   * ABORTED, and the waiter is forgotten, so abandoned waits do not pile up.
   */
  drain(options: WaitOptions = {}): Promise<void> {
    return this.out.drain(options);
  }

  /** Closes the connection; `onClose` receives `reason`. */
  close(reason?: ErldistError): void {
    this.out.flushNow();
    this.fail(
      reason ??
        new ErldistError('NODE_DOWN', `connection to ${this.peerName} was closed locally`, { node: this.peerName }),
    );
  }

  private fail(error: ErldistError): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.reassembler?.clear();
    this.socket.destroy();
    this.out.close();
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
    if (Date.now() - this.out.lastWrite >= every) this.out.tick();
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
    const decoded = this.decoder.decode(message);
    if (decoded.dropped) this.handlers.onDropped?.(decoded.dropped, decoded.control);
    else this.handlers.onMessage(decoded.control, decoded.payload);
  }
}
