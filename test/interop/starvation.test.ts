/**
 * A listener that cannot be starved, against real nodes on every runtime (issue 9, item 6): a real
 * Erlang node reaches an erldist node through a storm of idle and slowloris sockets opened from its
 * own address, and resolves names through erldist's embedded EPMD while 3,000 idle sockets are open
 * on it. Without a BEAM: test/node/starvation.test.ts and test/epmd/starvation.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EpmdServer, startEpmd } from '../../src/epmd/server.js';
import { createNode, type LocalNode } from '../../src/index.js';
import { type BeamNode, randomCookie, randomNodeName, startErlangNode, stopAll } from '../support/nodes.js';
import { runtimes } from '../support/runtimes.js';
import { sendName, startStorm } from '../support/storm.js';
import { nextEvent } from '../support/wait.js';

describe.each(runtimes())('starvation on $label', (rt) => {
  let epmd: EpmdServer;
  let ts: LocalNode;
  let tsName: string;
  let distPort: number;
  let erl: BeamNode;

  beforeAll(async () => {
    epmd = await startEpmd({ port: 0, host: '127.0.0.1' });
    const cookie = randomCookie();
    tsName = `${randomNodeName()}@127.0.0.1`;
    ts = createNode({ name: tsName, cookie, epmdPort: epmd.port });
    distPort = (await ts.listen({ host: '127.0.0.1' })).port;
    erl = await startErlangNode(rt, { epmdPort: epmd.port, cookie });
  });
  afterAll(async () => {
    await ts?.close();
    await stopAll();
    await epmd?.close();
  });

  /** Ms the Erlang node takes to reach us from scratch (EPMD lookup, TCP, handshake), and the answer. */
  async function pingFromErlang(): Promise<{ ms: number; answer: string }> {
    if ((await erl.eval(`lists:member('${tsName}', nodes(hidden))`)) === 'true') {
      const down = nextEvent(ts, 'nodedown');
      await erl.eval(`erlang:disconnect_node('${tsName}')`);
      await down;
    }
    const reply = await erl.eval(`{T, R} = timer:tc(net_adm, ping, ['${tsName}']), {T div 1000, R}`);
    const m = /^\{(\d+),(\w+)\}$/.exec(reply);
    if (!m) throw new Error(`unexpected reply ${reply}`);
    return { ms: Number(m[1]), answer: m[2] as string };
  }

  it('300 idle and 70 slowloris sockets on our port: the Erlang node connects within 1 s, 5 times', async () => {
    const storm = await startStorm({
      port: distPort,
      idle: 300,
      slowloris: 70,
      slowPayload: sendName('slow@127.0.0.1'),
    });
    try {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const { ms, answer } = await pingFromErlang();
        expect(answer).toBe('pong');
        times.push(ms);
      }
      expect(Math.max(...times)).toBeLessThan(1000);
      expect(storm.closedByServer).toBeGreaterThan(300);
    } finally {
      await storm.stop();
    }
    expect(await erl.eval(`net_adm:ping('${tsName}')`)).toBe('pong');
  });

  it('3,000 idle sockets on the embedded EPMD: the Erlang node lists and resolves within 1 s', async () => {
    const storm = await startStorm({ port: epmd.port, idle: 3000, reopen: false });
    try {
      const names = await erl.eval(
        `{T, {ok, Names}} = timer:tc(erl_epmd, names, ["127.0.0.1"]), {T div 1000, lists:sort(Names)}`,
      );
      expect(names).toMatch(/^\{\d{1,3},/);
      expect(names).toContain(`{"${erl.shortName}",${erl.distPort}}`);
      expect(names).toContain(`{"${tsName.split('@')[0]}",${distPort}}`);
      // net_adm:ping asks the stormed EPMD for our port (PORT_PLEASE2), then connects.
      const { ms, answer } = await pingFromErlang();
      expect(answer).toBe('pong');
      expect(ms).toBeLessThan(1000);
      // The registrations (ours and the Erlang node's) were never evicted.
      expect(epmd.names().map((e) => e.name)).toEqual(expect.arrayContaining([erl.shortName, tsName.split('@')[0]]));
    } finally {
      await storm.stop();
    }
  });
});
