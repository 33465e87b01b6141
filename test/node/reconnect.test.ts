import { afterEach, describe, expect, it } from 'vitest';
import { createNode, type LocalNode } from '../../src/index.js';
import { randomTestCookie, uniqueName } from '../support/pair.js';
import { rejection } from '../support/rejection.js';
import { eventually, nextEvent } from '../support/wait.js';

const open: LocalNode[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((n) => n.close()));
});

/** A node that listens on `port` (0: any) under `name`, with a registered mailbox `inbox`. */
async function server(name: string, cookie: string, port = 0) {
  const node = createNode({ name, cookie });
  open.push(node);
  const listening = await node.listen({ epmd: false, port });
  const inbox = node.spawn();
  node.register('inbox', inbox);
  return { node, inbox, port: listening.port };
}

describe('a peer that reconnects (TS to TS)', () => {
  it('messages sent while it reconnects wait in order and go out once it is back; what does not fit is dropped', async () => {
    const cookie = randomTestCookie();
    const name = uniqueName('srv');
    const first = await server(name, cookie);
    const client = createNode({
      name: uniqueName('cli'),
      cookie,
      maxBuffered: 4096,
      reconnect: { initialDelay: 20, maxDelay: 100 },
    });
    open.push(client);
    const peer = await client.connect(`${name}:${first.port}`);
    const down = nextEvent(client, 'nodedown');
    await first.node.close();
    await down;
    expect(peer.connected).toBe(false);
    expect(peer.isClosed).toBe(false);

    for (let i = 0; i < 3; i++) expect(() => peer.send('inbox', i)).not.toThrow();
    // About 4 KiB fit in the outbox: a 10 KiB message is dropped and counted, never thrown.
    const dropped = client.stats.dropped;
    peer.send('inbox', Buffer.alloc(10_000));
    expect(client.stats.dropped).toBe(dropped + 1);
    expect(peer.buffered).toBeGreaterThan(0);

    const second = await server(name, cookie, first.port);
    const received = [await second.inbox.receive({ timeout: 3000 })];
    for (let i = 1; i < 3; i++) received.push(await second.inbox.receive({ timeout: 1000 }));
    expect(received).toEqual([0, 1, 2]);
    expect(peer.connected).toBe(true);
    expect(client.stats.reconnects).toBe(1);
  });

  it('a call made while the node is away waits within its timeout; one made after it is back is answered', async () => {
    const cookie = randomTestCookie();
    const name = uniqueName('srv');
    const first = await server(name, cookie);
    first.node.serve('echo', { handleCall: (request) => request });
    const client = createNode({ name: uniqueName('cli'), cookie, reconnect: { initialDelay: 20, maxDelay: 100 } });
    open.push(client);
    const peer = await client.connect(`${name}:${first.port}`);
    expect(await peer.call('echo', 'one')).toBe('one');
    await first.node.close();
    await eventually(() => !peer.connected, { what: 'the connection dropped' });
    expect((await rejection(peer.call('echo', 'lost', { timeout: 150 }))).code).toBe('TIMEOUT');
    const second = await server(name, cookie, first.port);
    second.node.serve('echo', { handleCall: (request) => request });
    expect(await peer.call('echo', 'two', { timeout: 3000 })).toBe('two');
  });

  it('reconnect: false closes the peer with its connection, as before', async () => {
    const cookie = randomTestCookie();
    const name = uniqueName('srv');
    const first = await server(name, cookie);
    const client = createNode({ name: uniqueName('cli'), cookie });
    open.push(client);
    const peer = await client.connect(`${name}:${first.port}`, { reconnect: false });
    await first.node.close();
    await eventually(() => peer.isClosed, { what: 'the peer closed' });
    expect(client.peer(name)).toBeUndefined();
    expect(() => peer.send('inbox', 1)).toThrow(expect.objectContaining({ code: 'NODE_DOWN' }));
  });
});
