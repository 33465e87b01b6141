/**
 * The `erldist` command: ping, rpc, eval, send, names and an embedded epmd, for scripts and pods.
 * Uses only what the package exports, as any user would.
 *
 * Exit codes: 0 ok, 1 remote error or pang, 2 usage (bad arguments, a term that does not parse),
 * 3 connection or authentication failure.
 */
import {
  type Atom,
  atom,
  connect,
  ErldistError,
  inspect,
  names,
  type Peer,
  parseTerm,
  startEpmd,
  type Term,
  Tuple,
} from '../index.js';
import { toJson } from './json.js';

export const EXIT_OK = 0;
export const EXIT_REMOTE = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONNECT = 3;

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
$RELEASE_NODE. Terms are written in Erlang syntax ('[1, {a, <<"b">>}]', "charlist", 'quoted atom'),
or Elixir syntax with --elixir (%{k: 1}, "binary", :atom).

Options:
  --cookie C      the cookie (default: $ERLANG_COOKIE, $RELEASE_COOKIE, ~/.erlang.cookie)
  --name N        this node's name (default: a unique name on this host)
  --timeout MS    give up after MS milliseconds (default 10000)
  --elixir        read and print Elixir syntax
  --json          print results as JSON (see the README for the mapping)
  -h, --help      help for a command

Exit codes: 0 ok, 1 remote error or pang, 2 usage, 3 connection or authentication failure.
`;

const HELP: Record<string, string> = {
  ping: `Usage: erldist ping [NODE] [options]

Prints "pong" and the round-trip time; exits 0 on pong, 1 on pang or error.

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
          if (!Number.isFinite(t) || t <= 0) throw new UsageError('--timeout needs a positive number of milliseconds');
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

export async function main(argv: string[], io: Io): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    io.err(`erldist: ${(err as Error).message}\n\n${GLOBAL_HELP}`);
    return EXIT_USAGE;
  }
  const { command, positional, options } = parsed;
  if (command === undefined || command === 'help') {
    (command === undefined && !options.help ? io.err : io.out)(GLOBAL_HELP);
    return command === undefined && !options.help ? EXIT_USAGE : EXIT_OK;
  }
  if (!(command in HELP)) {
    io.err(`erldist: unknown command ${JSON.stringify(command)}\n\n${GLOBAL_HELP}`);
    return EXIT_USAGE;
  }
  if (options.help) {
    io.out(HELP[command]);
    return EXIT_OK;
  }
  const syntax = options.elixir ? 'elixir' : 'erlang';
  const show = (t: Term) => io.out(`${options.json ? JSON.stringify(toJson(t)) : inspect(t, { syntax })}\n`);
  let phase: 'usage' | 'connect' | 'remote' = 'usage';
  let peer: Peer | undefined;
  try {
    const open = async (node: string) => {
      phase = 'connect';
      peer = await connect(node, { cookie: options.cookie, name: options.name, timeout: options.timeout, exact: true });
      phase = 'remote';
      return peer;
    };
    switch (command) {
      case 'ping': {
        const node = takeNode(positional, io.env);
        if (positional.length > 0) throw new UsageError('ping takes one NODE');
        const started = performance.now();
        const p = await open(node);
        const pong = await p.ping({ timeout: options.timeout });
        const ms = (performance.now() - started).toFixed(1);
        if (options.json) io.out(`${JSON.stringify({ node: p.name, pong, ms: Number(ms) })}\n`);
        else io.out(pong ? `pong from ${p.name} in ${ms} ms\n` : 'pang\n');
        return pong ? EXIT_OK : EXIT_REMOTE;
      }
      case 'rpc': {
        const node = takeNode(positional, io.env);
        const [mod, fun, ...rest] = positional;
        if (mod === undefined || fun === undefined) throw new UsageError('rpc needs MODULE and FUNCTION');
        const args = rest.map((text) => parseTerm(text, { syntax }));
        const p = await open(node);
        show(
          await p.rpc(moduleAtom(mod, options.elixir), atom(fun.replace(/^:/, '')), args, { timeout: options.timeout }),
        );
        return EXIT_OK;
      }
      case 'eval': {
        const node = takeNode(positional, io.env);
        if (positional.length !== 1) throw new UsageError('eval takes one EXPR (quote it)');
        const p = await open(node);
        show(
          options.elixir
            ? await evalElixir(p, positional[0], options.timeout)
            : await evalErlang(p, positional[0], options.timeout),
        );
        return EXIT_OK;
      }
      case 'send': {
        const node = takeNode(positional, io.env);
        if (positional.length !== 2) throw new UsageError('send takes NAME and TERM');
        const [name, text] = positional;
        const message = parseTerm(text, { syntax });
        const p = await open(node);
        p.send(moduleAtom(name, options.elixir), message);
        await p.ping({ timeout: options.timeout }); // a round trip: the message is delivered before we close
        if (options.json) io.out(`${JSON.stringify({ sent: true })}\n`);
        return EXIT_OK;
      }
      case 'names': {
        if (positional.length > 1) throw new UsageError('names takes at most one HOST');
        phase = 'connect';
        const reply = await names(positional[0] ?? '127.0.0.1', { timeout: options.timeout });
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
    return report(err, phase, io);
  } finally {
    await peer?.close();
  }
}

function report(err: unknown, phase: 'usage' | 'connect' | 'remote', io: Io): number {
  if (err instanceof UsageError) {
    io.err(`erldist: ${err.message} (see --help)\n`);
    return EXIT_USAGE;
  }
  if (!(err instanceof ErldistError)) {
    io.err(`erldist: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_REMOTE;
  }
  const reason = err.reason === undefined ? '' : `\n  reason: ${inspect(err.reason as Term)}`;
  io.err(`erldist: ${err.code}: ${err.message}${reason}\n`);
  if (err.code === 'PARSE' || err.code === 'INVALID_ARGUMENT' || err.code === 'ENCODE') return EXIT_USAGE;
  if (phase === 'connect') return EXIT_CONNECT;
  if (['AUTH_FAILED', 'NOT_ALLOWED', 'NODE_NOT_FOUND', 'EPMD_UNREACHABLE', 'CONNECT_FAILED'].includes(err.code))
    return EXIT_CONNECT;
  return EXIT_REMOTE;
}

async function evalErlang(peer: Peer, expr: string, timeout: number): Promise<Term> {
  const text = expr.trimEnd().endsWith('.') ? expr : `${expr.trimEnd()}.`;
  const scanned = await peer.rpc('erl_scan', 'string', [[...text].map((c) => c.codePointAt(0)!)], { timeout });
  const tokens = okValue(scanned, 'erl_scan:string');
  const parsed = await peer.rpc('erl_parse', 'parse_exprs', [tokens], { timeout });
  const exprs = okValue(parsed, 'erl_parse:parse_exprs');
  const result = await peer.rpc('erl_eval', 'exprs', [exprs, []], { timeout });
  if (result instanceof Tuple && result.elements[0] === atom('value')) return result.elements[1];
  return result;
}

async function evalElixir(peer: Peer, code: string, timeout: number): Promise<Term> {
  const result = await peer.rpc(atom('Elixir.Code'), 'eval_string', [code], { timeout });
  if (result instanceof Tuple && result.length === 2) return result.elements[0];
  return result;
}

/** `{ok, V, ...}` gives V; anything else is the remote side's error, shown as BAD_RPC. */
function okValue(t: Term, what: string): Term {
  if (t instanceof Tuple && t.elements[0] === atom('ok')) return t.elements[1];
  throw new ErldistError('BAD_RPC', `${what} failed: the expression does not scan or parse`, { reason: t });
}
