/** A local node's options and events, and the connection settings they give. */
import type { ConnectionOptions, ConnectionStats } from '../distribution/connection.js';
import type { TlsOptions } from '../distribution/tls.js';
import type { ErldistError } from '../errors.js';
import type { DecodeOptions } from '../term/index.js';
import type { ReconnectOptions } from './dialer.js';
import { type TlsSide, tlsFor } from './tls-options.js';

export interface NodeOptions {
  /** `name@host`. Default: a name unique to this process, long (`@` an FQDN or IP). */
  name?: string;
  /** Default: ERLANG_COOKIE, then RELEASE_COOKIE, then ~/.erlang.cookie. */
  cookie?: string;
  /** Decode messages so that every term re-encodes `=:=` (see the README's term mapping). */
  exact?: boolean;
  /** Further options for decoding message payloads. */
  decode?: Omit<DecodeOptions, 'exact' | 'atomCache'>;
  /** Ms without data after which a peer is down; we tick after a quarter of it. Default 60000. */
  tickTime?: number;
  /** Largest frame accepted from a peer, bytes. Default 128 MiB. */
  maxFrameSize?: number;
  /** With FRAGMENTS: messages larger than this go out in fragments of this size, bytes. Default 256 KiB. */
  fragmentSize?: number;
  /** With FRAGMENTS: largest message reassembled from a peer's fragments, bytes. Default 256 MiB. */
  maxMessageSize?: number;
  /** With FRAGMENTS: most bytes a connection's partial messages may hold. Default 512 MiB. */
  maxReassemblyBytes?: number;
  /** With FRAGMENTS: a partial message that receives no fragment for this long is freed, ms. Default 30000. */
  fragmentTimeout?: number;
  /** `send` returns false once this many bytes wait in a connection. Default 1 MiB. */
  highWaterMark?: number;
  /** `send` throws BUFFER_FULL past this many waiting bytes. Default 64 MiB. */
  maxBuffered?: number;
  /** EPMD port for lookups and registration (default: ERL_EPMD_PORT, else 4369). */
  epmdPort?: number;
  /** A hidden node (the default) is not in `nodes()` on the other side; `false` publishes it. */
  hidden?: boolean;
  /** How dialled peers reconnect when their connection drops (default on); `connect` may override. */
  reconnect?: false | ReconnectOptions;
  /** Distribution over TLS (`-proto_dist inet_tls`): the default for `connect`. */
  tls?: TlsOptions;
}

/** How the node reaches its peers (`client`) or is reached (`server`): the EPMD port and TLS. */
export function transport(
  options: NodeOptions,
  side: TlsSide = 'client',
): { epmdPort: number | undefined; tls: TlsOptions | undefined } {
  return { epmdPort: options.epmdPort, tls: tlsFor(options.tls, side) };
}

/** The events of a LocalNode and their listeners' arguments. */
export interface NodeEvents {
  /** A connection to `node` is up (either direction). */
  nodeup: [node: string];
  /** The connection to `node` ended; `error` says why (NODE_DOWN). */
  nodedown: [node: string, error: ErldistError];
  /** A failure in background work (a server loop, a spawned call): never thrown at the host. */
  warning: [error: unknown];
  /** An incoming handshake failed (wrong cookie, refused name, timeout); `peer` as it named itself. */
  handshakeError: [error: ErldistError, peer: string];
  /** The EPMD registration was lost (EPMD stopped); it is retried every second. */
  epmdlost: [];
  /** The EPMD registration is back after `epmdlost`. */
  epmdregistered: [];
}

/** What every connection of a node with these options uses. */
export function connectionOptions(options: Omit<NodeOptions, 'cookie'>, stats: ConnectionStats): ConnectionOptions {
  return {
    stats,
    tickTime: options.tickTime ?? 60_000,
    maxFrameSize: options.maxFrameSize ?? 128 * 1024 * 1024,
    fragments: {
      size: options.fragmentSize ?? 256 * 1024,
      maxMessageSize: options.maxMessageSize ?? 256 * 1024 * 1024,
      maxBytes: options.maxReassemblyBytes ?? 512 * 1024 * 1024,
      timeout: options.fragmentTimeout ?? 30_000,
    },
    highWaterMark: options.highWaterMark ?? 1024 * 1024,
    maxBuffered: options.maxBuffered ?? 64 * 1024 * 1024,
    decode: { ...options.decode, exact: options.exact === true },
  };
}
