/**
 * The `erldist` command: ping, rpc, eval, send, names and an embedded epmd, for scripts, pods and
 * Kubernetes probes. Uses only what the package exports, as any user would.
 *
 * Exit codes (EXIT_HELP below is the text users see): 0 ok; 1 the node answered but not as asked
 * (pang, a remote error, another node's name, a call past the deadline); 2 usage; 3 no connection.
 */
import {
  type Atom,
  atom,
  connect,
  defaultNodeName,
  ErldistError,
  inspect,
  names,
  type Peer,
  parseNodeName,
  parseTerm,
  startEpmd,
  type Term,
  Tuple,
} from '../index.js';
import { cliTls, parseArgs, takeNode, UsageError } from './args.js';
import { EXIT_HELP, GLOBAL_HELP, HELP } from './help.js';
import { toJson } from './json.js';
import { claimSlot, type Slot } from './slot.js';

export const EXIT_OK = 0;
export const EXIT_REMOTE = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONNECT = 3;

/** A node answered whose name part is not the one asked for. */
class WrongNodeError extends Error {
  constructor(
    readonly asked: string,
    readonly answered: string,
  ) {
    super(
      `asked for ${asked}, but ${answered} answered: a different node (only the host part may differ, ` +
        'as for a node reached through a Service DNS name)',
    );
  }
}

function moduleAtom(text: string, elixir: boolean): Atom {
  if (elixir) {
    if (text.startsWith(':')) return atom(text.slice(1));
    if (/^[A-Z]/.test(text)) return atom(text.startsWith('Elixir.') ? text : `Elixir.${text}`);
  }
  return atom(text.replace(/^'(.*)'$/, '$1'));
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

/** Where the command was when it failed: before connecting, connecting, or talking to the node. */
type Phase = 'usage' | 'connect' | 'remote';

/** What went wrong, as printed: text, or JSON under --json. */
interface Failure {
  code: string;
  message: string;
  exit: number;
  node?: string;
  reason?: Term;
  /** WRONG_NODE: the node that answered. */
  answered?: string;
}

/** One deadline for the whole command: every wait gets the time left and a signal that fires at it. */
interface Deadline {
  readonly ms: number;
  readonly signal: AbortSignal;
  left(): { timeout: number; signal: AbortSignal };
}

function deadline(ms: number): Deadline {
  const end = performance.now() + ms;
  const signal = AbortSignal.timeout(ms);
  return { ms, signal, left: () => ({ timeout: Math.max(1, end - performance.now()), signal }) };
}

export async function main(argv: string[], io: Io): Promise<number> {
  // Read before parsing, so that a usage error is JSON too.
  const json = argv.includes('--json');
  const fail = (failure: Failure, help = false): number => {
    if (json) {
      const { code, message, node, exit, reason, answered } = failure;
      // Always the same keys first, for jq; node is null when there is none (usage errors).
      const out = {
        code,
        message,
        node: node ?? null,
        exit,
        answered,
        reason: reason === undefined ? undefined : toJson(reason),
      };
      io.err(`${JSON.stringify(out)}\n`);
    } else if (failure.code === 'USAGE') {
      io.err(`erldist: ${failure.message}${help ? `\n\n${GLOBAL_HELP}` : ' (see --help)\n'}`);
    } else {
      const reason = failure.reason === undefined ? '' : `\n  reason: ${inspect(failure.reason)}`;
      io.err(`erldist: ${failure.code}: ${failure.message}${reason}\n`);
    }
    return failure.exit;
  };
  const usage = (message: string) => fail({ code: 'USAGE', message, exit: EXIT_USAGE }, true);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    return usage((err as Error).message);
  }
  const { command, positional, options } = parsed;
  if (command === undefined || command === 'help') {
    if (command === undefined && !options.help) return usage('no command given');
    io.out(GLOBAL_HELP);
    return EXIT_OK;
  }
  if (!(command in HELP)) return usage(`unknown command ${JSON.stringify(command)}`);
  if (options.help) {
    io.out(`${HELP[command]}\n${EXIT_HELP}`);
    return EXIT_OK;
  }
  const syntax = options.elixir ? 'elixir' : 'erlang';
  const show = (t: Term) => io.out(`${options.json ? JSON.stringify(toJson(t)) : inspect(t, { syntax })}\n`);
  const time = deadline(options.timeout);
  let phase: Phase = 'usage';
  let target: string | undefined;
  let peer: Peer | undefined;
  let slot: Slot | undefined;
  try {
    const nodeArg = () => {
      target = takeNode(positional, io.env);
      return target;
    };
    const open = async (node: string) => {
      const address = parseNodeName(node);
      phase = 'connect';
      let name = options.name;
      if (name === undefined) {
        slot = await claimSlot();
        if (slot) name = defaultNodeName(address, slot.alive);
      }
      // One connection for one command: nothing to reconnect.
      const connectOptions = {
        cookie: options.cookie,
        name,
        exact: true,
        reconnect: false as const,
        tls: cliTls(options, io.env),
        handshakeTimeout: time.left().timeout,
        ...time.left(),
      };
      peer = await connect(node, connectOptions);
      phase = 'remote';
      // With a pinned port any node may answer; a probe must not pass for the wrong one.
      if (parseNodeName(peer.name).alive !== address.alive) throw new WrongNodeError(node, peer.name);
      return peer;
    };
    switch (command) {
      case 'ping': {
        const node = nodeArg();
        if (positional.length > 0) throw new UsageError('ping takes one NODE');
        const started = performance.now();
        const p = await open(node);
        const pong = await p.ping(time.left());
        const ms = (performance.now() - started).toFixed(1);
        if (options.json) io.out(`${JSON.stringify({ node: p.name, pong, ms: Number(ms) })}\n`);
        else io.out(pong ? `pong from ${p.name} in ${ms} ms\n` : 'pang\n');
        return pong ? EXIT_OK : EXIT_REMOTE;
      }
      case 'rpc': {
        const node = nodeArg();
        const [mod, fun, ...rest] = positional;
        if (mod === undefined || fun === undefined) throw new UsageError('rpc needs MODULE and FUNCTION');
        const args = rest.map((text) => parseTerm(text, { syntax }));
        const p = await open(node);
        show(await p.rpc(moduleAtom(mod, options.elixir), atom(fun.replace(/^:/, '')), args, time.left()));
        return EXIT_OK;
      }
      case 'eval': {
        const node = nodeArg();
        if (positional.length !== 1) throw new UsageError('eval takes one EXPR (quote it)');
        const p = await open(node);
        show(options.elixir ? await evalElixir(p, positional[0], time) : await evalErlang(p, positional[0], time));
        return EXIT_OK;
      }
      case 'send': {
        const node = nodeArg();
        if (positional.length !== 2) throw new UsageError('send takes NAME and TERM');
        const [name, text] = positional;
        const message = parseTerm(text, { syntax });
        const p = await open(node);
        p.send(moduleAtom(name, options.elixir), message);
        // A round trip: the message is delivered before we close.
        if (!(await p.ping(time.left())))
          throw new ErldistError('TIMEOUT', `${p.name} did not confirm delivery`, { node: p.name });
        if (options.json) io.out(`${JSON.stringify({ sent: true })}\n`);
        return EXIT_OK;
      }
      case 'names': {
        if (positional.length > 1) throw new UsageError('names takes at most one HOST');
        phase = 'connect';
        const reply = await names(positional[0] ?? '127.0.0.1', time.left());
        if (options.json) io.out(`${JSON.stringify(reply.nodes)}\n`);
        else for (const n of reply.nodes) io.out(`name ${n.name} at port ${n.port}\n`);
        return EXIT_OK;
      }
      case 'epmd': {
        phase = 'connect';
        const epmd = await startEpmd({ port: options.port });
        io.out(`epmd listening on port ${epmd.port}\n`);
        epmd.on('register', (name: string) => io.out(`registered ${name}\n`));
        epmd.on('unregister', (name: string) => io.out(`unregistered ${name}\n`));
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await epmd.close();
        return EXIT_OK;
      }
    }
    return EXIT_USAGE;
  } catch (err) {
    return fail(failure(err, phase, time, target));
  } finally {
    await peer?.close();
    // Only once our connection is closed may another process take the name.
    await slot?.release();
  }
}

function failure(err: unknown, phase: Phase, time: Deadline, target: string | undefined): Failure {
  if (err instanceof UsageError) return { code: 'USAGE', message: err.message, exit: EXIT_USAGE };
  const node = target === undefined ? undefined : nodeOnly(target);
  if (err instanceof WrongNodeError)
    return { code: 'WRONG_NODE', message: err.message, exit: EXIT_REMOTE, node, answered: err.answered };
  if (!(err instanceof ErldistError))
    return { code: 'ERROR', message: err instanceof Error ? err.message : String(err), exit: EXIT_REMOTE, node };
  const base = { node: err.node ?? node };
  if (err.code === 'PARSE' || err.code === 'INVALID_ARGUMENT' || err.code === 'ENCODE')
    return { ...base, code: err.code, message: err.message, exit: EXIT_USAGE };
  const connecting = phase === 'connect' || CONNECT_CODES.has(err.code);
  const exit = connecting ? EXIT_CONNECT : EXIT_REMOTE;
  // The deadline's signal is the only one we pass: ABORTED means --timeout passed.
  if ((err.code === 'ABORTED' && time.signal.aborted) || err.code === 'TIMEOUT') {
    const during = connecting ? 'before the connection was up' : 'before the node answered';
    return { ...base, code: 'TIMEOUT', message: `--timeout ${time.ms} ms passed ${during} (${err.message})`, exit };
  }
  return { ...base, code: err.code, message: err.message, exit, reason: err.reason };
}

/** `name@host` of a NODE argument (no `:port`), as errors from the library name nodes. */
function nodeOnly(text: string): string {
  try {
    return parseNodeName(text).node;
  } catch {
    return text;
  }
}

const CONNECT_CODES = new Set(['AUTH_FAILED', 'NOT_ALLOWED', 'NODE_NOT_FOUND', 'EPMD_UNREACHABLE', 'CONNECT_FAILED']);

async function evalErlang(peer: Peer, expr: string, time: Deadline): Promise<Term> {
  const text = expr.trimEnd().endsWith('.') ? expr : `${expr.trimEnd()}.`;
  const scanned = await peer.rpc('erl_scan', 'string', [[...text].map((c) => c.codePointAt(0)!)], time.left());
  const tokens = okValue(scanned, 'erl_scan:string');
  const parsed = await peer.rpc('erl_parse', 'parse_exprs', [tokens], time.left());
  const exprs = okValue(parsed, 'erl_parse:parse_exprs');
  const result = await peer.rpc('erl_eval', 'exprs', [exprs, []], time.left());
  if (result instanceof Tuple && result.elements[0] === atom('value')) return result.elements[1];
  return result;
}

async function evalElixir(peer: Peer, code: string, time: Deadline): Promise<Term> {
  const result = await peer.rpc(atom('Elixir.Code'), 'eval_string', [code], time.left());
  if (result instanceof Tuple && result.length === 2) return result.elements[0];
  return result;
}

/** `{ok, V, ...}` gives V; anything else is the remote side's error, shown as BAD_RPC. */
function okValue(t: Term, what: string): Term {
  if (t instanceof Tuple && t.elements[0] === atom('ok')) return t.elements[1];
  throw new ErldistError('BAD_RPC', `${what} failed: the expression does not scan or parse`, { reason: t });
}
