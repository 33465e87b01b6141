/**
 * From a frame to a message (protocol-notes §3): `112, 131, Control, [131, Payload]` on connections
 * without a header, else the distribution header (a whole message, or a fragment that
 * Reassembler joins), then the control term and payload.
 */
import { ErldistError } from '../errors.js';
import { type Atom, type DecodeOptions, type Term, TermDecoder } from '../term/index.js';
import { type Control, decodeControl, hasPayload } from './control.js';
import type { Reassembler } from './fragments.js';
import { DIST_FRAG_CONT, DIST_FRAG_HEADER, DIST_HEADER, readDistHeader } from './header.js';

/** A frame without a distribution header starts with this (PASS_THROUGH). */
export const PASS_THROUGH = 112;

/** A message's bytes: its control term at `pos`, versioned when there are no header `refs`. */
export interface Inbound {
  data: Buffer;
  pos: number;
  refs: Atom[] | undefined;
}

/**
 * The message a frame completes: the frame itself, or with FRAGMENTS the last fragment's whole
 * message; undefined while fragments are missing. `cache` is undefined without a header. Throws
 * what `malformed` turns into PROTOCOL.
 */
export function frameMessage(
  frame: Buffer,
  cache: (Atom | undefined)[] | undefined,
  reassembler: Reassembler | undefined,
): Inbound | undefined {
  if (cache === undefined) {
    if (frame[0] !== PASS_THROUGH) throw new Error(`a frame starting with ${frame[0]}, expected 112`);
    return { data: frame, pos: 1, refs: undefined };
  }
  const header = readDistHeader(frame, cache, reassembler !== undefined);
  const data = frame.subarray(header.pos);
  if (reassembler === undefined || header.tag === DIST_HEADER) return { data, pos: 0, refs: header.refs };
  const now = Date.now();
  const whole =
    header.tag === DIST_FRAG_HEADER
      ? reassembler.first(header.seqId, header.fragId, header.refs, data, now)
      : reassembler.cont(header.seqId, header.fragId, data, now);
  return whole && { data: whole.data, pos: 0, refs: whole.refs };
}

/** `131, 70, SeqId:64, FragId:64`: the header of a continuation fragment. */
const CONT_HEADER = 18;

/** The first two bytes of a frame that `contMessage` takes as parts. */
export function isContinuation(byte0: number, byte1: number): boolean {
  return byte0 === 131 && byte1 === DIST_FRAG_CONT;
}

/**
 * A continuation fragment that spans socket chunks, as views of them (FrameParts): its data is
 * copied once, straight into the reassembly buffer. As frameMessage otherwise.
 */
export function contMessage(parts: Buffer[], reassembler: Reassembler): Inbound | undefined {
  if (parts[0].length < CONT_HEADER) parts = [Buffer.concat(parts)];
  const head = parts[0];
  if (head.length < CONT_HEADER) throw new Error(`a continuation fragment of ${head.length} bytes`);
  const seqId = head.readBigUInt64BE(2);
  const fragId = head.readBigUInt64BE(10);
  if (fragId === 0n) throw new Error('fragment id 0');
  parts[0] = head.subarray(CONT_HEADER);
  const whole = reassembler.cont(seqId, fragId, parts, Date.now());
  return whole && { data: whole.data, pos: 0, refs: whole.refs };
}

/** A decoded message, or one dropped because its payload could not be decoded (`dropped`). */
export type Decoded =
  | { control: Control; payload: Term | undefined; dropped?: undefined }
  | { control: Control; payload?: undefined; dropped: ErldistError };

/**
 * Decodes a message. A control term that fails is PROTOCOL (the stream cannot be trusted); a
 * payload that fails with DECODE drops only this message, as its frame's length kept the stream
 * in step.
 */
export function decodeMessage(message: Inbound, decode: DecodeOptions, node: string): Decoded {
  const { data, pos, refs } = message;
  let control: Control;
  let at: number;
  try {
    const head = new TermDecoder(data, pos, refs === undefined ? undefined : { atomCache: refs });
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
    const body = new TermDecoder(data, at, refs === undefined ? decode : { ...decode, atomCache: refs });
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
