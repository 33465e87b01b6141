/**
 * Links and monitors between mailboxes of two erldist nodes, in both directions: exit signals,
 * DOWN messages, noproc, noconnection when a node closes, unlink, demonitor, monitorNode.
 * To show that a signal did not come, the other side sends a marker afterwards: one connection
 * keeps order, so the marker arriving first (and alone) proves the signal was not sent.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { atom, type ErldistError, type Mailbox, Pid, type Term, tuple } from '../../src/index.js';
import { listeningNode, type NodePair, nodePair } from '../support/pair.js';
import { nextEvent } from '../support/wait.js';

let p: NodePair;
beforeEach(async () => {
  p = await nodePair();
});
afterEach(async () => {
  await p.close();
});

const MARK = atom('marker');
const next = (box: Mailbox): Promise<Term> => box.receive({ timeout: 2000 });

/** `from` sends a marker to `to`; resolves with what `to` receives next (the marker, or what came before it). */
async function nextBeforeMarker(from: Mailbox, to: Mailbox, via: string): Promise<Term> {
  from.send(to.pid, MARK, via);
  return next(to);
}

for (const direction of ['a links to b', 'b links to a'] as const) {
  describe(`links (${direction})`, () => {
    const sides = () => {
      const [near, far, via, back] =
        direction === 'a links to b' ? [p.a, p.b, p.b.name, p.a.name] : [p.b, p.a, p.a.name, p.b.name];
      return { near: near.spawn(), far: far.spawn(), via, back };
    };

    it('the far mailbox closing with a reason: {EXIT, Pid, Reason} arrives', async () => {
      const { near, far } = sides();
      near.link(far.pid);
      // The LINK has arrived once a message sent after it has.
      await nextBeforeMarker(near, far, far.pid.node.name);
      far.close(atom('crashed'));
      expect(await next(near)).toStrictEqual(tuple(atom('EXIT'), far.pid, atom('crashed')));
    });

    it('the near mailbox closing: the far one gets the exit (normal by default)', async () => {
      const { near, far } = sides();
      near.link(far.pid);
      near.close();
      expect(await next(far)).toStrictEqual(tuple(atom('EXIT'), near.pid, atom('normal')));
    });

    it('after unlink, closing sends no exit', async () => {
      const { near, far, back } = sides();
      near.link(far.pid);
      // Each marker comes after the signal before it: the LINK, then the UNLINK_ID, are in.
      await nextBeforeMarker(near, far, far.pid.node.name);
      near.unlink(far.pid);
      near.unlink(far.pid); // a second unlink is a no-op
      await nextBeforeMarker(near, far, far.pid.node.name);
      far.close(atom('gone'));
      const watcher = far.pid.node.name === p.a.name ? p.a.spawn() : p.b.spawn();
      expect(await nextBeforeMarker(watcher, near, back)).toBe(MARK);
    });

    it('linking to a pid that does not exist: {EXIT, Pid, noproc}', async () => {
      const { near, far } = sides();
      far.close();
      near.link(far.pid);
      expect(await next(near)).toStrictEqual(tuple(atom('EXIT'), far.pid, atom('noproc')));
    });
  });
}

describe('links across a closing node', () => {
  it('closing the far node: {EXIT, Pid, noconnection} for every link to it', async () => {
    const near = p.a.spawn();
    const far1 = p.b.spawn();
    const far2 = p.b.spawn();
    near.link(far1.pid);
    near.link(far2.pid);
    near.link(far2.pid); // linking twice is one link
    await p.b.close();
    const got = [await next(near), await next(near)];
    expect(got).toContainEqual(tuple(atom('EXIT'), far1.pid, atom('noconnection')));
    expect(got).toContainEqual(tuple(atom('EXIT'), far2.pid, atom('noconnection')));
    expect(near.size).toBe(0);
  });

  it('link to a node we are not connected to: NODE_DOWN', () => {
    const box = p.a.spawn();
    const stranger = new Pid(atom('nobody@127.0.0.1'), 1, 0, 1);
    expect(() => box.link(stranger)).toThrow(expect.objectContaining({ code: 'NODE_DOWN' }));
  });
});

for (const direction of ['a monitors b', 'b monitors a'] as const) {
  describe(`monitors (${direction})`, () => {
    const sides = () => {
      const [near, far] = direction === 'a monitors b' ? [p.a, p.b] : [p.b, p.a];
      return { nearNode: near, farNode: far, near: near.spawn(), far: far.spawn() };
    };

    it('a pid: DOWN with the exit reason, as a message and through `down`', async () => {
      const { near, far } = sides();
      const m = near.monitor(far.pid);
      await nextBeforeMarker(near, far, far.pid.node.name);
      far.close(tuple(atom('shutdown'), 1));
      expect(await m.down).toStrictEqual(tuple(atom('shutdown'), 1));
      expect(await next(near)).toStrictEqual(
        tuple(atom('DOWN'), m.ref, atom('process'), far.pid, tuple(atom('shutdown'), 1)),
      );
    });

    it('a registered name: DOWN names {Name, Node}', async () => {
      const { nearNode, farNode, near, far } = sides();
      farNode.register('watched', far);
      const m = near.monitor('watched', farNode.name);
      await nextBeforeMarker(near, far, farNode.name);
      far.close();
      expect(await next(near)).toStrictEqual(
        tuple(atom('DOWN'), m.ref, atom('process'), tuple(atom('watched'), atom(farNode.name)), atom('normal')),
      );
      expect(nearNode.whereis('watched')).toBeUndefined();
    });

    it('a pid or name that does not exist: DOWN noproc', async () => {
      const { farNode, near, far } = sides();
      far.close();
      expect(await near.monitor(far.pid).down).toBe(atom('noproc'));
      expect(await near.monitor('nobody', { name: farNode.name }).down).toBe(atom('noproc'));
    });

    it('after demonitor, no DOWN comes', async () => {
      const { farNode, near, far } = sides();
      const m = near.monitor(far.pid);
      // Each marker comes after the signal before it: the MONITOR_P, then the DEMONITOR_P, are in.
      await nextBeforeMarker(near, far, far.pid.node.name);
      near.demonitor(m.ref);
      near.demonitor(m.ref); // twice is a no-op
      await nextBeforeMarker(near, far, far.pid.node.name);
      far.close(atom('quietly'));
      const watcher = farNode.spawn();
      expect(await nextBeforeMarker(watcher, near, near.pid.node.name)).toBe(MARK);
    });

    it('a monitoring mailbox that closes leaves the other monitors of its target working', async () => {
      const { farNode, nearNode, near, far } = sides();
      const other = nearNode.spawn();
      near.monitor(far.pid);
      const kept = other.monitor(far.pid);
      near.close();
      // The MONITOR_Ps and the DEMONITOR_P have arrived once a message sent after them has.
      await nextBeforeMarker(other, far, farNode.name);
      far.close(atom('late'));
      expect(await next(other)).toStrictEqual(tuple(atom('DOWN'), kept.ref, atom('process'), far.pid, atom('late')));
    });
  });
}

describe('monitors across a closing node', () => {
  it('closing the far node: DOWN noconnection', async () => {
    const near = p.a.spawn();
    const far = p.b.spawn();
    const m = near.monitor(far.pid);
    await nextBeforeMarker(near, far, p.b.name);
    await p.b.close();
    expect(await m.down).toBe(atom('noconnection'));
  });

  it('a pid on a node we are not connected to: DOWN noconnection at once', async () => {
    const box = p.a.spawn();
    const stranger = new Pid(atom('nobody@127.0.0.1'), 1, 0, 1);
    const m = box.monitor(stranger);
    expect(await m.down).toBe(atom('noconnection'));
    expect(await next(box)).toStrictEqual(tuple(atom('DOWN'), m.ref, atom('process'), stranger, atom('noconnection')));
  });

  it('a name without a node: the only connected node; with two connected, INVALID_ARGUMENT', async () => {
    const box = p.a.spawn();
    const only = box.monitor('nobody');
    expect(await only.down).toBe(atom('noproc'));
    const third = await listeningNode({ cookie: p.cookie });
    try {
      await p.a.connect(third.address);
      expect(() => box.monitor('nobody')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      expect(() => box.send('nobody', 1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    } finally {
      await third.node.close();
    }
  });
});

describe('monitors between mailboxes of one node', () => {
  it('DOWN with the reason when the monitored mailbox closes; none after demonitor', async () => {
    const watcher = p.a.spawn();
    const target = p.a.spawn();
    const m = watcher.monitor(target.pid);
    const other = p.a.spawn();
    const dropped = watcher.monitor(other.pid);
    watcher.demonitor(dropped.ref);
    other.close(atom('gone'));
    target.close(atom('bye'));
    expect(await m.down).toBe(atom('bye'));
    expect(await next(watcher)).toStrictEqual(tuple(atom('DOWN'), m.ref, atom('process'), target.pid, atom('bye')));
    expect(watcher.size).toBe(0);
  });
});

describe('monitorNode', () => {
  it('calls back once with NODE_DOWN when the connection ends', async () => {
    const downs: ErldistError[] = [];
    const gone = new Promise<void>((resolve) =>
      p.a.monitorNode(p.b.name, (err) => {
        downs.push(err);
        resolve();
      }),
    );
    await p.b.close();
    await gone;
    expect(downs).toHaveLength(1);
    expect(downs[0]?.code).toBe('NODE_DOWN');
  });

  it('a node we are not connected to: NODE_DOWN at once', async () => {
    const err = await new Promise<ErldistError>((resolve) => p.a.monitorNode('nobody@127.0.0.1', resolve));
    expect(err.code).toBe('NODE_DOWN');
    expect(err.node).toBe('nobody@127.0.0.1');
  });

  it('cancelled: not called; other nodes going down do not call it', async () => {
    const calls: string[] = [];
    const cancel = p.a.monitorNode(p.b.name, () => calls.push('cancelled one'));
    cancel();
    const down = new Promise<void>((resolve) => p.a.monitorNode(p.b.name, () => resolve()));
    const third = await listeningNode({ cookie: p.cookie });
    await p.a.connect(third.address);
    const thirdDown = nextEvent(p.a, 'nodedown');
    await third.node.close();
    expect((await thirdDown)[0]).toBe(third.node.name);
    await p.b.close();
    await down;
    expect(calls).toEqual([]);
  });
});
