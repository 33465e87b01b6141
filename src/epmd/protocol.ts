/**
 * EPMD wire format (protocol-notes §1): request builders and reply parsers, pure functions on
 * Buffers. No sockets here; see client.ts.
 *
 * Requests are `Len:16, Request`. Replies have no length prefix, so each reply parser comes in two
 * forms: `tryParseX(bytes)` returns `undefined` while the bytes are a prefix of a valid reply (wait
 * for more) and the reply plus the bytes it used once it is complete; `parseX(bytes)` takes a
 * whole reply. Both throw a `PROTOCOL` ErldistError for bytes that can never become a valid reply,
 * and `parseX` also for a truncated one.
 *
 * The server side (server.ts) uses the mirror image: `parseRequest(body)` reads one request (the
 * bytes after `Len:16`), and `alive2XResp`, `alive2Resp`, `port2Resp`, `port2RespNotFound` and
 * `namesResp` build the replies.
 */

import { ByteReader, ByteWriter } from '../bytes.js';
import { ErldistError } from '../errors.js';

/** Request and reply tags, named and numbered as in the EPMD protocol. */
export const EpmdTag = {
  ALIVE2_REQ: 120,
  ALIVE2_RESP: 121,
  ALIVE2_X_RESP: 118,
  PORT_PLEASE2_REQ: 122,
  PORT2_RESP: 119,
  NAMES_REQ: 110,
  /** Lists registered and remembered names (debugging; erldist's server does not answer it). */
  DUMP_REQ: 100,
  /** Asks EPMD to exit: "OK", or "NO" while nodes are registered. */
  KILL_REQ: 107,
  /** Unregisters a name (epmd -stop); real epmd ignores it unless -relaxed_command_check. */
  STOP_REQ: 115,
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
/**
 * The longest name EPMD stores, in bytes (255 characters of up to 4 UTF-8 bytes; epmd's MAXSYMLEN).
 * The Extra field of ALIVE2_REQ has the same bound.
 */
export const MAX_SYMLEN_BYTES = 255 * 4;
/**
 * The longest request body (after `Len:16`) EPMD reads: its input buffer holds 3 * MAXSYMLEN bytes
 * including the 2-byte length and a terminating NUL, so `Len` must be in 1..3057.
 */
export const MAX_SERVER_REQUEST_BYTES = 3 * MAX_SYMLEN_BYTES - 3;

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

/** A request carries `Len:16` before its tag; a reply has no prefix. */
function requestWriter(): ByteWriter {
  return new ByteWriter(2);
}

function replyWriter(): ByteWriter {
  return new ByteWriter(0);
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
  return requestWriter()
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
  return requestWriter().u8(EpmdTag.PORT_PLEASE2_REQ).bytes(checkName(name)).finish();
}

/** `Len:16, 110`. */
export function namesReq(): Buffer {
  return requestWriter().u8(EpmdTag.NAMES_REQ).finish();
}

/** Thrown by the reader when the input ends early; tryParse* turn it into `undefined`. */
const NEED_MORE = Symbol('EPMD reply incomplete');

function attempt<T>(buf: Buffer, read: (r: ByteReader) => T): Parsed<T> | undefined {
  const r = new ByteReader(buf, 0, () => NEED_MORE);
  try {
    return { reply: read(r), length: r.pos };
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

function readAlive2Resp(r: ByteReader): Alive2Resp {
  const tag = r.u8();
  expectTag(
    'ALIVE2_REQ',
    tag,
    [EpmdTag.ALIVE2_X_RESP, EpmdTag.ALIVE2_RESP],
    'ALIVE2_X_RESP (118) or ALIVE2_RESP (121)',
  );
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

function readPort2Resp(r: ByteReader): Port2Resp {
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

// ---------------------------------------------------------------------------------------------
// Server side: requests in, replies out.

/**
 * ALIVE2_REQ as a server reads it. The name and the Extra field stay bytes: EPMD answers a
 * well-formed request whose name it cannot store with result 1 rather than dropping the
 * connection, so checking the name (`nodeNameFromBytes`) is the server's job.
 */
export interface Alive2Request {
  tag: typeof EpmdTag.ALIVE2_REQ;
  port: number;
  nodeType: number;
  protocol: number;
  highestVersion: number;
  lowestVersion: number;
  name: Buffer;
  extra: Buffer;
}

/** One request as `parseRequest` reads it, keyed by its tag. */
export type EpmdRequest =
  | Alive2Request
  | { tag: typeof EpmdTag.PORT_PLEASE2_REQ; name: string }
  | { tag: typeof EpmdTag.NAMES_REQ }
  | { tag: typeof EpmdTag.DUMP_REQ }
  | { tag: typeof EpmdTag.KILL_REQ }
  | { tag: typeof EpmdTag.STOP_REQ; name: string };

/** ALIVE2_REQ's fixed part: tag, Port, NodeType, Protocol, High, Low, Nlen, and Elen. */
const ALIVE2_FIXED_BYTES = 13;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The node name EPMD would store for these bytes: valid UTF-8 (no overlong forms, surrogates or
 * code points above U+10FFFF), 1 to 255 characters, at most MAX_SYMLEN_BYTES bytes, no NUL.
 * `undefined` when EPMD would refuse it.
 */
export function nodeNameFromBytes(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0 || bytes.length > MAX_SYMLEN_BYTES || bytes.includes(0)) return undefined;
  let name: string;
  try {
    name = strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
  let chars = 0;
  for (const _ of name) chars += 1;
  if (chars > MAX_NAME_BYTES) return undefined;
  return name;
}

function readAlive2Request(body: Buffer): Alive2Request {
  const step = 'ALIVE2_REQ';
  // EPMD wants at least one byte of name or extra beyond the fixed part.
  if (body.length <= ALIVE2_FIXED_BYTES) throw protocolError(step, `request of ${body.length} bytes is too short`);
  const nameLength = body.readUInt16BE(9);
  if (nameLength + ALIVE2_FIXED_BYTES > body.length)
    throw protocolError(step, `name length ${nameLength} overruns the request`);
  const extraLength = body.readUInt16BE(11 + nameLength);
  if (extraLength + nameLength + ALIVE2_FIXED_BYTES > body.length) {
    throw protocolError(step, `extra length ${extraLength} overruns the request`);
  }
  const name = body.subarray(11, 11 + nameLength);
  if (name.includes(0)) throw protocolError(step, 'node name contains NUL');
  // Bytes after Extra are ignored, as EPMD does.
  return {
    tag: EpmdTag.ALIVE2_REQ,
    port: body.readUInt16BE(1),
    nodeType: body.readUInt8(3),
    protocol: body.readUInt8(4),
    highestVersion: body.readUInt16BE(5),
    lowestVersion: body.readUInt16BE(7),
    name: Buffer.from(name),
    extra: Buffer.from(body.subarray(13 + nameLength, 13 + nameLength + extraLength)),
  };
}

function readPortPlease2Request(body: Buffer): string {
  const step = 'PORT_PLEASE2_REQ';
  let end = body.length;
  // Old clients NUL-terminate the name.
  if (end > 1 && body[end - 1] === 0) end -= 1;
  if (end <= 1) throw protocolError(step, 'empty node name');
  const name = nodeNameFromBytes(body.subarray(1, end));
  if (name === undefined) throw protocolError(step, 'node name is not 1 to 255 characters of UTF-8 without NUL');
  return name;
}

/**
 * Reads one EPMD request: `body` is what follows `Len:16` (the server checks Len against
 * MAX_SERVER_REQUEST_BYTES first). Throws PROTOCOL for an empty body, an unknown tag and a malformed
 * request: EPMD closes such a connection without replying.
 */
export function parseRequest(body: Buffer): EpmdRequest {
  if (body.length === 0) throw protocolError('request', 'empty request');
  const tag = body.readUInt8(0);
  switch (tag) {
    case EpmdTag.ALIVE2_REQ:
      return readAlive2Request(body);
    case EpmdTag.PORT_PLEASE2_REQ:
      return { tag, name: readPortPlease2Request(body) };
    case EpmdTag.NAMES_REQ:
      return { tag };
    case EpmdTag.DUMP_REQ:
      return { tag };
    case EpmdTag.KILL_REQ:
      return { tag };
    case EpmdTag.STOP_REQ: {
      // A C string: the name runs to the first NUL, if any.
      const zero = body.indexOf(0, 1);
      const bytes = body.subarray(1, zero < 0 ? body.length : zero);
      const name = nodeNameFromBytes(bytes);
      if (name === undefined) throw protocolError('STOP_REQ', 'node name is not 1 to 255 characters of UTF-8');
      return { tag, name };
    }
    default:
      throw protocolError('request', `unknown request tag ${tag}`);
  }
}

/** ALIVE2_X_RESP `118, Result:8, Creation:32` (for requesters whose highest version is 6 or more). */
export function alive2XResp(result: number, creation: number): Buffer {
  checkUint('result', result, 0xff);
  checkUint('creation', creation, 0xffffffff);
  return replyWriter().u8(EpmdTag.ALIVE2_X_RESP).u8(result).u32(creation).finish();
}

/** ALIVE2_RESP `121, Result:8, Creation:16` (for requesters whose highest version is below 6). */
export function alive2Resp(result: number, creation: number): Buffer {
  checkUint('result', result, 0xff);
  checkUint('creation', creation, 0xffff);
  return replyWriter().u8(EpmdTag.ALIVE2_RESP).u8(result).u16(creation).finish();
}

/** PORT2_RESP for a registered node: `119, 0, Port:16, NodeType, Protocol, High, Low, Nlen, Name, Elen, Extra`. */
export function port2Resp(info: NodeInfo): Buffer {
  const name = Buffer.from(info.name, 'utf8');
  checkUint('port', info.port, 0xffff);
  checkUint('node type', info.nodeType, 0xff);
  checkUint('protocol', info.protocol, 0xff);
  checkUint('highest version', info.highestVersion, 0xffff);
  checkUint('lowest version', info.lowestVersion, 0xffff);
  checkUint('name length', name.length, 0xffff);
  checkUint('extra length', info.extra.length, 0xffff);
  return replyWriter()
    .u8(EpmdTag.PORT2_RESP)
    .u8(0)
    .u16(info.port)
    .u8(info.nodeType)
    .u8(info.protocol)
    .u16(info.highestVersion)
    .u16(info.lowestVersion)
    .u16(name.length)
    .bytes(name)
    .u16(info.extra.length)
    .bytes(info.extra)
    .finish();
}

/** PORT2_RESP for a name EPMD does not know: `119, 1`. */
export function port2RespNotFound(): Buffer {
  return Buffer.from([EpmdTag.PORT2_RESP, 1]);
}

/** The NAMES_REQ reply: `EPMDPort:32`, then `name <N> at port <P>\n` per node. */
export function namesResp(epmdPort: number, nodes: readonly { name: string; port: number }[]): Buffer {
  checkUint('EPMD port', epmdPort, 0xffff);
  const w = replyWriter().u32(epmdPort);
  for (const node of nodes) {
    checkUint('port', node.port, 0xffff);
    w.bytes(Buffer.from(`name ${node.name} at port ${node.port}\n`, 'utf8'));
  }
  return w.finish();
}
