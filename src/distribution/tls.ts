/**
 * Distribution over TLS, as `-proto_dist inet_tls` speaks it: TLS on the distribution port (EPMD
 * stays plain TCP), then the same handshake and frames as over TCP, except that the handshake
 * packets carry a `Len:32` prefix (inet_tls_dist sets `{packet, 4}` from the start). The client
 * checks the server's certificate against the host of the node name, as OTP's client does with
 * `server_name_indication` set to that host.
 */
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
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
  /** false accepts any certificate (verify_none). Default true. */
  rejectUnauthorized?: boolean;
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

/** An error from OpenSSL (a TLS alert from the peer, a bad record). */
export function isTlsFailure(err: unknown): err is Error & { code: string } {
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('ERR_SSL_');
}

/** A `node:tls` failure as a `TLS` error that says what it means. */
export function tlsError(err: Error & { code?: string }, node: string): ErldistError {
  const code = err.code ?? '';
  let why = err.message;
  if (/CERTIFICATE_REQUIRED/.test(code)) {
    why = `${node} requires a client certificate (fail_if_no_peer_cert): pass \`cert\` and \`key\` in the \`tls\` option`;
  } else if (/ALERT_HANDSHAKE_FAILURE/.test(code)) {
    why = `${node} refused the TLS handshake (${err.message.trim()}): it may require a client certificate (fail_if_no_peer_cert), or share no TLS version or cipher with us`;
  } else if (/ALERT_(BAD|UNKNOWN|UNSUPPORTED)_CERTIFICATE|ALERT_UNKNOWN_CA|ALERT_CERTIFICATE/.test(code)) {
    why = `${node} refused our certificate (${err.message.trim()})`;
  } else if (code === 'ECONNRESET' || /socket disconnected|before secure TLS/i.test(err.message)) {
    why = `${node} closed the connection during the TLS handshake (${err.message}): it may speak plain distribution, or it refused our certificate`;
  } else if (/WRONG_VERSION_NUMBER|wrong version number|packet length too long/i.test(`${code} ${err.message}`)) {
    why = `${node} did not answer in TLS (${err.message}): it speaks plain distribution; drop the \`tls\` option`;
  } else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    why = `the certificate of ${node} does not match its host name: ${err.message}`;
  } else if (/CERT|SELF_SIGNED|UNABLE_TO/i.test(code)) {
    why = `the certificate of ${node} is not trusted (${code}): ${err.message}`;
  } else {
    why = `TLS with ${node} failed: ${err.message}`;
  }
  return new ErldistError('TLS', why, { node, step: 'tls', cause: err });
}
