/**
 * How each kind of call reads its answers (see PendingCall): a GenServer call (reply, or the DOWN
 * of its monitor), an rpc through erpc (the spawn reply, then the DOWN that carries the result),
 * a spawn request (the spawn reply).
 */
import { type Control, Op } from '../distribution/control.js';
import { ErldistError } from '../errors.js';
import { Atom, atom, Pid, Reference, type Term, Tuple } from '../term/index.js';
import { sameRef } from './keys.js';
import type { Mailbox, Monitor } from './mailbox.js';
import { type Answers, type PendingCall, WAIT } from './pending.js';

export interface Spawned {
  pid: Pid;
  /** When `monitor` was asked: the DOWN also arrives in `box` as `{'DOWN', Ref, process, Pid, Reason}`. */
  monitor?: Monitor;
}

const NOPROC = atom('noproc');
const NOCONNECTION = atom('noconnection');
const RETURN = atom('return');
const THROW = atom('throw');
const EXIT = atom('exit');
const ERROR = atom('error');
const EXIT_TAG = atom('EXIT');

/** gen_server:call: the reply, or NO_PROC / CALL_EXIT / NODE_DOWN from the monitor's DOWN. */
export function genCallAnswers(node: string, target: Pid | Atom): Answers<Term> {
  return {
    reply: (reply) => reply,
    down: (reason) => {
      throw exitError(reason, target, node);
    },
  };
}

/** What an erpc call needs of its peer: its name, and a way to take the monitor back. */
export interface ErpcPort {
  readonly name: string;
  readonly callerPid: Pid;
  trySend(control: Control): void;
}

/**
 * erpc:call: a spawn reply with a pid means wait for the DOWN, whose exit reason holds the
 * result, `{Tag, return, Value}` (erpc:execute_call/4); the monitor on the pid is what the call
 * takes back should it give up. One object a call, no closures.
 */
export class ErpcAnswers implements Answers<Term> {
  /** The peer's name when the call started (errors name it). */
  private readonly node: string;

  constructor(
    private readonly port: ErpcPort,
    /** The request id, which also tags the result. */
    private readonly tag: Reference,
    private readonly what: string,
  ) {
    this.node = port.name;
  }

  spawnReply(_flags: number, result: Term, call: PendingCall<Term>): typeof WAIT {
    if (!(result instanceof Pid))
      throw new ErldistError('BAD_RPC', `${this.what} could not start`, { node: this.node, reason: result });
    const { port, tag } = this;
    const from = port.callerPid;
    call.demonitor = () => port.trySend({ op: Op.DEMONITOR_P, from, to: result, ref: tag });
    return WAIT;
  }

  down(reason: Term): Term {
    const e = reason instanceof Tuple ? reason.elements : undefined;
    const tagged = e !== undefined && e[0] instanceof Reference && sameRef(e[0], this.tag);
    if (tagged && (e[1] === RETURN || e[1] === THROW)) return e[2];
    const node = this.node;
    if (reason === NOCONNECTION) throw new ErldistError('NODE_DOWN', `lost ${node} during ${this.what}`, { node });
    // As rpc:call reports a failure: {badrpc, {'EXIT', ...}}.
    let exit: Term = reason;
    if (tagged && e[1] === EXIT) exit = e[2];
    else if (tagged && e[1] === ERROR) exit = e[3] === undefined ? e[2] : new Tuple([e[2], e[3]]);
    throw new ErldistError('BAD_RPC', `${this.what} failed`, { node, reason: new Tuple([EXIT_TAG, exit]) });
  }
}

/** erlang:spawn_request: the new pid, with the link and monitor the reply confirms recorded for `box`. */
export function spawnAnswers(
  node: string,
  reqId: Reference,
  box: Mailbox | undefined,
  signals: {
    addLink(box: Mailbox, pid: Pid): void;
    addMonitor(box: Mailbox, target: Pid, node: string, ref: Reference): Monitor;
  },
): Answers<Spawned> {
  return {
    spawnReply: (flags, result) => {
      if (!(result instanceof Pid))
        throw new ErldistError('SPAWN_FAILED', `spawn on ${node} failed`, { node, reason: result });
      if (flags & 1 && box) signals.addLink(box, result);
      const spawned: Spawned = { pid: result };
      if (flags & 2 && box) spawned.monitor = signals.addMonitor(box, result, node, reqId);
      return spawned;
    },
  };
}

export function toAtom(v: string | Atom): Atom {
  if (v instanceof Atom) return v;
  if (typeof v === 'string') return atom(v);
  throw new ErldistError('INVALID_ARGUMENT', `expected a name (string or atom), got ${typeof v}`);
}

export function nameOf(v: string | Atom): string {
  return typeof v === 'string' ? v : v.name;
}

export function describe(target: Pid | Atom): string {
  return target instanceof Pid ? target.toString() : target.name;
}

function exitError(reason: Term, target: Pid | Atom, node: string): ErldistError {
  if (reason === NOPROC) {
    return new ErldistError('NO_PROC', `${describe(target)} is not alive on ${node}`, { node, reason });
  }
  if (reason === NOCONNECTION) {
    return new ErldistError('NODE_DOWN', `lost the connection to ${node} during a call to ${describe(target)}`, {
      node,
      reason,
    });
  }
  return new ErldistError('CALL_EXIT', `${describe(target)} on ${node} exited during the call`, { node, reason });
}
