/**
 * A scripted distribution acceptor for fault tests: it speaks just enough of the handshake to
 * misbehave at a chosen step. Real-node behaviour is tested against real nodes (test/interop).
 */
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { genDigest } from '../../src/distribution/handshake.js';
import { DFLAG, DFLAG_ERLDIST } from '../../src/distribution/flags.js';
import type { Term } from '../../src/index.js';
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
  const server: Server = createServer((socket) => {
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
