/**
 * One dial: EPMD's PORT_PLEASE2 (unless the name carries a port), TCP, TLS with the `tls` option,
 * then the initiator handshake (`handshakeTimeout` covers TLS and the handshake together). A lost simultaneous connect (`nok`) or a node that already has our connection
 * (`alive`) is not a failure: the caller then uses the connection that comes the other way.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { type HandshakeResult, handshakeInitiator } from '../distribution/handshake.js';
import { attachReads, reusedReads } from '../distribution/reads.js';
import { isTlsFailure, type TlsOptions, tlsError, upgradeClient } from '../distribution/tls.js';
import { portPlease2 } from '../epmd/client.js';
import { ErldistError } from '../errors.js';
import { deadline, type WaitOptions, waitFor } from '../wait.js';
import type { NodeAddress } from './names.js';

/** The local node as the handshakes see it (the node itself). */
export interface LocalIdentity {
  readonly name: string;
  readonly creation: number;
  readonly flags: bigint;
  readonly isClosed: boolean;
}

export interface DialOptions {
  signal: AbortSignal;
  /** Ms for EPMD and TCP together. */
  timeout: number;
  /** Ms for the handshake. */
  handshakeTimeout: number;
  epmdPort: number | undefined;
  local: LocalIdentity;
  cookie: string;
  /** Distribution over TLS (`-proto_dist inet_tls`); undefined for plain TCP. */
  tls: TlsOptions | undefined;
  /** The node says it still has a connection from us (`alive`): true to replace it. */
  replaceAlive(): boolean;
}

/** A connection to use, or none when the node's own connection to us is the one to wait for. */
export type DialResult = { socket: Socket; handshake: HandshakeResult } | { socket?: undefined; handshake?: undefined };

export async function dialOnce(address: NodeAddress, options: DialOptions): Promise<DialResult> {
  const { signal } = options;
  if (signal.aborted) throw abortedError(signal, address.node);
  const remaining = deadline(options.timeout);
  let port = address.port;
  if (port === undefined) {
    const info = await portPlease2(address.alive, address.host, {
      timeout: remaining(),
      signal,
      port: options.epmdPort,
    });
    if (info.highestVersion < 6) {
      const why = `${address.node} speaks distribution version ${info.highestVersion}; erldist needs 6 (OTP 23+)`;
      throw new ErldistError('NOT_ALLOWED', why, { node: address.node });
    }
    port = info.port;
  }
  let socket: Socket = await openSocket(address, port, { timeout: remaining(), signal }, options.tls === undefined);
  const handshakeLeft = deadline(options.handshakeTimeout);
  try {
    if (options.tls) {
      socket = await upgradeClient(socket, options.tls, {
        host: address.host,
        node: address.node,
        timeout: handshakeLeft(),
        signal,
      });
    }
    const handshake = await waitFor<HandshakeResult>(
      { timeout: handshakeLeft(), signal },
      `handshake with ${address.node}`,
      (resolve, reject) => {
        handshakeInitiator(socket, {
          localName: options.local.name,
          creation: options.local.creation,
          flags: options.local.flags,
          cookie: options.cookie,
          peerName: address.node,
          replaceAlive: options.replaceAlive,
          packetHeader: options.tls ? 4 : 2,
        }).then(resolve, reject);
        return () => socket.destroy();
      },
    );
    if (options.local.isClosed) throw new ErldistError('NODE_DOWN', `node ${options.local.name} is closed`);
    return { socket, handshake };
  } catch (err) {
    socket.destroy();
    // TLS 1.3: the server checks our certificate after our side of TLS is done, and its alert
    // ends the distribution handshake.
    if (options.tls && err instanceof ErldistError && isTlsFailure(err.cause)) throw tlsError(err.cause, address.node);
    if (err instanceof ErldistError && (err.status === 'nok' || err.status === 'alive')) return {};
    throw err;
  }
}

function abortedError(signal: AbortSignal, node: string): ErldistError {
  return new ErldistError('ABORTED', `connect to ${node} was aborted`, { cause: signal.reason, node });
}

function openSocket(address: NodeAddress, port: number, options: WaitOptions, reuse: boolean): Promise<Socket> {
  return waitFor<Socket>(options, `TCP connect to ${address.host}:${port}`, (resolve, reject) => {
    // Plain TCP reads into one reused buffer; TLS wraps the socket and reads it itself.
    const reads = reuse ? reusedReads() : undefined;
    const socket = netConnect({ host: address.host, port, ...(reads && { onread: reads.onread }) });
    if (reads) attachReads(socket, reads.sink);
    const onError = (err: Error) => {
      socket.destroy();
      const why = `cannot reach ${address.node} at ${address.host}:${port}: ${err.message}`;
      reject(new ErldistError('CONNECT_FAILED', why, { node: address.node, cause: err }));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      // From here the handshake, then the connection, report errors through 'close'; this keeps an
      // error that lands between the two from being an unhandled 'error' event.
      socket.on('error', () => {});
      resolve(socket);
    });
    return () => socket.destroy();
  });
}
