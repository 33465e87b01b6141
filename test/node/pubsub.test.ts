/**
 * Phoenix.PubSub handles on two erldist nodes: broadcasts cross in both directions, once, to the
 * subscribers of the topic only; broadcastFrom skips its sender; directBroadcast one node.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { atom, tuple } from '../../src/index.js';
import { type NodePair, nodePair } from '../support/pair.js';
import { eventually } from '../support/wait.js';

describe('pubsub between erldist nodes', () => {
  let pair: NodePair | undefined;
  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  it('broadcast, broadcastFrom, localBroadcast and directBroadcast', async () => {
    pair = await nodePair();
    const { a, b } = pair;
    const pa = a.pubsub('MyApp.PubSub');
    const pb = b.pubsub('Elixir.MyApp.PubSub');
    expect(a.pubsub('MyApp.PubSub')).toBe(pa);
    // Each handle found the other node by itself (both were made after the nodes connected).
    const both = () =>
      a.pg('Elixir.Phoenix.PubSub').members(pa.adapter).length === 2 &&
      b.pg('Elixir.Phoenix.PubSub').members(pb.adapter).length === 2;
    await eventually(both, { what: 'both workers seen on both nodes' });

    const ta = pa.subscribe('t');
    const tb = pb.subscribe('t');
    const ub = pb.subscribe('u');
    pa.broadcast('t', tuple(atom('one'), 1));
    expect(await tb.receive({ timeout: 1000 })).toEqual(tuple(atom('one'), 1));
    expect(await ta.receive({ timeout: 1000 })).toEqual(tuple(atom('one'), 1));

    pb.broadcastFrom(tb, 't', 'two');
    expect(await ta.receive({ timeout: 1000 })).toBe('two');
    pb.localBroadcast('t', 'three');
    expect(await tb.receive({ timeout: 1000 })).toBe('three');
    pa.directBroadcast(b.name, 'u', 'four');
    expect(await ub.receive({ timeout: 1000 })).toBe('four');
    // Whatever was sent to the wrong place would have arrived before these markers.
    pa.localBroadcast('t', 'mark-a');
    pb.localBroadcast('t', 'mark-b');
    expect(await ta.receive({ timeout: 1000 })).toBe('mark-a');
    expect(await tb.receive({ timeout: 1000 })).toBe('mark-b');
    pb.unsubscribe('t', tb);
    const tb2 = pb.subscribe('t'); // gets it in the same dispatch tb would have
    pa.broadcast('t', 'after');
    expect(await tb2.receive({ timeout: 1000 })).toBe('after');
    expect(tb.size).toBe(0);
  });
});
