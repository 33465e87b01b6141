/**
 * Links and monitors across the connection, both directions, and spawning on the remote node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atom, createNode, encode, type LocalNode, type Peer, Pid, type Term, Tuple } from '../../src/index.js';
import {
  type BeamNode,
  randomCookie,
  randomNodeName,
  startElixirNode,
  startEpmd,
  startErlangNode,
  stopAll,
} from '../support/nodes.js';
import { runtimes } from '../support/runtimes.js';

const EXIT = atom('EXIT');
const DOWN = atom('DOWN');

function elements(t: Term): Term[] {
  expect(t).toBeInstanceOf(Tuple);
  return (t as Tuple).elements;
}

describe.each(runtimes())('links and monitors on $label', (rt) => {
  let epmdPort: number;
  let cookie: string;
  let ts: LocalNode;
  let tsName: string;
  let erl: BeamNode;
  let peer: Peer;

  beforeAll(async () => {
    epmdPort = (await startEpmd(rt)).port;
    cookie = randomCookie();
    tsName = `${randomNodeName()}@127.0.0.1`;
    ts = createNode({ name: tsName, cookie, epmdPort });
    await ts.listen();
    erl = await startErlangNode(rt, { epmdPort, cookie });
    peer = await ts.connect(erl.name);
  });
  afterAll(async () => {
    await ts?.close();
    await stopAll();
  });

  /** A process on the Erlang node that waits for `stop` then exits with `Reason`. */
  async function remoteProcess(): Promise<Pid> {
    const pid = await peer.rpc('erlang', 'spawn', [atom('timer'), atom('sleep'), [atom('infinity')]]);
    expect(pid).toBeInstanceOf(Pid);
    return pid as Pid;
  }

  it('a TS mailbox links to a remote process and gets its exit as a message', async () => {
    const box = ts.spawn();
    const pid = await remoteProcess();
    box.link(pid);
    await peer.ping(); // the LINK is in before the exit
    await peer.rpc('erlang', 'exit', [pid, atom('boom')]);
    const [tag, from, reason] = elements(await box.receive({ timeout: 5000 }));
    expect(tag).toBe(EXIT);
    expect((from as Pid).id).toBe(pid.id);
    expect(reason).toBe(atom('boom'));
    box.close();
  });

  it('a TS mailbox monitors a remote pid and a registered name', async () => {
    const box = ts.spawn();
    const pid = await remoteProcess();
    const mon = box.monitor(pid);
    await peer.ping();
    await peer.rpc('erlang', 'exit', [pid, atom('kill')]);
    expect(await mon.down).toBe(atom('killed'));
    const [tag, ref, , who, reason] = elements(await box.receive({ timeout: 5000 }));
    expect(tag).toBe(DOWN);
    expect(ref).toBe(mon.ref);
    expect((who as Pid).id).toBe(pid.id);
    expect(reason).toBe(atom('killed'));
    const missing = box.monitor('no_such_name', peer);
    expect(await missing.down).toBe(atom('noproc'));
    box.close();
  });

  it('Erlang links to a TS mailbox and sees it exit with its reason', async () => {
    const box = ts.spawn();
    const probe = ts.spawn();
    const toProbe = pidLiteral(probe.pid);
    await erl.eval(
      `spawn(fun() -> process_flag(trap_exit, true), link(${pidLiteral(box.pid)}), ${toProbe} ! linked, receive {'EXIT', _, R} -> ${toProbe} ! {exit, R} end end)`,
    );
    // Sent after the LINK on the same connection: once it is here, so is the link.
    expect(await probe.receive({ timeout: 5000 })).toBe(atom('linked'));
    box.close(tuple2('shutdown', 'bye'));
    expect(await probe.receive({ timeout: 5000 })).toStrictEqual(new Tuple([atom('exit'), tuple2('shutdown', 'bye')]));
  });

  it('Erlang monitors a TS mailbox; closing it sends DOWN', async () => {
    const box = ts.spawn();
    ts.register('watched', box);
    const probe = ts.spawn();
    const reply = erl.eval(
      `Ref = monitor(process, {watched, '${tsName}'}), ${pidLiteral(probe.pid)} ! monitoring, receive {'DOWN', Ref, process, _, R} -> R after 5000 -> timeout end`,
    );
    expect(await probe.receive({ timeout: 5000 })).toBe(atom('monitoring'));
    box.close();
    expect(await reply).toBe('normal');
    expect(
      await erl.eval(
        `Ref = monitor(process, {watched, '${tsName}'}), receive {'DOWN', Ref, process, _, R} -> R after 5000 -> timeout end`,
      ),
    ).toBe('noproc');
  });

  it('Elixir: Process.monitor and Process.link on a TS mailbox', async () => {
    const ex = await startElixirNode(rt, { epmdPort, cookie });
    const box = ts.spawn();
    ts.register('ex_watched', box);
    const probe = ts.spawn();
    const toProbe = `:erlang.binary_to_term(<<${[...encode(probe.pid)].join(', ')}>>)`;
    const down = ex.evalElixir(
      `ref = Process.monitor({:ex_watched, :"${tsName}"}); send(${toProbe}, :monitoring); receive do {:DOWN, ^ref, :process, _, r} -> r after 5000 -> :timeout end`,
    );
    expect(await probe.receive({ timeout: 5000 })).toBe(atom('monitoring'));
    box.close(atom('bye'));
    expect(await down).toBe(':bye');
    const other = ts.spawn();
    const linked = ex.evalElixir(
      `Process.flag(:trap_exit, true); pid = :erlang.binary_to_term(<<${[...encode(other.pid)].join(', ')}>>); Process.link(pid); send(${toProbe}, :linked); receive do {:EXIT, ^pid, r} -> r after 5000 -> :timeout end`,
    );
    expect(await probe.receive({ timeout: 5000 })).toBe(atom('linked'));
    other.close(atom('gone'));
    expect(await linked).toBe(':gone');
  });

  it('exit/2 from Erlang: a message, and kill closes the mailbox', async () => {
    const box = ts.spawn();
    await erl.eval(`exit(${pidLiteral(box.pid)}, please_stop)`);
    const [tag, , reason] = elements(await box.receive({ timeout: 5000 }));
    expect(tag).toBe(EXIT);
    expect(reason).toBe(atom('please_stop'));
    await erl.eval(`exit(${pidLiteral(box.pid)}, kill)`);
    await peer.ping();
    expect(box.closed).toBe(true);
  });

  it('peer.spawn with link and monitor', async () => {
    const box = ts.spawn();
    const { pid, monitor } = await peer.spawn('erlang', 'exit', [atom('done')], { box, link: true, monitor: true });
    expect(pid).toBeInstanceOf(Pid);
    expect(await monitor!.down).toBe(atom('done'));
    const got = [await box.receive({ timeout: 5000 }), await box.receive({ timeout: 5000 })].map((m) => elements(m)[0]);
    expect(got.sort()).toEqual([DOWN, EXIT].sort());
    await expect(peer.spawn('erlang', 'exit', [1], { link: true })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    box.close();
  });

  it('a lost connection fires every link and monitor with noconnection; monitorNode too', async () => {
    const victim = await startErlangNode(rt, { epmdPort, cookie });
    const p2 = await ts.connect(victim.name);
    const box = ts.spawn();
    const pid = (await p2.rpc('erlang', 'spawn', [atom('timer'), atom('sleep'), [atom('infinity')]])) as Pid;
    box.link(pid);
    const mon = box.monitor(pid);
    const nodeDown = new Promise((resolve) => ts.monitorNode(victim.name, resolve));
    await p2.ping();
    victim.kill('SIGKILL');
    expect(await mon.down).toBe(atom('noconnection'));
    await nodeDown;
    const reasons = [await box.receive({ timeout: 5000 }), await box.receive({ timeout: 5000 })].map((m) => {
      const e = elements(m);
      return e[e.length - 1];
    });
    expect(reasons).toEqual([atom('noconnection'), atom('noconnection')]);
    box.close();
  });
});

function tuple2(a: string, b: string): Term {
  return new Tuple([atom(a), b]);
}

/** An Erlang expression for a remote pid: binary_to_term of its encoding. */
function pidLiteral(pid: Pid): string {
  return `binary_to_term(<<${[...encode(pid)].join(',')}>>)`;
}
