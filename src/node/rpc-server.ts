/**
 * The node's own services (protocol-notes §5): `rpc:call` and `erpc:call` into functions exposed
 * with `node.expose`, through `rex` (the `$gen_call` and C-interface forms) and through
 * SPAWN_REQUEST (`erpc:execute_call/4`, what rpc:call sends since OTP 23); and `net_kernel`, which
 * answers the `is_auth` that net_adm:ping/1 asks. Both rpc paths run calls through one runner.
 */
import { type Control, Op } from '../distribution/control.js';
import { ErldistError } from '../errors.js';
import { Atom, atom, Pid, type Term, Tuple } from '../term/index.js';
import type { Mailbox } from './mailbox.js';
import {
  handlerErrorReason,
  parseGenCall,
  parseGenCast,
  runServer,
  type ServerHandlers,
  type ServerHost,
} from './server.js';
import type { SignalPeer } from './signals.js';

/** A function Erlang may call: it gets the argument list's terms, returns (or resolves to) a term. */
export type ExposedFunction = (...args: Term[]) => Term | Promise<Term>;

const CALL = atom('call');
const CAST = atom('cast');
const REX = atom('rex');
const BADRPC = atom('badrpc');
const EXIT = atom('EXIT');
const UNDEF = atom('undef');
const IS_AUTH = atom('is_auth');
const YES = atom('yes');
const ERPC = atom('erpc');
const EXECUTE_CALL = atom('execute_call');
const EXECUTE_CAST = atom('execute_cast');
const RETURN = atom('return');
const ERROR = atom('error');
const NORMAL = atom('normal');
const LINK = atom('link');
const MONITOR = atom('monitor');

/**
 * How an exposed call ended: a value, or an error `reason` with its stack. A function that is not
 * exposed is `undef` with `[{M, F, Args, []}]`, as Erlang reports it; one that throws is
 * `{erldist_handler_error, <<"Name: message">>}` with `[{M, F, Arity, []}]`, through either path.
 */
export type Outcome = { ok: true; value: Term } | { ok: false; reason: Term; stack: Term[] };

/** Modules and their functions, as `node.expose` registered them. */
export class Exposed {
  private readonly modules = new Map<string, Map<string, ExposedFunction>>();

  add(module: string, functions: Record<string, ExposedFunction>): void {
    const table = this.modules.get(module) ?? new Map<string, ExposedFunction>();
    this.modules.set(module, table);
    for (const [name, fn] of Object.entries(functions)) {
      if (typeof fn !== 'function') throw new ErldistError('INVALID_ARGUMENT', `${module}:${name} is not a function`);
      table.set(name, fn);
    }
  }

  /** The one runner of both rpc paths. */
  async run(m: Atom, f: Atom, args: Term[]): Promise<Outcome> {
    const fn = this.modules.get(m.name)?.get(f.name);
    if (fn === undefined) return { ok: false, reason: UNDEF, stack: [new Tuple([m, f, args, []])] };
    try {
      return { ok: true, value: await fn(...args) };
    } catch (err) {
      return { ok: false, reason: handlerErrorReason(err), stack: [new Tuple([m, f, args.length, []])] };
    }
  }
}

export interface RpcHost extends ServerHost {
  /** Sends from the node's caller pid; a message to a node that is gone is dropped. */
  send(to: Pid, message: Term): void;
  background(work: Promise<unknown>): void;
  makePid(): Pid;
}

/** `{call, M, F, A, GroupLeader}` (or `cast`) as a request, or undefined. */
function parseCall(request: Term, tag: Atom): { m: Atom; f: Atom; args: Term[] } | undefined {
  if (!(request instanceof Tuple) || request.length !== 5 || request.elements[0] !== tag) return undefined;
  const [, m, f, args] = request.elements;
  if (!(m instanceof Atom) || !(f instanceof Atom) || !Array.isArray(args)) return undefined;
  return { m, f, args };
}

/** What rex answers: the value, or `{badrpc, {'EXIT', {Reason, Stack}}}`. */
function rexResult(outcome: Outcome): Term {
  if (outcome.ok) return outcome.value;
  return new Tuple([BADRPC, new Tuple([EXIT, new Tuple([outcome.reason, outcome.stack])])]);
}

/** rex: each call runs on its own (rex spawns a process per call), replies in whatever order they end. */
export async function runRex(box: Mailbox, exposed: Exposed, host: RpcHost): Promise<void> {
  for await (const message of box) {
    const call = parseGenCall(message);
    if (call) {
      const req = parseCall(call.request, CALL);
      if (req)
        host.background(
          exposed.run(req.m, req.f, req.args).then((outcome) => host.reply(call.from, rexResult(outcome))),
        );
      continue;
    }
    const cast = parseGenCast(message);
    if (cast !== undefined) {
      const req = parseCall(cast, CAST);
      if (req) host.background(exposed.run(req.m, req.f, req.args));
      continue;
    }
    // The C interface's form: {Pid, {call, M, F, A, GL}}, answered {rex, Result}.
    if (message instanceof Tuple && message.length === 2 && message.elements[0] instanceof Pid) {
      const pid = message.elements[0];
      const req = parseCall(message.elements[1], CALL);
      if (req)
        host.background(
          exposed.run(req.m, req.f, req.args).then((outcome) => host.send(pid, new Tuple([REX, rexResult(outcome)]))),
        );
    }
  }
}

/** net_kernel: `{is_auth, Node}` gets `yes` (the handshake already proved the cookie). */
export async function runNetKernel(box: Mailbox, host: ServerHost): Promise<void> {
  for await (const message of box) {
    const call = parseGenCall(message);
    if (call && call.request instanceof Tuple && call.request.elements[0] === IS_AUTH) host.reply(call.from, YES);
  }
}

type SpawnRequest = Extract<Control, { op: typeof Op.SPAWN_REQUEST }>;

/**
 * SPAWN_REQUEST (protocol-notes §4-5). The "process" runs an exposed function and exits;
 * `erpc:execute_call(Ref, M, F, A)` exits with `{Ref, return, V}` or `{Ref, error, Reason, Stack}`,
 * which reaches the caller through its monitor.
 */
export function serveSpawnRequest(
  peer: SignalPeer,
  req: SpawnRequest,
  payload: Term | undefined,
  exposed: Exposed,
  host: RpcHost,
): void {
  const args = Array.isArray(payload) ? payload : [];
  const options = Array.isArray(req.options) ? req.options : [];
  const has = (name: Atom) => options.some((o) => o === name || (o instanceof Tuple && o.elements[0] === name));
  const link = has(LINK);
  const monitor = has(MONITOR);
  const pid = host.makePid();
  peer.trySend({
    op: Op.SPAWN_REPLY,
    reqId: req.reqId,
    to: req.from,
    flags: (link ? 1 : 0) | (monitor ? 2 : 0),
    result: pid,
  });
  const exit = (reason: Term) => {
    if (monitor) peer.trySend({ op: Op.MONITOR_P_EXIT, from: pid, to: req.from, ref: req.reqId, reason });
    if (link) peer.trySend({ op: Op.EXIT, from: pid, to: req.from, reason });
  };
  host.background(spawnedExit(req.mfa, args, exposed).then(exit));
}

/** The exit reason of a spawned M:F(Args). */
async function spawnedExit([m, f]: [Atom, Atom, number], args: Term[], exposed: Exposed): Promise<Term> {
  if (m === ERPC && f === EXECUTE_CALL && args.length === 4) {
    const [ref, mod, fun, funArgs] = args;
    if (mod instanceof Atom && fun instanceof Atom && Array.isArray(funArgs)) {
      const outcome = await exposed.run(mod, fun, funArgs);
      if (outcome.ok) return new Tuple([ref, RETURN, outcome.value]);
      return new Tuple([ref, ERROR, outcome.reason, outcome.stack]);
    }
  }
  if (m === ERPC && f === EXECUTE_CAST && args.length === 3) {
    const [mod, fun, funArgs] = args;
    if (mod instanceof Atom && fun instanceof Atom && Array.isArray(funArgs)) await exposed.run(mod, fun, funArgs);
    return NORMAL;
  }
  const outcome = await exposed.run(m, f, args);
  if (outcome.ok) return NORMAL;
  return new Tuple([outcome.reason, outcome.stack]);
}

/** A node's services: rex and net_kernel (registered at once), gen_servers, spawn requests. */
export class RpcServer {
  private readonly exposed = new Exposed();

  /** `register(name)` makes a mailbox registered under `name`. */
  constructor(
    private readonly host: RpcHost,
    register: (name: string) => Mailbox,
  ) {
    host.background(runRex(register('rex'), this.exposed, host));
    host.background(runNetKernel(register('net_kernel'), host));
  }

  expose(module: string, functions: Record<string, ExposedFunction>): void {
    this.exposed.add(module, functions);
  }

  serve(box: Mailbox, handlers: ServerHandlers): void {
    this.host.background(runServer(box, handlers, this.host));
  }

  spawnRequest(peer: SignalPeer, req: SpawnRequest, payload: Term | undefined): void {
    serveSpawnRequest(peer, req, payload, this.exposed, this.host);
  }
}
