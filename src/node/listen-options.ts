/**
 * A listener's options, checked before any socket opens, and its `handshakeError` reports (a few per
 * kind of failure, so that a storm of evictions cannot flood the host). listener.ts says why the
 * bounds are what they are.
 */
import { ErldistError } from '../errors.js';

export interface ListenOptions {
  /** Distribution port; 0 (the default) lets the OS pick. Kubernetes setups pin one, e.g. 43691. */
  port?: number;
  /** Address to listen on (default all: '0.0.0.0', or '::' for a node named after an IPv6 address). */
  host?: string;
  /** Register with EPMD (default true); `false` serves a fixed port without EPMD. */
  epmd?: boolean;
  /** Ms an incoming handshake may take in all, from the accept (default 10000). */
  handshakeTimeout?: number;
  /**
   * Ms from the accept until the initiator's first packet (send_name) is complete (default 2000;
   * never more than `handshakeTimeout`). Idle and slowloris sockets are closed after it.
   */
  firstPacketTimeout?: number;
  /**
   * Incoming handshakes in progress at once (default 64). When all are taken, a new connection
   * evicts the oldest one without a send_name (or the oldest awaiting the challenge reply, when those
   * hold more than half the table); 0 refuses every connection.
   */
  maxPendingHandshakes?: number;
}

const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
const DEFAULT_FIRST_PACKET_TIMEOUT = 2000;
const DEFAULT_MAX_PENDING_HANDSHAKES = 64;
/** Further failures of a kind within this many ms after one is reported make one summary event. */
const REPORT_INTERVAL = 10_000;
/** The longest delay a Node.js timer takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The listener's bounds, checked. */
export interface Bounds {
  handshakeTimeout: number;
  firstPacketTimeout: number;
  maxPending: number;
}

export function checkBounds(options: ListenOptions): Bounds {
  const ms = (name: string, value: number | undefined, fallback: number): number => {
    const v = value ?? fallback;
    if (typeof v !== 'number' || !(v > 0) || v > MAX_TIMER_MS) {
      throw new ErldistError('INVALID_ARGUMENT', `${name} must be a positive number of ms, got ${String(v)}`);
    }
    return v;
  };
  const handshakeTimeout = ms('handshakeTimeout', options.handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT);
  const firstPacket = ms('firstPacketTimeout', options.firstPacketTimeout, DEFAULT_FIRST_PACKET_TIMEOUT);
  const maxPending = options.maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES;
  if (!Number.isInteger(maxPending) || maxPending < 0) {
    throw new ErldistError(
      'INVALID_ARGUMENT',
      `maxPendingHandshakes must be an integer of 0 or more, got ${String(maxPending)}`,
    );
  }
  return { handshakeTimeout, firstPacketTimeout: Math.min(firstPacket, handshakeTimeout), maxPending };
}

/**
 * `handshakeError` events, a few per kind of failure: the first of a kind (eviction, first-packet
 * timeout, timeout, or code and step) is emitted at once; more of that kind within REPORT_INTERVAL
 * are counted and emitted as one summary when it ends, and so on while they keep coming. The kind
 * never includes the peer's name, which the initiator chooses: the number of kinds is fixed.
 */
export class Reports {
  private readonly windows = new Map<
    string,
    { count: number; last: ErldistError | undefined; peer: string; timer: NodeJS.Timeout }
  >();

  constructor(private readonly emit: (error: ErldistError, peer: string) => void) {}

  add(kind: string, error: ErldistError, peer: string): void {
    const window = this.windows.get(kind);
    if (window) {
      window.count++;
      window.last = error;
      window.peer = peer;
      return;
    }
    this.emit(error, peer);
    this.open(kind);
  }

  close(): void {
    for (const window of this.windows.values()) clearTimeout(window.timer);
    this.windows.clear();
  }

  private open(kind: string): void {
    const timer = setTimeout(() => this.end(kind), REPORT_INTERVAL);
    timer.unref();
    this.windows.set(kind, { count: 0, last: undefined, peer: '', timer });
  }

  private end(kind: string): void {
    const window = this.windows.get(kind);
    this.windows.delete(kind);
    if (!window?.last || window.count === 0) return;
    const last = window.last;
    this.emit(
      new ErldistError(
        last.code,
        `${window.count} more incoming handshakes failed this way in the last ${REPORT_INTERVAL / 1000} s; the last: ${last.message}`,
        { step: last.step, node: last.node, cause: last },
      ),
      window.peer,
    );
    this.open(kind);
  }
}
