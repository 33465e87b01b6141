/**
 * Node lifecycle edges between two TS nodes (no BEAM needed): a node reached through another host
 * name, close() during listen() and during a dial.
 */
import { describe, expect, it } from 'vitest';
import { atom, createNode } from '../../src/index.js';
import { startFakePeer } from '../support/fake-peer.js';
import { eventually } from '../support/wait.js';

const cookie = `lifecycle-${Math.random().toString(36).slice(2)}`;

describe('node lifecycle', () => {
  it('a node reached under another host name is kept under its own name', async () => {
    const b = createNode({ name: `b${process.pid}@127.0.0.1`, cookie });
    b.expose('m', { who: () => atom(b.name) });
    const { port } = await b.listen({ epmd: false });
    const a = createNode({ name: `a${process.pid}@127.0.0.1`, cookie });
    try {
      const peer = await a.connect(`b${process.pid}@localhost:${port}`);
      expect(peer.name).toBe(b.name);
      expect(a.peer(`b${process.pid}@localhost`)).toBe(peer);
      expect(await a.connect(`b${process.pid}@localhost:${port}`)).toBe(peer);
      expect(await peer.rpc('m', 'who', [])).toBe(atom(b.name));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('close() during listen(): listen rejects and nothing stays open', async () => {
    const n = createNode({ name: `l${process.pid}@127.0.0.1`, cookie });
    const listening = n.listen({ epmd: false });
    await n.close();
    await expect(listening).rejects.toMatchObject({ code: 'NODE_DOWN' });
  });

  it('close() aborts a dial in progress', async () => {
    const silent = await startFakePeer({ kind: 'silent' });
    const n = createNode({ name: `d${process.pid}@127.0.0.1`, cookie });
    try {
      const started = Date.now();
      const dialing = n.connect(`fake@127.0.0.1:${silent.port}`, { handshakeTimeout: 30_000 });
      await eventually(() => silent.accepted > 0, { what: 'the dial reaches the silent peer' });
      await n.close();
      await expect(dialing).rejects.toMatchObject({ code: 'ABORTED' });
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await silent.close();
    }
  });
});
