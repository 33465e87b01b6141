/**
 * Socket reads into one buffer the socket reuses (`net.connect`'s `onread`), for the sockets erldist
 * dials over plain TCP. Node otherwise allocates a Buffer per read: 200 MiB arriving is 3,200 of
 * them, and the external memory makes V8 run full collections whose cost grows with the host's heap
 * (with a 200 MB heap, 200 MiB took 2.8-3.2 s to arrive instead of 0.6-1.2 s). A chunk read this way
 * is valid only while its reader runs (transient): readers copy what they keep.
 */
import type { Socket } from 'node:net';

/** Size of the reused buffer: Node's own read size. */
const READ_BUFFER = 64 * 1024;

/** Where a reusing socket's chunks go: the handshake's reader, then the connection's. */
export class ReadSink {
  /** Gets each chunk, valid only during the call. */
  reader: ((chunk: Buffer) => void) | undefined;
  /** Chunks read while nobody was reading (between the handshake and the connection), copied. */
  private waiting: Buffer[] = [];

  /** A chunk read; true to go on reading (onread's callback pauses the socket on false). */
  deliver(chunk: Buffer): boolean {
    if (this.reader) this.reader(chunk);
    else this.waiting.push(Buffer.from(chunk));
    return true;
  }

  /** The chunks that arrived with no reader, oldest first (they are not transient). */
  takeWaiting(): Buffer[] {
    const waiting = this.waiting;
    this.waiting = [];
    return waiting;
  }
}

const sinks = new WeakMap<Socket, ReadSink>();

/** `net.connect` options that read into a reused buffer, and the sink to register once connected. */
export function reusedReads(): {
  onread: { buffer: Buffer; callback: (n: number, buf: Buffer) => boolean };
  sink: ReadSink;
} {
  const sink = new ReadSink();
  const buffer = Buffer.allocUnsafeSlow(READ_BUFFER);
  return { onread: { buffer, callback: (n, buf) => sink.deliver(buf.subarray(0, n)) }, sink };
}

export function attachReads(socket: Socket, sink: ReadSink): void {
  sinks.set(socket, sink);
}

/** The sink of a socket that reads into a reused buffer (undefined: it emits 'data'). */
export function readsOf(socket: Socket): ReadSink | undefined {
  return sinks.get(socket);
}
