/**
 * Aliases against real nodes (DFLAG_ALIAS, ALIAS_SEND): a BEAM process sends to `box.alias()`;
 * late replies to calls that timed out reach no mailbox, both ways: ours to a BEAM gen_server
 * (gen_server:reply to our alias), and a BEAM caller's to our served gen_server (we reply to its
 * alias, which its timeout deactivated); erpc takes its monitor back when it gives up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DFLAG } from '../../src/distribution/flags.js';
import {
  atom,
  createNode,
  type From,
  ImproperList,
  type LocalNode,
  type Peer,
  Pid,
  Reference,
  type Term,
  Tuple,
  tuple,
} from '../../src/index.js';
import { type BeamNode, randomCookie, randomNodeName, startEpmd, startErlangNode, stopAll } from '../support/nodes.js';
import { rejection } from '../support/rejection.js';
import { runtimes } from '../support/runtimes.js';
import { eventually, pause } from '../support/wait.js';

/**
 * `alias_srv`: answers `{'$gen_call', From, tag}` with its tag, and `{sleep, Ms, R}` with R after
 * Ms, through gen_server:reply/2 as any gen_server does (to the alias when the tag names one).
 */
const ALIAS_SERVER = String.raw`
register(alias_srv, spawn(fun Loop() ->
  receive
    {'$gen_call', {_, Tag} = From, tag} -> gen_server:reply(From, Tag);
    {'$gen_call', From, {sleep, Ms, R}} -> spawn(fun() -> timer:sleep(Ms), gen_server:reply(From, R) end);
    _ -> ok
  end,
  Loop()
end))`;

describe.each(runtimes())('aliases on $label', (rt) => {
  let ts: LocalNode;
  let erl: BeamNode;
  let peer: Peer;

  beforeAll(async () => {
    const epmdPort = (await startEpmd(rt)).port;
    const cookie = randomCookie();
    ts = createNode({ name: `${randomNodeName()}@127.0.0.1`, cookie, epmdPort });
    await ts.listen();
    erl = await startErlangNode(rt, { epmdPort, cookie, eval: ALIAS_SERVER });
    peer = await ts.connect(erl.name);
  });
  afterAll(async () => {
    await ts?.close();
    await stopAll();
  });

  it('the connection agrees DFLAG_ALIAS', () => {
    expect(peer.flags & DFLAG.ALIAS).toBe(DFLAG.ALIAS);
  });

  it('a BEAM process sends to box.alias(): the box gets it; after unalias it is dropped and counted', async () => {
    const box = ts.spawn();
    const alias = box.alias();
    await peer.rpc('erlang', 'send', [alias, atom('hello')]);
    expect(await box.receive({ timeout: 5000 })).toBe(atom('hello'));
    expect(box.unalias(alias)).toBe(true);
    const dropped = ts.stats.dropped;
    await peer.rpc('erlang', 'send', [alias, atom('late')]);
    await eventually(() => ts.stats.dropped === dropped + 1, { what: 'the send to an inactive alias is counted' });
    expect(box.size).toBe(0);
    box.close();
  });

  it('an alias made with { reply: true } takes one message from the BEAM', async () => {
    const box = ts.spawn();
    const alias = box.alias({ reply: true });
    const dropped = ts.stats.dropped;
    await peer.rpc('erlang', 'send', [alias, 1]);
    await peer.rpc('erlang', 'send', [alias, 2]);
    expect(await box.receive({ timeout: 5000 })).toBe(1);
    await eventually(() => ts.stats.dropped === dropped + 1);
    expect(box.size).toBe(0);
    box.close();
  });

  it("a monitor with { alias: 'reply_demonitor' }: a BEAM reply to its reference ends the alias and the monitor", async () => {
    const pid = (await peer.rpc('erlang', 'spawn', [atom('timer'), atom('sleep'), [5000]])) as Pid;
    const box = ts.spawn();
    const monitor = box.monitor(pid, undefined, { alias: 'reply_demonitor' });
    // Whether our box monitors it (newer OTPs may list a process of their own there too).
    const monitored = async () => {
      const info = await peer.rpc('erlang', 'process_info', [pid, atom('monitored_by')]);
      const by = info instanceof Tuple && Array.isArray(info.elements[1]) ? (info.elements[1] as Term[]) : [];
      return by.some((p) => p instanceof Pid && p.node === box.pid.node && p.id === box.pid.id);
    };
    expect(await monitored()).toBe(true);
    await peer.rpc('erlang', 'send', [monitor.ref, atom('reply')]);
    expect(await box.receive({ timeout: 5000 })).toBe(atom('reply'));
    await eventually(async () => !(await monitored()), { what: 'the monitor is gone' });
    expect(box.unalias(monitor.ref)).toBe(false);
    box.close();
  });

  it('our call to a BEAM gen_server: an [alias | Ref] tag; a reply after our timeout reaches no mailbox', async () => {
    const tag = await peer.call('alias_srv', atom('tag'));
    expect(tag).toBeInstanceOf(ImproperList);
    expect((tag as ImproperList).elements).toStrictEqual([atom('alias')]);
    expect((tag as ImproperList).tail).toBeInstanceOf(Reference);
    expect(await peer.call('alias_srv', tuple(atom('sleep'), 0, atom('quick')))).toBe(atom('quick'));
    const box = ts.spawn();
    const dropped = ts.stats.dropped;
    const err = await rejection(peer.call('alias_srv', tuple(atom('sleep'), 300, atom('late')), { timeout: 100 }));
    expect(err.code).toBe('TIMEOUT');
    // gen_server:reply sends it to the alias, which the timeout deactivated: dropped here.
    await eventually(() => ts.stats.dropped === dropped + 1, { what: 'the late reply is dropped' });
    expect(box.size).toBe(0);
    box.close();
  });

  it('a BEAM caller of our gen_server: replies through its alias; a late one never enters its mailbox', async () => {
    const froms: From[] = [];
    const box = ts.serve('ts_srv', {
      handleCall: async (request, from) => {
        froms.push(from);
        if (request instanceof Tuple) {
          await pause(request.elements[1] as number);
          // A control sent to the pid after the reply: the caller's check does see what arrives.
          setTimeout(() => box.send(from.pid, atom('control')), 50);
        }
        return tuple(atom('ok'), request);
      },
    });
    const result = await erl.eval(
      [
        'Self = self(),',
        'P = spawn(fun() ->',
        `  R1 = gen_server:call({ts_srv, '${ts.name}'}, quick, 5000),`,
        `  R2 = (catch gen_server:call({ts_srv, '${ts.name}'}, {sleep, 400}, 100)),`,
        // Our handler replies about 300 ms after this caller gave up; wait past that.
        '  timer:sleep(1000),',
        // A receive first: OTP 25's process_info(self(), messages) misses signals not yet fetched.
        '  receive never_sent -> ok after 0 -> ok end,',
        '  {messages, Ms} = process_info(self(), messages),',
        '  Self ! {self(), R1, element(1, R2), Ms}',
        'end),',
        'receive {P, R1, R2, Ms} -> {R1, R2, Ms} after 8000 -> no_answer end',
      ].join('\n'),
      { timeout: 10_000 },
    );
    expect(result).toBe("{{ok,quick},'EXIT',[control]}");
    expect(froms).toHaveLength(2);
    for (const from of froms) expect(from.alias).toBeInstanceOf(Reference);
    box.close();
  });

  it('erpc: a call that times out takes back the monitor on the spawned process', async () => {
    const err = await rejection(peer.rpc('timer', 'sleep', [3000], { timeout: 200 }));
    expect(err.code).toBe('TIMEOUT');
    const monitoredBy = [
      '[element(2, process_info(P, monitored_by)) || P <- processes(),',
      '  process_info(P, initial_call) =:= {initial_call, {erpc, execute_call, 4}}]',
    ].join('\n');
    // The execute_call process still sleeps: it exists, and nobody monitors it any more.
    await eventually(async () => (await erl.eval(monitoredBy)) === '[[]]', { what: 'the monitor is taken back' });
  });

  it('a BEAM gen_server reached by pid answers through the alias too', async () => {
    const pid = await peer.rpc('erlang', 'whereis', [atom('alias_srv')]);
    const tag = await peer.call(pid as Pid, atom('tag'));
    expect((tag as ImproperList).tail).toBeInstanceOf(Reference);
    expect(await peer.call(pid as Pid, tuple(atom('sleep'), 0, 7))).toBe(7);
  });
});
