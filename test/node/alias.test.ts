/**
 * Aliases (DFLAG_ALIAS, erlang:alias/1): `box.alias()` between two erldist nodes and locally, and
 * the aliases of our own calls, against a scripted peer: `$gen_call` tagged `[alias | Ref]`, the
 * reply as ALIAS_SEND, a late reply dropped and counted; erpc taking its monitor back on timeout.
 * The same against real nodes: test/interop/alias.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Control, Op } from '../../src/distribution/control.js';
import { DFLAG, DFLAG_ERLDIST } from '../../src/distribution/flags.js';
import {
  atom,
  createNode,
  From,
  ImproperList,
  type LocalNode,
  type Mailbox,
  Pid,
  Reference,
  type Term,
  Tuple,
  tuple,
} from '../../src/index.js';
import {
  FLAGS_WITHOUT_SPAWN,
  type ScriptedMessage,
  type ScriptedPeer,
  startScriptedPeer,
} from '../support/fake-peer.js';
import { type NodePair, nodePair, randomTestCookie, uniqueName } from '../support/pair.js';
import { rejection } from '../support/rejection.js';
import { eventually } from '../support/wait.js';

const FAKE = 'fake@127.0.0.1';
const ALIAS = atom('alias');
const remotePid = (id: number) => new Pid(atom(FAKE), id, 0, 1234);

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function pair(): Promise<NodePair> {
  const p = await nodePair();
  cleanup.push(() => p.close());
  return p;
}

async function scripted(script: (m: ScriptedMessage, peer: ScriptedPeer) => void, flags?: bigint) {
  const cookie = randomTestCookie();
  const fake = await startScriptedPeer({ cookie, flags, script });
  cleanup.push(() => fake.close());
  const node: LocalNode = createNode({ name: uniqueName('al'), cookie });
  cleanup.push(() => node.close());
  const peer = await node.connect(`${FAKE}:${fake.port}`);
  return { fake, node, peer };
}

/** A send to `alias` (no longer active) then a marker: the marker arrives, the first is dropped and counted. */
async function expectDropped(node: LocalNode, sender: Mailbox, alias: Reference, box: Mailbox): Promise<void> {
  const dropped = node.stats.dropped;
  sender.send(alias, atom('late'));
  sender.send(box.pid, atom('marker'));
  expect(await box.receive({ timeout: 2000 })).toBe(atom('marker'));
  expect(node.stats.dropped).toBe(dropped + 1);
  expect(box.size).toBe(0);
}

/** The `{Pid, Tag}` of a `$gen_call` payload. */
function callFrom(payload: Term | undefined): { pid: Pid; tag: Term } {
  const from = ((payload as Tuple).elements[1] as Tuple).elements;
  return { pid: from[0] as Pid, tag: from[1] };
}

describe('box.alias between two erldist nodes', () => {
  it('we advertise DFLAG_ALIAS and both sides agree on it', async () => {
    const p = await pair();
    expect(DFLAG_ERLDIST & DFLAG.ALIAS).toBe(DFLAG.ALIAS);
    expect(p.ab.flags & DFLAG.ALIAS).toBe(DFLAG.ALIAS);
  });

  it('a message to an alias arrives in its mailbox; after unalias it is dropped and counted', async () => {
    const p = await pair();
    const box = p.a.spawn();
    const sender = p.b.spawn();
    const alias = box.alias();
    expect(alias.node).toBe(p.a.nodeAtom);
    sender.send(alias, atom('one'));
    expect(await box.receive({ timeout: 2000 })).toBe(atom('one'));
    expect(box.unalias(alias)).toBe(true);
    expect(box.unalias(alias)).toBe(false);
    await expectDropped(p.a, sender, alias, box);
  });

  it('{ reply: true }: the first message ends the alias; another mailbox cannot unalias it', async () => {
    const p = await pair();
    const box = p.a.spawn();
    const other = p.a.spawn();
    const alias = box.alias({ reply: true });
    expect(other.unalias(alias)).toBe(false);
    const sender = p.b.spawn();
    sender.send(alias, 1);
    sender.send(alias, 2);
    sender.send(box.pid, atom('marker'));
    expect(await box.receive({ timeout: 2000 })).toBe(1);
    expect(await box.receive({ timeout: 2000 })).toBe(atom('marker'));
    expect(box.unalias(alias)).toBe(false);
  });

  it('local sends to an alias; a closed mailbox loses its aliases and cannot make one', () => {
    const node = createNode({ name: uniqueName('lo'), cookie: 'c' });
    cleanup.push(() => node.close());
    const box = node.spawn();
    const alias = box.alias();
    node.spawn().send(alias, atom('hi'));
    expect(box.size).toBe(1);
    box.close();
    const dropped = node.stats.dropped;
    node.spawn().send(alias, atom('late'));
    expect(node.stats.dropped).toBe(dropped + 1);
    expect(() => box.alias()).toThrow(expect.objectContaining({ code: 'NODE_DOWN' }));
  });

  it('two nodes in one process keep their own tables: an alias of one means nothing to the other', () => {
    const a = createNode({ name: uniqueName('ta'), cookie: 'c' });
    const b = createNode({ name: uniqueName('tb'), cookie: 'c' });
    cleanup.push(
      () => a.close(),
      () => b.close(),
    );
    const box = a.spawn();
    const alias = box.alias();
    // The same reference words on b's node: not b's alias.
    const lookalike = new Reference(b.nodeAtom, b.creation, alias.ids);
    b.spawn().send(lookalike, atom('x'));
    expect(b.stats.dropped).toBe(1);
    expect(box.size).toBe(0);
  });
});

describe('box.monitor(target, peer, { alias }) (erlang:monitor/3)', () => {
  it('demonitor: the monitor reference is an alias until demonitor', async () => {
    const p = await pair();
    const box = p.a.spawn();
    const target = p.b.spawn();
    const { ref } = box.monitor(target.pid, undefined, { alias: 'demonitor' });
    target.send(ref, atom('via_alias'));
    expect(await box.receive({ timeout: 2000 })).toBe(atom('via_alias'));
    box.demonitor(ref);
    await expectDropped(p.a, target, ref, box);
  });

  it('demonitor: the DOWN ends the alias; explicit_unalias outlives it', async () => {
    const p = await pair();
    const box = p.a.spawn();
    const target = p.b.spawn();
    const ends = box.monitor(target.pid, undefined, { alias: 'demonitor' });
    const stays = box.monitor(target.pid, undefined, { alias: 'explicit_unalias' });
    const sender = p.b.spawn();
    await p.ab.ping(); // both monitors are in before the target closes
    target.close(atom('bye'));
    expect(await ends.down).toBe(atom('bye'));
    expect(await stays.down).toBe(atom('bye'));
    const dropped = p.a.stats.dropped;
    sender.send(ends.ref, atom('to_ended'));
    sender.send(stays.ref, atom('to_explicit'));
    const got: Term[] = [];
    for (let i = 0; i < 3; i++) got.push(await box.receive({ timeout: 2000 }));
    // Both DOWNs, then only the message to the explicit alias.
    expect(got[2]).toBe(atom('to_explicit'));
    expect(p.a.stats.dropped).toBe(dropped + 1);
    expect(box.unalias(stays.ref)).toBe(true);
  });

  it('reply_demonitor: the first message through the alias ends both the alias and the monitor', async () => {
    const p = await pair();
    const box = p.a.spawn();
    const target = p.b.spawn();
    const monitor = box.monitor(target.pid, undefined, { alias: 'reply_demonitor' });
    target.send(monitor.ref, atom('reply'));
    expect(await box.receive({ timeout: 2000 })).toBe(atom('reply'));
    expect(box.unalias(monitor.ref)).toBe(false);
    // The monitor is gone too: the target closing sends no DOWN.
    await p.ab.ping();
    target.close();
    await expectDropped(p.a, p.b.spawn(), monitor.ref, box);
  });

  it('another alias option is INVALID_ARGUMENT, before any monitor goes out', () => {
    const node = createNode({ name: uniqueName('mo'), cookie: 'c' });
    cleanup.push(() => node.close());
    const box = node.spawn();
    expect(() => box.monitor(node.spawn().pid, undefined, { alias: 'reply' as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('our calls use an alias when the peer agreed DFLAG_ALIAS', () => {
  it('gen_server call: [alias | Ref] tag, the reply as ALIAS_SEND; a late one is dropped and counted', async () => {
    let late: (() => void) | undefined;
    const { node, peer } = await scripted(({ control, payload }, fake) => {
      if (control.op !== Op.REG_SEND) return;
      const { pid, tag } = callFrom(payload);
      const alias = (tag as ImproperList).tail as Reference;
      const reply = () => fake.send({ op: Op.ALIAS_SEND, from: remotePid(5), alias }, tuple(tag, atom('done')));
      expect(pid).toBeInstanceOf(Pid);
      if ((payload as Tuple).elements[2] === atom('now')) reply();
      else late = reply;
    });
    expect(await peer.call('srv', atom('now'))).toBe(atom('done'));
    const err = await rejection(peer.call('srv', atom('later'), { timeout: 100 }));
    expect(err.code).toBe('TIMEOUT');
    const dropped = node.stats.dropped;
    late?.();
    await eventually(() => node.stats.dropped === dropped + 1);
  });

  it('the tag is [alias | Ref] with Ref the monitor reference (gen:call); a reply to the pid also settles', async () => {
    const { fake, peer } = await scripted(({ control, payload }, f) => {
      if (control.op !== Op.REG_SEND) return;
      const { pid, tag } = callFrom(payload);
      f.send({ op: Op.SEND, to: pid }, tuple(tag, atom('by_pid')));
    });
    expect(await peer.call('srv', 1)).toBe(atom('by_pid'));
    const monitor = await fake.next((m) => m.control.op === Op.MONITOR_P);
    const call = await fake.next((m) => m.control.op === Op.REG_SEND);
    const { tag } = callFrom(call.payload);
    expect(tag).toStrictEqual(new ImproperList([ALIAS], (monitor.control as { ref: Reference }).ref));
  });

  it('rpc through rex (no DFLAG_SPAWN) is aliased the same way', async () => {
    let late: (() => void) | undefined;
    const { node, peer } = await scripted(({ control, payload }, fake) => {
      if (control.op !== Op.REG_SEND) return;
      const { tag } = callFrom(payload);
      const alias = (tag as ImproperList).tail as Reference;
      const args = ((payload as Tuple).elements[2] as Tuple).elements[3] as Term[];
      const reply = () => fake.send({ op: Op.ALIAS_SEND, from: remotePid(6), alias }, tuple(tag, args[0]));
      if (args[0] === atom('now')) reply();
      else late = reply;
    }, FLAGS_WITHOUT_SPAWN);
    expect(await peer.rpc('m', 'f', [atom('now')])).toBe(atom('now'));
    expect((await rejection(peer.rpc('m', 'f', [atom('later')], { timeout: 100 }))).code).toBe('TIMEOUT');
    const dropped = node.stats.dropped;
    late?.();
    await eventually(() => node.stats.dropped === dropped + 1);
  });

  it('without DFLAG_ALIAS: a plain reference tag; we reply to the pid; a send to its alias is dropped', async () => {
    const flags = DFLAG_ERLDIST & ~DFLAG.ALIAS;
    const { fake, node, peer } = await scripted(({ control, payload }, f) => {
      if (control.op !== Op.REG_SEND || !((payload as Tuple).elements[1] instanceof Tuple)) return;
      const { pid, tag } = callFrom(payload);
      f.send({ op: Op.SEND, to: pid }, tuple(tag, atom('plain')));
    }, flags);
    expect(peer.flags & DFLAG.ALIAS).toBe(0n);
    expect(await peer.call('srv', 1)).toBe(atom('plain'));
    const call = await fake.next((m) => m.control.op === Op.REG_SEND);
    expect(callFrom(call.payload).tag).toBeInstanceOf(Reference);
    // A caller of ours with an alias tag anyway: the reply goes to its pid.
    node.serve('svc', { handleCall: () => atom('to_pid') });
    const tag = new ImproperList([ALIAS], fakeRef());
    fake.send(
      { op: Op.REG_SEND, from: remotePid(7), toName: atom('svc') },
      tuple(atom('$gen_call'), tuple(remotePid(7), tag), 0),
    );
    const reply = await fake.next((m) => m.control.op === Op.SEND);
    expect(reply.control).toMatchObject({ to: remotePid(7) });
    expect(reply.payload).toStrictEqual(tuple(tag, atom('to_pid')));
    const dropped = node.stats.dropped;
    node.spawn().send(fakeRef(), atom('nowhere'));
    expect(node.stats.dropped).toBe(dropped + 1);
  });

  it('as a server: a caller with [alias | A] gets the reply as ALIAS_SEND to A', async () => {
    const { fake, node } = await scripted(() => {});
    node.serve('svc', { handleCall: (req) => tuple(atom('ok'), req) });
    const alias = fakeRef();
    const tag = new ImproperList([ALIAS], alias);
    fake.send(
      { op: Op.REG_SEND, from: remotePid(8), toName: atom('svc') },
      tuple(atom('$gen_call'), tuple(remotePid(8), tag), 3),
    );
    const reply = await fake.next((m) => m.control.op === Op.ALIAS_SEND);
    expect((reply.control as Extract<Control, { op: 33 }>).alias).toStrictEqual(alias);
    expect(reply.payload).toStrictEqual(tuple(tag, tuple(atom('ok'), 3)));
    expect(new From(remotePid(8), tag).alias).toStrictEqual(alias);
  });

  it('erpc: a call that times out after the spawn reply takes its monitor back (DEMONITOR_P)', async () => {
    const { fake, peer } = await scripted(({ control }, f) => {
      if (control.op !== Op.SPAWN_REQUEST) return;
      f.send({ op: Op.SPAWN_REPLY, reqId: control.reqId, to: control.from, flags: 2, result: remotePid(9) });
    });
    expect((await rejection(peer.rpc('timer', 'sleep', [1000], { timeout: 100 }))).code).toBe('TIMEOUT');
    const request = await fake.next((m) => m.control.op === Op.SPAWN_REQUEST);
    const demonitor = await fake.next((m) => m.control.op === Op.DEMONITOR_P);
    expect(demonitor.control).toMatchObject({
      to: remotePid(9),
      ref: (request.control as { reqId: Reference }).reqId,
    });
  });
});

/** A reference of the scripted peer's node. */
function fakeRef(): Reference {
  return new Reference(atom(FAKE), 1234, [1, 2, 3]);
}
