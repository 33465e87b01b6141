/**
 * Distribution over TLS, as `-proto_dist inet_tls` speaks it: TLS on the distribution port (EPMD
 * stays plain TCP), then the same handshake and frames as over TCP, except that the handshake
 * packets carry a `Len:32` prefix (inet_tls_dist sets `{packet, 4}` from the start). The client
 * checks the server's certificate against the host of the node name, as OTP's client does with
 * `server_name_indication` set to that host.
 */
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import {
  type ConnectionOptions,
  createSecureContext,
  type SecureContext,
  TLSSocket,
  connect as tlsConnect,
} from 'node:tls';
import { ErldistError } from '../errors.js';
import { type WaitOptions, waitFor } from '../wait.js';

/** The `node:tls` material of the `tls` option. */
export interface TlsOptions {
  /** CA certificates (PEM) the peer's certificate must chain to. Default: Node's root store. */
  ca?: ConnectionOptions['ca'];
  /** Our certificate chain (PEM): the server's, and the client's for mutual TLS. */
  cert?: ConnectionOptions['cert'];
  /** Our private key (PEM). */
  key?: ConnectionOptions['key'];
  /** The key's passphrase. */
  passphrase?: string;
  /** The name the server's certificate must carry. Default: the host of the node name. */
  servername?: string;
  /**
   * Client: false accepts any server certificate (verify_none); default true. Listener: with
   * `requestCert`, false lets a client without a trusted certificate in; default true.
   */
  rejectUnauthorized?: boolean;
  /**
   * Listener: ask clients for a certificate (verify_peer); with `rejectUnauthorized` (the default)
   * a client without a trusted one is refused (fail_if_no_peer_cert). Default false.
   */
  requestCert?: boolean;
  /** Lowest and highest TLS versions to speak (default: Node's, TLS 1.2 to 1.3). */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /**
   * OTP's `-ssl_dist_optfile`: its `client` section for dialling, its `server` section for
   * listening; the fields above override it. Read when the node is created.
   */
  sslDistOptfile?: string;
}

export interface TlsClientOptions extends WaitOptions {
  /** The host as dialled (from the node name): SNI and the certificate check use it. */
  host: string;
  /** The node, for messages. */
  node: string;
}

/** Runs the TLS handshake over a connected TCP socket; TLS errors are `TLS`, a timeout too. */
export function upgradeClient(socket: Socket, tls: TlsOptions, options: TlsClientOptions): Promise<TLSSocket> {
  const { host, node } = options;
  const timeout = options.timeout ?? Number.POSITIVE_INFINITY;
  const silent = () =>
    new ErldistError(
      'TLS',
      `no TLS handshake from ${node} within ${timeout} ms: it probably speaks plain distribution (no -proto_dist inet_tls)`,
      { node, step: 'tls' },
    );
  return waitFor<TLSSocket>(
    options,
    `TLS handshake with ${node}`,
    (resolve, reject) => {
      const secure = tlsConnect({
        socket,
        host,
        servername: tls.servername ?? (isIP(host) === 0 ? host : undefined),
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        passphrase: tls.passphrase,
        rejectUnauthorized: tls.rejectUnauthorized ?? true,
        minVersion: tls.minVersion,
        maxVersion: tls.maxVersion,
      });
      const onError = (err: Error) => {
        secure.destroy();
        reject(tlsError(err, node));
      };
      secure.once('error', onError);
      secure.once('secureConnect', () => {
        secure.off('error', onError);
        // As for the TCP socket: later errors are reported through 'close'.
        secure.on('error', () => {});
        resolve(secure);
      });
      return () => secure.destroy();
    },
    { timeout: silent, step: 'tls' },
  );
}

/** The listener's TLS: made once, when the listener starts (a bad certificate or key fails there). */
export function serverContext(tls: TlsOptions): SecureContext {
  if (tls.cert === undefined || tls.key === undefined) {
    throw new ErldistError('INVALID_ARGUMENT', 'a TLS listener needs `cert` and `key` in the `tls` option');
  }
  try {
    return createSecureContext({
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      passphrase: tls.passphrase,
      minVersion: tls.minVersion,
      maxVersion: tls.maxVersion,
    });
  } catch (err) {
    throw new ErldistError('TLS', `cannot use the listener's certificate and key: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * The server side of TLS over an accepted socket, at once: distribution data arrives on the returned
 * socket once TLS is up, and a TLS failure is an 'error' there (see `tlsError`).
 */
export function serverSocket(socket: Socket, context: SecureContext, tls: TlsOptions): TLSSocket {
  const requestCert = tls.requestCert === true;
  const secure = new TLSSocket(socket, {
    isServer: true,
    secureContext: context,
    requestCert,
    rejectUnauthorized: requestCert && tls.rejectUnauthorized !== false,
  });
  secure.on('error', () => {});
  return secure;
}

/** An error from OpenSSL or from checking a certificate (a TLS alert from the peer, a bad record). */
export function isTlsFailure(err: unknown): err is Error & { code: string } {
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED)/.test(code);
}

const PLAIN_RECORD =
  /HTTP_REQUEST|WRONG_VERSION_NUMBER|packet length too long|UNKNOWN_PROTOCOL|RECORD_LAYER_FAILURE|unexpected record/i;

/** A `node:tls` failure as a `TLS` error that says what it means; `listener` for our TLS listener's side. */
export function tlsError(
  err: Error & { code?: string },
  node: string,
  side: 'client' | 'listener' = 'client',
): ErldistError {
  const why = side === 'client' ? clientReason(err, node) : listenerReason(err, node);
  return new ErldistError('TLS', why, { node, step: 'tls', cause: err });
}

function clientReason(err: Error & { code?: string }, node: string): string {
  const code = err.code ?? '';
  const text = err.message.trim();
  if (/CERTIFICATE_REQUIRED/.test(code))
    return `${node} requires a client certificate (fail_if_no_peer_cert): pass \`cert\` and \`key\` in the \`tls\` option`;
  if (/ALERT_HANDSHAKE_FAILURE/.test(code))
    return `${node} refused the TLS handshake (${text}): it may require a client certificate (fail_if_no_peer_cert), or share no TLS version or cipher with us`;
  if (/ALERT_(BAD|UNKNOWN|UNSUPPORTED)_CERTIFICATE|ALERT_UNKNOWN_CA|ALERT_CERTIFICATE/.test(code))
    return `${node} refused our certificate (${text})`;
  if (code === 'ECONNRESET' || /socket disconnected|before secure TLS/i.test(text))
    return `${node} closed the connection during the TLS handshake (${text}): it may speak plain distribution, or it refused our certificate`;
  if (PLAIN_RECORD.test(`${code} ${text}`))
    return `${node} did not answer in TLS (${text}): it speaks plain distribution; drop the \`tls\` option`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `the certificate of ${node} does not match its host name: ${text}`;
  if (/CERT|SELF_SIGNED|UNABLE_TO/i.test(code)) return `the certificate of ${node} is not trusted (${code}): ${text}`;
  return `TLS with ${node} failed: ${text}`;
}

function listenerReason(err: Error & { code?: string }, node: string): string {
  const code = err.code ?? '';
  const text = err.message.trim();
  if (PLAIN_RECORD.test(`${code} ${text}`))
    return `the peer sent plain distribution to a TLS listener (${text}): it runs without -proto_dist inet_tls`;
  if (/PEER_DID_NOT_RETURN_A_CERTIFICATE|NO_CERTIFICATE/.test(code))
    return `${node} sent no client certificate, and this listener requires one (requestCert)`;
  if (/CERT|SELF_SIGNED|UNABLE_TO/i.test(code))
    return `the client certificate of ${node} is not trusted (${code}): ${text}`;
  return `TLS with ${node} failed: ${text}`;
}
