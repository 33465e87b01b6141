/**
 * What each kind of call sends (protocol-notes §4-5): a `$gen_call` with or without a monitor
 * (gen_server:call, rex, net_kernel), an erpc call (SPAWN_REQUEST of `erpc:execute_call/4` with a
 * monitor, as OTP's own rpc:call), and a spawn request. How their answers are read is answers.ts;
 * the lifecycle they share is the peer's `startCall`.
 *
 * Late answers never reach a mailbox. A `$gen_call` tags itself `[alias | Ref]` when the peer
 * agreed DFLAG_ALIAS (gen:call does the same): the server replies to the alias Ref, which is active
 * exactly while the call waits in its peer's table, so a reply after a timeout is dropped and
 * counted. An erpc call has no alias (OTP's erpc:call neither): its result travels in the DOWN of
 * its monitor, which a timed-out call takes back (DEMONITOR_P) once it knows the spawned pid.
 */
import type { Connection } from '../distribution/connection.js';
import { type Control, Op } from '../distribution/control.js';
import { DFLAG } from '../distribution/flags.js';
import { ErldistError } from '../errors.js';
import { type Atom, atom, ImproperList, Pid, type Reference, type Term, Tuple } from '../term/index.js';
import { deadline, type WaitOptions } from '../wait.js';
import { describe, ErpcAnswers, genCallAnswers, type Spawned, spawnAnswers, toAtom } from './answers.js';
import type { Mailbox, Monitor } from './mailbox.js';
import type { Answers, PendingCall } from './pending.js';

export interface CallOptions extends WaitOptions {}

export interface SpawnOptions extends WaitOptions {
  /** The mailbox that links to or monitors the new process (needed for `link` and `monitor`). */
  box?: Mailbox;
  link?: boolean;
  monitor?: boolean;
}

/** A process on the peer: a pid, or a registered name given as a string or an atom. */
export type Destination = Pid | string | Atom;

/** What a request needs of its peer. */
export interface CallPort {
  readonly name: string;
  /** The flags of the last handshake; undefined before the first. */
  readonly flags: bigint | undefined;
  readonly callerPid: Pid;
  readonly nodeAtom: Atom;
  makeRef(): Reference;
  addLink(box: Mailbox, pid: Pid): void;
  addMonitor(box: Mailbox, target: Pid, node: string, ref: Reference): Monitor;
  trySend(control: Control): void;
  ready(options: WaitOptions): Promise<void>;
  startCall<T>(
    ref: Reference,
    what: string,
    options: CallOptions,
    answers: Answers<T>,
    send: (call: PendingCall<T>, connection: Connection) => void,
  ): Promise<T>;
}

export const DEFAULT_CALL_TIMEOUT = 5000;
const DEFAULT_CALL_OPTIONS: CallOptions = Object.freeze({ timeout: DEFAULT_CALL_TIMEOUT });

/** `{ timeout: DEFAULT_CALL_TIMEOUT, ...options }`, without a copy for the usual `{}`. */
export function withDefaultTimeout(options: CallOptions | null | undefined): CallOptions {
  // null and undefined as the spread took them (JS callers pass them; the types do not).
  if (options == null) return DEFAULT_CALL_OPTIONS;
  if (Object.hasOwn(options, 'timeout')) return options;
  return options.signal === undefined ? DEFAULT_CALL_OPTIONS : { timeout: DEFAULT_CALL_TIMEOUT, ...options };
}
const CALL = atom('call');
const USER = atom('user');
const BADRPC = atom('badrpc');
const GEN_CALL = atom('$gen_call');
const IS_AUTH = atom('is_auth');
const YES = atom('yes');
const ERPC = atom('erpc');
const EXECUTE_CALL = atom('execute_call');
const MONITOR = atom('monitor');
const LINK = atom('link');
const ALIAS = atom('alias');
/**
 * Shared by every erpc request, frozen so that a connection may keep their bytes (ControlWriter);
 * they hold atoms and a number, so freezing the lists freezes them all through.
 */
const ERPC_MFA = Object.freeze([ERPC, EXECUTE_CALL, 4]) as unknown as [Atom, Atom, number];
const MONITORED = Object.freeze([MONITOR]) as unknown as Term[];

/** net_adm:ping/1: true when net_kernel answers `yes`. */
export async function ping(port: CallPort, options: CallOptions): Promise<boolean> {
  try {
    const request = new Tuple([IS_AUTH, port.nodeAtom]);
    const reply = await genCall(port, 'net_kernel', request, false, { timeout: DEFAULT_CALL_TIMEOUT, ...options });
    return reply === YES;
  } catch (err) {
    if (err instanceof ErldistError && err.code === 'ABORTED') throw err;
    return false;
  }
}

/** rpc:call: through erpc when the peer takes spawn requests, else through `rex`. */
export function rpc(
  port: CallPort,
  module: string | Atom,
  fun: string | Atom,
  args: Term[],
  options: CallOptions,
): Promise<Term> {
  try {
    const opts = withDefaultTimeout(options);
    if (!Array.isArray(args))
      throw new ErldistError('INVALID_ARGUMENT', 'rpc args must be an array (the argument list)');
    const m = toAtom(module);
    const f = toAtom(fun);
    const start = (flags: bigint, o: CallOptions) =>
      flags & DFLAG.SPAWN ? erpc(port, m, f, args, o) : rex(port, m, f, args, o);
    // No extra promise on the usual path: the flags are those of a handshake that happened.
    const flags = port.flags;
    if (flags !== undefined) return start(flags, opts);
    // Which path depends on the flags of a handshake that has not happened yet.
    const remaining = deadline(opts.timeout);
    return port.ready(opts).then(() => start(port.flags ?? 0n, { ...opts, timeout: remaining() }));
  } catch (err) {
    return Promise.reject(err);
  }
}

/** rpc through the peer's `rex` server (a `$gen_call` without a monitor). */
async function rex(port: CallPort, m: Atom, f: Atom, args: Term[], options: CallOptions): Promise<Term> {
  const reply = await genCall(port, 'rex', new Tuple([CALL, m, f, args, USER]), false, options);
  if (reply instanceof Tuple && reply.length === 2 && reply.elements[0] === BADRPC) {
    const what = `rpc ${m.name}:${f.name}/${args.length} on ${port.name} failed`;
    throw new ErldistError('BAD_RPC', what, { node: port.name, reason: reply.elements[1] });
  }
  return reply;
}

/**
 * rpc through erpc: spawn `erpc:execute_call(Ref, M, F, A)` with a monitor; its exit reason,
 * delivered in the DOWN, carries the result.
 */
function erpc(port: CallPort, m: Atom, f: Atom, args: Term[], options: CallOptions): Promise<Term> {
  // The request's reference also tags the result (erpc:execute_call exits with {Tag, return, V}).
  const reqId = port.makeRef();
  const what = `rpc ${m.name}:${f.name}/${args.length} on ${port.name}`;
  const from = port.callerPid;
  const control: Control = { op: Op.SPAWN_REQUEST, reqId, from, groupLeader: from, mfa: ERPC_MFA, options: MONITORED };
  return port.startCall(reqId, what, options, new ErpcAnswers(port, reqId, what), (_call, connection) => {
    connection.send(control, [reqId, m, f, args]);
  });
}

/** A `$gen_call` to `to`, with a monitor on it when `monitor` (gen_server:call) or without (rex, net_kernel). */
export function genCall(
  port: CallPort,
  to: Destination,
  request: Term,
  monitor: boolean,
  options: CallOptions,
): Promise<Term> {
  const ref = port.makeRef();
  const from = port.callerPid;
  const target = to instanceof Pid ? to : toAtom(to);
  const what = `call to ${describe(target)} on ${port.name}`;
  return port.startCall(ref, what, options, genCallAnswers(port.name, target), (call, connection) => {
    // Read once the connection is up: the flags are those of its handshake.
    const tag = (port.flags ?? 0n) & DFLAG.ALIAS ? new ImproperList([ALIAS], ref) : ref;
    const message = new Tuple([GEN_CALL, new Tuple([from, tag]), request]);
    if (monitor) {
      connection.send({ op: Op.MONITOR_P, from, to: target, ref });
      call.demonitor = () => port.trySend({ op: Op.DEMONITOR_P, from, to: target, ref });
    }
    if (target instanceof Pid) connection.send({ op: Op.SEND, to: target }, message);
    else connection.send({ op: Op.REG_SEND, from, toName: target }, message);
  });
}

/** erlang:spawn_request/5, with `box` linking to or monitoring the new process when asked. */
export function spawn(
  port: CallPort,
  module: string | Atom,
  fun: string | Atom,
  args: Term[],
  options: SpawnOptions,
): Promise<Spawned> {
  const box = options.box;
  if ((options.link || options.monitor) && !box) {
    const why = 'spawn with link or monitor needs the mailbox that links or monitors: { box }';
    return Promise.reject(new ErldistError('INVALID_ARGUMENT', why));
  }
  if (port.flags !== undefined && !(port.flags & DFLAG.SPAWN)) {
    const why = `${port.name} does not support spawn requests (no DFLAG_SPAWN)`;
    return Promise.reject(new ErldistError('NOT_ALLOWED', why, { node: port.name }));
  }
  const reqId = port.makeRef();
  const opts: Term[] = [];
  if (options.link) opts.push(LINK);
  if (options.monitor) opts.push(MONITOR);
  const m = toAtom(module);
  const f = toAtom(fun);
  const groupLeader = port.callerPid;
  const from = box?.pid ?? groupLeader;
  const control: Control = { op: Op.SPAWN_REQUEST, reqId, from, groupLeader, mfa: [m, f, args.length], options: opts };
  const what = `spawn ${m.name}:${f.name}/${args.length} on ${port.name}`;
  const answers = spawnAnswers(port.name, reqId, box, port);
  return port.startCall(reqId, what, { timeout: DEFAULT_CALL_TIMEOUT, ...options }, answers, (_call, connection) => {
    connection.send(control, args);
  });
}
