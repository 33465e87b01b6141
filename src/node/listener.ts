/**
 * A listening node's server side: the distribution port, the acceptor handshakes (bounded in number
 * and time), and the EPMD registration, registered again when EPMD comes back after a restart.
 *
 * Incoming handshakes cannot be starved by sockets that need no cookie to open (idle sockets,
 * slowloris, send_name then silence), even from the legitimate peer's own address:
 * - Two deadlines. The first packet (send_name) must be complete within `firstPacketTimeout`
 *   (default 2 s; a BEAM sends it as soon as TCP is up), the whole handshake within
 *   `handshakeTimeout` (default 10 s) from the accept.
 * - A bounded table, with eviction. At most `maxPendingHandshakes` (default 64) handshakes are
 *   pending. When the table is full, a new connection still gets in (only `maxPendingHandshakes: 0`
 *   refuses it): it evicts the handshake without a complete send_name (idle, slowloris) that was
 *   accepted first; or, when more than half the table has sent its send_name and awaits the reply to
 *   our challenge (a send_name needs no cookie either), or when none lacks a send_name, the one that
 *   named itself first. A real initiator sends its send_name as soon as TCP is up (we read it within
 *   a millisecond or two on loopback) and answers the challenge within a round trip: idle and
 *   slowloris sockets, however fast they reconnect, only ever evict each other once it has named
 *   itself, and sockets that send a send_name and go silent push it out only by naming half the table
 *   within its round trip. Evicting by age alone would not do: sockets reconnecting as fast as they
 *   are evicted push a named peer out within a few milliseconds (about 60 accepts), less than a busy
 *   BEAM may take to answer the challenge. Each entry is a socket and at most one handshake packet
 *   (2 KiB), so memory stays bounded whatever arrives.
 * - Few events. A storm of evictions or timeouts must not flood the host with `handshakeError`: the
 *   first failure of a kind is reported at once, further ones of that kind within 10 s are counted and
 *   reported as one event when the 10 s end (see `Reports`). Every failure is published on the
 *   `erldist:handshake:error` diagnostics channel, for subscribers that want each one.
 */
import { type AddressInfo, createServer, isIP, type Server, type Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { type AcceptStatus, type HandshakeResult, handshakeAcceptor } from '../distribution/handshake.js';
import { isTlsFailure, serverContext, serverSocket, type TlsOptions, tlsError } from '../distribution/tls.js';
import { type EpmdRegistration, register as epmdRegister } from '../epmd/client.js';
import { ErldistError } from '../errors.js';
import { channels, type HandshakeErrorMessage } from './diagnostics.js';
import type { LocalIdentity } from './dial.js';
import { type Bounds, checkBounds, type ListenOptions, Reports } from './listen-options.js';

export type { ListenOptions };

/** An incoming handshake in progress. */
interface Pending {
  readonly socket: Socket;
  /** Date.now() at the accept. */
  readonly started: number;
  /** The initiator's name, once its send_name is in. */
  peer: string | undefined;
  /** The deadline of the current stage (first packet, then the whole handshake). */
  timer: NodeJS.Timeout | undefined;
  /** Why the listener ended it (a deadline, an eviction), if it did: `kind` groups reports. */
  ended: { kind: string; error: ErldistError } | undefined;
}

export interface Listening {
  port: number;
  /** The EPMD registration's creation, when registered. */
  epmdCreation?: number;
}

/** What the listener needs from its node. */
export interface ListenerHost {
  readonly local: LocalIdentity;
  readonly hidden: boolean;
  readonly epmdPort: number | undefined;
  /** Distribution over TLS (`inet_tls`): every incoming connection must speak it. */
  readonly tls: TlsOptions | undefined;
  cookieFor(node: string): string;
  acceptStatus(node: string): AcceptStatus;
  addPeer(name: string, socket: Socket, handshake: HandshakeResult): void;
  emit(event: string, ...args: unknown[]): boolean;
  background(work: Promise<unknown>): void;
}

export class Listener {
  private registration: EpmdRegistration | undefined;
  /** Pending handshakes without a complete send_name, in the order they were accepted. */
  private readonly unnamed = new Set<Pending>();
  /** Pending handshakes awaiting the reply to our challenge, in the order they named themselves. */
  private readonly named = new Set<Pending>();
  private readonly reports: Reports;
  private closed = false;

  private constructor(
    private readonly host: ListenerHost,
    private readonly server: Server,
    private readonly bounds: Bounds,
    readonly port: number,
    private readonly tls: { options: TlsOptions; context: SecureContext } | undefined,
  ) {
    this.reports = new Reports((error, peer) => host.emit('handshakeError', error, peer));
  }

  static async start(host: ListenerHost, options: ListenOptions): Promise<Listener> {
    const bounds = checkBounds(options);
    const tls = host.tls && { options: host.tls, context: serverContext(host.tls) };
    let listener: Listener | undefined;
    const server = createServer((socket) => {
      if (listener) listener.accept(socket);
      else socket.destroy();
    });
    server.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          new ErldistError('LISTEN_FAILED', `cannot listen on port ${options.port ?? 0}: ${err.message}`, {
            cause: err,
          }),
        ),
      );
      // A node named after an IPv6 address listens on IPv6 (and, where the OS allows, IPv4 too).
      const all = isIP(host.local.name.slice(host.local.name.indexOf('@') + 1)) === 6 ? '::' : '0.0.0.0';
      server.listen(options.port ?? 0, options.host ?? all, () => resolve());
    });
    listener = new Listener(host, server, bounds, (server.address() as AddressInfo).port, tls);
    if (options.epmd !== false) {
      try {
        await listener.register();
      } catch (err) {
        await listener.close();
        throw err;
      }
    }
    return listener;
  }

  get epmdCreation(): number | undefined {
    return this.registration?.creation;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.server.close();
    this.reports.close();
    // Each handshake then fails and forgets itself, unreported (the listener is closed).
    for (const pending of [...this.unnamed, ...this.named]) pending.socket.destroy();
    const registration = this.registration;
    this.registration = undefined;
    await registration?.close().catch(() => {});
  }

  private async register(): Promise<void> {
    const alive = this.host.local.name.slice(0, this.host.local.name.indexOf('@'));
    const registration = await epmdRegister({
      name: alive,
      port: this.port,
      hidden: this.host.hidden,
      epmdPort: this.host.epmdPort,
    });
    if (this.closed) {
      await registration.close();
      return;
    }
    this.registration = registration;
    registration.on('close', (end: { reason: string }) => {
      if (this.closed || this.registration !== registration || end.reason !== 'lost') return;
      this.registration = undefined;
      this.host.emit('epmdlost');
      this.host.background(this.reregister());
    });
  }

  /** EPMD went away: try again every second until it is back (or the node closes). */
  private async reregister(): Promise<void> {
    while (!this.closed) {
      await new Promise((r) => setTimeout(r, 1000).unref());
      if (this.closed) return;
      try {
        await this.register();
        this.host.emit('epmdregistered');
        return;
      } catch {
        // still down; keep trying
      }
    }
  }

  /** Starts an incoming handshake, making room first when the table is full (see the module comment). */
  private accept(tcp: Socket): void {
    tcp.on('error', () => {});
    // Over TLS the handshake reads the TLS socket: its data starts once TLS is up.
    const socket = this.tls ? serverSocket(tcp, this.tls.context, this.tls.options) : tcp;
    if (this.closed || this.host.local.isClosed) {
      socket.destroy();
      return;
    }
    if (this.unnamed.size + this.named.size >= this.bounds.maxPending) {
      const victim = this.victim();
      if (victim === undefined) {
        socket.destroy();
        return;
      }
      this.evict(victim);
    }
    const pending: Pending = { socket, started: Date.now(), peer: undefined, timer: undefined, ended: undefined };
    this.unnamed.add(pending);
    const { firstPacketTimeout } = this.bounds;
    pending.timer = setTimeout(() => {
      const error = new ErldistError(
        'TIMEOUT',
        `incoming connection sent no complete send_name within ${firstPacketTimeout} ms`,
        { step: 'recvName' },
      );
      this.end(pending, 'firstPacketTimeout', error);
    }, firstPacketTimeout);
    const host = this.host;
    handshakeAcceptor(socket, {
      localName: host.local.name,
      creation: host.local.creation,
      flags: host.local.flags,
      cookieFor: (node) => host.cookieFor(node),
      status: (node) => {
        this.nameIn(pending, node);
        return host.acceptStatus(node);
      },
      packetHeader: this.tls ? 4 : 2,
    }).then(
      (handshake) => {
        this.forget(pending);
        if (pending.ended || host.local.isClosed) socket.destroy();
        else host.addPeer(handshake.peerName, socket, handshake);
      },
      (err: unknown) => {
        this.forget(pending);
        socket.destroy();
        if (this.closed) return;
        if (pending.ended) {
          this.failed(pending.ended.kind, pending.ended.error, pending.peer ?? '');
          return;
        }
        let error = err instanceof ErldistError ? err : new ErldistError('PROTOCOL', String(err));
        if (this.tls && isTlsFailure(error.cause))
          error = tlsError(error.cause, pending.peer ?? 'a client', 'listener');
        this.failed(`${error.code}:${error.step ?? ''}`, error, pending.peer ?? '');
      },
    );
  }

  /**
   * A failed incoming handshake: published on `erldist:handshake:error` (to subscribers, every one)
   * and reported as `handshakeError` (a few per kind). Never with the cookie: messages name the node
   * and the step only.
   */
  private failed(kind: string, error: ErldistError, peer: string): void {
    if (channels.handshakeError.hasSubscribers) {
      channels.handshakeError.publish({ node: this.host.local.name, peer, error } satisfies HandshakeErrorMessage);
    }
    this.reports.add(kind, error, peer);
  }

  /** Whom a newcomer replaces when the table is full (see the module comment); none when it is empty. */
  private victim(): Pending | undefined {
    if (this.named.size > this.bounds.maxPending / 2) return this.named.values().next().value;
    return this.unnamed.values().next().value ?? this.named.values().next().value;
  }

  /** The send_name is in: the handshake awaits the challenge reply, within the whole handshake's deadline. */
  private nameIn(pending: Pending, node: string): void {
    if (pending.ended) return;
    pending.peer = node;
    this.unnamed.delete(pending);
    this.named.add(pending);
    clearTimeout(pending.timer);
    const { handshakeTimeout } = this.bounds;
    const left = Math.max(0, handshakeTimeout - (Date.now() - pending.started));
    pending.timer = setTimeout(() => {
      const error = new ErldistError(
        'TIMEOUT',
        `incoming handshake with ${node} timed out after ${handshakeTimeout} ms`,
        { step: 'recvChallengeReply', node },
      );
      this.end(pending, 'handshakeTimeout', error);
    }, left);
  }

  private evict(pending: Pending): void {
    const ms = Date.now() - pending.started;
    const max = this.bounds.maxPending;
    const error =
      pending.peer === undefined
        ? new ErldistError(
            'TIMEOUT',
            `incoming connection evicted: ${max} handshakes were pending (maxPendingHandshakes) and it had sent no send_name ${ms} ms after the accept`,
            { step: 'recvName' },
          )
        : new ErldistError(
            'TIMEOUT',
            `incoming handshake with ${pending.peer} evicted: ${max} handshakes were pending (maxPendingHandshakes) and it had not answered our challenge ${ms} ms after the accept`,
            { step: 'recvChallengeReply', node: pending.peer },
          );
    this.end(pending, `evicted:${error.step}`, error);
  }

  /**
   * Ends a pending handshake now: its slot is free at once, its socket destroyed; the handshake then
   * fails and reports `error` (grouped under `kind`).
   */
  private end(pending: Pending, kind: string, error: ErldistError): void {
    if (pending.ended) return;
    pending.ended = { kind, error };
    this.forget(pending);
    pending.socket.destroy();
  }

  private forget(pending: Pending): void {
    clearTimeout(pending.timer);
    pending.timer = undefined;
    this.unnamed.delete(pending);
    this.named.delete(pending);
  }
}
