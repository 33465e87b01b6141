/**
 * IPv6 node names (issue 9, item 7): `name@::1` and `name@[::1]:port`, against real nodes started
 * with `-proto_dist inet6_tcp`, for connect, EPMD lookups, listening and the command line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atom, connect, createNode, type LocalNode } from '../../src/index.js';
import { runCli } from '../support/cli.js';
import { freePort } from '../support/net.js';
import { type BeamNode, startEpmd, startErlangNode, stopAll } from '../support/nodes.js';
import { runtimes } from '../support/runtimes.js';

describe.each(runtimes())('IPv6 node names on $label', (rt) => {
  let epmdPort: number;
  let erl: BeamNode;
  const nodes: LocalNode[] = [];

  beforeAll(async () => {
    epmdPort = (await startEpmd(rt)).port;
    erl = await startErlangNode(rt, {
      epmdPort,
      host: '::1',
      pinnedPort: await freePort(),
      erlArgs: ['-proto_dist', 'inet6_tcp'],
    });
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await stopAll();
  });

  it('connects to name@::1 through EPMD, and to name@[::1]:port without it', async () => {
    expect(erl.name).toBe(`${erl.shortName}@::1`);
    const viaEpmd = await connect(erl.name, { cookie: erl.cookie, epmdPort });
    expect(await viaEpmd.rpc('erlang', 'node', [])).toBe(atom(erl.name));
    expect(viaEpmd.node.name.endsWith('@::1')).toBe(true);
    await viaEpmd.close();
    const pinned = await connect(`${erl.shortName}@[::1]:${erl.distPort}`, { cookie: erl.cookie });
    expect(await pinned.ping()).toBe(true);
    await pinned.close();
  });

  it('a node named name@::1 listens on IPv6: the Erlang node reaches it through EPMD', async () => {
    const ts = createNode({ name: `ts${process.pid}@::1`, cookie: erl.cookie, epmdPort });
    nodes.push(ts);
    await ts.listen();
    expect(await erl.eval(`net_adm:ping('${ts.name}')`)).toBe('pong');
  });

  it('the command line pings name@::1 and name@[::1]:port', async () => {
    const env = { ERLANG_COOKIE: erl.cookie, ERL_EPMD_PORT: String(epmdPort) };
    const viaEpmd = await runCli(['ping', erl.name], env);
    expect(viaEpmd.stdout, viaEpmd.stderr).toContain('pong');
    expect(viaEpmd.code).toBe(0);
    const pinned = await runCli(['ping', `${erl.shortName}@[::1]:${erl.distPort}`], env);
    expect(pinned.stdout, pinned.stderr).toContain('pong');
    expect(pinned.code).toBe(0);
  });
});
