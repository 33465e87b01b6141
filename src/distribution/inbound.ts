/**
 * From a frame to a message (protocol-notes §3): `112, 131, Control, [131, Payload]` on connections
 * without a header, else the distribution header (a whole message, or a fragment that
 * Reassembler joins), then the control term and payload.
 */
import { ErldistError } from '../errors.js';
import { type Atom, type DecodeOptions, type Term, TermDecoder } from '../term/index.js';
import { type Control, decodeControl, hasPayload } from './control.js';
import type { PartialMessage, Reassembler } from './fragments.js';
import { DIST_FRAG_CONT, DIST_FRAG_HEADER, DIST_HEADER, PASS_THROUGH, readDistHeader } from './header.js';

/** A message's bytes: its control term at `pos`, versioned when there are no header `refs`. */
export interface Inbound {
  data: Buffer;
  pos: number;
  refs: Atom[] | undefined;
  /** A view of a read buffer the socket reuses: binaries must be copied out when decoded. */
  transient: boolean;
}

/**
 * The message a frame completes: the frame itself, or with FRAGMENTS the last fragment's whole
 * message; undefined while fragments are missing. `cache` is undefined without a header. Throws
 * what `malformed` turns into PROTOCOL.
 */
export function frameMessage(
  frame: Buffer,
  transient: boolean,
  cache: (Atom | undefined)[] | undefined,
  reassembler: Reassembler | undefined,
): Inbound | undefined {
  if (cache === undefined) {
    if (frame[0] !== PASS_THROUGH) throw new Error(`a frame starting with ${frame[0]}, expected 112`);
    return { data: frame, pos: 1, refs: undefined, transient };
  }
  const header = readDistHeader(frame, cache, reassembler !== undefined);
  const data = frame.subarray(header.pos);
  if (reassembler === undefined || header.tag === DIST_HEADER) return { data, pos: 0, refs: header.refs, transient };
  const now = Date.now();
  const whole =
    header.tag === DIST_FRAG_HEADER
      ? reassembler.first(header.seqId, header.fragId, header.refs, data, now)
      : reassembler.cont(header.seqId, header.fragId, data, now);
  // A first fragment that is also the last is the frame itself.
  return whole && { data: whole.data, pos: 0, refs: whole.refs, transient: transient && whole.data === data };
}

/** The first two bytes of a fragment (first or continuation), which FragmentStream takes in pieces. */
export function isFragment(byte0: number, byte1: number): boolean {
  return byte0 === 131 && (byte1 === DIST_FRAG_CONT || byte1 === DIST_FRAG_HEADER);
}

/** A header cut short by the end of the bytes gathered so far (readDistHeader's error). */
const TRUNCATED = /runs past the frame|no version byte/;

/**
 * A fragment that spans socket chunks, streamed in pieces (FrameParts): once its header is read,
 * each piece goes straight into the reassembly buffer, so no frame is allocated for it.
 */
export class FragmentStream {
  /** Header bytes gathered until the header can be read. */
  private head: Buffer[] = [];
  private headLength = 0;
  /** The partial message, null for a late fragment that is dropped, undefined before the header. */
  private partial: PartialMessage | null | undefined;
  private seqId = 0n;
  private fragId = 0n;

  constructor(
    private readonly reassembler: Reassembler,
    private readonly cache: (Atom | undefined)[],
  ) {}

  /** One piece of a frame of `length` bytes; on the last, the message it completes (if any). */
  piece(bytes: Buffer, first: boolean, last: boolean, length: number): Inbound | undefined {
    if (first) {
      this.head = [];
      this.headLength = 0;
      this.partial = undefined;
    }
    if (this.partial === undefined) {
      const all = this.headLength === 0 ? bytes : Buffer.concat([...this.head, bytes]);
      const at = this.readHeader(all, length, last);
      if (at < 0) {
        this.head = [Buffer.from(all)];
        this.headLength = all.length;
        return undefined;
      }
      this.head = [];
      bytes = all.subarray(at);
    }
    // Set by readHeader: the partial message, or null for a dropped late fragment.
    const partial = this.partial as PartialMessage | null;
    if (partial !== null && bytes.length > 0) this.reassembler.contPiece(partial, bytes, Date.now());
    if (!last) return undefined;
    this.partial = undefined;
    if (partial === null) return undefined;
    const whole = this.reassembler.contEnd(this.seqId, partial, this.fragId);
    return whole && { data: whole.data, pos: 0, refs: whole.refs, transient: false };
  }

  /** Reads the header from `all` and starts the fragment; where its data starts, or -1 for more bytes. */
  private readHeader(all: Buffer, length: number, last: boolean): number {
    let header: ReturnType<typeof readDistHeader>;
    try {
      header = readDistHeader(all, this.cache, true);
    } catch (err) {
      if (!last && err instanceof Error && TRUNCATED.test(err.message)) return -1;
      throw err;
    }
    const { seqId, fragId, pos } = header;
    this.seqId = seqId;
    this.fragId = fragId;
    this.partial =
      header.tag === DIST_FRAG_CONT
        ? (this.reassembler.contBegin(seqId, fragId, Date.now(), length - pos) ?? null)
        : this.reassembler.firstBegin(seqId, fragId, header.refs, length - pos, Date.now());
    return pos;
  }
}

/** A decoded message, or one dropped because its payload could not be decoded (`dropped`). */
export type Decoded =
  | { control: Control; payload: Term | undefined; dropped?: undefined }
  | { control: Control; payload?: undefined; dropped: ErldistError };

const EMPTY = Buffer.alloc(0);

/**
 * Decodes a connection's messages with two decoders it reuses (one for control terms, with default
 * options; one for payloads, with the connection's), as decoding never calls out. A control term
 * that fails is PROTOCOL (the stream cannot be trusted); a payload that fails with DECODE drops only
 * this message, as its frame's length kept the stream in step.
 */
export class MessageDecoder {
  private readonly head = new TermDecoder(EMPTY);
  private readonly body: TermDecoder;
  private readonly copyBinaries: boolean;

  constructor(
    decode: DecodeOptions,
    private readonly node: string,
  ) {
    this.body = new TermDecoder(EMPTY, 0, decode);
    this.copyBinaries = decode.copyBinaries === true;
  }

  decode(message: Inbound): Decoded {
    const { data, pos, refs, transient } = message;
    const head = this.head;
    const body = this.body;
    try {
      return this.read(head, body, data, pos, refs, transient);
    } finally {
      // Nothing of the message stays reachable from the decoders.
      head.reset(EMPTY, 0, undefined, false);
      body.reset(EMPTY, 0, undefined, false);
    }
  }

  private read(
    head: TermDecoder,
    body: TermDecoder,
    data: Buffer,
    pos: number,
    refs: Atom[] | undefined,
    transient: boolean,
  ): Decoded {
    const node = this.node;
    let control: Control;
    let at: number;
    try {
      // Without a header, terms are versioned; with one, ATOM_CACHE_REFs point into its refs.
      head.reset(data, pos, refs, transient);
      control = decodeControl(refs === undefined ? head.readVersionedTerm() : head.readTerm(0));
      at = head.pos;
      if (!hasPayload(control.op) && at !== data.length)
        throw new Error(`${data.length - at} bytes after a control message without payload`);
    } catch (err) {
      throw malformed(err, node);
    }
    if (!hasPayload(control.op)) return { control, payload: undefined };
    let payload: Term;
    let end: number;
    try {
      // A transient message's binaries are copied: nothing may stay a view of it.
      body.reset(data, at, refs, transient || this.copyBinaries);
      payload = refs === undefined ? body.readVersionedTerm() : body.readTerm(0);
      end = body.pos;
    } catch (err) {
      if (!(err instanceof ErldistError && err.code === 'DECODE')) throw malformed(err, node);
      const why = `${node} sent a message that was dropped: ${err.message}`;
      return { control, dropped: new ErldistError('DECODE', why, { node, cause: err }) };
    }
    if (end !== data.length) throw malformed(new Error(`${data.length - end} bytes after the payload`), node);
    return { control, payload };
  }
}

/** `err` as a PROTOCOL error (as it is when it already is one). */
export function malformed(err: unknown, node: string): ErldistError {
  if (err instanceof ErldistError && err.code === 'PROTOCOL') return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ErldistError('PROTOCOL', `${node} sent a malformed message: ${message}`, {
    node,
    cause: err,
    step: 'decode',
  });
}
