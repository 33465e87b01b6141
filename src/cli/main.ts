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
import { toJson } from './json.js';
import { claimSlot, SLOT_PREFIX, SLOTS, type Slot } from './slot.js';

export const EXIT_OK = 0;
export const EXIT_REMOTE = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONNECT = 3;

const MAX_TIMEOUT = 2 ** 31 - 1;

interface Options {
  cookie?: string;
  name?: string;
  timeout: number;
  elixir: boolean;
  json: boolean;
  help: boolean;
  port?: number;
}

class UsageError extends Error {}

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

const EXIT_HELP = `Exit codes:
  0  ok: pong, the value printed, the message delivered, the list printed
  1  the node answered, but not as asked: pang, an error from the call (BAD_RPC, NO_PROC, ...),
     a node with another name part answered (WRONG_NODE), or --timeout passed during the call;
     also any unexpected error
  2  usage: unknown command or option, missing arguments, a term that does not parse, no cookie
  3  no connection: EPMD unreachable or the name unknown to it, TCP refused, the handshake refused
     (AUTH_FAILED: wrong cookie), or --timeout passed before the connection was up;
     for epmd: its port could not be opened
`;

const GLOBAL_HELP = `erldist: talk to Erlang and Elixir nodes from the command line

Usage: erldist <command> [options] [arguments]

Commands:
  ping [NODE]                      ping a node (pong and the round-trip time)
  rpc [NODE] MODULE FUNCTION [ARG ...]
                                   call MODULE:FUNCTION(ARG, ...) on the node (rpc:call)
  eval [NODE] EXPR                 evaluate an Erlang expression (Elixir code with --elixir)
  send [NODE] NAME TERM            send TERM to the process registered as NAME
  names [HOST]                     list the nodes EPMD on HOST knows (default 127.0.0.1)
  epmd [--port N]                  run an EPMD server in Node.js (default port 4369)

NODE is name@host, or name@host:port to connect to that port without EPMD; it defaults to
$RELEASE_NODE. The node that answers must have the name part asked for; its host part may differ.
Terms are written in Erlang syntax ('[1, {a, <<"b">>}]', "charlist", 'quoted atom'), or Elixir
syntax with --elixir (%{k: 1}, "binary", :atom).

Options:
  --cookie C      the cookie (default: $ERLANG_COOKIE, $RELEASE_COOKIE, ~/.erlang.cookie)
  --name N        this node's name (default: the first free of ${SLOT_PREFIX}-0 ... -${SLOTS - 1} at this
                  host, so that repeated runs add no atoms on the target; a unique name if all are busy)
  --timeout MS    one deadline for the whole command: EPMD, TCP, handshake and the call (default 10000)
  --elixir        read and print Elixir syntax
  --json          print results as JSON, and errors as JSON on stderr: {"code", "message", "node", "exit"}
  -h, --help      help for a command

${EXIT_HELP}`;

const HELP: Record<string, string> = {
  ping: `Usage: erldist ping [NODE] [options]

Prints "pong" and the round-trip time; exits 0 on pong, 1 on pang or when a node of another name
answers, 3 when no connection is made within --timeout. As a Kubernetes exec probe:
  erldist ping --timeout 2000          (NODE from $RELEASE_NODE, the cookie from $RELEASE_COOKIE)

Examples:
  erldist ping app@127.0.0.1
  erldist ping app@svc.project.svc.cluster.local:43691 --cookie "$COOKIE"
`,
  rpc: `Usage: erldist rpc [NODE] MODULE FUNCTION [ARG ...] [options]

Each ARG is one term. With --elixir, MODULE may be an Elixir alias (String, MyApp.Repo) or :erlang.

Examples:
  erldist rpc app@host erlang system_info otp_release
  erldist rpc app@host lists seq 1 5
  erldist rpc app@host erlang list_to_tuple '[a, 1, <<"x">>]'
  erldist rpc app@host String upcase '"hello"' --elixir
  erldist rpc app@host maps get 'k' '#{k => 1}' --json
`,
  eval: `Usage: erldist eval [NODE] EXPR [options]

Evaluates EXPR on the node with erl_eval (Code.eval_string with --elixir) and prints its value.

Examples:
  erldist eval app@host 'lists:sum([1, 2, 3])'
  erldist eval app@host 'Enum.map(1..3, &(&1 * 2))' --elixir
`,
  send: `Usage: erldist send [NODE] NAME TERM [options]

Sends TERM to the process registered as NAME on the node.

Examples:
  erldist send app@host jobs '{run, 42}'
  erldist send app@host MyApp.Worker '{:run, 42}' --elixir
`,
  names: `Usage: erldist names [HOST] [options]

Lists what EPMD on HOST (default 127.0.0.1; port $ERL_EPMD_PORT or 4369) knows.

Examples:
  erldist names
  erldist names app.project.svc.cluster.local --json
`,
  epmd: `Usage: erldist epmd [--port N]

Runs an EPMD server (default port $ERL_EPMD_PORT or 4369) until interrupted, for pods without an
epmd binary. Real erl nodes register with it and resolve each other through it.
`,
};

function parseArgs(argv: string[]): { command: string | undefined; positional: string[]; options: Options } {
  const options: Options = { timeout: 10_000, elixir: false, json: false, help: false };
  const positional: string[] = [];
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('-') && !/^-\d/.test(a) && a !== '-') {
      switch (a) {
        case '--cookie':
          options.cookie = value();
          break;
        case '--name':
          options.name = value();
          break;
        case '--timeout': {
          const t = Number(value());
          // Whole milliseconds that a timer can hold (about 24.8 days at most).
          if (!Number.isInteger(t) || t <= 0 || t > MAX_TIMEOUT)
            throw new UsageError(`--timeout needs a whole number of milliseconds from 1 to ${MAX_TIMEOUT}`);
          options.timeout = t;
          break;
        }
        case '--port': {
          const p = Number(value());
          if (!Number.isInteger(p) || p < 0 || p > 65535) throw new UsageError('--port needs a port number');
          options.port = p;
          break;
        }
        case '--elixir':
          options.elixir = true;
          break;
        case '--json':
          options.json = true;
          break;
        case '-h':
        case '--help':
          options.help = true;
          break;
        default:
          throw new UsageError(`unknown option ${a}`);
      }
      continue;
    }
    if (command === undefined) command = a;
    else positional.push(a);
  }
  return { command, positional, options };
}

/** name@host, name@host:port, name@::1 or name@[::1]:port (not a term: no quotes, braces or brackets elsewhere). */
const NODE_ARG = /^[A-Za-z0-9_-]+@(\[[0-9A-Fa-f:.]+\](:\d+)?|[^\s'"{}[\]]+)$/;

/** NODE is optional: the first argument is one when it looks like name@host, else $RELEASE_NODE. */
function takeNode(positional: string[], env: NodeJS.ProcessEnv): string {
  if (positional.length > 0 && NODE_ARG.test(positional[0])) return positional.shift()!;
  const fallback = env.RELEASE_NODE;
  if (fallback) return fallback;
  throw new UsageError('no NODE given and $RELEASE_NODE is not set');
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
