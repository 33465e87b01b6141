/**
 * A connection storm for the starvation tests: idle sockets that connect and send nothing,
 * slowloris sockets that send a plausible first packet one byte at a time, and named sockets that
 * send a whole send_name at once and then nothing (no cookie is needed for any of them). Unless
 * `reopen: false`, the attacker keeps its strength: once all are open, every socket the server
 * closes is opened again at once, until `hold()` or `stop()`.
 *
 *   const storm = await startStorm({ port, idle: 300, slowloris: 70, slowPayload: sendName('x@h') });
 *   ... the legitimate peer connects ...
 *   await storm.stop();            // every socket closed, nothing left behind
 */
import { connect as netConnect, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { DFLAG_ERLDIST } from '../../src/distribution/flags.js';
import { u16Framed } from './bytes.js';

export interface StormOptions {
  port: number;
  /** Default 127.0.0.1: the address the legitimate peer uses too. */
  host?: string;
  /** Sockets that connect and send nothing. */
  idle: number;
  /** Sockets that send `slowPayload` one byte every `byteInterval` ms (default 1000: 1 byte/s). */
  slowloris?: number;
  slowPayload?: Buffer;
  byteInterval?: number;
  /** Sockets that send `namedPayload` (a whole send_name) at once, then nothing. */
  named?: number;
  namedPayload?: Buffer;
  /**
   * Open again every socket the server closes (default true). When thousands more sockets than the
   * server keeps reconnect at once, the reconnections overflow the listen backlog (511 in Node.js)
   * and the kernel drops SYNs, the legitimate peer's too: a SYN flood, which no eviction policy
   * helps. Such storms use `reopen: false`.
   */
  reopen?: boolean;
}

export interface Storm {
  /** Storm sockets connected and not yet closed. */
  readonly open: number;
  /** Connections made so far, the reopened ones included. */
  readonly connects: number;
  /** Connections the server closed so far. */
  readonly closedByServer: number;
  /** Stops reopening: from now on a socket the server closes stays closed. */
  hold(): void;
  /** Closes every storm socket and resolves once all are closed. */
  stop(): Promise<void>;
}

type Kind = 'idle' | 'slow' | 'named';

/**
 * The storm opens its sockets BATCH at a time, PACE ms apart: thousands of connections at once on
 * loopback overflow the kernel's queues (the listen backlog, 511 in Node.js, and the per-CPU packet
 * backlog), and each dropped SYN waits a second for its retransmission.
 */
const BATCH = 100;
const PACE = 10;

/** A distribution send_name ('N', OTP 23+) from `name`, as a real initiator sends it first. */
export function sendName(name: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const body = Buffer.alloc(1 + 8 + 4 + 2 + nameBytes.length);
  body.writeUInt8(0x4e, 0);
  body.writeBigUInt64BE(DFLAG_ERLDIST, 1);
  body.writeUInt32BE(0x1234, 9);
  body.writeUInt16BE(nameBytes.length, 13);
  nameBytes.copy(body, 15);
  return u16Framed(body);
}

/** One socket to 127.0.0.1:`port` (errors swallowed); resolves once connected. Close it with `closeSocket`. */
export async function openSocket(port: number): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return socket;
}

/** Destroys `socket` and resolves once it is closed. */
export async function closeSocket(socket: Socket): Promise<void> {
  if (socket.closed) return;
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.destroy();
  await closed;
}

/** Opens the storm; resolves once every socket has connected (or been closed by the server) once. */
export async function startStorm(options: StormOptions): Promise<Storm> {
  const host = options.host ?? '127.0.0.1';
  const slowPayload = options.slowPayload ?? Buffer.alloc(0);
  const live = new Set<Socket>();
  /** Slowloris sockets and how many bytes each has sent. */
  const dripped = new Map<Socket, number>();
  /** Off while the storm opens: the sockets closed meanwhile wait in `closedEarly`. */
  let reopen = false;
  let opening = true;
  const closedEarly: Kind[] = [];
  let stopped = false;
  let connects = 0;
  let closedByServer = 0;

  const open = (kind: Kind): Promise<void> =>
    new Promise((settled) => {
      connects++;
      const socket = netConnect({ host, port: options.port });
      live.add(socket);
      if (kind === 'slow') dripped.set(socket, 0);
      socket.on('error', () => {});
      // Reads (and drops) what the server sends, so that its close is seen.
      socket.resume();
      socket.once('connect', () => {
        if (kind === 'named' && options.namedPayload) socket.write(options.namedPayload);
        settled();
      });
      socket.once('close', () => {
        settled();
        live.delete(socket);
        dripped.delete(socket);
        if (stopped) return;
        closedByServer++;
        if (reopen) void open(kind);
        else if (opening) closedEarly.push(kind);
      });
    });

  const drip = setInterval(() => {
    for (const [socket, sent] of dripped) {
      if (sent >= slowPayload.length || socket.connecting || socket.destroyed) continue;
      socket.write(slowPayload.subarray(sent, sent + 1));
      dripped.set(socket, sent + 1);
    }
  }, options.byteInterval ?? 1000);

  const kinds: Kind[] = [
    ...Array<Kind>(options.idle).fill('idle'),
    ...Array<Kind>(options.slowloris ?? 0).fill('slow'),
    ...Array<Kind>(options.named ?? 0).fill('named'),
  ];
  for (let i = 0; i < kinds.length; i += BATCH) {
    await Promise.all(kinds.slice(i, i + BATCH).map(open));
    await delay(PACE);
  }
  opening = false;
  if (options.reopen !== false) {
    reopen = true;
    for (const kind of closedEarly.splice(0)) void open(kind);
  }

  return {
    get open() {
      return live.size;
    },
    get connects() {
      return connects;
    },
    get closedByServer() {
      return closedByServer;
    },
    hold() {
      reopen = false;
    },
    async stop() {
      stopped = true;
      clearInterval(drip);
      await Promise.all([...live].map(closeSocket));
    },
  };
}
