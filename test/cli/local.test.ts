/**
 * The built `erldist` command against erldist's own nodes and EPMD (no BEAM needed): usage errors,
 * ping, rpc, send and names, the `epmd` subcommand. The same commands against real Erlang and
 * Elixir nodes: cli.test.ts (interop).
 */
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atom, createNode, type EpmdServer, type LocalNode, startEpmd, type Term, tuple } from '../../src/index.js';
import { CLI, runCli } from '../support/cli.js';
import { freePort } from '../support/net.js';
import { randomTestCookie, uniqueName } from '../support/pair.js';
import { eventually } from '../support/wait.js';

describe('usage', () => {
  it('usage errors exit 2; --help exits 0 with examples', async () => {
    expect((await runCli(['frobnicate'])).code).toBe(2);
    expect((await runCli(['rpc', 'app@127.0.0.1'])).code).toBe(2);
    expect((await runCli(['ping', '--bogus'])).code).toBe(2);
    const help = await runCli(['rpc', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Examples:/);
    expect((await runCli(['ping'], { RELEASE_NODE: '' })).code).toBe(2);
  });

  it('--timeout takes whole milliseconds that a timer can hold', async () => {
    for (const t of ['0', '-1', '1.5', '1e12', 'soon']) {
      const r = await runCli(['ping', 'app@127.0.0.1', '--timeout', t, '--json']);
      expect(r.code, t).toBe(2);
      expect(JSON.parse(r.stderr).message).toMatch(/^--timeout needs a whole number of milliseconds/);
    }
  });

  it('--help states every exit code; under --json, usage errors are JSON on stderr', async () => {
    for (const args of [['--help'], ['ping', '--help']]) {
      const help = await runCli(args);
      for (const code of [0, 1, 2, 3]) expect(help.stdout).toMatch(new RegExp(`^  ${code}  `, 'm'));
    }
    const r = await runCli(['frobnicate', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr)).toEqual({
      code: 'USAGE',
      message: 'unknown command "frobnicate"',
      node: null,
      exit: 2,
    });
    const bad = await runCli(['rpc', 'nobody@127.0.0.1:1', 'erlang', 'abs', '{1, 2', '--json'], { ERLANG_COOKIE: 'c' });
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stderr)).toMatchObject({ code: 'PARSE', node: 'nobody@127.0.0.1', exit: 2 });
  });

  it('a term that does not parse exits 2 before connecting, and points at the column', async () => {
    const r = await runCli(['rpc', 'nobody@127.0.0.1:1', 'erlang', 'abs', '{1, 2'], { ERLANG_COOKIE: 'c' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/PARSE/);
    expect(r.stderr).toMatch(/column \d+/);
  });
});

describe('against an erldist node registered with an erldist EPMD', () => {
  let epmd: EpmdServer;
  let node: LocalNode;
  let port: number;
  const cookie = randomTestCookie();
  const got: Term[] = [];
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    epmd = await startEpmd({ port: 0, host: '127.0.0.1' });
    node = createNode({ name: uniqueName('cli'), cookie, epmdPort: epmd.port });
    node.expose('calc', { add: (a, b) => (a as number) + (b as number), pair: (a, b) => tuple(a, b) });
    const sink = node.spawn();
    node.register('sink', sink);
    void (async () => {
      for await (const m of sink) got.push(m);
    })();
    port = (await node.listen({ host: '127.0.0.1' })).port;
    env = { ERLANG_COOKIE: cookie, ERL_EPMD_PORT: String(epmd.port) };
  });
  afterAll(async () => {
    await node?.close();
    await epmd?.close();
  });

  it('ping through EPMD and through a pinned port; an unknown name exits 3', async () => {
    const ok = await runCli(['ping', node.name], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^pong from .+ in [\d.]+ ms\n$/);
    const pinned = await runCli(['ping', '--json'], { ...env, RELEASE_NODE: `${node.name}:${port}` });
    expect(JSON.parse(pinned.stdout)).toMatchObject({ node: node.name, pong: true });
    const missing = await runCli(['ping', 'nobody@127.0.0.1'], env);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/NODE_NOT_FOUND/);
  });

  it('a wrong cookie exits 3 and never prints a cookie', async () => {
    const r = await runCli(['ping', node.name, '--cookie', 'not-the-cookie-123'], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/AUTH_FAILED/);
    expect(r.stdout + r.stderr).not.toContain('not-the-cookie-123');
    expect(r.stdout + r.stderr).not.toContain(cookie);
  });

  it('rpc into exposed functions, in Erlang syntax and as JSON; undef exits 1', async () => {
    const r = await runCli(['rpc', node.name, 'calc', 'add', '40', '2'], env);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('42\n');
    const json = await runCli(['rpc', node.name, 'calc', 'pair', 'ok', '<<"s">>', '--json'], env);
    expect(JSON.parse(json.stdout)).toEqual({ $tuple: [{ $atom: 'ok' }, 's'] });
    const undef = await runCli(['rpc', node.name, 'calc', 'nope'], env);
    expect(undef.code).toBe(1);
    expect(undef.stderr).toMatch(/BAD_RPC/);
    expect(undef.stderr).toMatch(/undef/);
  });

  it('send to a registered mailbox', async () => {
    const r = await runCli(['send', node.name, 'sink', '{hello, "world"}'], env);
    expect(r.code).toBe(0);
    await eventually(() => got.length > 0);
    expect(got).toStrictEqual([tuple(atom('hello'), [119, 111, 114, 108, 100])]);
  });

  it('names lists what EPMD knows', async () => {
    const r = await runCli(['names'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`name ${node.name.split('@')[0]} at port ${port}`);
  });

  it('a node of another name part on the port exits 1 (WRONG_NODE), and nothing is sent to it', async () => {
    const r = await runCli(['ping', `wrong@127.0.0.1:${port}`], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`WRONG_NODE: asked for wrong@127.0.0.1:${port}, but ${node.name} answered`);
    const json = await runCli(['send', `wrong@127.0.0.1:${port}`, 'sink', 'misdelivered', '--json'], env);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ code: 'WRONG_NODE', answered: node.name, exit: 1 });
    expect((await runCli(['send', `${node.name}:${port}`, 'sink', 'delivered'], env)).code).toBe(0);
    await eventually(() => got.includes(atom('delivered')), { what: 'the second message' });
    expect(got).not.toContain(atom('misdelivered'));
  });

  it('errors are JSON on stderr under --json: code, message, node, exit', async () => {
    const r = await runCli(['rpc', node.name, 'calc', 'nope', '--json'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const error = JSON.parse(r.stderr);
    expect(error).toMatchObject({ code: 'BAD_RPC', node: node.name, exit: 1 });
    expect(error.message).toMatch(/calc:nope/);
    expect(JSON.stringify(error.reason)).toContain('undef');
    const missing = await runCli(['ping', 'nobody@127.0.0.1', '--json'], env);
    expect(JSON.parse(missing.stderr)).toMatchObject({ code: 'NODE_NOT_FOUND', node: 'nobody@127.0.0.1', exit: 3 });
  });

  it('default names come from the fixed slots; concurrent runs never knock each other off', async () => {
    const seen: string[] = [];
    const onUp = (name: string) => seen.push(name);
    node.on('nodeup', onUp);
    try {
      for (let i = 0; i < 4; i++) expect((await runCli(['ping', node.name], env)).code).toBe(0);
      const sequential = seen.splice(0);
      // Other test files' CLI runs may hold some slots meanwhile; never all eight.
      for (const name of sequential) expect(name).toMatch(/^erldist-probe-[0-7]@127\.0\.0\.1$/);
      const runs = await Promise.all(Array.from({ length: 8 }, () => runCli(['ping', node.name], env)));
      expect(runs.map((r) => r.code)).toEqual(Array(8).fill(0));
      expect(seen).toHaveLength(8);
    } finally {
      node.off('nodeup', onUp);
    }
  });
});

describe('the epmd subcommand', () => {
  it('listens, reports registrations, and stops on SIGINT', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'epmd', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const n = createNode({ name: uniqueName('reg'), cookie: 'c', epmdPort: port });
    try {
      await eventually(() => out.includes('listening'), { what: 'epmd listening' });
      await n.listen({ host: '127.0.0.1' });
      const r = await runCli(['names'], { ERL_EPMD_PORT: String(port) });
      expect(r.stdout).toContain(`name ${n.name.split('@')[0]} at port`);
      await eventually(() => out.includes(`registered ${n.name.split('@')[0]}`), { what: 'registration reported' });
    } finally {
      await n.close();
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });
});

describe('one deadline for the whole command (--timeout)', () => {
  // A node that accepts TCP and never answers, as the kernel does for a frozen (SIGSTOP) node.
  let frozen: Server;
  // An EPMD that answers after a delay, with the frozen node's port.
  let slowEpmd: Server;
  const sockets = new Set<Socket>();
  const EPMD_DELAY = 300;

  beforeAll(async () => {
    frozen = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((resolve) => frozen.listen(0, '127.0.0.1', resolve));
    const port = (frozen.address() as { port: number }).port;
    slowEpmd = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      s.once('data', (request) => {
        const name = request.subarray(3); // Len:16, PORT_PLEASE2_REQ, Name
        const reply = Buffer.alloc(14 + name.length);
        reply.writeUInt8(119, 0); // PORT2_RESP
        reply.writeUInt8(0, 1);
        reply.writeUInt16BE(port, 2);
        reply.writeUInt8(72, 4); // hidden node type
        reply.writeUInt8(0, 5);
        reply.writeUInt16BE(6, 6);
        reply.writeUInt16BE(6, 8);
        reply.writeUInt16BE(name.length, 10);
        name.copy(reply, 12);
        setTimeout(() => s.end(reply), EPMD_DELAY);
      });
    });
    await new Promise<void>((resolve) => slowEpmd.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => frozen.close(resolve));
    await new Promise((resolve) => slowEpmd.close(resolve));
  });

  async function timed(args: string[], env: NodeJS.ProcessEnv) {
    const started = performance.now();
    const r = await runCli(args, env);
    return { ...r, ms: performance.now() - started };
  }

  it('a handshake that never comes exits 3 at the deadline (not after the handshake timeout of 10 s)', async () => {
    const port = (frozen.address() as { port: number }).port;
    const r = await timed(['ping', `frozen@127.0.0.1:${port}`, '--timeout', '700'], { ERLANG_COOKIE: 'c' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^erldist: TIMEOUT: --timeout 700 ms passed before the connection was up/);
    expect(r.ms).toBeGreaterThan(650);
    expect(r.ms).toBeLessThan(2500); // 700 ms, and the start of a node process on a busy machine
  });

  it('EPMD, TCP and the handshake share it: a slow EPMD leaves the handshake only what is left', async () => {
    const env = { ERLANG_COOKIE: 'c', ERL_EPMD_PORT: String((slowEpmd.address() as { port: number }).port) };
    const r = await timed(['ping', 'frozen@127.0.0.1', '--timeout', '900', '--json'], env);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stderr)).toMatchObject({ code: 'TIMEOUT', node: 'frozen@127.0.0.1', exit: 3 });
    expect(r.ms).toBeGreaterThan(850);
    expect(r.ms).toBeLessThan(900 + EPMD_DELAY + 1500 - 200);
  });
});
