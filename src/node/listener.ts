/**
 * A listening node's server side: the distribution port, the acceptor handshakes (bounded in number
 * and time), and the EPMD registration, registered again when EPMD comes back after a restart.
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { type AcceptStatus, type HandshakeResult, handshakeAcceptor } from '../distribution/handshake.js';
import { type EpmdRegistration, register as epmdRegister } from '../epmd/client.js';
import { ErldistError } from '../errors.js';
import { waitFor } from '../wait.js';
import type { LocalIdentity } from './dialer.js';

export interface ListenOptions {
  /** Distribution port; 0 (the default) lets the OS pick. Kubernetes setups pin one, e.g. 43691. */
  port?: number;
  /** Address to listen on (default all, '0.0.0.0'). */
  host?: string;
  /** Register with EPMD (default true); `false` serves a fixed port without EPMD. */
  epmd?: boolean;
  /** Ms an incoming handshake may take (default 10000). */
  handshakeTimeout?: number;
  /** Incoming handshakes in progress at once; more connections are closed at once (default 64). */
  maxPendingHandshakes?: number;
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
  cookieFor(node: string): string;
  acceptStatus(node: string): AcceptStatus;
  addPeer(name: string, socket: Socket, handshake: HandshakeResult): void;
  emit(event: string, ...args: unknown[]): boolean;
  background(work: Promise<unknown>): void;
}

export class Listener {
  private registration: EpmdRegistration | undefined;
  private pendingHandshakes = 0;
  private closed = false;

  private constructor(
    private readonly host: ListenerHost,
    private readonly server: Server,
    private readonly options: ListenOptions,
    readonly port: number,
  ) {}

  static async start(host: ListenerHost, options: ListenOptions): Promise<Listener> {
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
      server.listen(options.port ?? 0, options.host ?? '0.0.0.0', () => resolve());
    });
    listener = new Listener(host, server, options, (server.address() as AddressInfo).port);
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

  private accept(socket: Socket): void {
    socket.on('error', () => {});
    if (
      this.closed ||
      this.host.local.isClosed ||
      this.pendingHandshakes >= (this.options.maxPendingHandshakes ?? 64)
    ) {
      socket.destroy();
      return;
    }
    this.pendingHandshakes++;
    let peerName = '';
    const host = this.host;
    waitFor<HandshakeResult>(
      { timeout: this.options.handshakeTimeout ?? 10_000 },
      'incoming handshake',
      (resolve, reject) => {
        handshakeAcceptor(socket, {
          localName: host.local.name,
          creation: host.local.creation,
          flags: host.local.flags,
          cookieFor: (node) => host.cookieFor(node),
          status: (node) => {
            peerName = node;
            return host.acceptStatus(node);
          },
        }).then(resolve, reject);
        return () => socket.destroy();
      },
    )
      .then((handshake) => {
        if (host.local.isClosed) socket.destroy();
        else host.addPeer(handshake.peerName, socket, handshake);
      })
      .catch((err: unknown) => {
        socket.destroy();
        // Reported without the cookie: the message names the node and the step only.
        host.emit(
          'handshakeError',
          err instanceof ErldistError ? err : new ErldistError('PROTOCOL', String(err)),
          peerName,
        );
      })
      .finally(() => {
        this.pendingHandshakes--;
      });
  }
}
