/**
 * Answers only a BEAM node gives, from a scripted peer (test/support/fake-peer.ts) instead of a
 * BEAM: erpc exits of every kind (return, throw, exit, error, untagged, noconnection), spawn
 * requests that fail, rex answers over a connection without DFLAG_SPAWN, and exit signals with
 * payloads, EXIT2 kill, UNLINK_ID and ops erldist never sends, into mailboxes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Control, Op } from '../../src/distribution/control.js';
import { atom, createNode, type LocalNode, Pid, type Term, type Tuple, tuple } from '../../src/index.js';
import {
  FLAGS_WITHOUT_SPAWN,
  type ScriptedMessage,
  type ScriptedPeer,
  startScriptedPeer,
} from '../support/fake-peer.js';
import { randomTestCookie, uniqueName } from '../support/pair.js';
import { rejection } from '../support/rejection.js';

const FAKE = 'fake@127.0.0.1';
/** A process of the scripted peer (its creation is 1234, see fake-peer.ts). */
const remotePid = (id: number) => new Pid(atom(FAKE), id, 0, 1234);

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function connectTo(script: (m: ScriptedMessage, peer: ScriptedPeer) => void, flags?: bigint) {
  const cookie = randomTestCookie();
  const fake = await startScriptedPeer({ cookie, flags, script });
  cleanup.push(() => fake.close());
  const node: LocalNode = createNode({ name: uniqueName('s'), cookie });
  cleanup.push(() => node.close());
  const peer = await node.connect(`${FAKE}:${fake.port}`);
  return { fake, node, peer };
}

type SpawnRequest = Extract<Control, { op: typeof Op.SPAWN_REQUEST }>;

/** A script that answers every spawn request: a pid (or `result`), then a DOWN with `exit(tag)`. */
function erpcScript(result: Term | undefined, exit: (tag: Term) => Term | undefined, payloadForm = false) {
  return ({ control, payload }: ScriptedMessage, fake: ScriptedPeer) => {
    if (control.op !== Op.SPAWN_REQUEST) return;
    const req = control as SpawnRequest;
    const pid = remotePid(77);
    fake.send({ op: Op.SPAWN_REPLY, reqId: req.reqId, to: req.from, flags: 2, result: result ?? pid });
    if (result !== undefined) return;
    const reason = exit((payload as Term[])[0]);
    if (reason === undefined) return;
    if (payloadForm) fake.send({ op: Op.PAYLOAD_MONITOR_P_EXIT, from: pid, to: req.from, ref: req.reqId }, reason);
    else fake.send({ op: Op.MONITOR_P_EXIT, from: pid, to: req.from, ref: req.reqId, reason });
  };
}

describe('peer.rpc through erpc: how the spawned process exits', () => {
  it('{Tag, return, V} and {Tag, throw, V} give V (rpc:call returns a thrown value)', async () => {
    const ret = await connectTo(erpcScript(undefined, (tag) => tuple(tag, atom('return'), 42)));
    expect(await ret.peer.rpc('m', 'f', [1])).toBe(42);
    const spawn = await ret.fake.next((m) => m.control.op === Op.SPAWN_REQUEST);
    expect((spawn.control as SpawnRequest).mfa).toStrictEqual([atom('erpc'), atom('execute_call'), 4]);
    expect((spawn.payload as Term[]).slice(1)).toStrictEqual([atom('m'), atom('f'), [1]]);
    const thrown = await connectTo(erpcScript(undefined, (tag) => tuple(tag, atom('throw'), atom('thrown'))));
    expect(await thrown.peer.rpc('m', 'f', [])).toBe(atom('thrown'));
  });

  it('the payload form of the DOWN (PAYLOAD_MONITOR_P_EXIT) is read the same way', async () => {
    const { peer } = await connectTo(erpcScript(undefined, (tag) => tuple(tag, atom('return'), 'big'), true));
    expect(await peer.rpc('m', 'f', [])).toBe('big');
  });

  it('exit, error with and without a stack, and an untagged reason: BAD_RPC {EXIT, Reason}', async () => {
    const stack = [tuple(atom('m'), atom('f'), 0, [])];
    const cases: [(tag: Term) => Term, Term][] = [
      [(tag) => tuple(tag, atom('exit'), atom('bye')), tuple(atom('EXIT'), atom('bye'))],
      [(tag) => tuple(tag, atom('error'), atom('badarg'), stack), tuple(atom('EXIT'), tuple(atom('badarg'), stack))],
      [(tag) => tuple(tag, atom('error'), atom('badarg')), tuple(atom('EXIT'), atom('badarg'))],
      [() => atom('killed'), tuple(atom('EXIT'), atom('killed'))],
    ];
    for (const [exit, reason] of cases) {
      const { peer } = await connectTo(erpcScript(undefined, exit));
      const err = await rejection(peer.rpc('m', 'f', []));
      expect(err.code).toBe('BAD_RPC');
      expect(err.reason).toStrictEqual(reason);
    }
  });

  it('a DOWN with noconnection: NODE_DOWN', async () => {
    const { peer } = await connectTo(erpcScript(undefined, () => atom('noconnection')));
    expect((await rejection(peer.rpc('m', 'f', []))).code).toBe('NODE_DOWN');
  });

  it('a spawn reply that is no pid: BAD_RPC with that reason', async () => {
    const { peer } = await connectTo(erpcScript(atom('system_limit'), () => undefined));
    const err = await rejection(peer.rpc('m', 'f', []));
    expect(err.code).toBe('BAD_RPC');
    expect(err.reason).toBe(atom('system_limit'));
  });
});

describe('peer.spawn', () => {
  it('a spawn reply that is no pid: SPAWN_FAILED with the reason', async () => {
    const { node, peer } = await connectTo(erpcScript(atom('badopt'), () => undefined));
    const err = await rejection(peer.spawn('m', 'f', [], { box: node.spawn(), monitor: true }));
    expect(err.code).toBe('SPAWN_FAILED');
    expect(err.reason).toBe(atom('badopt'));
  });
});

describe('a node without DFLAG_SPAWN: rpc through rex', () => {
  /** Answers gen_server calls to rex with `answer(request)`, as {Tag, Reply} to the caller. */
  const rex =
    (answer: (request: Term) => Term) =>
    ({ control, payload }: ScriptedMessage, fake: ScriptedPeer) => {
      if (control.op !== Op.REG_SEND || control.toName !== atom('rex')) return;
      const [, from, request] = (payload as Tuple).elements;
      const [pid, tag] = (from as Tuple).elements;
      fake.send({ op: Op.SEND, to: pid as Pid }, tuple(tag as Term, answer(request as Term)));
    };

  it('the reply is the value; {badrpc, R} rejects BAD_RPC with R', async () => {
    const ok = await connectTo(
      rex((request) => (request as Tuple).elements[3] as Term),
      FLAGS_WITHOUT_SPAWN,
    );
    expect(await ok.peer.rpc('lists', 'reverse', [[1, 2]])).toStrictEqual([[1, 2]]);
    const bad = await connectTo(
      rex(() => tuple(atom('badrpc'), atom('nodedown'))),
      FLAGS_WITHOUT_SPAWN,
    );
    const err = await rejection(bad.peer.rpc('m', 'f', []));
    expect(err.code).toBe('BAD_RPC');
    expect(err.reason).toBe(atom('nodedown'));
  });
});

describe('calls answered by a scripted gen_server', () => {
  it('a DOWN with noconnection during a call: NODE_DOWN; a net_kernel that says no: ping is false', async () => {
    const { peer } = await connectTo(({ control }, fake) => {
      if (control.op === Op.MONITOR_P) {
        fake.send({
          op: Op.MONITOR_P_EXIT,
          from: control.to,
          to: control.from,
          ref: control.ref,
          reason: atom('noconnection'),
        });
      }
    });
    const err = await rejection(peer.call('srv', 1));
    expect(err.code).toBe('NODE_DOWN');
    expect(err.reason).toBe(atom('noconnection'));
    const no = await connectTo(({ control, payload }, fake) => {
      if (control.op !== Op.REG_SEND) return;
      const [pid, tag] = ((payload as Tuple).elements[1] as Tuple).elements;
      fake.send({ op: Op.SEND, to: pid as Pid }, tuple(tag as Term, atom('no')));
    });
    expect(await no.peer.ping()).toBe(false);
  });
});

describe('exit signals from the peer into mailboxes', () => {
  it('EXIT2 is a message; EXIT2 (payload form) kill closes the mailbox with killed', async () => {
    const { fake, node } = await connectTo(() => {});
    const box = node.spawn();
    const watcher = node.spawn();
    const from = remotePid(9);
    fake.send({ op: Op.EXIT2, from, to: box.pid, reason: atom('stop') });
    expect(await box.receive({ timeout: 2000 })).toStrictEqual(tuple(atom('EXIT'), from, atom('stop')));
    fake.send({ op: Op.PAYLOAD_EXIT2, from, to: box.pid }, atom('please'));
    expect(await box.receive({ timeout: 2000 })).toStrictEqual(tuple(atom('EXIT'), from, atom('please')));
    box.link(remotePid(10));
    fake.send({ op: Op.PAYLOAD_EXIT2, from, to: box.pid }, atom('kill'));
    fake.send({ op: Op.SEND, to: watcher.pid }, atom('after'));
    expect(await watcher.receive({ timeout: 2000 })).toBe(atom('after'));
    expect(box.closed).toBe(true);
    // Its link hears killed.
    const exit = await fake.next((m) => m.control.op === Op.EXIT);
    expect(exit.control).toMatchObject({ from: box.pid, to: remotePid(10), reason: atom('killed') });
  });

  it('EXIT (payload form) from a linked process is a message; after UNLINK_ID, an EXIT is ignored', async () => {
    const { fake, node } = await connectTo(() => {});
    const box = node.spawn();
    const a = remotePid(11);
    const b = remotePid(12);
    box.link(a);
    box.link(b);
    expect(
      (await fake.next((m) => m.control.op === Op.LINK && (m.control as { to: Pid }).to.id === 12)).control,
    ).toMatchObject({ from: box.pid });
    fake.send({ op: Op.PAYLOAD_EXIT, from: a, to: box.pid }, tuple(atom('shutdown'), 1));
    expect(await box.receive({ timeout: 2000 })).toStrictEqual(tuple(atom('EXIT'), a, tuple(atom('shutdown'), 1)));
    fake.send({ op: Op.UNLINK_ID, id: 7, from: b, to: box.pid });
    const ack = await fake.next((m) => m.control.op === Op.UNLINK_ID_ACK);
    expect(ack.control).toMatchObject({ id: 7, from: box.pid, to: b });
    fake.send({ op: Op.EXIT, from: b, to: box.pid, reason: atom('ignored') });
    fake.send({ op: Op.SEND_SENDER, from: b, to: box.pid }, atom('marker'));
    expect(await box.receive({ timeout: 2000 })).toBe(atom('marker'));
  });

  it('a box unlinking sends UNLINK_ID; ops erldist does not take are dropped and counted', async () => {
    const { fake, node } = await connectTo(() => {});
    const box = node.spawn();
    const pid = remotePid(13);
    box.link(pid);
    box.unlink(pid);
    const unlink = await fake.next((m) => m.control.op === Op.UNLINK_ID);
    expect(unlink.control).toMatchObject({ from: box.pid, to: pid });
    fake.send({ op: Op.UNLINK_ID_ACK, id: (unlink.control as { id: number }).id, from: pid, to: box.pid });
    const before = node.stats.dropped;
    fake.send({ op: Op.GROUP_LEADER, from: pid, to: box.pid });
    fake.send({ op: Op.EXIT, from: remotePid(99), to: box.pid, reason: atom('not_linked') });
    fake.send({ op: Op.SEND, to: box.pid }, atom('marker'));
    expect(await box.receive({ timeout: 2000 })).toBe(atom('marker'));
    expect(node.stats.dropped).toBe(before + 1);
  });

  it('a monitor the peer holds on a mailbox gets the DOWN; a DOWN for a monitor we do not hold is ignored', async () => {
    const { fake, node } = await connectTo(() => {});
    const box = node.spawn();
    const ref = node.makeRef();
    fake.send({ op: Op.MONITOR_P, from: remotePid(20), to: box.pid, ref });
    fake.send({ op: Op.MONITOR_P_EXIT, from: remotePid(21), to: box.pid, ref: node.makeRef(), reason: atom('stray') });
    fake.send({ op: Op.SEND, to: box.pid }, atom('marker'));
    expect(await box.receive({ timeout: 2000 })).toBe(atom('marker'));
    box.close(atom('done'));
    const down = await fake.next((m) => m.control.op === Op.MONITOR_P_EXIT);
    expect(down.control).toMatchObject({ from: box.pid, to: remotePid(20), reason: atom('done') });
    expect(box.size).toBe(0);
  });
});
