/**
 * The node harness itself (nodes.ts) on every runtime: a private EPMD, Erlang nodes found through
 * it and on a pinned port, an Elixir node with its echo server, and clean-up.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { names, portPlease2 } from '../../src/epmd/client.js';
import { freePort } from '../support/net.js';
import {
  type BeamNode,
  type EpmdProcess,
  ERLANG_MAILBOX_ECHO,
  isAlive,
  randomCookie,
  startElixirNode,
  startEpmd,
  startErlangNode,
  stopAll,
} from '../support/nodes.js';
import { type Runtime, runtimes } from '../support/runtimes.js';
import { eventually } from '../support/wait.js';

function allThreadsStopped(pid: number): boolean {
  const tasks = readdirSync(`/proc/${pid}/task`);
  return tasks.every((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return /^[Tt]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  });
}

/** Resolves true once the OS process `pid` is gone, false if it is still there after `ms`. */
function gone(pid: number, ms = 5000): Promise<boolean> {
  return eventually(() => !isAlive(pid), { timeout: ms }).then(
    () => true,
    () => false,
  );
}

describe.each(runtimes())('nodes on $label', (rt: Runtime) => {
  let epmd: EpmdProcess;

  beforeAll(async () => {
    epmd = await startEpmd(rt);
  });
  afterAll(async () => {
    await stopAll();
  });

  it('starts an Erlang node registered with the private EPMD', async () => {
    const node = await startErlangNode(rt, { epmdPort: epmd.port });
    console.log(`[${rt.label}] Erlang node (OTP ${node.otpRelease}) ready in ${node.startMs} ms`);
    expect(node.name).toMatch(/^t[0-9a-f]{10}@127\.0\.0\.1$/);
    expect(await node.eval('node()')).toBe(`'${node.name}'`);
    expect(await node.eval('1+1')).toBe('2');
    expect(await node.eval('erlang:get_cookie().')).toBe(`'${node.cookie}'`);
    expect(await node.eval('os:getpid()')).toBe(`"${node.pid}"`);
    expect(await node.eval('erlang:system_info(otp_release)')).toBe(`"${node.otpRelease}"`);
    const info = await portPlease2(node.shortName, '127.0.0.1', { port: epmd.port });
    expect(info.port).toBe(node.distPort);
    expect((await names('127.0.0.1', { port: epmd.port })).nodes).toContainEqual({
      name: node.shortName,
      port: node.distPort,
    });
    await node.stop();
    expect(await gone(node.pid)).toBe(true);
  });

  it('pins the distribution port, sets net_ticktime, runs start-up code, hides', async () => {
    const port = await freePort();
    const node = await startErlangNode(rt, {
      epmdPort: epmd.port,
      pinnedPort: port,
      netTicktime: 20,
      hidden: true,
      eval: ERLANG_MAILBOX_ECHO,
    });
    expect(node.distPort).toBe(port);
    expect(await node.eval('net_kernel:get_net_ticktime()')).toBe('20');
    expect(await node.eval('is_pid(whereis(mailbox_echo))')).toBe('true');
    expect(await node.eval('mailbox_echo ! {self(), hi}, receive M -> M after 1000 -> timeout end')).toBe('{echo,hi}');
    expect(await node.eval('lists:member(hidden, [X || {X, _} <- init:get_arguments()])')).toBe('true');
  });

  it('eval: errors, long and unicode values, output that is not a reply, parallel requests', async () => {
    const node = await startErlangNode(rt, { epmdPort: epmd.port });
    await expect(node.eval('1 + a')).rejects.toThrow(/badarith/);
    await expect(node.eval('this is not erlang')).rejects.toThrow(/failed/);
    expect(await node.eval('lists:seq(1, 300)')).toBe(`[${Array.from({ length: 300 }, (_, i) => i + 1).join(',')}]`);
    // ~p: Latin-1 text prints as a string, other code points as integers.
    expect(await node.eval('unicode:characters_to_list(<<"h\\303\\251">>)')).toBe('"hé"');
    expect(await node.eval('[104, 8364]')).toBe('[104,8364]');
    expect(await node.eval("atom_to_list('hé€')")).toBe('[104,233,8364]');
    expect(await node.eval('io:format("ERLDIST-REPLY 999 ok 00~nnoise~n"), ok')).toBe('ok');
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => node.eval(`${i} * 2`)));
    expect(many).toEqual(Array.from({ length: 20 }, (_, i) => String(i * 2)));
    expect(node.output()).toContain('noise');
  });

  it('a failing start-up reports the error and leaves nothing behind', async () => {
    await expect(startErlangNode(rt, { epmdPort: epmd.port, eval: 'erlang:error(boom_at_start)' })).rejects.toThrow(
      /boom_at_start/,
    );
    const closed = await freePort();
    await expect(startErlangNode(rt, { epmdPort: closed, timeout: 30_000 })).rejects.toThrow(/exited/);
  });

  it('kill() and SIGSTOP reach beam', async () => {
    const node = await startErlangNode(rt, { epmdPort: epmd.port });
    node.kill('SIGSTOP');
    // A group stop reaches beam's threads one by one: wait until none runs.
    await eventually(() => allThreadsStopped(node.pid), { what: 'every thread of beam stopped' });
    await expect(node.eval('ok', { timeout: 300 })).rejects.toThrow(/timed out/);
    node.kill('SIGCONT');
    expect(await node.eval('ok')).toBe('ok');
    node.kill();
    expect((await node.exited).signal).toBe('SIGKILL');
    await expect(node.eval('ok')).rejects.toThrow(/exited/);
    expect(isAlive(node.pid)).toBe(false);
  });

  it('a stopped (SIGSTOP) node still stops', async () => {
    const node = await startErlangNode(rt, { epmdPort: epmd.port });
    node.kill('SIGSTOP');
    await node.stop();
    expect(await gone(node.pid)).toBe(true);
  });

  it('starts an Elixir node with :echo_server and :mailbox_echo', async () => {
    const node: BeamNode = await startElixirNode(rt, { epmdPort: epmd.port });
    console.log(`[${rt.label}] Elixir node (OTP ${node.otpRelease}) ready in ${node.startMs} ms`);
    expect(await node.eval('node()')).toBe(`'${node.name}'`);
    expect(await node.eval("'Elixir.GenServer':call(echo_server, {echo, 1})")).toBe('1');
    expect(await node.evalElixir('GenServer.call(:echo_server, {:echo, "héllo"})')).toBe('"héllo"');
    expect(
      await node.evalElixir('GenServer.cast(:echo_server, {:store, [1, 2]}); GenServer.call(:echo_server, :get)'),
    ).toBe('[1, 2]');
    expect(await node.evalElixir('try do GenServer.call(:echo_server, :crash) catch :exit, _ -> :exited end')).toBe(
      ':exited',
    );
    // The supervisor restarts it.
    expect(
      await node.evalElixir(
        'Enum.find_value(1..100, fn _ -> Process.sleep(20); GenServer.whereis(:echo_server) && GenServer.call(:echo_server, {:echo, :back}) end)',
      ),
    ).toBe(':back');
    expect(
      await node.evalElixir('send(:mailbox_echo, {self(), :ping}); receive do m -> m after 1000 -> :timeout end'),
    ).toBe('{:echo, :ping}');
    const info = await portPlease2(node.shortName, '127.0.0.1', { port: epmd.port });
    expect(info.port).toBe(node.distPort);
    await node.stop();
    expect(await gone(node.pid)).toBe(true);
  });

  it('Elixir node: pinned port, hidden, start-up code, cookie', async () => {
    const port = await freePort();
    const cookie = randomCookie();
    const node = await startElixirNode(rt, {
      epmdPort: epmd.port,
      pinnedPort: port,
      hidden: true,
      cookie,
      netTicktime: 30,
      eval: 'Process.register(spawn(fn -> Process.sleep(:infinity) end), :extra_proc)',
    });
    expect(node.distPort).toBe(port);
    expect(await node.eval('erlang:get_cookie()')).toBe(`'${cookie}'`);
    expect(await node.eval('is_pid(whereis(extra_proc))')).toBe('true');
    expect(await node.eval('net_kernel:get_net_ticktime()')).toBe('30');
    await expect(node.evalElixir('raise "nope"')).rejects.toThrow(/nope/);
  });

  it('stopAll() stops nodes and EPMD', async () => {
    const a = await startErlangNode(rt, { epmdPort: epmd.port });
    const own = await startEpmd(rt);
    await stopAll();
    expect(await gone(a.pid)).toBe(true);
    expect(await gone(own.pid)).toBe(true);
    expect(await gone(epmd.pid)).toBe(true);
    epmd = await startEpmd(rt);
  });
});
