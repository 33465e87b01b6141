/**
 * An embedded EPMD server over `node:net`, behaving as OTP's epmd does (erts/epmd/src/epmd_srv.c),
 * so that real Erlang and Elixir nodes started with `ERL_EPMD_PORT=<port>` register with it and
 * find each other through it.
 *
 *   const epmd = await startEpmd({ port: 0, host: '127.0.0.1' });
 *   epmd.on('register', (name) => ...);
 *   epmd.names();          // [{ name, port, nodeType, protocol, ..., creation }]
 *   await epmd.close();
 *
 * Requests (protocol-notes §1), one per connection, each `Len:16, Request`:
 * - ALIVE2_REQ registers a node for as long as that connection stays open. Only a local peer may
 *   register (127.0.0.0/8, ::1, or a peer whose address is the address it connected to, i.e. this
 *   host); epmd drops any other ALIVE2_REQ without a reply, and so do we. The reply is ALIVE2_X_RESP
 *   (32-bit creation) when the requester's highest version is 6 or more, else ALIVE2_RESP (16 bits).
 *   A name already registered, not 1..255 characters of UTF-8, or an Extra longer than 1020 bytes
 *   gets result 1 (creation 99, as epmd sends). Any byte the node sends after registering ends the
 *   registration, as in epmd.
 * - Creation, as epmd computes it: each name keeps a 32-bit counter, started at the current Unix time
 *   in seconds for a name not seen before and incremented on every new registration (values below
 *   4 skip to 4). Version-6 requesters get the counter itself; older ones `counter % 3 + 1`.
 *   Unregistered names are remembered, at most 1000 of them (the oldest forgotten first).
 * - PORT_PLEASE2_REQ: PORT2_RESP with the node's entry, or `119, 1`; NAMES_REQ: our port as 32 bits,
 *   then `name N at port P\n` lines. The connection is closed after the reply.
 * - KILL_REQ (`epmd -kill`), from a local peer: "NO" while nodes are registered, else "OK" and the
 *   server closes. STOP_REQ and DUMP_REQ are not served (real epmd refuses STOP_REQ unless started
 *   with -relaxed_command_check; DUMP_REQ is a debugging aid): the connection is closed.
 *
 * Bounds: a `Len` of 0 or above 3057 (epmd's input buffer), bytes beyond the announced request, an
 * unknown or malformed request, and a request not complete within `requestTimeout` (default 5 s;
 * epmd uses 60 s measured from the last byte, we measure from the connection) are all closed without
 * a reply. Registered connections are exempt from the timeout. Socket errors are swallowed; nothing
 * a client sends can throw.
 *
 * Idle sockets cannot starve it (OTP's epmd stops answering once its connections are taken): at most
 * `maxConnections` (default 1024) are open, and when all are, a new connection evicts the oldest one
 * that is not a registration (one still sending its request, or one we answered that lingers), which
 * is closed without a reply. A NAMES or PORT_PLEASE2 client sends its request at once, so it is
 * answered long before it is the oldest; pushing it out takes `maxConnections` new connections in
 * that time. Registrations (ALIVE2 connections) are never evicted; when every connection is one, the
 * newcomer is closed.
 *
 * Diagnostics: events (`accept`, `refused`, `evicted`, `timeout`, `rejected`, `register`,
 * `unregister`) are published on the `diagnostics_channel` named `erldist:epmd:server`.
 */
import { channel } from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { ErldistError } from '../errors.js';
import { onAbort, waitFor } from '../wait.js';
import { epmdPort as defaultEpmdPort } from './client.js';
import {
  type Alive2Request,
  alive2Resp,
  alive2XResp,
  DIST_VERSION,
  type EpmdRequest,
  EpmdTag,
  MAX_SERVER_REQUEST_BYTES,
  MAX_SYMLEN_BYTES,
  type NodeInfo,
  namesResp,
  nodeNameFromBytes,
  parseRequest,
  port2Resp,
  port2RespNotFound,
} from './protocol.js';

export const DEFAULT_EPMD_HOST = '0.0.0.0';
export const DEFAULT_REQUEST_TIMEOUT = 5000;
export const DEFAULT_MAX_CONNECTIONS = 1024;
/** How many unregistered names keep their creation counter (epmd's MAX_UNREG_COUNT). */
export const MAX_REMEMBERED_NAMES = 1000;
/** The creation epmd puts in a failed ALIVE2 reply. */
const FAILED_CREATION = 99;
/** epmd's smallest 32-bit creation: 1..3 are the old 2-bit creations. */
const MIN_CREATION = 4;

const diagnostics = channel('erldist:epmd:server');

function publish(message: Record<string, unknown>): void {
  if (diagnostics.hasSubscribers) diagnostics.publish(message);
}

export interface StartEpmdOptions {
  /** Port to listen on; default `ERL_EPMD_PORT`, else 4369. 0: any free port (see `EpmdServer.port`). */
  port?: number;
  /** Address to listen on; default 0.0.0.0 (all IPv4 interfaces, like epmd). */
  host?: string;
  /** Aborting closes the server; an already aborted signal rejects with ABORTED. */
  signal?: AbortSignal;
  /** Milliseconds a connection has to deliver its request; default 5000. */
  requestTimeout?: number;
  /**
   * Simultaneous connections (registrations included), default 1024. When all are open, a new
   * connection evicts the oldest one that is not a registration; it is refused only when every one is.
   */
  maxConnections?: number;
}

/** A registered node, as PORT2_RESP describes it, plus the creation EPMD gave it. */
export interface EpmdEntry extends NodeInfo {
  creation: number;
}

/**
 * True when EPMD treats a peer as local: a 127.x.x.x or ::1 address, or the very address the peer
 * connected to (a connection from this host to one of its own addresses). IPv4-mapped IPv6
 * addresses (`::ffff:127.0.0.1`) count as their IPv4 address. Unknown addresses are not local.
 */
export function isLocalPeer(remoteAddress: string | undefined, localAddress: string | undefined): boolean {
  if (remoteAddress === undefined || remoteAddress === '') return false;
  const remote = unmapIPv4(remoteAddress);
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(remote)) return true;
  if (remote === '::1' || remote === '0:0:0:0:0:0:0:1') return true;
  if (localAddress === undefined || localAddress === '') return false;
  return remote === unmapIPv4(localAddress);
}

function unmapIPv4(address: string): string {
  const lower = address.toLowerCase();
  const m = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(lower);
  if (m) return m[1] as string;
  return lower;
}

/** epmd's bump_creation: the next 32-bit counter value, never below 4. */
function bumpCreation(counter: number): number {
  const next = (counter + 1) >>> 0;
  if (next < MIN_CREATION) return MIN_CREATION;
  return next;
}

interface Registration {
  entry: EpmdEntry;
  counter: number;
  socket: Socket;
}

type ConnState = 'reading' | 'replied' | 'registered';

interface Conn {
  socket: Socket;
  local: boolean;
  state: ConnState;
  chunks: Buffer[];
  received: number;
  /** The whole request's size including Len:16, once known. */
  want: number;
  timer: NodeJS.Timeout | undefined;
  /** The name this connection registered. */
  name: string | undefined;
}

function checkOptions(opts: StartEpmdOptions): {
  port: number;
  host: string;
  requestTimeout: number;
  maxConnections: number;
} {
  let port: number;
  if (opts.port === 0) port = 0;
  else port = defaultEpmdPort(opts.port);
  const host = opts.host ?? DEFAULT_EPMD_HOST;
  if (typeof host !== 'string' || host === '')
    throw new ErldistError('INVALID_ARGUMENT', 'EPMD server host must be a non-empty string');
  const requestTimeout = opts.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT;
  if (typeof requestTimeout !== 'number' || !(requestTimeout > 0) || !Number.isFinite(requestTimeout)) {
    throw new ErldistError(
      'INVALID_ARGUMENT',
      `requestTimeout must be a positive number of ms, got ${String(requestTimeout)}`,
    );
  }
  const maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    throw new ErldistError(
      'INVALID_ARGUMENT',
      `maxConnections must be a positive integer, got ${String(maxConnections)}`,
    );
  }
  return { port, host, requestTimeout, maxConnections };
}

/**
 * A running EPMD server (see the module comment). Emits `register` and `unregister` with the node
 * name and its entry, and `close` once closed (by `close()`, the signal, or a KILL_REQ).
 */
/** The events of an EpmdServer. */
export interface EpmdServerEvents {
  register: [name: string, entry: EpmdEntry];
  unregister: [name: string, entry: EpmdEntry];
  close: [];
}

export class EpmdServer extends EventEmitter<EpmdServerEvents> {
  /** The port it listens on (the one the OS chose when started with port 0). */
  readonly port: number;
  readonly host: string;
  private readonly server: Server;
  private readonly requestTimeout: number;
  private readonly maxConnections: number;
  private readonly conns = new Set<Conn>();
  /** The connections that are not registrations, oldest first: the ones a newcomer may evict. */
  private readonly evictable = new Set<Conn>();
  private readonly registry = new Map<string, Registration>();
  /** Creation counters of names no longer registered, oldest first. */
  private readonly remembered = new Map<string, number>();
  private closing: Promise<void> | undefined;
  private readonly stopAbort: () => void;
  private readonly closeOnAbort = (): void => {
    void this.close();
  };

  /** @internal use `startEpmd()`. */
  constructor(init: {
    server: Server;
    port: number;
    host: string;
    requestTimeout: number;
    maxConnections: number;
    signal: AbortSignal | undefined;
  }) {
    super();
    this.server = init.server;
    this.port = init.port;
    this.host = init.host;
    this.requestTimeout = init.requestTimeout;
    this.maxConnections = init.maxConnections;
    this.server.on('connection', (socket) => this.accept(socket));
    // Accept errors (EMFILE and the like) must not become uncaught exceptions.
    this.server.on('error', (err) => publish({ event: 'error', error: err }));
    this.stopAbort = onAbort(init.signal, this.closeOnAbort);
  }

  /** The registered nodes, oldest registration first. */
  names(): EpmdEntry[] {
    return [...this.registry.values()].map((r) => ({ ...r.entry, extra: Buffer.from(r.entry.extra) }));
  }

  /** How many connections are open (registrations included). */
  get connections(): number {
    return this.conns.size;
  }

  /** True until `close()` (or the signal, or a KILL_REQ) started closing. */
  get listening(): boolean {
    return this.closing === undefined;
  }

  /**
   * Stops listening and closes every connection, which ends every registration (each emits
   * `unregister`). Resolves once everything is closed. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopAbort();
      const listenerClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      const socketsClosed = [...this.conns].map((conn) => {
        const closed = new Promise<void>((resolve) => {
          if (conn.socket.destroyed && conn.socket.closed) resolve();
          else conn.socket.once('close', () => resolve());
        });
        conn.socket.destroy();
        return closed;
      });
      await Promise.all([listenerClosed, ...socketsClosed]);
      this.emit('close');
    })();
    return this.closing;
  }

  private accept(socket: Socket): void {
    socket.on('error', () => {});
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    const remote = socket.remoteAddress;
    if (this.conns.size >= this.maxConnections) {
      const oldest = this.evictable.values().next().value;
      if (oldest === undefined) {
        publish({ event: 'refused', remote, connections: this.conns.size });
        socket.destroy();
        return;
      }
      publish({ event: 'evicted', remote: oldest.socket.remoteAddress, state: oldest.state });
      // Forgotten now, so that the newcomer has its place before the evicted socket's 'close'.
      this.onClose(oldest);
      oldest.socket.destroy();
    }
    const conn: Conn = {
      socket,
      local: isLocalPeer(remote, socket.localAddress),
      state: 'reading',
      chunks: [],
      received: 0,
      want: 0,
      timer: undefined,
      name: undefined,
    };
    this.conns.add(conn);
    this.evictable.add(conn);
    publish({ event: 'accept', remote, local: conn.local });
    conn.timer = setTimeout(() => {
      publish({ event: 'timeout', remote, state: conn.state });
      socket.destroy();
    }, this.requestTimeout);
    conn.timer.unref();
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    // A peer that stops sending before a whole request (or a node that shuts down) is done.
    socket.on('end', () => {
      if (conn.state !== 'replied') socket.destroy();
    });
    socket.on('close', () => this.onClose(conn));
  }

  private reject(conn: Conn, why: string): void {
    publish({ event: 'rejected', remote: conn.socket.remoteAddress, why });
    conn.socket.destroy();
  }

  private onData(conn: Conn, chunk: Buffer): void {
    if (conn.state === 'registered') {
      // epmd: "got more than expected on ALIVE socket" ends the registration.
      this.reject(conn, 'bytes after ALIVE2_REQ');
      return;
    }
    if (conn.state === 'replied') return;
    conn.chunks.push(chunk);
    conn.received += chunk.length;
    if (conn.want === 0 && conn.received >= 2) {
      const head = conn.chunks.length === 1 ? (conn.chunks[0] as Buffer) : Buffer.concat(conn.chunks, conn.received);
      conn.chunks = [head];
      const length = head.readUInt16BE(0);
      if (length < 1 || length > MAX_SERVER_REQUEST_BYTES) {
        this.reject(conn, `request length ${length}`);
        return;
      }
      conn.want = length + 2;
    }
    if (conn.want === 0) return;
    if (conn.received > conn.want) {
      this.reject(conn, `${conn.received - conn.want} bytes after the request`);
      return;
    }
    if (conn.received < conn.want) return;
    const all = Buffer.concat(conn.chunks, conn.received);
    conn.chunks = [];
    this.handle(conn, all.subarray(2));
  }

  private handle(conn: Conn, body: Buffer): void {
    let request: EpmdRequest;
    try {
      request = parseRequest(body);
    } catch (err) {
      this.reject(conn, (err as Error).message);
      return;
    }
    switch (request.tag) {
      case EpmdTag.ALIVE2_REQ:
        if (!conn.local) {
          // epmd: "ALIVE2_REQ from non local address": no reply, connection closed.
          this.reject(conn, 'ALIVE2_REQ from a non-local address');
          return;
        }
        this.register(conn, request);
        return;
      case EpmdTag.PORT_PLEASE2_REQ: {
        const reg = this.registry.get(request.name);
        if (reg === undefined) this.reply(conn, port2RespNotFound());
        else this.reply(conn, port2Resp(reg.entry));
        return;
      }
      case EpmdTag.NAMES_REQ:
        this.reply(
          conn,
          namesResp(
            this.port,
            [...this.registry.values()].map((r) => r.entry),
          ),
        );
        return;
      case EpmdTag.KILL_REQ:
        this.kill(conn);
        return;
      case EpmdTag.STOP_REQ:
      case EpmdTag.DUMP_REQ:
        this.reject(conn, `request ${request.tag} not served`);
        return;
    }
  }

  /** Sends the one reply and closes our side; the request timeout still bounds a peer that lingers. */
  private reply(conn: Conn, bytes: Buffer): void {
    conn.state = 'replied';
    conn.socket.end(bytes);
  }

  private register(conn: Conn, req: Alive2Request): void {
    const modern = req.highestVersion >= DIST_VERSION;
    const name = nodeNameFromBytes(req.name);
    if (name === undefined || req.extra.length > MAX_SYMLEN_BYTES || this.registry.has(name)) {
      const why = name === undefined ? 'invalid name' : this.registry.has(name) ? 'name taken' : 'extra too long';
      publish({ event: 'rejected', remote: conn.socket.remoteAddress, why: `ALIVE2_REQ: ${why}`, name });
      this.reply(conn, modern ? alive2XResp(1, FAILED_CREATION) : alive2Resp(1, FAILED_CREATION));
      return;
    }
    const previous = this.remembered.get(name);
    this.remembered.delete(name);
    const counter = bumpCreation(previous ?? Math.floor(Date.now() / 1000));
    const creation = modern ? counter : (counter % 3) + 1;
    const entry: EpmdEntry = {
      name,
      port: req.port,
      nodeType: req.nodeType,
      protocol: req.protocol,
      highestVersion: req.highestVersion,
      lowestVersion: req.lowestVersion,
      extra: req.extra,
      creation,
    };
    this.registry.set(name, { entry, counter, socket: conn.socket });
    conn.state = 'registered';
    conn.name = name;
    this.evictable.delete(conn);
    clearTimeout(conn.timer);
    conn.timer = undefined;
    conn.socket.setKeepAlive(true);
    conn.socket.write(modern ? alive2XResp(0, creation) : alive2Resp(0, creation));
    publish({ event: 'register', name, port: req.port, creation });
    this.emit('register', name, { ...entry, extra: Buffer.from(entry.extra) });
  }

  private kill(conn: Conn): void {
    if (!conn.local) {
      this.reject(conn, 'KILL_REQ from a non-local address');
      return;
    }
    if (this.registry.size > 0) {
      this.reply(conn, Buffer.from('NO'));
      return;
    }
    conn.state = 'replied';
    const stop = (): void => {
      void this.close();
    };
    conn.socket.once('close', stop);
    conn.socket.end(Buffer.from('OK'), stop);
  }

  private onClose(conn: Conn): void {
    clearTimeout(conn.timer);
    conn.timer = undefined;
    this.conns.delete(conn);
    this.evictable.delete(conn);
    const name = conn.name;
    if (name === undefined) return;
    const reg = this.registry.get(name);
    if (reg === undefined || reg.socket !== conn.socket) return;
    this.registry.delete(name);
    this.remembered.set(name, reg.counter);
    if (this.remembered.size > MAX_REMEMBERED_NAMES) {
      const oldest = this.remembered.keys().next().value as string;
      this.remembered.delete(oldest);
    }
    publish({ event: 'unregister', name });
    this.emit('unregister', name, reg.entry);
  }
}

/**
 * Starts an EPMD server. Rejects with INVALID_ARGUMENT for bad options, ABORTED for an aborted
 * signal and LISTEN_FAILED when the port cannot be bound (e.g. a real epmd already runs there).
 */
export async function startEpmd(opts: StartEpmdOptions = {}): Promise<EpmdServer> {
  const { port, host, requestTimeout, maxConnections } = checkOptions(opts);
  const signal = opts.signal;
  const server = createServer({ noDelay: true });
  await waitFor<void>(
    { signal },
    'EPMD server start',
    (resolve, reject) => {
      const cleanup = (): void => {
        server.off('error', onError);
        server.off('listening', onListening);
      };
      const onError = (err: Error): void => {
        cleanup();
        server.close();
        reject(
          new ErldistError('LISTEN_FAILED', `EPMD server cannot listen on ${host}:${port}: ${err.message}`, {
            step: 'listen',
            cause: err,
          }),
        );
      };
      const onListening = (): void => {
        cleanup();
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen({ port, host });
      return () => {
        cleanup();
        server.close();
      };
    },
    { step: 'listen' },
  );
  const address = server.address() as AddressInfo;
  const epmd = new EpmdServer({ server, port: address.port, host, requestTimeout, maxConnections, signal });
  if (signal?.aborted) await epmd.close();
  return epmd;
}
