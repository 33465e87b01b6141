/**
 * erldist's embedded EPMD server (src/epmd/server.ts) serving real BEAM nodes on every runtime of
 * the matrix (runtimes.ts), with no real epmd running: the nodes get `ERL_EPMD_PORT=<our port>`
 * and `-start_epmd false`, register with our server, look each other up through it and connect.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { names as epmdNames } from '../../src/epmd/client.js';
import { type EpmdServer, startEpmd } from '../../src/epmd/server.js';
import { type BeamNode, randomCookie, startElixirNode, startErlangNode, stopAll } from '../support/nodes.js';
import { type Runtime, runtimes } from '../support/runtimes.js';
import { eventually } from '../support/wait.js';

describe.each(runtimes())('embedded EPMD serving nodes on $label', (rt: Runtime) => {
  let epmd: EpmdServer;
  let a: BeamNode;
  let b: BeamNode;
  const cookie = randomCookie();
  const registered: string[] = [];
  const unregistered: string[] = [];

  beforeAll(async () => {
    // Default host: all interfaces, as epmd; the nodes reach it on 127.0.0.1.
    epmd = await startEpmd({ port: 0 });
    epmd.on('register', (name) => registered.push(name));
    epmd.on('unregister', (name) => unregistered.push(name));
    [a, b] = await Promise.all([
      startErlangNode(rt, { epmdPort: epmd.port, cookie }),
      startErlangNode(rt, { epmdPort: epmd.port, cookie }),
    ]);
  });
  afterAll(async () => {
    await stopAll();
    await epmd?.close();
  });

  it('the nodes registered with our server, with the creation it gave them', async () => {
    expect(registered).toEqual(expect.arrayContaining([a.shortName, b.shortName]));
    for (const node of [a, b]) {
      const entry = epmd.names().find((e) => e.name === node.shortName);
      expect(entry).toMatchObject({ port: node.distPort, nodeType: 77, protocol: 0, highestVersion: 6 });
      // The node took its creation from our ALIVE2_X_RESP.
      expect(await node.eval('erlang:system_info(creation)')).toBe(String(entry?.creation));
    }
    const listed = await epmdNames('127.0.0.1', { port: epmd.port });
    expect(listed.epmdPort).toBe(epmd.port);
    expect(listed.nodes).toEqual(
      expect.arrayContaining([
        { name: a.shortName, port: a.distPort },
        { name: b.shortName, port: b.distPort },
      ]),
    );
  });

  it('erl_epmd:names() and net_adm:names() on a node list both', async () => {
    for (const call of ['erl_epmd:names()', 'net_adm:names()', 'erl_epmd:names("127.0.0.1")']) {
      const text = await a.eval(`{ok, Names} = ${call}, lists:sort(Names)`);
      expect(text).toContain(`{"${a.shortName}",${a.distPort}}`);
      expect(text).toContain(`{"${b.shortName}",${b.distPort}}`);
    }
    expect(await b.eval(`erl_epmd:port_please("${a.shortName}", "127.0.0.1")`)).toBe(`{port,${a.distPort},6}`);
    expect(await b.eval('erl_epmd:port_please("nobody_here", "127.0.0.1")')).toBe('noport');
  });

  it('two real nodes reach each other through our EPMD: net_adm:ping gives pong', async () => {
    expect(await a.eval(`net_adm:ping('${b.name}')`)).toBe('pong');
    expect(await a.eval('nodes()')).toContain(b.name);
    expect(await b.eval('nodes()')).toContain(a.name);
    expect(await b.eval(`rpc:call('${a.name}', erlang, node, [])`)).toBe(`'${a.name}'`);
  });

  it('an Elixir node registers too and pings an Erlang node', async () => {
    const ex = await startElixirNode(rt, { epmdPort: epmd.port, cookie });
    try {
      expect(epmd.names().map((e) => e.name)).toContain(ex.shortName);
      expect(await ex.evalElixir(`Node.ping(:"${a.name}")`)).toBe(':pong');
    } finally {
      await ex.stop();
    }
    await eventually(() => !epmd.names().some((e) => e.name === ex.shortName), { timeout: 10_000 });
  });

  it('a killed node disappears; the name registered again gets the next creation', async () => {
    const c = await startErlangNode(rt, { epmdPort: epmd.port, cookie });
    const first = epmd.names().find((e) => e.name === c.shortName);
    expect(first).toBeDefined();
    expect(await a.eval(`net_adm:ping('${c.name}')`)).toBe('pong');

    c.kill('SIGKILL');
    await c.exited;
    await eventually(() => !epmd.names().some((e) => e.name === c.shortName), { timeout: 10_000 });
    expect(unregistered).toContain(c.shortName);
    expect(await a.eval('{ok, Names} = erl_epmd:names(), lists:sort(Names)')).not.toContain(c.shortName);
    expect(await a.eval(`erl_epmd:port_please("${c.shortName}", "127.0.0.1")`)).toBe('noport');

    const again = await startErlangNode(rt, { epmdPort: epmd.port, cookie, name: c.shortName });
    try {
      const second = epmd.names().find((e) => e.name === c.shortName);
      expect(second?.creation).toBe((first?.creation ?? 0) + 1);
      expect(await again.eval('erlang:system_info(creation)')).toBe(String(second?.creation));
      expect(await a.eval(`net_adm:ping('${again.name}')`)).toBe('pong');
    } finally {
      await again.stop();
    }
    await eventually(() => !epmd.names().some((e) => e.name === c.shortName), { timeout: 10_000 });
  });

  it('a node whose name is taken does not start', async () => {
    await expect(
      startErlangNode(rt, { epmdPort: epmd.port, cookie, name: a.shortName, timeout: 30_000 }),
    ).rejects.toThrow();
    expect(epmd.names().find((e) => e.name === a.shortName)?.port).toBe(a.distPort);
    expect(await b.eval(`net_adm:ping('${a.name}')`)).toBe('pong');
  });
});
