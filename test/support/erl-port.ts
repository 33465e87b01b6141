/**
 * A BEAM (`erl -noshell -noinput`) driven over its stdin/stdout as an Erlang `{packet, 4}` port:
 * the test oracle for the term codec. See erl-term-server.ts for the ops and payload formats.
 *
 * Always `close()` it (in `afterAll`), also when a test fails; a runtime whose stdin closes halts
 * on its own, and live processes are killed when the Node process exits.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { u32Framed } from './bytes.js';
import { ERL_TERM_SERVER_SOURCE } from './erl-term-server.js';
import { command, type Runtime, runtimeEnv, runtimeError } from './runtimes.js';

/**
 * The `-eval` expression: opens fd 0/1 as a `{packet, 4}` port, reads the module source from the
 * first packet, compiles and loads it from memory, and hands the port to its loop.
 */
export const BOOT = [
  'P = open_port({fd, 0, 1}, [binary, {packet, 4}]),',
  'Src = receive {P, {data, D}} -> binary_to_list(D) end,',
  'M = try',
  '  {ok, Ts, _} = erl_scan:string(Src),',
  '  Split = fun S([], []) -> [];',
  '              S([{dot, _} = Dot | R], Acc) -> [lists:reverse([Dot | Acc]) | S(R, [])];',
  '              S([T | R], Acc) -> S(R, [T | Acc]) end,',
  '  Fs = [begin {ok, F} = erl_parse:parse_form(Form), F end || Form <- Split(Ts, [])],',
  '  {ok, Mod, Bin} = compile:forms(Fs, [binary, return_errors]),',
  '  {module, Mod} = code:load_binary(Mod, atom_to_list(Mod) ++ ".erl", Bin),',
  '  Mod',
  'catch C:E:St ->',
  '  io:format(standard_error, "erldist boot failed: ~tp:~tp~n~tp~n", [C, E, St]),',
  '  erlang:halt(2)',
  'end,',
  'M:loop(P).',
].join('\n');

const HEADER = 4;
const MAX_TEXT = 8192;

/** Splits a byte stream into `{packet, 4}` frames; handles any chunking in linear time. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Total bytes (header included) of the frame being received, once its header is known. */
  private need = -1;

  push(chunk: Buffer): Buffer[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Buffer[] = [];
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < HEADER) break;
        this.need = HEADER + this.take(HEADER, false).readUInt32BE(0);
      }
      if (this.buffered < this.need) break;
      frames.push(this.take(this.need, true).subarray(HEADER));
      this.need = -1;
    }
    return frames;
  }

  /** Bytes received that are not (yet) a whole frame. */
  get pending(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** The first `n` buffered bytes as one buffer, consuming them if `consume`. */
  private take(n: number, consume: boolean): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0]!;
    const out = first.subarray(0, n);
    if (consume) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
    }
    return out;
  }
}

/** A `{packet, 4}` frame, as the term server's port reads them. */
export const frame = u32Framed;

type Pending = { op: string; resolve: (reply: Buffer) => void; reject: (err: Error) => void };
type Child = ChildProcessByStdio<Writable, Readable, Readable>;

const live = new Set<Child>();
let exitHookInstalled = false;
function track(child: Child): void {
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

export class ErlPort {
  /** `erlang:system_info(otp_release)` of the runtime, e.g. `"27"`. */
  release = '';
  readonly runtime: Runtime;
  private readonly child: Child;
  private readonly decoder = new FrameDecoder();
  private readonly queue: Pending[] = [];
  private stderrText = '';
  private failure: Error | null = null;
  private readonly exited: Promise<void>;
  private markExited!: () => void;

  private constructor(rt: Runtime) {
    this.runtime = rt;
    this.exited = new Promise((resolve) => (this.markExited = resolve));
    const [file, args] = command(rt, 'erl', ['-noshell', '-noinput', '-eval', BOOT]);
    this.child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: runtimeEnv() });
    track(this.child);

    this.child.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (text: string) => {
      this.stderrText += text;
      if (this.stderrText.length > 4 * MAX_TEXT) this.stderrText = this.stderrText.slice(-MAX_TEXT);
    });
    this.child.stdin.on('error', () => {
      /* EPIPE after the runtime died; reported through the exit. */
    });
    this.child.on('error', (err) => {
      this.fail(new Error(`erl (${rt.label}) could not be spawned: ${err.message}`), true);
      if (this.child.pid === undefined) this.onExit(null, null); // never started: no 'close'
    });
    let exitTimer: NodeJS.Timeout | undefined;
    this.child.on('exit', (code, signal) => {
      // 'close' waits for stdio to drain; fall back if a grandchild holds the pipes open.
      exitTimer = setTimeout(() => this.onExit(code, signal), 1000);
      exitTimer.unref();
    });
    this.child.on('close', (code, signal) => {
      clearTimeout(exitTimer);
      this.onExit(code, signal);
    });
  }

  /** Starts `erl` on the runtime, loads the term server and checks it answers. */
  static async start(rt: Runtime): Promise<ErlPort> {
    const port = new ErlPort(rt);
    try {
      port.child.stdin.write(frame(Buffer.from(ERL_TERM_SERVER_SOURCE, 'utf8')));
      port.release = (await port.request('v', new Uint8Array(0))).toString('latin1');
      return port;
    } catch (err) {
      await port.close();
      throw runtimeError(rt, `term server did not start: ${(err as Error).message}`);
    }
  }

  /** Sends `<<Op, Payload>>`; resolves with the reply frame. Requests may be pipelined. */
  request(op: string, payload: Uint8Array = new Uint8Array(0)): Promise<Buffer> {
    if (op.length !== 1 || op.charCodeAt(0) > 0x7f) {
      return Promise.reject(new Error(`ErlPort op must be one ASCII character, got ${JSON.stringify(op)}`));
    }
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Buffer>((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      const header = Buffer.alloc(HEADER + 1);
      header.writeUInt32BE(payload.length + 1, 0);
      header[HEADER] = op.charCodeAt(0);
      this.child.stdin.write(header);
      if (payload.length > 0) this.child.stdin.write(payload);
    });
  }

  /** What the runtime wrote to stderr so far. */
  get stderr(): string {
    return this.stderrText;
  }

  /** Stops the runtime (closing stdin, then SIGKILL after a grace period) and waits for it. */
  async close(graceMs = 2000): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin.end();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    await this.exited;
    this.fail(new Error(`ErlPort (${this.runtime.label}) is closed`), false);
  }

  private onData(chunk: Buffer): void {
    if (this.failure) return;
    for (const reply of this.decoder.push(chunk)) {
      const waiter = this.queue.shift();
      if (!waiter) {
        this.fail(this.describe('sent a reply nobody asked for'), true);
        return;
      }
      waiter.resolve(reply);
    }
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.failure === null) {
      this.fail(this.describe(`exited (code ${code}, signal ${signal})`), false);
    }
    live.delete(this.child);
    this.markExited();
  }

  private describe(what: string): Error {
    let msg = `erl (${this.runtime.label}) ${what}`;
    const pending = this.queue.map((p) => p.op).join('');
    if (pending) msg += `; unanswered requests: ${pending}`;
    const junk = this.decoder.pending;
    if (junk.length > 0) {
      msg += `\nunframed stdout (${junk.length} bytes):\n${junk.subarray(0, MAX_TEXT).toString('latin1')}`;
    }
    msg += this.stderrText ? `\nstderr:\n${this.stderrText.slice(-MAX_TEXT)}` : '\n(stderr empty)';
    return new Error(msg);
  }

  private fail(err: Error, kill: boolean): void {
    if (this.failure === null) this.failure = err;
    for (const waiter of this.queue.splice(0)) waiter.reject(this.failure);
    if (kill && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
    }
  }
}
