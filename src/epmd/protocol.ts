/**
 * EPMD wire format (protocol-notes §1): request builders and reply parsers, pure functions on
 * Buffers. No sockets here; see client.ts.
 *
 * Requests are `Len:16, Request`. Replies have no length prefix, so each reply parser comes in two
 * forms: `tryParseX(bytes)` returns `undefined` while the bytes are a prefix of a valid reply (wait
 * for more) and the reply plus the bytes it used once it is complete; `parseX(bytes)` takes a
 * whole reply. Both throw a `PROTOCOL` ErldistError for bytes that can never become a valid reply,
 * and `parseX` also for a truncated one.
 */
import { ErldistError } from '../errors.js';

/** Request and reply tags, named and numbered as in the EPMD protocol. */
export const EpmdTag = {
  ALIVE2_REQ: 120,
  ALIVE2_RESP: 121,
  ALIVE2_X_RESP: 118,
  PORT_PLEASE2_REQ: 122,
  PORT2_RESP: 119,
  NAMES_REQ: 110,
} as const;

/** Node types in ALIVE2_REQ and PORT2_RESP. */
export const NodeType = {
  HIDDEN: 72,
  NORMAL: 77,
} as const;

/** The default EPMD port. */
export const EPMD_DEFAULT_PORT = 4369;
/** Distribution protocol 0: TCP/IPv4 (used for IPv6 too). */
export const PROTOCOL_TCP = 0;
/** The only distribution version OTP 25 and later speak. */
export const DIST_VERSION = 6;
/** EPMD keeps names of at most this many bytes (MAXSYMLEN). */
export const MAX_NAME_BYTES = 255;
/** A request's length prefix is 16 bits. */
export const MAX_REQUEST_BYTES = 0xffff;

/** Fields of ALIVE2_REQ. */
export interface Alive2Req {
  port: number;
  nodeType: number;
  protocol: number;
  highestVersion: number;
  lowestVersion: number;
  name: string;
  extra: Uint8Array;
}

/** ALIVE2_X_RESP (creation 32 bits) or the old ALIVE2_RESP (creation 16 bits). */
export interface Alive2Resp {
  tag: typeof EpmdTag.ALIVE2_X_RESP | typeof EpmdTag.ALIVE2_RESP;
  /** 0 = registered. */
  result: number;
  creation: number;
}

/** A node EPMD knows, as PORT2_RESP describes it. */
export interface NodeInfo {
  port: number;
  nodeType: number;
  protocol: number;
  highestVersion: number;
  lowestVersion: number;
  name: string;
  extra: Buffer;
}

/** PORT2_RESP: the node's entry, or the non-zero result EPMD sends for an unknown name. */
export type Port2Resp = ({ found: true; result: 0 } & NodeInfo) | { found: false; result: number };

/** The NAMES_REQ reply: EPMD's own port, then one line per registered node. */
export interface NamesResp {
  epmdPort: number;
  nodes: { name: string; port: number }[];
}

/** A parsed reply and how many bytes of the input it took. */
export interface Parsed<T> {
  reply: T;
  length: number;
}

function protocolError(step: string, message: string): ErldistError {
  return new ErldistError('PROTOCOL', `EPMD ${step}: ${message}`, { step });
}

function invalid(message: string): ErldistError {
  return new ErldistError('INVALID_ARGUMENT', message);
}

function checkName(name: string): Buffer {
  if (typeof name !== 'string' || name.length === 0) throw invalid('EPMD: node name must be a non-empty string');
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length > MAX_NAME_BYTES) {
    throw invalid(`EPMD: node name is ${bytes.length} bytes, more than ${MAX_NAME_BYTES}`);
  }
  if (bytes.includes(0) || name.includes('@')) {
    throw invalid(`EPMD: ${JSON.stringify(name)} is not a node name without host (no '@' or NUL)`);
  }
  return bytes;
}

function checkUint(what: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw invalid(`EPMD: ${what} must be an integer in 0..${max}, got ${String(value)}`);
  }
}

/** Grows to fit; `finish()` fills in the `Len:16` prefix. */
class RequestWriter {
  private buf = Buffer.alloc(64);
  private offset = 2;

  private ensure(n: number): void {
    if (this.offset + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.offset + n));
    this.buf.copy(next, 0, 0, this.offset);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf.writeUInt8(v, this.offset);
    this.offset += 1;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.offset);
    this.offset += 2;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.offset);
    this.offset += b.length;
    return this;
  }

  finish(): Buffer {
    const length = this.offset - 2;
    if (length > MAX_REQUEST_BYTES) throw invalid(`EPMD: request of ${length} bytes does not fit Len:16`);
    this.buf.writeUInt16BE(length, 0);
    return this.buf.subarray(0, this.offset);
  }
}

/** `Len:16, 120, Port:16, NodeType:8, Protocol:8, High:16, Low:16, Nlen:16, Name, Elen:16, Extra`. */
export function alive2Req(req: Alive2Req): Buffer {
  const name = checkName(req.name);
  checkUint('port', req.port, 0xffff);
  checkUint('node type', req.nodeType, 0xff);
  checkUint('protocol', req.protocol, 0xff);
  checkUint('highest version', req.highestVersion, 0xffff);
  checkUint('lowest version', req.lowestVersion, 0xffff);
  checkUint('extra length', req.extra.length, 0xffff);
  return new RequestWriter()
    .u8(EpmdTag.ALIVE2_REQ)
    .u16(req.port)
    .u8(req.nodeType)
    .u8(req.protocol)
    .u16(req.highestVersion)
    .u16(req.lowestVersion)
    .u16(name.length)
    .bytes(name)
    .u16(req.extra.length)
    .bytes(req.extra)
    .finish();
}

/** `Len:16, 122, Name`. */
export function portPlease2Req(name: string): Buffer {
  return new RequestWriter().u8(EpmdTag.PORT_PLEASE2_REQ).bytes(checkName(name)).finish();
}

/** `Len:16, 110`. */
export function namesReq(): Buffer {
  return new RequestWriter().u8(EpmdTag.NAMES_REQ).finish();
}

/** Thrown by Reader when the input ends early; tryParse* turn it into `undefined`. */
const NEED_MORE = Symbol('EPMD reply incomplete');

/** A cursor over one reply; every read throws NEED_MORE past the end. */
class Reader {
  offset = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.offset + n > this.buf.length) throw NEED_MORE;
  }

  u8(): number {
    this.need(1);
    const v = this.buf.readUInt8(this.offset);
    this.offset += 1;
    return v;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }
}

function attempt<T>(buf: Buffer, read: (r: Reader) => T): Parsed<T> | undefined {
  const r = new Reader(buf);
  try {
    return { reply: read(r), length: r.offset };
  } catch (err) {
    if (err === NEED_MORE) return undefined;
    throw err;
  }
}

function whole<T>(step: string, buf: Buffer, parsed: Parsed<T> | undefined): T {
  if (parsed === undefined) {
    throw protocolError(step, `reply truncated after ${buf.length} byte${buf.length === 1 ? '' : 's'}`);
  }
  if (parsed.length !== buf.length) {
    throw protocolError(step, `${buf.length - parsed.length} unexpected bytes after the reply`);
  }
  return parsed.reply;
}

function expectTag(step: string, tag: number, allowed: readonly number[], names: string): void {
  if (!allowed.includes(tag)) throw protocolError(step, `expected ${names}, got tag ${tag}`);
}

function readAlive2Resp(r: Reader): Alive2Resp {
  const tag = r.u8();
  expectTag('ALIVE2_REQ', tag, [EpmdTag.ALIVE2_X_RESP, EpmdTag.ALIVE2_RESP], 'ALIVE2_X_RESP (118) or ALIVE2_RESP (121)');
  const result = r.u8();
  const creation = tag === EpmdTag.ALIVE2_X_RESP ? r.u32() : r.u16();
  return { tag: tag as Alive2Resp['tag'], result, creation };
}

/** ALIVE2_X_RESP `118, Result:8, Creation:32` or ALIVE2_RESP `121, Result:8, Creation:16`. */
export function tryParseAlive2Resp(buf: Buffer): Parsed<Alive2Resp> | undefined {
  return attempt(buf, readAlive2Resp);
}

export function parseAlive2Resp(buf: Buffer): Alive2Resp {
  return whole('ALIVE2_REQ', buf, tryParseAlive2Resp(buf));
}

function readPort2Resp(r: Reader): Port2Resp {
  expectTag('PORT_PLEASE2_REQ', r.u8(), [EpmdTag.PORT2_RESP], 'PORT2_RESP (119)');
  const result = r.u8();
  if (result !== 0) return { found: false, result };
  const port = r.u16();
  const nodeType = r.u8();
  const protocol = r.u8();
  const highestVersion = r.u16();
  const lowestVersion = r.u16();
  const nameBytes = r.bytes(r.u16());
  const extra = Buffer.from(r.bytes(r.u16()));
  return {
    found: true,
    result: 0,
    port,
    nodeType,
    protocol,
    highestVersion,
    lowestVersion,
    name: nameBytes.toString('utf8'),
    extra,
  };
}

/**
 * PORT2_RESP `119, 0, Port:16, NodeType:8, Protocol:8, High:16, Low:16, Nlen:16, Name, Elen:16,
 * Extra`, or `119, Result` (non-zero) for a name EPMD does not know.
 */
export function tryParsePort2Resp(buf: Buffer): Parsed<Port2Resp> | undefined {
  return attempt(buf, readPort2Resp);
}

export function parsePort2Resp(buf: Buffer): Port2Resp {
  return whole('PORT_PLEASE2_REQ', buf, tryParsePort2Resp(buf));
}

const NAME_LINE = /^name (.+) at port (\d{1,5})$/;

/**
 * The whole NAMES_REQ reply (EPMD closes the connection after it): `EPMDPort:32`, then lines
 * `name <N> at port <P>\n`. Any other line is a PROTOCOL error.
 */
export function parseNamesResp(buf: Buffer): NamesResp {
  const step = 'NAMES_REQ';
  if (buf.length < 4) throw protocolError(step, `reply truncated after ${buf.length} bytes`);
  const epmdPort = buf.readUInt32BE(0);
  if (epmdPort > 0xffff) throw protocolError(step, `EPMD port ${epmdPort} out of range`);
  const text = buf.subarray(4).toString('utf8');
  const lines = text.split('\n');
  if (lines.pop() !== '') throw protocolError(step, 'reply does not end with a newline');
  const nodes: NamesResp['nodes'] = [];
  for (const line of lines) {
    const m = NAME_LINE.exec(line);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port > 0xffff) {
      throw protocolError(step, `unexpected line ${JSON.stringify(line.slice(0, 100))}`);
    }
    nodes.push({ name: m[1] as string, port });
  }
  return { epmdPort, nodes };
}
