/**
 * The node's own services: `rex` (rpc:call into functions exposed with `node.expose`) and
 * `net_kernel` (answers `is_auth`, which net_adm:ping/1 asks). protocol-notes §5.
 */
import { Atom, Pid, type Term, Tuple, atom } from '../term/index.js';
import type { Mailbox } from './mailbox.js';
import { type From, type ServerHost, parseGenCall, parseGenCast } from './server.js';

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

/** Modules and their functions, as `node.expose` registered them. */
export type Exposed = Map<string, Map<string, ExposedFunction>>;

/** `{call, M, F, A, GroupLeader}` as a request, or undefined. */
function parseCall(request: Term, tag: Atom): { m: Atom; f: Atom; args: Term[] } | undefined {
  if (!(request instanceof Tuple) || request.length !== 5 || request.elements[0] !== tag) return undefined;
  const [, m, f, args] = request.elements;
  if (!(m instanceof Atom) || !(f instanceof Atom) || !Array.isArray(args)) return undefined;
  return { m, f, args };
}

/**
 * Applies M:F(Args) to the exposed functions; the result, or `{badrpc, {'EXIT', Reason}}` as rex
 * gives for a call that fails (`undef` for what is not exposed, as Erlang reports it).
 */
export async function applyExposed(exposed: Exposed, m: Atom, f: Atom, args: Term[]): Promise<Term> {
  const fn = exposed.get(m.name)?.get(f.name);
  const mfa = new Tuple([m, f, args, []]);
  if (fn === undefined) return new Tuple([BADRPC, new Tuple([EXIT, new Tuple([UNDEF, [mfa]])])]);
  try {
    return await fn(...args);
  } catch (err) {
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const reason = new Tuple([new Tuple([atom('erldist_error'), text]), [new Tuple([m, f, args.length, []])]]);
    return new Tuple([BADRPC, new Tuple([EXIT, reason])]);
  }
}

/** rex: each call runs on its own (rex spawns a process per call), replies in whatever order they end. */
export async function runRex(
  box: Mailbox,
  exposed: Exposed,
  host: ServerHost & { send(to: Pid, message: Term): void; background(work: Promise<unknown>): void },
): Promise<void> {
  for await (const message of box) {
    const call = parseGenCall(message);
    if (call) {
      const req = parseCall(call.request, CALL);
      if (req) host.background(applyExposed(exposed, req.m, req.f, req.args).then((result) => host.reply(call.from, result)));
      continue;
    }
    const cast = parseGenCast(message);
    if (cast !== undefined) {
      const req = parseCall(cast, CAST);
      if (req) host.background(applyExposed(exposed, req.m, req.f, req.args));
      continue;
    }
    // The C interface's form: {Pid, {call, M, F, A, GL}}, answered {rex, Result}.
    if (message instanceof Tuple && message.length === 2 && message.elements[0] instanceof Pid) {
      const pid = message.elements[0];
      const req = parseCall(message.elements[1], CALL);
      if (req) host.background(applyExposed(exposed, req.m, req.f, req.args).then((result) => host.send(pid, new Tuple([REX, result]))));
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

export type { From };
