/**
 * Real BEAM nodes for the interop suites: a private EPMD per test file, Erlang and Elixir nodes with
 * long names on 127.0.0.1, and a control channel to evaluate code on them.
 *
 *   const epmd = await startEpmd(rt);
 *   const node = await startErlangNode(rt, { epmdPort: epmd.port });
 *   await node.eval('node()');        // -> "'t1a2b3c4d5@127.0.0.1'"
 *   afterAll(stopAll);                // or node.stop(), epmd.stop()
 *
 * Control channel: the node runs a small read-eval loop (CONTROL_LOOP below) on its stdin and
 * stdout. Requests are lines `Id Kind HexSource`; replies are lines `ERLDIST-REPLY Id ok|error Hex`
 * preceded by a newline, so anything else the node prints (logger, io:format) is kept as log text
 * and never confused with a reply. Each request is evaluated in its own process; the result is
 * `io_lib:format("~p", [Value])` printed on one line (Erlang), or `inspect(Value)` (Elixir).
 *
 * Nothing is left behind: a node halts when its stdin closes (so it dies with this process even on
 * SIGKILL), EPMD runs under a shell that kills it when its stdin closes, and everything still alive
 * is killed on `stopAll()`, on process exit and on SIGINT/SIGTERM.
 *
 * Runtimes (runtimes.ts) are command prefixes such as `chroot /opt/erldist-otp/trixie`: EPMD and the
 * nodes run inside the same runtime and share the host's loopback, so host-side clients reach them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { freePort } from './net.js';
import { command, type Runtime, runtimeEnv, runtimeError } from './runtimes.js';
import { pause } from './wait.js';

export const NODE_HOST = '127.0.0.1';
const DEFAULT_START_TIMEOUT = 60_000;
const DEFAULT_EVAL_TIMEOUT = 30_000;
const STOP_GRACE_MS = 5_000;
const MAX_LOG = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Small helpers

/** A cookie of 20 random upper-case letters. */
export function randomCookie(): string {
  const bytes = randomBytes(20);
  let out = '';
  for (const b of bytes) out += String.fromCharCode(65 + (b % 26));
  return out;
}

/** A fresh node name (the part before `@`): `t` and 10 hex digits. */
export function randomNodeName(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

/** True when the OS process `pid` is stopped (SIGSTOP took effect): state `T` in /proc (Linux). */
export function isStopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
  } catch {
    return false;
  }
}

/** Resolves true once something accepts TCP connections on 127.0.0.1:port. */
function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: NODE_HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function hex(text: string): string {
  return Buffer.from(text, 'utf8').toString('hex');
}

function unhex(text: string): string {
  return Buffer.from(text, 'hex').toString('utf8');
}

/** Keeps the last MAX_LOG characters of a stream. */
class Log {
  private text = '';
  add(s: string): void {
    this.text += s;
    if (this.text.length > 2 * MAX_LOG) this.text = this.text.slice(-MAX_LOG);
  }
  toString(): string {
    return this.text.slice(-MAX_LOG);
  }
}

// ---------------------------------------------------------------------------------------------
// Tracking: everything started here dies with this process.

interface Tracked {
  /** OS processes to SIGKILL if still alive. */
  pids(): number[];
  stop(): Promise<void>;
}

const live = new Set<Tracked>();
let hooksInstalled = false;

function killNow(): void {
  for (const t of live) {
    for (const pid of t.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  live.clear();
}

function track(t: Tracked): void {
  live.add(t);
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('exit', killNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killNow();
      process.off(sig, onSignal);
      // Nobody else handles it: behave as if we had not listened (terminate by the signal).
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** Stops every EPMD and node this process started (for `afterAll`). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((t) => t.stop()));
}

/** True while the OS process `pid` exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
}

// ---------------------------------------------------------------------------------------------
// EPMD

export interface EpmdProcess {
  port: number;
  /** OS pid of epmd. */
  pid: number;
  runtime: Runtime;
  stop(): Promise<void>;
}

/**
 * `epmd -port P` in the foreground under `sh`, which kills it when its stdin (our pipe) closes.
 * `$!` of a simple asynchronous command is epmd itself.
 */
const EPMD_GUARD = [
  'exec 3<&0',
  'epmd -port "$1" &',
  'e=$!',
  'echo "$e"',
  '{ read -r line <&3; kill "$e" 2>/dev/null; } &',
  'wait "$e"',
].join('\n');

/** Starts a private EPMD on a free port of the runtime (its own `epmd`; loopback is shared). */
export async function startEpmd(rt: Runtime, opts: { port?: number; timeout?: number } = {}): Promise<EpmdProcess> {
  const attempts = opts.port === undefined ? 3 : 1;
  let lastError: Error | undefined;
  for (let i = 0; i < attempts; i++) {
    try {
      return await startEpmdOnce(rt, opts.port ?? (await freePort()), opts.timeout ?? 15_000);
    } catch (err) {
      lastError = err as Error;
    }
  }
  throw lastError as Error;
}

async function startEpmdOnce(rt: Runtime, port: number, timeout: number): Promise<EpmdProcess> {
  const [file, args] = command(rt, 'sh', ['-c', EPMD_GUARD, 'sh', String(port)]);
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: runtimeEnv() });
  const exited = exitOf(child);
  const log = new Log();
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => log.add(s));
  child.stdin.on('error', () => {});
  let epmdPid = 0;
  const pidLine = new Promise<void>((resolve) => {
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      buf += s;
      const m = /^(\d+)\n/.exec(buf);
      if (m && epmdPid === 0) {
        epmdPid = Number(m[1]);
        resolve();
      }
    });
  });

  let stopping: Promise<void> | undefined;
  const handle: EpmdProcess & Tracked = {
    port,
    pid: 0,
    runtime: rt,
    pids: () => [epmdPid, child.pid ?? 0].filter((p) => p > 0),
    stop: () => {
      stopping ??= (async () => {
        child.stdin.end();
        const timer = setTimeout(() => {
          for (const pid of handle.pids()) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // Gone.
            }
          }
        }, STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
        // The guard shell waited for epmd; make sure it is gone even if the shell was killed.
        if (epmdPid > 0 && isAlive(epmdPid)) {
          try {
            process.kill(epmdPid, 'SIGKILL');
          } catch {
            // Gone.
          }
        }
        live.delete(handle);
      })();
      return stopping;
    },
  };
  track(handle);

  const deadline = Date.now() + timeout;
  const describe = (what: string): Error =>
    runtimeError(rt, `epmd -port ${port} ${what}${log.toString() ? `\nstderr:\n${log}` : ''}`);
  try {
    const started = await Promise.race([
      pidLine.then(() => true),
      exited.then(() => false),
      pause(timeout).then(() => false),
    ]);
    if (!started) throw describe("did not start (is epmd on the runtime's PATH?)");
    handle.pid = epmdPid;
    for (;;) {
      if (child.exitCode !== null || !isAlive(epmdPid)) throw describe('exited (port in use?)');
      if (await canConnect(port)) break;
      if (Date.now() > deadline) throw describe(`accepts no connections after ${timeout} ms`);
      await pause(20);
    }
    // epmd exits with status 0 when its port is taken: be sure the listener is ours (a wait on
    // purpose, proving that epmd stays up).
    await pause(30);
    if (!isAlive(epmdPid)) throw describe('exited right after start (port in use?)');
    return handle;
  } catch (err) {
    await handle.stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Nodes

export interface StartNodeOptions {
  /** The private EPMD the node registers with (`ERL_EPMD_PORT`). */
  epmdPort: number;
  /** Default: randomCookie(). */
  cookie?: string;
  /** The part before `@`; default: randomNodeName(). */
  name?: string;
  host?: string;
  /** Listen for distribution on exactly this port (`-kernel inet_dist_listen_min/max`). */
  pinnedPort?: number;
  /** `-kernel net_ticktime N` (seconds). */
  netTicktime?: number;
  /**
   * Code evaluated before the node reports ready: Erlang expressions for `startErlangNode` (e.g.
   * ERLANG_MAILBOX_ECHO), Elixir code for `startElixirNode`. Processes it spawns stay alive.
   */
  eval?: string;
  /** Start as a hidden node (`-hidden`). */
  hidden?: boolean;
  /** Milliseconds until the node must be ready; default 60 s. */
  timeout?: number;
  /** More arguments for `erl` (Erlang nodes) or for `--erl` (Elixir nodes). */
  erlArgs?: string[];
}

export interface BeamNode {
  kind: 'erlang' | 'elixir';
  runtime: Runtime;
  /** Full node name, e.g. `t1a2b3c4d5@127.0.0.1`. */
  name: string;
  /** The part before `@`. */
  shortName: string;
  host: string;
  cookie: string;
  /**
   * The port the node accepts distribution connections on: the node reads it from net_kernel's
   * listening socket (falling back to asking its EPMD), so tests can check EPMD against it.
   */
  distPort: number;
  epmdPort: number;
  /** OS pid of beam.smp (for SIGSTOP/SIGKILL tests). */
  pid: number;
  /** `erlang:system_info(otp_release)`, e.g. "27". */
  otpRelease: string;
  hidden: boolean;
  /** Milliseconds from spawn to ready. */
  startMs: number;
  /** Evaluates Erlang expressions (a final `.` is optional); resolves with `~p` of the value. */
  eval(expr: string, opts?: { timeout?: number }): Promise<string>;
  /** Elixir nodes only: evaluates Elixir code; resolves with `inspect(value)`. */
  evalElixir(code: string, opts?: { timeout?: number }): Promise<string>;
  /** Sends a signal to beam (default SIGKILL). */
  kill(signal?: NodeJS.Signals): void;
  /** Halts the node (closing its stdin; SIGKILL after a grace period) and waits for it. */
  stop(): Promise<void>;
  /** Resolves when the node's OS process exited. */
  exited: Promise<Exit>;
  /** What the node printed besides control lines (stdout and stderr). */
  output(): string;
}

/**
 * Erlang for `eval`: registers `mailbox_echo`, which answers `{FromPid, Msg}` with `{echo, Msg}`
 * (the same contract as the Elixir node's `:mailbox_echo`).
 */
export const ERLANG_MAILBOX_ECHO = [
  'register(mailbox_echo, spawn(fun Loop() ->',
  '  receive {From, Msg} when is_pid(From) -> From ! {echo, Msg}; _ -> ok end,',
  '  Loop() end))',
].join('\n');

/**
 * The control loop, one Erlang expression (no compiled module needed, so it runs unchanged on every
 * runtime and inside Elixir through :erl_eval). Environment:
 *   ERLDIST_INIT_EVAL  hex of Erlang expressions to evaluate before READY (optional).
 * Prints `ERLDIST-READY Node OsPid DistPort OtpRelease` or `ERLDIST-FAIL Hex` (then halts 1).
 */
export const CONTROL_LOOP = String.raw`
begin
  Say = fun(Line) -> io:put_chars(standard_io, ["\nERLDIST-", Line, "\n"]) end,
  Hex = fun(Text) -> binary:encode_hex(unicode:characters_to_binary(Text)) end,
  Unhex = fun(H) -> unicode:characters_to_list(binary:decode_hex(list_to_binary(H)), utf8) end,
  Format = fun(V) -> io_lib:format("~1000000p", [V]) end,
  Erl = fun(Src) ->
    {ok, Tokens, _} = erl_scan:string(Src),
    {ok, Exprs} = erl_parse:parse_exprs(Tokens),
    {value, V, _} = erl_eval:exprs(Exprs, erl_eval:new_bindings()),
    V
  end,
  Eval = fun("e", Src) -> Format(Erl(Src));
            ("x", Src) ->
              {V, _} = 'Elixir.Code':eval_string(unicode:characters_to_binary(Src)),
              'Elixir.Kernel':inspect(V, [{limit, infinity}, {printable_limit, infinity}])
         end,
  Handle = fun(Id, Kind, H) ->
    Reply = try {"ok", Eval(Kind, Unhex(H))}
            catch C:R:St -> {"error", io_lib:format("~p:~1000000p~n~p", [C, R, St])}
            end,
    {Status, Text} = Reply,
    Say(["REPLY ", Id, " ", Status, " ", Hex(Text)])
  end,
  case os:getenv("ERLDIST_INIT_EVAL") of
    false -> ok;
    "" -> ok;
    Init ->
      try Erl(Unhex(Init))
      catch IC:IR:ISt ->
        Say(["FAIL ", Hex(io_lib:format("~p:~1000000p~n~p", [IC, IR, ISt]))]),
        erlang:halt(1)
      end
  end,
  NetKernel = whereis(net_kernel),
  Listening = [N || P <- erlang:ports(),
                    erlang:port_info(P, name) =:= {name, "tcp_inet"},
                    erlang:port_info(P, connected) =:= {connected, NetKernel},
                    {ok, Status} <- [prim_inet:getstatus(P)],
                    lists:member(listen, Status),
                    {ok, {_, N}} <- [inet:sockname(P)]],
  DistPort = case Listening of
    [Only] -> Only;
    _ ->
      [Short, Host] = string:split(atom_to_list(node()), "@"),
      {port, FromEpmd, _} = erl_epmd:port_please(Short, Host),
      FromEpmd
  end,
  Say(["READY ", atom_to_list(node()), " ", os:getpid(), " ", integer_to_list(DistPort), " ",
       erlang:system_info(otp_release)]),
  Loop = fun Loop() ->
    case io:get_line(standard_io, "") of
      eof -> erlang:halt(0);
      {error, _} -> erlang:halt(0);
      Data ->
        case string:lexemes(string:trim(unicode:characters_to_list(Data)), " ") of
          [Id, Kind, H] -> spawn(fun() -> Handle(Id, Kind, H) end);
          [] -> ok;
          Other -> Say(["REPLY - error ", Hex(io_lib:format("bad request ~p", [Other]))])
        end,
        Loop()
    end
  end,
  Loop()
end.
`;

/**
 * The Elixir node's `-e` code: an `:echo_server` GenServer under a supervisor (restarted after
 * `:crash`), `:mailbox_echo`, the caller's Elixir code (ERLDIST_INIT_ELIXIR, hex), then the
 * control loop (ERLDIST_CONTROL).
 */
export const ELIXIR_BOOT = String.raw`
defmodule ErldistEchoServer do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, nil, name: :echo_server)
  @impl true
  def init(_), do: {:ok, nil}
  @impl true
  def handle_call({:echo, x}, _from, state), do: {:reply, x, state}
  def handle_call(:get, _from, state), do: {:reply, state, state}
  def handle_call(:crash, _from, _state), do: raise("echo_server: crash requested")
  @impl true
  def handle_cast({:store, x}, _state), do: {:noreply, x}
end

defmodule ErldistMailboxEcho do
  def loop do
    receive do
      {from, msg} when is_pid(from) -> send(from, {:echo, msg})
      _ -> :ok
    end
    loop()
  end
end

{:ok, sup} = Supervisor.start_link([ErldistEchoServer], strategy: :one_for_one, max_restarts: 1000, max_seconds: 1)
Process.unlink(sup)
Process.register(spawn(&ErldistMailboxEcho.loop/0), :mailbox_echo)

case System.get_env("ERLDIST_INIT_ELIXIR") do
  nil -> :ok
  "" -> :ok
  code -> Code.eval_string(Base.decode16!(code, case: :mixed))
end

{:ok, tokens, _} = :erl_scan.string(String.to_charlist(System.get_env("ERLDIST_CONTROL")))
{:ok, exprs} = :erl_parse.parse_exprs(tokens)
:erl_eval.exprs(exprs, :erl_eval.new_bindings())
`;

type Pending = { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout; what: string };

class NodeProcess implements BeamNode, Tracked {
  kind: 'erlang' | 'elixir';
  runtime: Runtime;
  name = '';
  shortName: string;
  host: string;
  cookie: string;
  distPort = 0;
  epmdPort: number;
  pid = 0;
  otpRelease = '';
  hidden: boolean;
  startMs = 0;
  exited: Promise<Exit>;

  private readonly child: ChildProcess;
  private readonly log = new Log();
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private failure: Error | null = null;
  private stopping: Promise<void> | undefined;
  private onReady: ((err: Error | null) => void) | undefined;

  constructor(
    kind: 'erlang' | 'elixir',
    rt: Runtime,
    opts: StartNodeOptions,
    file: string,
    args: string[],
    env: NodeJS.ProcessEnv,
  ) {
    this.kind = kind;
    this.runtime = rt;
    this.shortName = opts.name ?? '';
    this.host = opts.host ?? NODE_HOST;
    this.cookie = opts.cookie ?? '';
    this.epmdPort = opts.epmdPort;
    this.hidden = opts.hidden === true;
    this.child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.exited = exitOf(this.child);
    track(this);

    const out = new StringDecoder('utf8');
    let partial = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + out.write(chunk)).split('\n');
      partial = lines.pop() as string;
      for (const line of lines) this.onLine(line);
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (s: string) => this.log.add(s));
    this.child.stdin!.on('error', () => {});
    this.child.on('error', (err) => this.fail(new Error(`${kind} node could not be spawned: ${err.message}`)));
    void this.exited.then(({ code, signal }) => {
      if (partial) this.onLine(partial);
      this.fail(this.describe(`exited (code ${code}, signal ${signal})`));
      live.delete(this);
    });
  }

  ready(timeout: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(this.describe(`not ready within ${timeout} ms`)), timeout);
      this.onReady = (err) => {
        clearTimeout(timer);
        this.onReady = undefined;
        if (err) reject(err);
        else resolve();
      };
    });
  }

  private onLine(line: string): void {
    if (!line.startsWith('ERLDIST-')) {
      this.log.add(`${line}\n`);
      return;
    }
    const [tag, ...rest] = line.slice('ERLDIST-'.length).trimEnd().split(' ');
    if (tag === 'READY' && rest.length === 4) {
      const [name, pid, distPort, release] = rest as [string, string, string, string];
      this.name = name;
      this.pid = Number(pid);
      this.distPort = Number(distPort);
      this.otpRelease = release;
      this.onReady?.(null);
    } else if (tag === 'FAIL') {
      this.fail(this.describe(`start-up code failed: ${unhex(rest[0] ?? '')}`));
    } else if (tag === 'REPLY' && rest.length === 3) {
      const [id, status, text] = rest as [string, string, string];
      const waiter = this.pending.get(id);
      if (!waiter) {
        this.log.add(`(reply nobody waits for: ${line})\n`);
        return;
      }
      this.pending.delete(id);
      clearTimeout(waiter.timer);
      if (status === 'ok') waiter.resolve(unhex(text));
      else waiter.reject(new Error(`${this.label} ${waiter.what} failed:\n${unhex(text)}`));
    } else {
      this.log.add(`${line}\n`);
    }
  }

  private get label(): string {
    return `${this.kind} node ${this.name || this.shortName} (${this.runtime.label})`;
  }

  private describe(what: string): Error {
    const text = this.log.toString();
    return runtimeError(this.runtime, `${this.label} ${what}${text ? `\noutput:\n${text}` : '\n(no output)'}`);
  }

  private fail(err: Error): void {
    if (this.failure === null) this.failure = err;
    this.onReady?.(this.failure);
    for (const [id, waiter] of this.pending) {
      this.pending.delete(id);
      clearTimeout(waiter.timer);
      waiter.reject(this.failure);
    }
    if (this.child.exitCode === null && this.child.signalCode === null) this.killAll('SIGKILL');
  }

  private request(kind: 'e' | 'x', source: string, timeout: number): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    const id = String(this.nextId++);
    const what = `eval of ${JSON.stringify(source.length > 200 ? `${source.slice(0, 200)}...` : source)}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.label}: ${what} timed out after ${timeout} ms\noutput:\n${this.log}`));
      }, timeout);
      this.pending.set(id, { resolve, reject, timer, what });
      this.child.stdin!.write(`${id} ${kind} ${hex(source)}\n`);
    });
  }

  eval(expr: string, opts: { timeout?: number } = {}): Promise<string> {
    let source = expr.trim();
    if (!source.endsWith('.')) source += '.';
    return this.request('e', source, opts.timeout ?? DEFAULT_EVAL_TIMEOUT);
  }

  evalElixir(code: string, opts: { timeout?: number } = {}): Promise<string> {
    if (this.kind !== 'elixir') return Promise.reject(new Error(`${this.label}: evalElixir needs an Elixir node`));
    return this.request('x', code, opts.timeout ?? DEFAULT_EVAL_TIMEOUT);
  }

  pids(): number[] {
    return [this.pid, this.child.pid ?? 0].filter((p, i, all) => p > 0 && all.indexOf(p) === i);
  }

  private killAll(signal: NodeJS.Signals): void {
    for (const pid of this.pids()) {
      try {
        process.kill(pid, signal);
      } catch {
        // Gone.
      }
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.pid > 0) {
      try {
        process.kill(this.pid, signal);
      } catch {
        // Gone.
      }
    } else {
      this.killAll(signal);
    }
  }

  output(): string {
    return this.log.toString();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.child.exitCode === null && this.child.signalCode === null) {
        // A stopped (SIGSTOP) node cannot halt by itself.
        this.kill('SIGCONT');
        this.child.stdin!.end();
        const timer = setTimeout(() => this.killAll('SIGKILL'), STOP_GRACE_MS);
        await this.exited;
        clearTimeout(timer);
      }
      // beam is normally the child itself (chroot, erl, erlexec and elixir all exec); if a
      // wrapper stayed in between, make sure beam is gone too.
      if (this.pid > 0 && this.pid !== this.child.pid && isAlive(this.pid)) this.kill('SIGKILL');
      live.delete(this);
    })();
    return this.stopping;
  }
}

function nodeArgs(opts: StartNodeOptions): string[] {
  const args: string[] = [];
  if (opts.pinnedPort !== undefined) {
    args.push(
      '-kernel',
      'inet_dist_listen_min',
      String(opts.pinnedPort),
      'inet_dist_listen_max',
      String(opts.pinnedPort),
    );
  }
  if (opts.netTicktime !== undefined) args.push('-kernel', 'net_ticktime', String(opts.netTicktime));
  // Our EPMD must already run; never let erl start a daemon that outlives the test.
  args.push('-start_epmd', 'false');
  args.push(...(opts.erlArgs ?? []));
  return args;
}

function nodeEnv(opts: StartNodeOptions, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...runtimeEnv(),
    ERL_EPMD_PORT: String(opts.epmdPort),
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    ...extra,
  };
  for (const key of [
    'ERL_AFLAGS',
    'ERL_FLAGS',
    'ERL_ZFLAGS',
    'ELIXIR_ERL_OPTIONS',
    'ERLDIST_INIT_EVAL',
    'ERLDIST_INIT_ELIXIR',
  ]) {
    if (!(key in extra)) delete env[key];
  }
  return env;
}

function withDefaults(opts: StartNodeOptions): StartNodeOptions & { name: string; cookie: string; host: string } {
  let name = opts.name ?? randomNodeName();
  let host = opts.host ?? NODE_HOST;
  const at = name.indexOf('@');
  if (at >= 0) {
    host = name.slice(at + 1);
    name = name.slice(0, at);
  }
  return { ...opts, name, host, cookie: opts.cookie ?? randomCookie() };
}

async function startNode(node: NodeProcess, timeout: number): Promise<BeamNode> {
  const t0 = performance.now();
  try {
    await node.ready(timeout);
  } catch (err) {
    await node.stop();
    throw err;
  }
  node.startMs = Math.round(performance.now() - t0);
  return node;
}

/** Starts `erl -noshell -name N@127.0.0.1 -setcookie C ...` with the control loop. */
export async function startErlangNode(rt: Runtime, options: StartNodeOptions): Promise<BeamNode> {
  const opts = withDefaults(options);
  const args = ['-noshell', '-name', `${opts.name}@${opts.host}`, '-setcookie', opts.cookie];
  if (opts.hidden) args.push('-hidden');
  args.push(...nodeArgs(opts), '-eval', CONTROL_LOOP);
  const [file, argv] = command(rt, 'erl', args);
  const extra: NodeJS.ProcessEnv = {};
  if (opts.eval !== undefined)
    extra.ERLDIST_INIT_EVAL = hex(opts.eval.trim().endsWith('.') ? opts.eval : `${opts.eval}.`);
  const node = new NodeProcess('erlang', rt, opts, file, argv, nodeEnv(opts, extra));
  return startNode(node, opts.timeout ?? DEFAULT_START_TIMEOUT);
}

/**
 * Starts `elixir --name N@127.0.0.1 --cookie C --erl "..." -e ELIXIR_BOOT`: `:echo_server`
 * (GenServer: call `{:echo, x}` -> x, `:get` -> stored value, `:crash` raises; cast `{:store, x}`),
 * `:mailbox_echo` (`{from_pid, msg}` -> sends `{:echo, msg}` to from_pid), and the control loop.
 */
export async function startElixirNode(rt: Runtime, options: StartNodeOptions): Promise<BeamNode> {
  const opts = withDefaults(options);
  const args = ['--name', `${opts.name}@${opts.host}`, '--cookie', opts.cookie];
  if (opts.hidden) args.push('--hidden');
  args.push('--erl', nodeArgs(opts).join(' '), '-e', ELIXIR_BOOT);
  const [file, argv] = command(rt, 'elixir', args);
  const extra: NodeJS.ProcessEnv = { ERLDIST_CONTROL: CONTROL_LOOP };
  if (opts.eval !== undefined) extra.ERLDIST_INIT_ELIXIR = hex(opts.eval);
  const node = new NodeProcess('elixir', rt, opts, file, argv, nodeEnv(opts, extra));
  return startNode(node, opts.timeout ?? DEFAULT_START_TIMEOUT);
}
