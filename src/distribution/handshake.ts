/**
 * The distribution handshake, initiating side (erl_dist_protocol.md "Distribution Handshake";
 * protocol-notes §2). Reads as the spec's sequence of steps: sendName, recvStatus, recvChallenge,
 * sendChallengeReply, recvChallengeAck. Every packet is framed `Len:16` until the handshake ends
 * (`Len:32` over TLS, as inet_tls_dist sets `{packet, 4}` from the start).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { ByteReader, ByteWriter } from '../bytes.js';
import { ErldistError } from '../errors.js';
import { DFLAG, DFLAG_MANDATORY_25, flagNames } from './flags.js';
import { readsOf } from './reads.js';

export interface InitiatorOptions {
  /** Our full node name, `name@host`. */
  localName: string;
  creation: number;
  flags: bigint;
  cookie: string;
  /** The node we expect to reach (for messages; the peer reports its own name). */
  peerName: string;
  /**
   * The peer says it still has a connection from a node of our name (status `alive`): true to
   * replace it (we are a new incarnation), false when that connection is ours and still up.
   */
  replaceAlive?(): boolean;
  /** Bytes of each packet's length: 2 over TCP (the default), 4 over TLS. */
  packetHeader?: PacketHeader;
}

/** How long the length prefix of a handshake packet is: 2 over TCP, 4 over TLS (inet_tls_dist). */
export type PacketHeader = 2 | 4;

export interface HandshakeResult {
  /** The name the peer gave in its challenge. */
  peerName: string;
  peerCreation: number;
  peerFlags: bigint;
  /** Flags both sides set: a feature is usable only if it is in here. */
  flags: bigint;
  /** Bytes that arrived after the handshake (the first frames of the connection). */
  leftover: Buffer;
}

/** Tags of handshake packets. */
const SEND_NAME_OLD = 0x6e; // 'n'
const COMPLEMENT = 0x63; // 'c'
const SEND_NAME_NEW = 0x4e; // 'N'
const CHALLENGE_NEW = 0x4e; // 'N'
const CHALLENGE_OLD = 0x6e; // 'n'
const STATUS = 0x73; // 's'
const CHALLENGE_REPLY = 0x72; // 'r'
const CHALLENGE_ACK = 0x61; // 'a'

/** Longest handshake packet we accept: names are at most 255 bytes (+ 2-byte host part margin). */
const MAX_PACKET = 2048;

/** MD5(Cookie ++ decimal(Challenge)), the challenge printed unsigned (dist_util:gen_digest/2). */
export function genDigest(challenge: number, cookie: string): Buffer {
  return createHash('md5')
    .update(cookie, 'latin1')
    .update(String(challenge >>> 0))
    .digest();
}

export function genChallenge(): number {
  return randomBytes(4).readUInt32BE(0);
}

/** Reads `Len:16` (or `Len:32`) packets during the handshake, keeping what follows the last one. */
class PacketReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private waiter: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly onData = (chunk: Buffer) => {
    this.chunks.push(chunk);
    this.size += chunk.length;
    this.pump();
  };
  private readonly onEnd = () => this.fail(undefined);
  private readonly onError = (err: Error) => this.fail(err);

  constructor(
    private readonly socket: Socket,
    private readonly closedError: (cause?: Error) => ErldistError,
    private readonly header: PacketHeader,
  ) {
    const reads = readsOf(socket);
    if (reads) {
      // A socket reading into a reused buffer: keep a copy of each chunk.
      for (const chunk of reads.takeWaiting()) this.onData(chunk);
      reads.reader = (chunk) => this.onData(Buffer.from(chunk));
    } else {
      socket.on('data', this.onData);
    }
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  read(): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.pump();
    });
  }

  /** Stops listening; returns the bytes that arrived past the last packet. */
  detach(): Buffer {
    // Paused until the connection takes over, so that no frame is emitted to nobody.
    this.socket.pause();
    const reads = readsOf(this.socket);
    if (reads) reads.reader = undefined;
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    const rest = Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.size = 0;
    return rest;
  }

  private fail(cause: Error | undefined): void {
    if (this.failure) return;
    this.failure = this.closedError(cause);
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(this.failure);
  }

  private pump(): void {
    const header = this.header;
    if (!this.waiter || this.size < header) return;
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    const len = header === 2 ? all.readUInt16BE(0) : all.readUInt32BE(0);
    if (len > MAX_PACKET) {
      const err = looksLikeTls(all)
        ? new ErldistError('TLS', 'the peer speaks TLS distribution; pass the `tls` option', { step: 'handshake' })
        : new ErldistError('PROTOCOL', `handshake packet of ${len} bytes is too long`, { step: 'handshake' });
      this.failure = err;
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter.reject(err);
      return;
    }
    if (all.length < header + len) {
      this.chunks = [all];
      return;
    }
    const packet = all.subarray(header, header + len);
    const rest = all.subarray(header + len);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter.resolve(packet);
  }
}

/**
 * A TLS record where a handshake packet should be: content type alert (21) or handshake (22), then
 * major version 3. No plain packet starts so: its length would be over MAX_PACKET.
 */
function looksLikeTls(bytes: Buffer): boolean {
  return (bytes[0] === 21 || bytes[0] === 22) && bytes[1] === 3;
}

/** A handshake packet: its length prefix filled in when it is sent. */
function packet(header: PacketHeader): ByteWriter {
  return new ByteWriter(header);
}

function writeStatus(socket: Socket, status: string, header: PacketHeader): void {
  socket.write(packet(header).u8(STATUS).bytes(Buffer.from(status, 'latin1')).finish());
}

/** Reads one packet's fields; a packet too short for them fails `step`. */
function fields(p: Buffer, step: string, node: string): ByteReader {
  return new ByteReader(p, 1, (what) => protocolError(step, `packet of ${p.length} bytes ends inside ${what}`, node));
}

function protocolError(step: string, message: string, node: string): ErldistError {
  return new ErldistError('PROTOCOL', `handshake with ${node} failed at ${step}: ${message}`, { step, node });
}

/**
 * Runs the initiator's half of the handshake on a connected socket. The caller owns the socket and
 * its timeout; on failure the caller destroys it.
 */
export async function handshakeInitiator(socket: Socket, opts: InitiatorOptions): Promise<HandshakeResult> {
  const node = opts.peerName;
  const header = opts.packetHeader ?? 2;
  let step = 'sendName';
  let repliedToChallenge = false;
  const reader = new PacketReader(
    socket,
    (cause) => {
      if (repliedToChallenge) {
        // dist_util closes without a word when our digest is wrong.
        return new ErldistError(
          'AUTH_FAILED',
          `${node} closed the connection after our challenge reply: the cookie was probably wrong`,
          { step: 'recvChallengeAck', node, cause },
        );
      }
      return new ErldistError('CONNECT_FAILED', `${node} closed the connection during the handshake (${step})`, {
        step,
        node,
        cause,
      });
    },
    header,
  );

  try {
    sendName();
    step = 'recvStatus';
    await recvStatus();
    step = 'recvChallenge';
    const challenge = await recvChallenge();
    step = 'sendChallengeReply';
    const myChallenge = sendChallengeReply(challenge.challenge);
    repliedToChallenge = true;
    step = 'recvChallengeAck';
    await recvChallengeAck(myChallenge);
    return {
      peerName: challenge.name,
      peerCreation: challenge.creation,
      peerFlags: challenge.flags,
      flags: challenge.flags & opts.flags,
      leftover: reader.detach(),
    };
  } finally {
    reader.detach();
  }

  function sendName(): void {
    const name = Buffer.from(opts.localName, 'utf8');
    socket.write(
      packet(header).u8(SEND_NAME_NEW).u64(opts.flags).u32(opts.creation).u16(name.length).bytes(name).finish(),
    );
  }

  async function recvStatus(): Promise<void> {
    const packet = await reader.read();
    if (packet.length < 1 || packet[0] !== STATUS)
      throw protocolError('recvStatus', `expected a status ('s'), got tag ${packet[0]}`, node);
    const status = packet.subarray(1).toString('latin1');
    switch (status) {
      case 'ok':
      case 'ok_simultaneous':
        return;
      case 'alive':
        // The peer still has a connection from a node of our name: replace it if it is not ours.
        if (opts.replaceAlive?.() === false) {
          writeStatus(socket, 'false', header);
          throw new ErldistError('NOT_ALLOWED', `${node} is already connected to us (alive)`, {
            step: 'recvStatus',
            node,
            status,
          });
        }
        writeStatus(socket, 'true', header);
        return;
      case 'nok':
        throw new ErldistError(
          'NOT_ALLOWED',
          `${node} refused the connection: it is connecting to us at the same time (nok)`,
          {
            step: 'recvStatus',
            node,
            status,
          },
        );
      case 'not_allowed':
        throw new ErldistError(
          'NOT_ALLOWED',
          `${node} refused the connection (not_allowed): our name ${opts.localName} or our flags are not accepted`,
          { step: 'recvStatus', node, status },
        );
      default:
        throw protocolError('recvStatus', `unknown status ${JSON.stringify(status.slice(0, 40))}`, node);
    }
  }

  async function recvChallenge(): Promise<{ flags: bigint; challenge: number; creation: number; name: string }> {
    const packet = await reader.read();
    if (packet[0] === CHALLENGE_OLD) {
      throw new ErldistError('NOT_ALLOWED', `${node} speaks only the pre-OTP 23 handshake (version 5)`, {
        step: 'recvChallenge',
        node,
      });
    }
    if (packet[0] !== CHALLENGE_NEW) {
      throw protocolError(
        'recvChallenge',
        `expected a challenge ('N'), got tag ${packet[0]} in ${packet.length} bytes`,
        node,
      );
    }
    const r = fields(packet, 'recvChallenge', node);
    const flags = r.u64('the flags');
    const challenge = r.u32('the challenge');
    const creation = r.u32('the creation');
    const name = r.bytes(r.u16('the name length'), 'the name').toString('utf8');
    const missing = DFLAG_MANDATORY_25 & ~flags;
    if (missing !== 0n || (flags & DFLAG.HANDSHAKE_23) === 0n) {
      throw new ErldistError(
        'NOT_ALLOWED',
        `${node} lacks mandatory distribution flags: ${flagNames(missing).join(', ')}`,
        {
          step: 'recvChallenge',
          node,
        },
      );
    }
    return { flags, challenge, creation, name };
  }

  function sendChallengeReply(theirChallenge: number): number {
    const myChallenge = genChallenge();
    socket.write(
      packet(header).u8(CHALLENGE_REPLY).u32(myChallenge).bytes(genDigest(theirChallenge, opts.cookie)).finish(),
    );
    return myChallenge;
  }

  async function recvChallengeAck(myChallenge: number): Promise<void> {
    const packet = await reader.read();
    if (packet[0] !== CHALLENGE_ACK || packet.length !== 17) {
      throw protocolError(
        'recvChallengeAck',
        `expected a challenge ack ('a'), got tag ${packet[0]} in ${packet.length} bytes`,
        node,
      );
    }
    const expected = genDigest(myChallenge, opts.cookie);
    if (!timingSafeEqual(packet.subarray(1, 17), expected)) {
      throw new ErldistError('AUTH_FAILED', `${node} answered our challenge with a wrong digest: the cookies differ`, {
        step: 'recvChallengeAck',
        node,
      });
    }
  }
}

/** What the acceptor answers a send_name with (dist_util's statuses). */
export type AcceptStatus = 'ok' | 'ok_simultaneous' | 'nok' | 'not_allowed' | 'alive';

export interface AcceptorOptions {
  localName: string;
  creation: number;
  flags: bigint;
  /** The cookie for a node (per-node cookies, as erlang:set_cookie/2). */
  cookieFor(peerName: string): string;
  /**
   * Decides the status for an initiator, e.g. `alive` when we are connected to it already or
   * `nok`/`ok_simultaneous` when we are connecting to it at the same time.
   */
  status(peerName: string): AcceptStatus;
  /** Bytes of each packet's length: 2 over TCP (the default), 4 over TLS. */
  packetHeader?: PacketHeader;
}

/**
 * Runs the acceptor's half of the handshake (handshake_other_started): recvName, sendStatus,
 * [recvComplement], sendChallenge, recvChallengeReply, sendChallengeAck. Accepts both send_name
 * forms, since an initiator that skipped EPMD cannot know our version.
 */
export async function handshakeAcceptor(socket: Socket, opts: AcceptorOptions): Promise<HandshakeResult> {
  const header = opts.packetHeader ?? 2;
  let step = 'recvName';
  let node = 'an unnamed node';
  const reader = new PacketReader(
    socket,
    (cause) =>
      new ErldistError('CONNECT_FAILED', `${node} closed the connection during the handshake (${step})`, {
        step,
        node,
        cause,
      }),
    header,
  );
  try {
    const name = await recvName();
    node = name.name;
    step = 'sendStatus';
    const missing = DFLAG_MANDATORY_25 & ~name.flags;
    if (missing !== 0n || (name.flags & DFLAG.HANDSHAKE_23) === 0n) {
      writeStatus(socket, 'not_allowed', header);
      throw new ErldistError(
        'NOT_ALLOWED',
        `${node} lacks mandatory distribution flags: ${flagNames(missing).join(', ') || 'HANDSHAKE_23'}`,
        {
          step,
          node,
        },
      );
    }
    await sendStatus(opts.status(node));
    let { flags, creation } = name;
    if (name.old) {
      step = 'recvComplement';
      const c = await reader.read();
      if (c[0] !== COMPLEMENT) throw protocolError(step, `expected a complement ('c'), got tag ${c[0]}`, node);
      const r = fields(c, step, node);
      flags |= BigInt(r.u32('the high flags')) << 32n;
      creation = r.u32('the creation');
    }
    step = 'sendChallenge';
    const challenge = genChallenge();
    sendChallenge(challenge);
    step = 'recvChallengeReply';
    const cookie = opts.cookieFor(node);
    const theirChallenge = await recvChallengeReply(challenge, cookie);
    step = 'sendChallengeAck';
    socket.write(packet(header).u8(CHALLENGE_ACK).bytes(genDigest(theirChallenge, cookie)).finish());
    return {
      peerName: node,
      peerCreation: creation,
      peerFlags: flags,
      flags: flags & opts.flags,
      leftover: reader.detach(),
    };
  } finally {
    reader.detach();
  }

  async function recvName(): Promise<{ name: string; flags: bigint; creation: number; old: boolean }> {
    const p = await reader.read();
    const r = fields(p, 'recvName', node);
    if (p[0] === SEND_NAME_NEW) {
      const flags = r.u64('the flags');
      const creation = r.u32('the creation');
      const name = r.bytes(r.u16('the name length'), 'the name').toString('utf8');
      return { flags, creation, name, old: false };
    }
    if (p[0] === SEND_NAME_OLD) {
      r.u16('the version');
      return { flags: BigInt(r.u32('the flags')), creation: 0, name: r.rest().toString('utf8'), old: true };
    }
    throw protocolError('recvName', `expected send_name ('N' or 'n'), got tag ${p[0]} in ${p.length} bytes`, node);
  }

  async function sendStatus(status: AcceptStatus): Promise<void> {
    writeStatus(socket, status, header);
    if (status === 'nok' || status === 'not_allowed') {
      throw new ErldistError('NOT_ALLOWED', `refused ${node}: ${status}`, { step: 'sendStatus', node, status });
    }
    if (status === 'alive') {
      const answer = (await reader.read()).toString('latin1');
      // The old connection is dropped only once this one has proved the cookie (when the new
      // connection is added), so an unauthenticated client cannot cut a live one.
      if (answer !== 'strue')
        throw new ErldistError('NOT_ALLOWED', `${node} is already connected and gave up (${answer})`, {
          step: 'sendStatus',
          node,
          status,
        });
    }
  }

  function sendChallenge(challenge: number): void {
    const name = Buffer.from(opts.localName, 'utf8');
    socket.write(
      packet(header)
        .u8(CHALLENGE_NEW)
        .u64(opts.flags)
        .u32(challenge)
        .u32(opts.creation)
        .u16(name.length)
        .bytes(name)
        .finish(),
    );
  }

  async function recvChallengeReply(challenge: number, cookie: string): Promise<number> {
    const p = await reader.read();
    if (p[0] !== CHALLENGE_REPLY || p.length !== 21) {
      throw protocolError(
        'recvChallengeReply',
        `expected a challenge reply ('r'), got tag ${p[0]} in ${p.length} bytes`,
        node,
      );
    }
    if (!timingSafeEqual(p.subarray(5, 21), genDigest(challenge, cookie))) {
      // As dist_util does: close without an ack. The cookie itself is never logged.
      throw new ErldistError('AUTH_FAILED', `${node} answered our challenge with a wrong digest: the cookies differ`, {
        step: 'recvChallengeReply',
        node,
      });
    }
    return fields(p, 'recvChallengeReply', node).u32('the challenge');
  }
}
