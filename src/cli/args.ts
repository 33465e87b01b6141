/** The `erldist` command line: options, the command and its arguments, and the NODE argument. */

const MAX_TIMEOUT = 2 ** 31 - 1;

export interface Options {
  cookie?: string;
  name?: string;
  timeout: number;
  elixir: boolean;
  json: boolean;
  help: boolean;
  port?: number;
  /** `--tls`: distribution over TLS (the system's CAs unless an optfile says otherwise). */
  tls: boolean;
  /** `--ssl-dist-optfile FILE`: OTP's ssl_dist_optfile (implies `--tls`). */
  sslDistOptfile?: string;
}

export class UsageError extends Error {}

export function parseArgs(argv: string[]): { command: string | undefined; positional: string[]; options: Options } {
  const options: Options = { timeout: 10_000, elixir: false, json: false, help: false, tls: false };
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
        case '--tls':
          options.tls = true;
          break;
        case '--ssl-dist-optfile':
          options.sslDistOptfile = value();
          options.tls = true;
          break;
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
export function takeNode(positional: string[], env: NodeJS.ProcessEnv): string {
  if (positional.length > 0 && NODE_ARG.test(positional[0])) return positional.shift()!;
  const fallback = env.RELEASE_NODE;
  if (fallback) return fallback;
  throw new UsageError('no NODE given and $RELEASE_NODE is not set');
}

/** Where a release puts its emulator flags: what `erl` reads, and what `elixir` passes to it. */
const ERL_FLAG_VARS = ['ERL_AFLAGS', 'ERL_FLAGS', 'ELIXIR_ERL_OPTIONS', 'ERL_ZFLAGS'];

/**
 * The `tls` option of the command: `--tls` / `--ssl-dist-optfile`, else `-proto_dist inet_tls` and
 * `-ssl_dist_optfile FILE` from the environment's erl flags (so that `erldist ping` in a release's
 * pod needs no flags of its own); undefined for plain TCP.
 */
export function cliTls(options: Options, env: NodeJS.ProcessEnv): { sslDistOptfile?: string } | undefined {
  if (options.tls) return options.sslDistOptfile === undefined ? {} : { sslDistOptfile: options.sslDistOptfile };
  let tls = false;
  let optfile: string | undefined;
  for (const name of ERL_FLAG_VARS) {
    const words = (env[name] ?? '').split(/\s+/).filter((w) => w !== '');
    for (let i = 0; i < words.length - 1; i++) {
      if (words[i] === '-proto_dist') tls = words[i + 1] === 'inet_tls' || words[i + 1] === 'inet6_tls';
      if (words[i] === '-ssl_dist_optfile') optfile = words[i + 1];
    }
  }
  if (!tls) return undefined;
  return optfile === undefined ? {} : { sslDistOptfile: optfile };
}
