/**
 * Distribution control messages (erl_dist_protocol.md "Protocol between connected nodes";
 * protocol-notes §4): one discriminated union keyed by `op`, one decode and one encode switch.
 * Trace-token variants decode to their base op with `token` set.
 */
import { ErldistError } from '../errors.js';
import { Atom, atom, Pid, Reference, type Term, Tuple } from '../term/index.js';

export const Op = {
  LINK: 1,
  SEND: 2,
  EXIT: 3,
  UNLINK: 4,
  NODE_LINK: 5,
  REG_SEND: 6,
  GROUP_LEADER: 7,
  EXIT2: 8,
  SEND_TT: 12,
  EXIT_TT: 13,
  REG_SEND_TT: 16,
  EXIT2_TT: 18,
  MONITOR_P: 19,
  DEMONITOR_P: 20,
  MONITOR_P_EXIT: 21,
  SEND_SENDER: 22,
  SEND_SENDER_TT: 23,
  PAYLOAD_EXIT: 24,
  PAYLOAD_EXIT_TT: 25,
  PAYLOAD_EXIT2: 26,
  PAYLOAD_EXIT2_TT: 27,
  PAYLOAD_MONITOR_P_EXIT: 28,
  SPAWN_REQUEST: 29,
  SPAWN_REQUEST_TT: 30,
  SPAWN_REPLY: 31,
  SPAWN_REPLY_TT: 32,
  ALIAS_SEND: 33,
  ALIAS_SEND_TT: 34,
  UNLINK_ID: 35,
  UNLINK_ID_ACK: 36,
  ALTACT_SIG_SEND: 37,
} as const;

/** A process identifier as monitors see it: a pid, or a registered name (DIST_MONITOR_NAME). */
export type ProcessId = Pid | Atom;

export type Control =
  | { op: typeof Op.LINK; from: Pid; to: Pid }
  | { op: typeof Op.SEND; to: Pid; token?: Term }
  | { op: typeof Op.EXIT; from: Pid; to: Pid; reason: Term; token?: Term }
  | { op: typeof Op.UNLINK; from: Pid; to: Pid }
  | { op: typeof Op.NODE_LINK }
  | { op: typeof Op.REG_SEND; from: Pid; toName: Atom; token?: Term }
  | { op: typeof Op.GROUP_LEADER; from: Pid; to: Pid }
  | { op: typeof Op.EXIT2; from: Pid; to: Pid; reason: Term; token?: Term }
  | { op: typeof Op.MONITOR_P; from: Pid; to: ProcessId; ref: Reference }
  | { op: typeof Op.DEMONITOR_P; from: Pid; to: ProcessId; ref: Reference }
  | { op: typeof Op.MONITOR_P_EXIT; from: ProcessId; to: Pid; ref: Reference; reason: Term }
  | { op: typeof Op.SEND_SENDER; from: Pid; to: Pid; token?: Term }
  | { op: typeof Op.PAYLOAD_EXIT; from: Pid; to: Pid; token?: Term }
  | { op: typeof Op.PAYLOAD_EXIT2; from: Pid; to: Pid; token?: Term }
  | { op: typeof Op.PAYLOAD_MONITOR_P_EXIT; from: ProcessId; to: Pid; ref: Reference }
  | {
      op: typeof Op.SPAWN_REQUEST;
      reqId: Reference;
      from: Pid;
      groupLeader: Pid;
      mfa: [Atom, Atom, number];
      options: Term;
      token?: Term;
    }
  | { op: typeof Op.SPAWN_REPLY; reqId: Reference; to: Pid; flags: number; result: Term; token?: Term }
  | { op: typeof Op.ALIAS_SEND; from: Pid; alias: Reference; token?: Term }
  | { op: typeof Op.UNLINK_ID; id: number | bigint; from: Pid; to: Pid }
  | { op: typeof Op.UNLINK_ID_ACK; id: number | bigint; from: Pid; to: Pid }
  | { op: typeof Op.ALTACT_SIG_SEND; flags: number; from: Pid; to: Term; token?: Term };

/** Control messages followed by a payload term (the message, exit reason or spawn arguments). */
export function hasPayload(op: number): boolean {
  switch (op) {
    case Op.SEND:
    case Op.REG_SEND:
    case Op.SEND_SENDER:
    case Op.PAYLOAD_EXIT:
    case Op.PAYLOAD_EXIT2:
    case Op.PAYLOAD_MONITOR_P_EXIT:
    case Op.SPAWN_REQUEST:
    case Op.ALIAS_SEND:
    case Op.ALTACT_SIG_SEND:
      return true;
    default:
      return false;
  }
}

const EMPTY = atom('');

function bad(op: unknown, why: string): ErldistError {
  return new ErldistError('PROTOCOL', `malformed control message ${String(op)}: ${why}`, { step: 'control' });
}

function pid(v: Term | undefined, op: number, field: string): Pid {
  if (v instanceof Pid) return v;
  throw bad(op, `${field} is not a pid`);
}

function ref(v: Term | undefined, op: number, field: string): Reference {
  if (v instanceof Reference) return v;
  throw bad(op, `${field} is not a reference`);
}

function name(v: Term | undefined, op: number, field: string): Atom {
  if (v instanceof Atom) return v;
  throw bad(op, `${field} is not an atom`);
}

function processId(v: Term | undefined, op: number, field: string): ProcessId {
  if (v instanceof Pid || v instanceof Atom) return v;
  throw bad(op, `${field} is neither a pid nor a name`);
}

function integer(v: Term | undefined, op: number, field: string): number | bigint {
  if ((typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint') return v;
  throw bad(op, `${field} is not an integer`);
}

/** Turns a decoded control tuple into a Control, checking every field's type. */
export function decodeControl(t: Term): Control {
  if (!(t instanceof Tuple) || t.length === 0 || typeof t.elements[0] !== 'number') {
    throw bad('?', 'not a tuple starting with an operation number');
  }
  const e = t.elements;
  const op = e[0] as number;
  const arity = (n: number) => {
    if (e.length !== n) throw bad(op, `expected ${n} elements, got ${e.length}`);
  };
  switch (op) {
    case Op.LINK:
      arity(3);
      return { op, from: pid(e[1], op, 'From'), to: pid(e[2], op, 'To') };
    case Op.SEND:
      arity(3);
      return { op, to: pid(e[2], op, 'To') };
    case Op.SEND_TT:
      arity(4);
      return { op: Op.SEND, to: pid(e[2], op, 'To'), token: e[3] };
    case Op.EXIT:
      arity(4);
      return { op, from: pid(e[1], op, 'From'), to: pid(e[2], op, 'To'), reason: e[3] };
    case Op.EXIT_TT:
      arity(5);
      return { op: Op.EXIT, from: pid(e[1], op, 'From'), to: pid(e[2], op, 'To'), token: e[3], reason: e[4] };
    case Op.UNLINK:
      arity(3);
      return { op, from: pid(e[1], op, 'From'), to: pid(e[2], op, 'To') };
    case Op.NODE_LINK:
      return { op };
    case Op.REG_SEND:
      arity(4);
      return { op, from: pid(e[1], op, 'From'), toName: name(e[3], op, 'ToName') };
    case Op.REG_SEND_TT:
      arity(5);
      return { op: Op.REG_SEND, from: pid(e[1], op, 'From'), toName: name(e[3], op, 'ToName'), token: e[4] };
    case Op.GROUP_LEADER:
      arity(3);
      return { op, from: pid(e[1], op, 'From'), to: pid(e[2], op, 'To') };
    case Op.EXIT2:
      arity(4);
      return { op, from: pid(e[1], op, 'From'), to: pid(e[2], op, 'To'), reason: e[3] };
    case Op.EXIT2_TT:
      arity(5);
      return { op: Op.EXIT2, from: pid(e[1], op, 'From'), to: pid(e[2], op, 'To'), token: e[3], reason: e[4] };
    case Op.MONITOR_P:
    case Op.DEMONITOR_P:
      arity(4);
      return { op, from: pid(e[1], op, 'From'), to: processId(e[2], op, 'To'), ref: ref(e[3], op, 'Ref') };
    case Op.MONITOR_P_EXIT:
      arity(5);
      return {
        op,
        from: processId(e[1], op, 'From'),
        to: pid(e[2], op, 'To'),
        ref: ref(e[3], op, 'Ref'),
        reason: e[4],
      };
    case Op.SEND_SENDER:
      arity(3);
      return { op, from: pid(e[1], op, 'From'), to: pid(e[2], op, 'To') };
    case Op.SEND_SENDER_TT:
      arity(4);
      return { op: Op.SEND_SENDER, from: pid(e[1], op, 'From'), to: pid(e[2], op, 'To'), token: e[3] };
    case Op.PAYLOAD_EXIT:
    case Op.PAYLOAD_EXIT2:
      arity(3);
      return { op, from: pid(e[1], op, 'From'), to: pid(e[2], op, 'To') };
    case Op.PAYLOAD_EXIT_TT:
    case Op.PAYLOAD_EXIT2_TT:
      arity(4);
      return {
        op: op === Op.PAYLOAD_EXIT_TT ? Op.PAYLOAD_EXIT : Op.PAYLOAD_EXIT2,
        from: pid(e[1], op, 'From'),
        to: pid(e[2], op, 'To'),
        token: e[3],
      };
    case Op.PAYLOAD_MONITOR_P_EXIT:
      arity(4);
      return { op, from: processId(e[1], op, 'From'), to: pid(e[2], op, 'To'), ref: ref(e[3], op, 'Ref') };
    case Op.SPAWN_REQUEST:
    case Op.SPAWN_REQUEST_TT: {
      arity(op === Op.SPAWN_REQUEST ? 6 : 7);
      const mfa = e[4];
      if (!(mfa instanceof Tuple) || mfa.length !== 3) throw bad(op, 'MFA is not a 3-tuple');
      const arityOf = integer(mfa.elements[2], op, 'Arity');
      return {
        op: Op.SPAWN_REQUEST,
        reqId: ref(e[1], op, 'ReqId'),
        from: pid(e[2], op, 'From'),
        groupLeader: pid(e[3], op, 'GroupLeader'),
        mfa: [name(mfa.elements[0], op, 'Module'), name(mfa.elements[1], op, 'Function'), Number(arityOf)],
        options: e[5],
        ...(op === Op.SPAWN_REQUEST_TT ? { token: e[6] } : {}),
      };
    }
    case Op.SPAWN_REPLY:
    case Op.SPAWN_REPLY_TT:
      arity(op === Op.SPAWN_REPLY ? 5 : 6);
      return {
        op: Op.SPAWN_REPLY,
        reqId: ref(e[1], op, 'ReqId'),
        to: pid(e[2], op, 'To'),
        flags: Number(integer(e[3], op, 'Flags')),
        result: e[4],
        ...(op === Op.SPAWN_REPLY_TT ? { token: e[5] } : {}),
      };
    case Op.ALIAS_SEND:
      arity(3);
      return { op, from: pid(e[1], op, 'From'), alias: ref(e[2], op, 'Alias') };
    case Op.ALIAS_SEND_TT:
      arity(4);
      return { op: Op.ALIAS_SEND, from: pid(e[1], op, 'From'), alias: ref(e[2], op, 'Alias'), token: e[3] };
    case Op.UNLINK_ID:
    case Op.UNLINK_ID_ACK:
      arity(4);
      return { op, id: integer(e[1], op, 'Id'), from: pid(e[2], op, 'From'), to: pid(e[3], op, 'To') };
    case Op.ALTACT_SIG_SEND:
      if (e.length !== 4 && e.length !== 5) throw bad(op, `expected 4 or 5 elements, got ${e.length}`);
      return {
        op,
        flags: Number(integer(e[1], op, 'Flags')),
        from: pid(e[2], op, 'Sender'),
        to: e[3],
        ...(e.length === 5 ? { token: e[4] } : {}),
      };
    default:
      throw bad(op, 'unknown operation');
  }
}

/** The control tuple for a Control (trace tokens are never sent). */
export function encodeControl(c: Control): Tuple {
  switch (c.op) {
    case Op.LINK:
    case Op.UNLINK:
    case Op.GROUP_LEADER:
    case Op.SEND_SENDER:
    case Op.PAYLOAD_EXIT:
    case Op.PAYLOAD_EXIT2:
      return new Tuple([c.op, c.from, c.to]);
    case Op.SEND:
      return new Tuple([c.op, EMPTY, c.to]);
    case Op.EXIT:
    case Op.EXIT2:
      return new Tuple([c.op, c.from, c.to, c.reason]);
    case Op.NODE_LINK:
      return new Tuple([c.op]);
    case Op.REG_SEND:
      return new Tuple([c.op, c.from, EMPTY, c.toName]);
    case Op.MONITOR_P:
    case Op.DEMONITOR_P:
      return new Tuple([c.op, c.from, c.to, c.ref]);
    case Op.MONITOR_P_EXIT:
      return new Tuple([c.op, c.from, c.to, c.ref, c.reason]);
    case Op.PAYLOAD_MONITOR_P_EXIT:
      return new Tuple([c.op, c.from, c.to, c.ref]);
    case Op.SPAWN_REQUEST:
      return new Tuple([c.op, c.reqId, c.from, c.groupLeader, new Tuple(c.mfa), c.options]);
    case Op.SPAWN_REPLY:
      return new Tuple([c.op, c.reqId, c.to, c.flags, c.result]);
    case Op.ALIAS_SEND:
      return new Tuple([c.op, c.from, c.alias]);
    case Op.UNLINK_ID:
    case Op.UNLINK_ID_ACK:
      return new Tuple([c.op, c.id, c.from, c.to]);
    case Op.ALTACT_SIG_SEND:
      return new Tuple([c.op, c.flags, c.from, c.to]);
  }
}
