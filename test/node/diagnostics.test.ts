import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { createNode, type LocalNode } from '../../src/index.js';
import { randomTestCookie, uniqueName } from '../support/pair.js';
import { eventually } from '../support/wait.js';

const CHANNELS = [
  'erldist:connect:start',
  'erldist:connect:end',
  'erldist:reconnect',
  'erldist:nodeup',
  'erldist:nodedown',
  'erldist:call:start',
  'erldist:call:end',
] as const;

const open: LocalNode[] = [];
const subscriptions: [string, (message: unknown) => void][] = [];

afterEach(async () => {
  for (const [name, fn] of subscriptions.splice(0)) unsubscribe(name, fn);
  await Promise.all(open.splice(0).map((n) => n.close()));
});

function record(): { channel: string; message: Record<string, unknown> }[] {
  const seen: { channel: string; message: Record<string, unknown> }[] = [];
  for (const channel of CHANNELS) {
    const fn = (message: unknown) => seen.push({ channel, message: message as Record<string, unknown> });
    subscribe(channel, fn);
    subscriptions.push([channel, fn]);
  }
  return seen;
}

describe('diagnostics channels and stats', () => {
  it('a connect, a call, a drop and a reconnection are published and counted', async () => {
    const cookie = randomTestCookie();
    const name = uniqueName('srv');
    const server = createNode({ name, cookie });
    open.push(server);
    const { port } = await server.listen({ epmd: false });
    server.expose('m', { f: () => 'ok' });
    const client = createNode({ name: uniqueName('cli'), cookie, reconnect: { initialDelay: 10, maxDelay: 50 } });
    open.push(client);
    const seen = record();

    const peer = await client.connect(`${name}:${port}`);
    expect(await peer.rpc('m', 'f', [])).toBe('ok');
    // Both nodes live in this process and publish to the same channels: keep the client's.
    const of = (channel: string) =>
      seen.filter((s) => s.channel === channel && s.message.node === client.name).map((s) => s.message);
    expect(of('erldist:connect:start')).toEqual([{ node: client.name, peer: name, attempt: 1, reconnect: false }]);
    expect(of('erldist:connect:end')).toMatchObject([{ peer: name, attempt: 1, error: undefined }]);
    expect(of('erldist:nodeup')).toEqual([{ node: client.name, peer: name }]);
    expect(of('erldist:call:start')).toEqual([{ node: client.name, peer: name, what: `rpc m:f/0 on ${name}` }]);
    expect(of('erldist:call:end')).toMatchObject([{ peer: name, outcome: 'ok' }]);
    expect(of('erldist:call:end')[0].durationMs).toBeGreaterThanOrEqual(0);

    // The server drops the connection: nodedown, a reconnection scheduled, then up again.
    server.peer(client.name)?.connection?.close();
    await eventually(() => of('erldist:nodeup').length === 2, { what: 'the peer reconnected' });
    expect(of('erldist:nodedown')).toMatchObject([{ node: client.name, peer: name }]);
    expect(of('erldist:reconnect')[0]).toMatchObject({ peer: name, failures: 1 });
    expect(of('erldist:connect:start').at(-1)).toMatchObject({ reconnect: true });

    const stats = client.stats;
    expect(stats).toMatchObject({ connects: 2, reconnects: 1, dropped: 0 });
    expect(stats.framesOut).toBeGreaterThan(0);
    expect(stats.framesIn).toBeGreaterThan(0);
    expect(stats.bytesIn).toBeGreaterThan(0);
    expect(stats.bytesOut).toBeGreaterThan(0);
  });

  it('stats are counted with no subscriber on any channel', async () => {
    const cookie = randomTestCookie();
    const server = createNode({ name: uniqueName('srv'), cookie });
    open.push(server);
    const { port } = await server.listen({ epmd: false });
    const client = createNode({ name: uniqueName('cli'), cookie });
    open.push(client);
    const peer = await client.connect(`${server.name}:${port}`);
    expect(await peer.ping()).toBe(true);
    expect(client.stats.connects).toBe(1);
  });
});
