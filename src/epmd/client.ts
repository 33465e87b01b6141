/**
 * EPMD client over `node:net` (protocol-notes §1): one request per TCP connection.
 *
 * - `portPlease2` asks where a node listens; `names` lists the registered nodes.
 * - `register` announces a local node. The registration lives exactly as long as its socket: EPMD
 *   unregisters the name when the connection closes, so `EpmdRegistration.close()` unregisters,
 *   and a registration whose socket EPMD drops emits `close` (the node may register again).
 *
 * Every call takes `{ timeout, signal }`: the timeout (default 5 s) covers connecting and the whole
 * reply; a signal that is already aborted rejects before any I/O. Failures are ErldistErrors:
 * `EPMD_UNREACHABLE` (no TCP connection: refused, unreachable, DNS, reset), `TIMEOUT`, `ABORTED`,
 * `PROTOCOL` (a reply that is not EPMD's), `NODE_NOT_FOUND`, `NOT_ALLOWED` (name taken) and
 * `INVALID_ARGUMENT`. The socket of a finished request is always destroyed.
 */
import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { ErldistError } from '../errors.js';
import { waitFor } from '../wait.js';
import {
  alive2Req,
  DIST_VERSION,
  EPMD_DEFAULT_PORT,
  type NamesResp,
  type NodeInfo,
  NodeType,
  namesReq,
  type Parsed,
  PROTOCOL_TCP,
  parseNamesResp,
  portPlease2Req,
  tryParseAlive2Resp,
  tryParsePort2Resp,
} from './protocol.js';

export const DEFAULT_EPMD_TIMEOUT = 5000;
/** The most bytes `names` accepts before it gives up with PROTOCOL. */
export const MAX_NAMES_REPLY_BYTES = 1024 * 1024;
export const DEFAULT_REGISTER_HOST = '127.0.0.1';

export interface EpmdRequestOptions {
  /** EPMD's port; default: `ERL_EPMD_PORT`, else 4369. */
  port?: number;
  /** Milliseconds for connecting and the whole reply; default 5000. */
  timeout?: number;
  signal?: AbortSignal;
}

export type PortPlease2Result = NodeInfo;

/**
 * EPMD's port: the explicit one, else `ERL_EPMD_PORT`, else 4369. A malformed value is an
 * INVALID_ARGUMENT error rather than a silent fallback.
 */
export function epmdPort(explicit?: number): number {
  if (explicit !== undefined) return checkPort('EPMD port', explicit);
  const env = process.env.ERL_EPMD_PORT;
  if (env === undefined || env.trim() === '') return EPMD_DEFAULT_PORT;
  if (!/^\d+$/.test(env.trim())) {
    throw new ErldistError('INVALID_ARGUMENT', `ERL_EPMD_PORT=${JSON.stringify(env)} is not a port number`);
  }
  return checkPort('ERL_EPMD_PORT', Number(env.trim()));
}

function checkPort(what: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) {
    throw new ErldistError('INVALID_ARGUMENT', `${what} must be an integer in 1..65535, got ${String(port)}`);
  }
  return port;
}

function checkTimeout(timeout: number | undefined): number {
  if (timeout === undefined) return DEFAULT_EPMD_TIMEOUT;
  if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout <= 0) {
    throw new ErldistError('INVALID_ARGUMENT', `timeout must be a positive number of ms, got ${String(timeout)}`);
  }
  return timeout;
}

function checkHost(host: string): string {
  if (typeof host !== 'string' || host === '') {
    throw new ErldistError('INVALID_ARGUMENT', 'EPMD host must be a non-empty string');
  }
  return host;
}

interface Exchange<T> {
  step: string;
  host: string;
  port: number;
  timeout: number;
  signal: AbortSignal | undefined;
  request: Buffer;
  /**
   * Called with all bytes received so far; `ended` once EPMD closed its side. Returns the reply
   * when complete, `undefined` to wait for more; throws to fail.
   */
  parse(bytes: Buffer, ended: boolean): T | undefined;
  /** Keep the socket open after the reply (register). */
  keepOpen: boolean;
}

/**
 * Connects, sends one request and waits for its reply. Resolves with the reply and, when
 * `keepOpen`, the still-open socket (no listeners of ours left on it). Otherwise the socket is
 * destroyed before the promise settles, whatever the outcome.
 */
function exchange<T>(ex: Exchange<T>): Promise<{ reply: T; socket: Socket }> {
  const { step, host, port } = ex;
  const where = `${host}:${port}`;
  let connected = false;
  const timeoutError = () => {
    const what = connected ? 'no reply' : 'no connection';
    return new ErldistError('TIMEOUT', `EPMD ${step}: ${what} from ${where} within ${ex.timeout} ms`, { step });
  };
  return waitFor<{ reply: T; socket: Socket }>(
    ex,
    `EPMD ${step}`,
    (resolve, reject) => {
      let settled = false;
      const chunks: Buffer[] = [];
      let received = 0;
      const socket = netConnect({ host, port });

      const cleanup = (): void => {
        socket.off('connect', onConnect);
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('error', onError);
        socket.off('close', onClose);
      };
      const fail = (err: ErldistError): void => {
        if (settled) return;
        settled = true;
        cleanup();
        socket.destroy();
        // A late 'error' after destroy must not become an uncaught exception.
        socket.on('error', () => {});
        reject(err);
      };
      const succeed = (reply: T): void => {
        if (settled) return;
        settled = true;
        cleanup();
        if (!ex.keepOpen) socket.destroy();
        resolve({ reply, socket });
      };
      const tryParse = (ended: boolean): void => {
        let reply: T | undefined;
        try {
          const all = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received);
          chunks.length = 0;
          chunks.push(all);
          reply = ex.parse(all, ended);
        } catch (err) {
          fail(asErldistError(err, step));
          return;
        }
        if (reply !== undefined) succeed(reply);
        else if (ended)
          fail(
            new ErldistError('PROTOCOL', `EPMD ${step}: ${where} closed the connection before a complete reply`, {
              step,
            }),
          );
      };

      function onConnect(): void {
        connected = true;
        socket.write(ex.request);
      }
      function onData(chunk: Buffer): void {
        chunks.push(chunk);
        received += chunk.length;
        tryParse(false);
      }
      function onEnd(): void {
        tryParse(true);
      }
      function onError(err: Error): void {
        const what = connected ? 'connection to EPMD lost' : 'cannot reach EPMD';
        fail(
          new ErldistError('EPMD_UNREACHABLE', `EPMD ${step}: ${what} at ${where}: ${err.message}`, {
            step,
            cause: err,
          }),
        );
      }
      function onClose(): void {
        // 'close' without 'end' or 'error' (e.g. destroyed elsewhere): treat as a lost connection.
        fail(new ErldistError('EPMD_UNREACHABLE', `EPMD ${step}: connection to ${where} closed`, { step }));
      }

      socket.on('connect', onConnect);
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('error', onError);
      socket.on('close', onClose);
      // Timeout or abort: forget the socket.
      return () => {
        settled = true;
        cleanup();
        socket.destroy();
        socket.on('error', () => {});
      };
    },
    { step, timeout: timeoutError },
  );
}

function asErldistError(err: unknown, step: string): ErldistError {
  if (err instanceof ErldistError) return err;
  return new ErldistError('PROTOCOL', `EPMD ${step}: ${(err as Error)?.message ?? String(err)}`, { step, cause: err });
}

/** Accepts exactly one reply and nothing after it before EPMD closes. */
function single<T>(step: string, tryParse: (b: Buffer) => Parsed<T> | undefined) {
  return (bytes: Buffer): T | undefined => {
    const parsed = tryParse(bytes);
    if (parsed === undefined) return undefined;
    if (parsed.length !== bytes.length) {
      throw new ErldistError(
        'PROTOCOL',
        `EPMD ${step}: ${bytes.length - parsed.length} unexpected bytes after the reply`,
        { step },
      );
    }
    return parsed.reply;
  };
}

/**
 * Asks the EPMD on `host` where node `name` (the part before `@`) listens.
 * Not registered: NODE_NOT_FOUND.
 */
export async function portPlease2(
  name: string,
  host: string,
  opts: EpmdRequestOptions = {},
): Promise<PortPlease2Result> {
  const step = 'PORT_PLEASE2_REQ';
  const request = portPlease2Req(name);
  const port = epmdPort(opts.port);
  const { reply } = await exchange({
    step,
    host: checkHost(host),
    port,
    timeout: checkTimeout(opts.timeout),
    signal: opts.signal,
    request,
    parse: single(step, tryParsePort2Resp),
    keepOpen: false,
  });
  if (!reply.found) {
    throw new ErldistError(
      'NODE_NOT_FOUND',
      `EPMD at ${host}:${port} does not know node ${JSON.stringify(name)} (host ${host}, result ${reply.result})`,
      {
        node: `${name}@${host}`,
        step,
      },
    );
  }
  const { found: _found, result: _result, ...info } = reply;
  return info;
}

/** Lists the nodes registered at the EPMD on `host`. */
export async function names(host: string, opts: EpmdRequestOptions = {}): Promise<NamesResp> {
  const step = 'NAMES_REQ';
  const { reply } = await exchange({
    step,
    host: checkHost(host),
    port: epmdPort(opts.port),
    timeout: checkTimeout(opts.timeout),
    signal: opts.signal,
    request: namesReq(),
    parse: (bytes, ended) => {
      if (bytes.length > MAX_NAMES_REPLY_BYTES) {
        throw new ErldistError('PROTOCOL', `EPMD ${step}: reply longer than ${MAX_NAMES_REPLY_BYTES} bytes`, { step });
      }
      return ended ? parseNamesResp(bytes) : undefined;
    },
    keepOpen: false,
  });
  return reply;
}

export interface RegisterOptions {
  /** The node name without `@host`. */
  name: string;
  /** The port the node accepts distribution connections on. */
  port: number;
  /** Register as a hidden node (node type 72) instead of a normal one (77). */
  hidden?: boolean;
  /** Where EPMD runs; default 127.0.0.1 (EPMD accepts registrations only from local addresses). */
  host?: string;
  /** EPMD's port; default: `ERL_EPMD_PORT`, else 4369. */
  epmdPort?: number;
  /** Milliseconds until EPMD answers the registration; default 5000. */
  timeout?: number;
  signal?: AbortSignal;
  /** The Extra field of ALIVE2_REQ; default empty. */
  extra?: Buffer;
}

/** How a registration ended: `close()` was called, or EPMD (or the network) dropped it. */
export type EpmdRegistrationEnd = { reason: 'closed' } | { reason: 'lost'; error?: Error };

/**
 * A live EPMD registration. It lasts as long as its TCP connection; EPMD unregisters the name when
 * the connection closes, for any reason.
 *
 * The socket is ref'ed: a registration keeps the Node.js process alive, as the node it announces
 * should. The node that owns it calls `close()` when it stops (or `unref()` to let the process exit
 * while still registered).
 */
/** The events of an EpmdRegistration. */
export interface EpmdRegistrationEvents {
  close: [end: EpmdRegistrationEnd];
}

export class EpmdRegistration extends EventEmitter<EpmdRegistrationEvents> {
  readonly name: string;
  readonly port: number;
  readonly nodeType: number;
  /** The creation EPMD assigned (32-bit from ALIVE2_X_RESP, 16-bit from the old ALIVE2_RESP). */
  readonly creation: number;
  readonly host: string;
  readonly epmdPort: number;
  /** Resolves (never rejects) when the registration ended. */
  readonly closed: Promise<EpmdRegistrationEnd>;
  private readonly socket: Socket;
  private end: EpmdRegistrationEnd | null = null;
  private closing = false;

  /** @internal use `register()`. */
  constructor(init: {
    name: string;
    port: number;
    nodeType: number;
    creation: number;
    host: string;
    epmdPort: number;
    socket: Socket;
  }) {
    super();
    this.name = init.name;
    this.port = init.port;
    this.nodeType = init.nodeType;
    this.creation = init.creation;
    this.host = init.host;
    this.epmdPort = init.epmdPort;
    this.socket = init.socket;
    let markClosed!: (end: EpmdRegistrationEnd) => void;
    this.closed = new Promise((resolve) => (markClosed = resolve));

    let error: Error | undefined;
    this.socket.on('data', (chunk: Buffer) => {
      // EPMD sends nothing after the reply; anything else means this is not a sane EPMD.
      error = new ErldistError(
        'PROTOCOL',
        `EPMD sent ${chunk.length} unexpected bytes on the registration of ${this.name}`,
        { step: 'ALIVE2_REQ' },
      );
      this.socket.destroy();
    });
    this.socket.on('end', () => this.socket.destroy());
    this.socket.on('error', (err) => {
      error ??= err;
    });
    this.socket.on('close', () => {
      let end: EpmdRegistrationEnd;
      if (this.closing) end = { reason: 'closed' };
      else if (error === undefined) end = { reason: 'lost' };
      else end = { reason: 'lost', error };
      this.end = end;
      markClosed(end);
      this.emit('close', end);
    });
  }

  /** True until the registration's connection closed. */
  get active(): boolean {
    return this.end === null;
  }

  /** Unregisters (closes the connection); resolves once it is closed. Idempotent. */
  async close(): Promise<void> {
    if (this.end === null) {
      this.closing = true;
      this.socket.destroy();
    }
    await this.closed;
  }

  /** Let the process exit while registered. */
  unref(): this {
    this.socket.unref();
    return this;
  }

  /** Keep the process alive while registered (the default). */
  ref(): this {
    this.socket.ref();
    return this;
  }
}

/**
 * Registers a node with EPMD: ALIVE2_REQ with versions 6/6 and protocol 0 (TCP). A name that is
 * already registered rejects with NOT_ALLOWED.
 */
export async function register(opts: RegisterOptions): Promise<EpmdRegistration> {
  const step = 'ALIVE2_REQ';
  const host = checkHost(opts.host ?? DEFAULT_REGISTER_HOST);
  const port = epmdPort(opts.epmdPort);
  const nodeType = opts.hidden === true ? NodeType.HIDDEN : NodeType.NORMAL;
  checkPort('node port', opts.port);
  const request = alive2Req({
    port: opts.port,
    nodeType,
    protocol: PROTOCOL_TCP,
    highestVersion: DIST_VERSION,
    lowestVersion: DIST_VERSION,
    name: opts.name,
    extra: opts.extra ?? Buffer.alloc(0),
  });
  const { reply, socket } = await exchange({
    step,
    host,
    port,
    timeout: checkTimeout(opts.timeout),
    signal: opts.signal,
    request,
    parse: single(step, tryParseAlive2Resp),
    keepOpen: true,
  });
  if (reply.result !== 0) {
    socket.destroy();
    throw new ErldistError(
      'NOT_ALLOWED',
      `EPMD at ${host}:${port} refused to register ${JSON.stringify(opts.name)} (result ${reply.result}; the name is probably taken)`,
      {
        node: opts.name,
        step,
      },
    );
  }
  return new EpmdRegistration({
    name: opts.name,
    port: opts.port,
    nodeType,
    creation: reply.creation,
    host,
    epmdPort: port,
    socket,
  });
}
