/**
 * A long-lived citizen of a changing cluster (issue 9): peers that come back after their node
 * restarts, connections made on demand, and a frozen node noticed as fast as the BEAM notices it.
 * Every test runs on every runtime of the matrix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atom, connect, createNode, type ErldistError, type LocalNode, tuple } from '../../src/index.js';
import { freePort } from '../support/net.js';
import {
  type BeamNode,
  ERLANG_MAILBOX_ECHO,
  randomCookie,
  randomNodeName,
  startEpmd,
  startErlangNode,
  stopAll,
} from '../support/nodes.js';
import { rejection } from '../support/rejection.js';
import { runtimes } from '../support/runtimes.js';
import { pause } from '../support/wait.js';

describe.each(runtimes())('a changing cluster on $label', (rt) => {
  let epmdPort: number;
  const nodes: LocalNode[] = [];

  beforeAll(async () => {
    epmdPort = (await startEpmd(rt)).port;
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await stopAll();
  });

  it('kill -9 and restart under the same name and port: a peer made before answers again, one nodedown, one nodeup', async () => {
    const cookie = randomCookie();
    const shortName = randomNodeName();
    const pinnedPort = await freePort();
    const first = await startErlangNode(rt, { epmdPort, cookie, name: shortName, pinnedPort });
    const node = createNode({ cookie, epmdPort });
    nodes.push(node);
    const events: string[] = [];
    node.on('nodeup', (name) => events.push(`up ${name}`));
    node.on('nodedown', (name) => events.push(`down ${name}`));
    const peer = await node.connect(first.name);
    expect(await peer.rpc('erlang', 'node', [])).toBe(atom(first.name));

    first.kill('SIGKILL');
    const second = await startErlangNode(rt, { epmdPort, cookie, name: shortName, pinnedPort });
    const restarted = Date.now();
    // No user code reconnects: calls wait for the peer's own reconnection within their timeout.
    let answer: unknown;
    while (answer === undefined && Date.now() - restarted < 5000) {
      answer = await peer.rpc('erlang', 'node', [], { timeout: 500 }).catch(() => undefined);
    }
    const after = Date.now() - restarted;
    console.log(`[${rt.label}] a peer made before the restart answered ${after} ms after the node was up`);
    expect(answer).toBe(atom(second.name));
    expect(after).toBeLessThan(2000);
    expect(events).toEqual([`up ${first.name}`, `down ${first.name}`, `up ${first.name}`]);
    await peer.close();
    expect(peer.isClosed).toBe(true);
  });

  it('a message to {name, node} of a node never connected is delivered (connect on demand)', async () => {
    const erl = await startErlangNode(rt, { epmdPort, eval: ERLANG_MAILBOX_ECHO });
    const node = createNode({ cookie: erl.cookie, epmdPort });
    nodes.push(node);
    const box = node.spawn();
    expect(node.peer(erl.name)).toBeUndefined();
    box.send('mailbox_echo', tuple(box.pid, 'on demand'), erl.name);
    expect(await box.receive({ timeout: 5000 })).toEqual(tuple(atom('echo'), 'on demand'));
    expect(node.peer(erl.name)?.connected).toBe(true);
  });

  it('SIGSTOP a node with net_ticktime 4: its calls reject NODE_DOWN within 6 s (default tickTime)', async () => {
    const frozen: BeamNode = await startErlangNode(rt, { epmdPort, netTicktime: 4 });
    const peer = await connect(frozen.name, { cookie: frozen.cookie, epmdPort, reconnect: false });
    expect(await peer.ping()).toBe(true);
    // The node's tick period is learnt from its ticks (one a second when idle): let a few arrive.
    await pause(3000);
    const call = rejection(peer.rpc('timer', 'sleep', [60_000], { timeout: 60_000 }));
    frozen.kill('SIGSTOP');
    const stopped = Date.now();
    const error: ErldistError = await call;
    const noticed = Date.now() - stopped;
    console.log(`[${rt.label}] a frozen node (net_ticktime 4) was noticed after ${noticed} ms`);
    expect(error.code).toBe('NODE_DOWN');
    expect(noticed).toBeLessThan(6000);
    frozen.kill('SIGKILL');
    await peer.close();
  });

  it('a peer that waits out a backoff connects at once when a call wants it', async () => {
    const cookie = randomCookie();
    const shortName = randomNodeName();
    const pinnedPort = await freePort();
    const first = await startErlangNode(rt, { epmdPort, cookie, name: shortName, pinnedPort });
    const node = createNode({ cookie, epmdPort, reconnect: { initialDelay: 60_000, maxDelay: 60_000 } });
    nodes.push(node);
    const peer = await node.connect(`${first.name}`);
    first.kill('SIGKILL');
    await rejection(peer.rpc('erlang', 'node', [], { timeout: 200 }));
    await startErlangNode(rt, { epmdPort, cookie, name: shortName, pinnedPort });
    // The next attempt is a minute away, but a call says the node is wanted now.
    expect(await peer.rpc('erlang', 'node', [], { timeout: 3000 })).toBe(atom(first.name));
    await peer.close();
  });
});
