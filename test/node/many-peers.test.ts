import { afterEach, describe, expect, it } from 'vitest';
import { createNode, type EpmdServer, type LocalNode, startEpmd } from '../../src/index.js';

const COOKIE = `many-peers-${Math.random().toString(36).slice(2)}`;
const open: LocalNode[] = [];
let epmd: EpmdServer | undefined;

afterEach(async () => {
  await Promise.all(open.splice(0).map((n) => n.close()));
  await epmd?.close();
  epmd = undefined;
});

describe('a node that dials a whole cluster at once', () => {
  it('20 concurrent connects through EPMD, sharing one signal, print no MaxListenersExceededWarning', async () => {
    epmd = await startEpmd({ port: 0, host: '127.0.0.1' });
    const epmdPort = epmd.port;
    const servers = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const node = createNode({ name: `pod${i}-${process.pid}@127.0.0.1`, cookie: COOKIE, epmdPort });
        open.push(node);
        await node.listen({ host: '127.0.0.1' });
        return node;
      }),
    );
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const client = createNode({ name: `client-${process.pid}@127.0.0.1`, cookie: COOKIE, epmdPort });
      open.push(client);
      const signal = new AbortController().signal;
      const peers = await Promise.all(servers.map((s) => client.connect(s.name, { signal, timeout: 4000 })));
      expect(peers.map((p) => p.name)).toEqual(servers.map((s) => s.name));
      expect(await Promise.all(peers.map((p) => p.ping()))).toEqual(peers.map(() => true));
      // Warnings are emitted on the next tick.
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
