/**
 * A scripted distribution acceptor for fault tests: it speaks just enough of the handshake to
 * misbehave at a chosen step. Real-node behaviour is tested against real nodes (test/interop).
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { type Control, decodeControl, encodeControl } from '../../src/distribution/control.js';
import { DFLAG, DFLAG_ERLDIST } from '../../src/distribution/flags.js';
import { genDigest } from '../../src/distribution/handshake.js';
import { ATOM_CACHE_SIZE, readDistHeader } from '../../src/distribution/header.js';
import { type Atom, decodeAt, type Term } from '../../src/index.js';
import { TermEncoder } from '../../src/term/index.js';

export type FakeBehaviour =
  /** Sends bytes that are no handshake packet. */
  | { kind: 'garbage'; bytes: Buffer }
  /** Closes right after reading send_name. */
  | { kind: 'close-after-name' }
  /** Reads send_name and never answers. */
  | { kind: 'silent' }
  /** Completes the handshake (if `cookie` matches) and hands the socket over. */
  | { kind: 'handshake'; cookie: string; after: (socket: Socket) => void; flags?: bigint };

/** Flags for a fake peer that cannot take spawn requests (so `rpc` goes to rex). */
export const FLAGS_WITHOUT_SPAWN = DFLAG_ERLDIST & ~DFLAG.SPAWN;

export interface FakePeer {
  port: number;
  name: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

function packet(body: Buffer): Buffer {
  const out = Buffer.alloc(2 + body.length);
  out.writeUInt16BE(body.length);
  body.copy(out, 2);
  return out;
}

export async function startFakePeer(behaviour: FakeBehaviour, name = 'fake@127.0.0.1'): Promise<FakePeer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted += 1;
    // As a BEAM does: without it, Nagle's algorithm and delayed ACKs hold back our writes by 40 ms.
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    let stage = 0;
    const challenge = 0xdeadbeef;
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0) && stage < 2) {
        const len = buf.readUInt16BE(0);
        const body = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        if (stage === 0) {
          stage = 1;
          if (behaviour.kind === 'garbage') socket.write(behaviour.bytes);
          else if (behaviour.kind === 'close-after-name') socket.destroy();
          else if (behaviour.kind === 'handshake') {
            socket.write(packet(Buffer.from('sok')));
            const n = Buffer.from(name);
            const c = Buffer.alloc(19 + n.length);
            c[0] = 0x4e;
            c.writeBigUInt64BE(behaviour.flags ?? DFLAG_ERLDIST, 1);
            c.writeUInt32BE(challenge, 9);
            c.writeUInt32BE(1234, 13);
            c.writeUInt16BE(n.length, 17);
            n.copy(c, 19);
            socket.write(packet(c));
          }
        } else if (stage === 1 && behaviour.kind === 'handshake') {
          stage = 2;
          const theirs = body.readUInt32BE(1);
          if (!genDigest(challenge, behaviour.cookie).equals(body.subarray(5, 21))) {
            socket.destroy();
            return;
          }
          const ack = Buffer.alloc(17);
          ack[0] = 0x61;
          genDigest(theirs, behaviour.cookie).copy(ack, 1);
          socket.write(packet(ack));
          socket.removeAllListeners('data');
          behaviour.after(socket);
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    name,
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A distribution frame as a peer with DIST_HDR_ATOM_CACHE sends it: `Len:32`, a header with two new
 * atom-cache entries ('echo' and 'x'), then the control term and payload without version bytes.
 */
export function distFrame(control: Term, payload?: Term): Buffer {
  const enc = new TermEncoder(128);
  enc.u32(0);
  enc.raw(Buffer.from([131, 68, 2, 0x88, 0x00, 1, 4]));
  enc.raw(Buffer.from('echo'));
  enc.raw(Buffer.from([2, 1]));
  enc.raw(Buffer.from('x'));
  enc.writeTerm(control);
  if (payload !== undefined) enc.writeTerm(payload);
  const out = Buffer.from(enc.bytes());
  out.writeUInt32BE(out.length - 4, 0);
  return out;
}

/** A control message and its payload, as a scripted peer receives or sends them. */
export interface ScriptedMessage {
  control: Control;
  payload?: Term;
}

export interface ScriptedPeer extends FakePeer {
  /** Every message the peer received, in order. */
  readonly received: ScriptedMessage[];
  /** Sends a control message (and payload) to the connected node. */
  send(control: Control, payload?: Term): void;
  /** Resolves with the first message, received so far or later, that `match` accepts. */
  next(match: (m: ScriptedMessage) => boolean): Promise<ScriptedMessage>;
}

/**
 * A peer that completes the handshake, decodes what it is sent (frames with the atom-cache header
 * erldist writes: no cache references) and answers as `script` says: a stand-in for a BEAM node
 * where a test needs answers no erldist node gives (erpc exits of every kind, spawn failures, exit
 * signals with payloads, ops erldist never sends).
 */
export async function startScriptedPeer(options: {
  cookie: string;
  flags?: bigint;
  name?: string;
  script?: (m: ScriptedMessage, peer: ScriptedPeer) => void;
}): Promise<ScriptedPeer> {
  const received: ScriptedMessage[] = [];
  const waiters: { match: (m: ScriptedMessage) => boolean; resolve: (m: ScriptedMessage) => void }[] = [];
  let socket: Socket | undefined;
  let scripted: ScriptedPeer | undefined;
  const onMessage = (m: ScriptedMessage) => {
    received.push(m);
    for (const w of [...waiters]) {
      if (!w.match(m)) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m);
    }
    if (scripted) options.script?.(m, scripted);
  };
  const fake = await startFakePeer(
    {
      kind: 'handshake',
      cookie: options.cookie,
      flags: options.flags,
      after: (s) => {
        socket = s;
        let buf = Buffer.alloc(0);
        const cache = new Array<Atom | undefined>(ATOM_CACHE_SIZE).fill(undefined);
        s.on('data', (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk]);
          while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
            const frame = buf.subarray(4, 4 + buf.readUInt32BE(0));
            buf = buf.subarray(4 + frame.length);
            if (frame.length > 0) onMessage(readFrame(frame, cache));
          }
        });
      },
    },
    options.name,
  );
  scripted = {
    port: fake.port,
    name: fake.name,
    get accepted() {
      return fake.accepted;
    },
    close: () => fake.close(),
    received,
    send(control, payload) {
      if (!socket) throw new Error('the scripted peer has no connection yet');
      socket.write(distFrame(encodeControl(control), payload));
    },
    next(match) {
      const seen = received.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
  };
  return scripted;
}

/** One frame as erldist sends it with DIST_HDR_ATOM_CACHE: a header (`131, 68`), control, payload. */
function readFrame(frame: Buffer, cache: (Atom | undefined)[]): ScriptedMessage {
  if (frame[0] !== 131 || frame[1] !== 68)
    throw new Error(`unexpected frame header ${frame.subarray(0, 2).toString('hex')}`);
  const header = readDistHeader(frame, cache, false);
  const options = { atomCache: header.refs };
  const control = decodeAt(frame, header.pos, options);
  const message: ScriptedMessage = { control: decodeControl(control.term) };
  if (control.offset < frame.length) message.payload = decodeAt(frame, control.offset, options).term;
  return message;
}
