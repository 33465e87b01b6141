/**
 * The built `erldist` command against erldist's own nodes and EPMD (no BEAM needed): usage errors,
 * ping, rpc, send and names, the `epmd` subcommand. The same commands against real Erlang and
 * Elixir nodes: cli.test.ts (interop).
 */
import { spawn } from 'node:child_process';
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
