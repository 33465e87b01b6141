/**
 * Writes control messages into a connection's batch. A SPAWN_REQUEST whose From, GroupLeader, MFA
 * and option list are frozen (an rpc's: the node's caller pid, erpc:execute_call/4, [monitor]) has
 * those four written once and copied after that: the request costs its request id alone. Frozen
 * values cannot change under the copy; the tail's atoms are written out, not as atom cache refs, so
 * the bytes fit any frame.
 */
import { Tag, type TermEncoder, Tuple } from '../term/index.js';
import { type Control, encodeControl, Op } from './control.js';

type SpawnRequest = Extract<Control, { op: typeof Op.SPAWN_REQUEST }>;

export class ControlWriter {
  /** The four values the last cached tail was written from, and its bytes. */
  private from: unknown;
  private groupLeader: unknown;
  private mfa: unknown;
  private options: unknown;
  private tail: Buffer | undefined;

  write(encoder: TermEncoder, control: Control): void {
    if (control.op === Op.SPAWN_REQUEST) {
      // The same four as the kept tail: frozen then, so frozen still (freezing cannot be undone).
      const same =
        this.tail !== undefined &&
        control.from === this.from &&
        control.groupLeader === this.groupLeader &&
        control.mfa === this.mfa &&
        control.options === this.options;
      if (same || cacheable(control)) return this.spawnRequest(encoder, control, same);
    }
    encoder.writeTerm(encodeControl(control));
  }

  /** `{SPAWN_REQUEST, ReqId, From, GroupLeader, {M, F, A}, Opts}` (protocol-notes §4). */
  private spawnRequest(encoder: TermEncoder, c: SpawnRequest, same: boolean): void {
    encoder.u8(Tag.SMALL_TUPLE_EXT);
    encoder.u8(6);
    encoder.u8(Tag.SMALL_INTEGER_EXT);
    encoder.u8(Op.SPAWN_REQUEST);
    encoder.writeTerm(c.reqId);
    if (same) {
      encoder.raw(this.tail as Buffer);
      return;
    }
    const start = encoder.pos;
    const referenced = encoder.length - encoder.pos;
    // The kept tail spells its atoms out, so that it fits any frame whatever its atom cache refs.
    const refs = encoder.atomRefs;
    encoder.atomRefs = undefined;
    try {
      encoder.writeTerm(c.from);
      encoder.writeTerm(c.groupLeader);
      encoder.writeTerm(new Tuple(c.mfa));
      encoder.writeTerm(c.options);
    } finally {
      encoder.atomRefs = refs;
    }
    // A tail with a binary written by reference is not all in `buf`: not kept.
    if (encoder.length - encoder.pos !== referenced) return;
    this.tail = Buffer.from(encoder.buf.subarray(start, encoder.pos));
    this.from = c.from;
    this.groupLeader = c.groupLeader;
    this.mfa = c.mfa;
    this.options = c.options;
  }
}

function cacheable(c: SpawnRequest): boolean {
  return (
    Object.isFrozen(c.mfa) && Object.isFrozen(c.options) && Object.isFrozen(c.from) && Object.isFrozen(c.groupLeader)
  );
}
