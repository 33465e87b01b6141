/**
 * How each kind of call reads its answers (see PendingCall): a GenServer call (reply, or the DOWN
 * of its monitor), an rpc through erpc (the spawn reply, then the DOWN that carries the result),
 * a spawn request (the spawn reply).
 */
import { ErldistError } from '../errors.js';
import { Atom, atom, Pid, Reference, type Term, Tuple } from '../term/index.js';
import { sameRef } from './keys.js';
import type { Mailbox, Monitor } from './mailbox.js';
import { type Answers, WAIT } from './pending.js';

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

/**
 * erpc:call: a spawn reply with a pid means wait for the DOWN, whose reason holds the result;
 * `started` learns the pid (the monitor's target, should the call give up).
 */
export function erpcAnswers(node: string, tag: Reference, what: string, started?: (pid: Pid) => void): Answers<Term> {
  return {
    spawnReply: (_flags, result) => {
      if (result instanceof Pid) {
        started?.(result);
        return WAIT;
      }
      throw new ErldistError('BAD_RPC', `${what} could not start`, { node, reason: result });
    },
    down: (reason) => {
      const outcome = erpcOutcome(reason, tag);
      if (outcome.ok) return outcome.value;
      if (outcome.reason === NOCONNECTION) throw new ErldistError('NODE_DOWN', `lost ${node} during ${what}`, { node });
      throw new ErldistError('BAD_RPC', `${what} failed`, { node, reason: outcome.reason });
    },
  };
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

/**
 * What an erpc:execute_call exit reason means for rpc:call: a value, or `{'EXIT', Reason}` as
 * rpc:call reports a failure (`{badrpc, {'EXIT', ...}}`).
 */
function erpcOutcome(reason: Term, tag: Reference): { ok: true; value: Term } | { ok: false; reason: Term } {
  const first = reason instanceof Tuple ? reason.elements[0] : undefined;
  if (reason instanceof Tuple && first instanceof Reference && sameRef(first, tag)) {
    const [, kind, a, b] = reason.elements;
    if (kind === RETURN || kind === THROW) return { ok: true, value: a };
    if (kind === EXIT) return { ok: false, reason: new Tuple([EXIT_TAG, a]) };
    if (kind === ERROR) return { ok: false, reason: new Tuple([EXIT_TAG, b === undefined ? a : new Tuple([a, b])]) };
  }
  if (reason === NOCONNECTION) return { ok: false, reason };
  return { ok: false, reason: new Tuple([EXIT_TAG, reason]) };
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
