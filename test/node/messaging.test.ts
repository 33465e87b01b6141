/**
 * Messages between two erldist nodes and inside one: registered names, pids, what is dropped
 * (`stats.dropped`), mailboxes as async iterables, timeouts and AbortSignal on every wait, pending
 * calls when a node closes (NODE_DOWN), and back-pressure (`send` returns false, `drain()`).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { atom, createNode, Pid, type Term, tuple } from '../../src/index.js';
import { FLAGS_WITHOUT_SPAWN, startFakePeer } from '../support/fake-peer.js';
import { freePort } from '../support/net.js';
import { type NodePair, nodePair, uniqueName } from '../support/pair.js';
import { rejection } from '../support/rejection.js';
import { deferred, eventually, nextEvent } from '../support/wait.js';

let p: NodePair;
beforeEach(async () => {
  p = await nodePair();
});
afterEach(async () => {
  await p.close();
});

describe('sending', () => {
  it('peer.send to a registered name and to a pid', async () => {
    const box = p.b.spawn();
    p.b.register('inbox', box);
    expect(p.ab.send('inbox', tuple(atom('hello'), 1))).toBe(true);
    expect(p.ab.send(atom('inbox'), 2)).toBe(true);
    expect(p.ab.send(box.pid, [3])).toBe(true);
    expect([await box.receive(), await box.receive(), await box.receive()]).toStrictEqual([
      tuple(atom('hello'), 1),
      2,
      [3],
    ]);
  });

  it('box.send carries the sender: the receiver can answer to its pid', async () => {
    const ask = p.a.spawn();
    const echo = p.b.spawn();
    p.b.register('echo', echo);
    ask.send('echo', tuple(ask.pid, 'ping'), p.ab);
    const msg = await echo.receive({ timeout: 2000 });
    const [from, text] = (msg as { elements: Term[] }).elements;
    expect(from).toStrictEqual(ask.pid);
    echo.send(from as Pid, tuple(atom('pong'), text));
    expect(await ask.receive({ timeout: 2000 })).toStrictEqual(tuple(atom('pong'), 'ping'));
  });

  it('local sends: by pid, by name on this node, and the only connected node by default', async () => {
    const box = p.a.spawn();
    p.a.register('here', box);
    const other = p.a.spawn();
    other.send(box.pid, 1);
    other.send('here', 2, p.a.name);
    expect([await box.receive(), await box.receive()]).toStrictEqual([1, 2]);
    const far = p.b.spawn();
    p.b.register('there', far);
    other.send('there', 3);
    expect(await far.receive({ timeout: 2000 })).toBe(3);
  });

  it('messages to unknown names or dead pids are dropped and counted, locally and from a peer', async () => {
    const dead = p.b.spawn();
    dead.close();
    const before = p.b.stats.dropped;
    p.ab.send('nobody', 1);
    p.ab.send(dead.pid, 2);
    const box = p.b.spawn();
    p.b.register('after', box);
    p.ab.send('after', 'marker');
    expect(await box.receive({ timeout: 2000 })).toBe('marker');
    expect(p.b.stats.dropped).toBe(before + 2);
    const local = p.a.stats.dropped;
    box.send('nobody', 3, p.b.name);
    box.send(dead.pid, 4);
    const aBox = p.a.spawn();
    aBox.send(new Pid(atom(p.a.name), 999_999, 0, p.a.creation), 5);
    expect(p.b.stats.dropped).toBe(before + 4);
    expect(p.a.stats.dropped).toBe(local + 1);
  });

  it('a node that cannot be reached: the send does not throw; the messages are dropped and counted', async () => {
    const box = p.a.spawn();
    const before = p.a.stats.dropped;
    // A port nothing listens on: the on-demand dial fails at once.
    const nobody = `nobody@127.0.0.1:${await freePort()}`;
    expect(() => box.send(new Pid(atom('nobody@127.0.0.1'), 1, 0, 1), 1)).not.toThrow();
    expect(() => box.send('x', 1, nobody)).not.toThrow();
    await eventually(() => p.a.stats.dropped >= before + 2, { what: 'both messages counted as dropped' });
    expect(p.a.peer(nobody)).toBeUndefined();
  });
});

describe('mailboxes and names', () => {
  it('register, whereis, unregister; a name is taken once; a closed box cannot be registered', () => {
    const box = p.a.spawn();
    const other = p.a.spawn();
    p.a.register('jobs', box);
    p.a.register('jobs', box);
    expect(p.a.whereis('jobs')).toBe(box);
    expect(() => p.a.register('jobs', other)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    p.a.unregister('jobs');
    p.a.unregister('jobs');
    expect(p.a.whereis('jobs')).toBeUndefined();
    p.a.register('jobs', other);
    other.close();
    expect(p.a.whereis('jobs')).toBeUndefined();
    expect(() => p.a.register('late', other)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('a mailbox is an async iterable that ends when it closes; messages queued before stay readable', async () => {
    const box = p.a.spawn();
    box.send(box.pid, 1);
    box.send(box.pid, 2);
    expect(box.size).toBe(2);
    const seen: Term[] = [];
    const done = (async () => {
      for await (const m of box) {
        seen.push(m);
        if (m === 3) box.close();
      }
    })();
    p.ba.send(box.pid, 3);
    await done;
    expect(seen).toStrictEqual([1, 2, 3]);
    await expect(box.receive()).rejects.toMatchObject({ code: 'NODE_DOWN' });
    box.send(box.pid, 4); // to a closed mailbox: dropped
    expect(box.size).toBe(0);
  });

  it('many queued messages are read in order', async () => {
    const box = p.a.spawn();
    for (let i = 0; i < 3000; i++) box.send(box.pid, i);
    const got: Term[] = [];
    for (let i = 0; i < 3000; i++) got.push(await box.receive());
    expect(got).toStrictEqual(Array.from({ length: 3000 }, (_, i) => i));
  });

  it('tryReceive takes what is queued, in order with receive, and undefined when empty', async () => {
    const box = p.a.spawn();
    expect(box.tryReceive()).toBeUndefined();
    box.send(box.pid, 1);
    box.send(box.pid, 2);
    box.send(box.pid, 3);
    expect(box.tryReceive()).toBe(1);
    expect(await box.receive()).toBe(2);
    expect(box.tryReceive()).toBe(3);
    expect(box.tryReceive()).toBeUndefined();
    const later = box.receive({ timeout: 1000 });
    p.b.spawn().send(box.pid, 'from b', p.a.name);
    expect(await later).toBe('from b');
    box.close();
    expect(box.tryReceive()).toBeUndefined();
  });
});

describe('timeouts and AbortSignal', () => {
  it('receive: TIMEOUT, ABORTED before and during the wait; a later message still arrives', async () => {
    const box = p.a.spawn();
    expect((await rejection(box.receive({ timeout: 20 }))).code).toBe('TIMEOUT');
    const pre = new AbortController();
    pre.abort();
    expect((await rejection(box.receive({ signal: pre.signal }))).code).toBe('ABORTED');
    const ac = new AbortController();
    const waiting = rejection(box.receive({ signal: ac.signal }));
    ac.abort(new Error('stop'));
    const err = await waiting;
    expect(err.code).toBe('ABORTED');
    expect((err.cause as Error).message).toBe('stop');
    box.send(box.pid, 'kept');
    expect(await box.receive()).toBe('kept');
  });

  it('call: TIMEOUT and ABORTED; the late reply is dropped and the server goes on', async () => {
    const gate = deferred<Term>();
    let n = 0;
    p.b.serve('slow', { handleCall: () => (n++ === 0 ? gate.promise : atom('fast')) });
    expect((await rejection(p.ab.call('slow', 1, { timeout: 30 }))).code).toBe('TIMEOUT');
    const pre = new AbortController();
    pre.abort();
    expect((await rejection(p.ab.call('slow', 1, { signal: pre.signal }))).code).toBe('ABORTED');
    const droppedBefore = p.a.stats.dropped;
    gate.resolve(atom('too late'));
    const ac = new AbortController();
    const aborted = rejection(p.ab.call('slow', 2, { signal: ac.signal }));
    ac.abort();
    expect((await aborted).code).toBe('ABORTED');
    expect(await p.ab.call('slow', 3)).toBe(atom('fast'));
    expect(p.a.stats.dropped).toBeGreaterThan(droppedBefore);
  });

  it('rpc: TIMEOUT and ABORTED while the function runs', async () => {
    const gate = deferred<Term>();
    p.b.expose('slow', { f: () => gate.promise });
    expect((await rejection(p.ab.rpc('slow', 'f', [], { timeout: 30 }))).code).toBe('TIMEOUT');
    const ac = new AbortController();
    const aborted = rejection(p.ab.rpc('slow', 'f', [], { signal: ac.signal }));
    ac.abort();
    expect((await aborted).code).toBe('ABORTED');
    gate.resolve(1);
    expect(await p.ab.rpc('slow', 'f', [])).toBe(1);
  });

  it('spawn: ABORTED before it starts', async () => {
    const ac = new AbortController();
    ac.abort();
    expect((await rejection(p.ab.spawn('m', 'f', [], { signal: ac.signal }))).code).toBe('ABORTED');
  });
});

describe('a peer that completes the handshake and then never answers', () => {
  it('spawn and rpc: TIMEOUT; with the peer gone: NODE_DOWN', async () => {
    const fake = await startFakePeer({ kind: 'handshake', cookie: p.cookie, after: () => {} });
    try {
      const peer = await p.a.connect(`${fake.name}:${fake.port}`);
      expect((await rejection(peer.spawn('m', 'f', [], { timeout: 30 }))).code).toBe('TIMEOUT');
      expect((await rejection(peer.rpc('m', 'f', [], { timeout: 30 }))).code).toBe('TIMEOUT');
      const spawn = rejection(peer.spawn('m', 'f', [], { timeout: 4000 }));
      const down = nextEvent(p.a, 'nodedown');
      await fake.close();
      await down;
      expect((await spawn).code).toBe('NODE_DOWN');
    } finally {
      await fake.close();
    }
  });

  it('without DFLAG_SPAWN: spawn is NOT_ALLOWED and rpc goes to rex as a gen_server call', async () => {
    const fake = await startFakePeer({
      kind: 'handshake',
      cookie: p.cookie,
      after: () => {},
      flags: FLAGS_WITHOUT_SPAWN,
    });
    try {
      const peer = await p.a.connect(`${fake.name}:${fake.port}`);
      expect(peer.flags).toBe(FLAGS_WITHOUT_SPAWN);
      expect((await rejection(peer.spawn('m', 'f'))).code).toBe('NOT_ALLOWED');
      expect((await rejection(peer.rpc('m', 'f', [], { timeout: 30 }))).code).toBe('TIMEOUT');
    } finally {
      await fake.close();
    }
  });
});

describe('closing with calls pending', () => {
  it('the far node closes: pending call, rpc and receive-free waits reject NODE_DOWN', async () => {
    const started = deferred();
    p.b.serve('hang', {
      handleCall: () => {
        started.resolve();
        return new Promise<Term>(() => {});
      },
    });
    p.b.expose('hang', { f: () => new Promise<Term>(() => {}) });
    const call = rejection(p.ab.call('hang', 1));
    const rpc = rejection(p.ab.rpc('hang', 'f', []));
    await started.promise;
    await p.b.close();
    expect((await call).code).toBe('NODE_DOWN');
    expect((await rpc).code).toBe('NODE_DOWN');
    // The peer reconnects: calls made now wait for a connection within their own timeout.
    expect(p.ab.connected).toBe(false);
    expect(p.ab.isClosed).toBe(false);
    expect((await rejection(p.ab.call('hang', 1, { timeout: 200 }))).code).toBe('TIMEOUT');
    // Closed for good: calls and sends fail at once.
    await p.ab.close();
    expect(p.ab.isClosed).toBe(true);
    expect((await rejection(p.ab.call('hang', 1))).code).toBe('NODE_DOWN');
    expect((await rejection(p.ab.rpc('hang', 'f', []))).code).toBe('NODE_DOWN');
    expect(() => p.ab.send('x', 1)).toThrow(expect.objectContaining({ code: 'NODE_DOWN' }));
  });

  it('our node closes: pending calls and receives reject NODE_DOWN; nothing can be spawned after', async () => {
    p.b.serve('hang', { handleCall: () => new Promise<Term>(() => {}) });
    const box = p.a.spawn();
    const receive = rejection(box.receive());
    const call = rejection(p.ab.call('hang', 1));
    await p.a.close();
    await p.a.close(); // twice is fine
    expect((await call).code).toBe('NODE_DOWN');
    expect((await receive).code).toBe('NODE_DOWN');
    expect(p.a.isClosed).toBe(true);
    expect(() => p.a.spawn()).toThrow(expect.objectContaining({ code: 'NODE_DOWN' }));
    await expect(p.a.connect(`${p.b.name}:1`)).rejects.toMatchObject({ code: 'NODE_DOWN' });
    await expect(p.a.listen({ epmd: false })).rejects.toMatchObject({ code: 'NODE_DOWN' });
  });

  it('closing the peer closes the connection both ways; nodeup and nodedown are emitted', async () => {
    const down = new Promise<unknown[]>((resolve) => p.b.once('nodedown', (...args) => resolve(args)));
    await p.ab.close();
    const [name, error] = await down;
    expect(name).toBe(p.a.name);
    expect(error).toMatchObject({ code: 'NODE_DOWN' });
    expect(p.a.peer(p.b.name)).toBeUndefined();
    expect(p.b.peer(p.a.name)).toBeUndefined();
  });
});

describe('back-pressure', () => {
  it('send returns false past highWaterMark; drain() resolves once written; calls wait for it', async () => {
    const q = await nodePair({ a: { highWaterMark: 1024 } });
    try {
      const box = q.b.spawn();
      q.b.register('sink', box);
      q.b.serve('srv', { handleCall: (r) => r });
      q.b.expose('m', { id: (x) => x });
      expect(q.ab.send('sink', Buffer.alloc(4096, 1))).toBe(false);
      expect(q.ab.buffered).toBeGreaterThanOrEqual(4096);
      // Both wait for the buffer to drain before they write.
      const [call, rpc] = [q.ab.call('srv', 'after'), q.ab.rpc('m', 'id', ['after'])];
      await q.ab.drain();
      expect(q.ab.buffered).toBeLessThan(1024);
      expect(await call).toBe('after');
      expect(await rpc).toBe('after');
      expect((await box.receive({ timeout: 2000 })) as Buffer).toHaveLength(4096);
      expect(q.ab.send('sink', 'small')).toBe(true);
      await q.ab.drain(); // under the mark: resolves at once
    } finally {
      await q.close();
    }
  });

  it('a call that times out while waiting for the drain is forgotten', async () => {
    const q = await nodePair({ a: { highWaterMark: 1024 } });
    try {
      q.b.serve('srv', { handleCall: (r) => r });
      q.ab.send('sink', Buffer.alloc(1 << 20, 1));
      const ac = new AbortController();
      const call = rejection(q.ab.call('srv', 'x', { signal: ac.signal }));
      const rpc = rejection(q.ab.rpc('m', 'f', [], { signal: ac.signal }));
      ac.abort();
      expect((await call).code).toBe('ABORTED');
      expect((await rpc).code).toBe('ABORTED');
      await q.ab.drain();
      expect(await q.ab.call('srv', 'y')).toBe('y');
    } finally {
      await q.close();
    }
  });
});

describe('the local node', () => {
  it('a local name has no port; names are normalised', () => {
    expect(() => createNode({ name: 'x@127.0.0.1:4000', cookie: 'c' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    const n = createNode({ name: uniqueName('n'), cookie: 'c' });
    expect(n.name).toMatch(/@127\.0\.0\.1$/);
    void n.close();
  });

  it('inspect shows name and peers, never the cookie', async () => {
    const { inspect } = await import('node:util');
    const text = inspect(p.a);
    expect(text).toContain(p.a.name);
    expect(text).toContain(p.b.name);
    expect(text).not.toContain(p.cookie);
    expect(inspect(p.ab)).toContain(p.b.name);
    await p.ab.close();
    expect(inspect(p.ab)).toContain('closed');
  });

  it('setCookie: a cookie for one node; an empty cookie is INVALID_ARGUMENT', async () => {
    expect(() => p.a.setCookie('x@127.0.0.1', '')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    const other = createNode({ name: uniqueName('c'), cookie: 'its-own-cookie' });
    try {
      const { port } = await other.listen({ epmd: false });
      await expect(p.a.connect(`${other.name}:${port}`)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
      p.a.setCookie(other.name, 'its-own-cookie');
      other.setCookie(p.a.name, 'its-own-cookie');
      const peer = await p.a.connect(`${other.name}:${port}`);
      expect(await peer.ping()).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('listen twice: INVALID_ARGUMENT', async () => {
    await expect(p.b.listen({ epmd: false })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('makePid and makeRef are unique and belong to the node', () => {
    const pids = new Set(Array.from({ length: 100 }, () => p.a.makePid().toString()));
    expect(pids.size).toBe(100);
    const ref = p.a.makeRef();
    expect(ref.node).toBe(atom(p.a.name));
    expect(p.a.makeRef()).not.toStrictEqual(ref);
  });
});
