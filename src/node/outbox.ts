/**
 * Messages sent to a node while it has no connection (it is being dialled on demand, or its peer
 * reconnects): kept in order up to `maxBuffered` bytes and sent once the connection is up, as
 * Erlang queues what a process sends while net_kernel sets up the connection. What does not fit,
 * or what is left when the node cannot be reached, is dropped and counted, never thrown.
 */
import type { Control } from '../distribution/control.js';
import { encode, type Term } from '../term/index.js';

/** A frame's header and control message, roughly: what a queued message costs beyond its payload. */
const CONTROL_BYTES = 64;

export class Outbox {
  private messages: { control: Control; payload: Term | undefined }[] = [];
  private size = 0;

  constructor(private readonly maxBytes: number) {}

  get bytes(): number {
    return this.size;
  }

  get length(): number {
    return this.messages.length;
  }

  /** Queues a message; false when it does not fit (the caller counts it as dropped). */
  push(control: Control, payload: Term | undefined): boolean {
    // The payload is encoded once here to know its size; messages queued are the rare path.
    const cost = CONTROL_BYTES + (payload === undefined ? 0 : encode(payload).length);
    if (this.size + cost > this.maxBytes) return false;
    this.messages.push({ control, payload });
    this.size += cost;
    return true;
  }

  /** Takes every message, oldest first. */
  take(): { control: Control; payload: Term | undefined }[] {
    const messages = this.messages;
    this.messages = [];
    this.size = 0;
    return messages;
  }
}
