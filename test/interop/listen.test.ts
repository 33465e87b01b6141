/**
 * erldist as a full node: Erlang and Elixir nodes reach it by name, on every runtime.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portPlease2 } from '../../src/epmd/index.js';
import { atom, createNode, type ErldistError, type LocalNode, tuple } from '../../src/index.js';
import { freePort } from '../support/net.js';
import {
  type BeamNode,
  randomCookie,
  randomNodeName,
  startElixirNode,
  startEpmd,
  startErlangNode,
  stopAll,
} from '../support/nodes.js';
import { runtimes } from '../support/runtimes.js';
import { eventually } from '../support/wait.js';

describe.each(runtimes())('listening node on $label', (rt) => {
  let epmdPort: number;
  let cookie: string;
  let ts: LocalNode;
  let tsName: string;
  let erl: BeamNode;
  let ex: BeamNode;
  const handshakeErrors: ErldistError[] = [];

  beforeAll(async () => {
    const epmd = await startEpmd(rt);
    epmdPort = epmd.port;
    cookie = randomCookie();
    tsName = `${randomNodeName()}@127.0.0.1`;
    ts = createNode({ name: tsName, cookie, epmdPort });
    ts.on('handshakeError', (err: ErldistError) => handshakeErrors.push(err));
    await ts.listen({ handshakeTimeout: 1000, maxPendingHandshakes: 8 });
    const jobs = ts.spawn();
    ts.register('jobs', jobs);
    // jobs echoes {From, Msg} back as {jobs_got, Msg}.
    void (async () => {
      for await (const m of jobs) {
        const [from, msg] = m as Iterable<unknown> as [unknown, unknown];
        jobs.send(from as never, tuple(atom('jobs_got'), msg as never));
      }
    })();
    ts.serve('calc', {
      handleCall: async (req) => {
        if (req === atom('boom')) throw new Error('kaboom');
        return tuple(atom('ok'), req);
      },
    });
    ts.expose('ts_math', {
      add: (a, b) => (a as number) + (b as number),
      fail: () => {
        throw new Error('nope');
      },
    });
    [erl, ex] = await Promise.all([
      startErlangNode(rt, { epmdPort, cookie }),
      startElixirNode(rt, { epmdPort, cookie }),
    ]);
  });
  afterAll(async () => {
    await ts?.close();
    await stopAll();
  });

  it('Erlang: net_adm:ping answers pong; we are hidden', async () => {
    expect(await erl.eval(`net_adm:ping('${tsName}')`)).toBe('pong');
    expect(await erl.eval(`lists:member('${tsName}', nodes(hidden))`)).toBe('true');
    expect(await erl.eval(`lists:member('${tsName}', nodes())`)).toBe('false');
  });

  it('Erlang: {jobs, Node} ! Msg reaches a registered mailbox', async () => {
    const reply = await erl.eval(`{jobs, '${tsName}'} ! {self(), hello}, receive R -> R after 5000 -> timeout end`);
    expect(reply).toBe('{jobs_got,hello}');
  });

  it('Erlang: gen_server:call into a TS handler, and a handler that throws', async () => {
    expect(await erl.eval(`gen_server:call({calc, '${tsName}'}, {x, 1})`)).toBe('{ok,{x,1}}');
    const boom = await erl.eval(`catch gen_server:call({calc, '${tsName}'}, boom)`);
    expect(boom).toContain('erldist_handler_error');
    expect(boom).toContain('kaboom');
    expect(await erl.eval(`gen_server:call({calc, '${tsName}'}, again)`)).toBe('{ok,again}');
    expect(await erl.eval(`catch gen_server:call({nobody, '${tsName}'}, x, 2000)`)).toContain('noproc');
  });

  it('Erlang: rpc:call and erpc:call reach exposed functions; unknown ones are undef', async () => {
    expect(await erl.eval(`rpc:call('${tsName}', ts_math, add, [1, 2])`)).toBe('3');
    expect(await erl.eval(`erpc:call('${tsName}', ts_math, add, [40, 2])`)).toBe('42');
    expect(await erl.eval(`rpc:call('${tsName}', ts_math, nope, [1])`)).toBe(
      "{badrpc,{'EXIT',{undef,[{ts_math,nope,[1],[]}]}}}",
    );
    expect(await erl.eval(`try erpc:call('${tsName}', nomod, f, []) catch error:{exception, R, _} -> R end`)).toBe(
      'undef',
    );
    expect(await erl.eval(`rpc:call('${tsName}', ts_math, fail, [])`)).toContain('nope');
    // The C interface's rex form, {Pid, {call, M, F, A, GL}} answered {rex, Result}.
    expect(
      await erl.eval(
        `{rex, '${tsName}'} ! {self(), {call, ts_math, add, [2, 2], user}}, receive R -> R after 5000 -> timeout end`,
      ),
    ).toBe('{rex,4}');
  });

  it('Elixir: ping, send, GenServer.call into TS, :rpc.call', async () => {
    expect(await ex.evalElixir(`Node.ping(:"${tsName}")`)).toBe(':pong');
    expect(
      await ex.evalElixir(`send({:jobs, :"${tsName}"}, {self(), :hi}); receive do r -> r after 5000 -> :timeout end`),
    ).toBe('{:jobs_got, :hi}');
    expect(await ex.evalElixir(`GenServer.call({:calc, :"${tsName}"}, %{a: 1})`)).toBe('{:ok, %{a: 1}}');
    expect(await ex.evalElixir(`:rpc.call(:"${tsName}", :ts_math, :add, [5, 6])`)).toBe('11');
  });

  it('a wrong cookie is refused and logged without the cookie; the listener keeps serving', async () => {
    const wrong = randomCookie();
    const other = await startErlangNode(rt, { epmdPort, cookie: wrong });
    expect(await other.eval(`net_adm:ping('${tsName}')`)).toBe('pang');
    const auth = handshakeErrors.find((e) => e.code === 'AUTH_FAILED');
    expect(auth).toBeDefined();
    expect(auth!.message).not.toContain(wrong);
    expect(auth!.message).not.toContain(cookie);
    expect(await erl.eval(`gen_server:call({calc, '${tsName}'}, still_here)`)).toBe('{ok,still_here}');
    await other.stop();
  });

  it('a client that sends nothing is closed after the handshake timeout', async () => {
    const port = Number(await erl.eval(`element(2, erl_epmd:port_please("${tsName.split('@')[0]}", "127.0.0.1"))`));
    const socket: Socket = netConnect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    const closedAfter = await new Promise<number>((resolve) => {
      const t0 = Date.now();
      socket.on('close', () => resolve(Date.now() - t0));
    });
    expect(closedAfter).toBeGreaterThanOrEqual(900);
    expect(closedAfter).toBeLessThan(3000);
  });

  it('garbage and floods: bounded, and the node keeps serving', async () => {
    const port = Number(await erl.eval(`element(2, erl_epmd:port_please("${tsName.split('@')[0]}", "127.0.0.1"))`));
    const sockets: Socket[] = [];
    for (let i = 0; i < 40; i++) {
      const s = netConnect({ host: '127.0.0.1', port });
      s.on('error', () => {});
      if (i % 2 === 0) s.write(Buffer.from([0, 5, 1, 2, 3, 4, 5, 6, 7]));
      sockets.push(s);
    }
    const stillOpen = () => sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;
    await eventually(() => stillOpen() <= 8, { what: 'the node closes the flood' });
    for (const s of sockets) s.destroy();
    expect(await erl.eval(`gen_server:call({calc, '${tsName}'}, after_flood)`)).toBe('{ok,after_flood}');
  });

  it('without EPMD, on a pinned port (as in Kubernetes); hidden: false shows in nodes()', async () => {
    // EPMD-less clusters start every node with -erl_epmd_port P: each node listens on P and expects
    // its peers on P too. Two loopback addresses let both sides use the same port on one machine.
    const port = await freePort();
    const name = `${randomNodeName()}@127.0.0.2`;
    const pinned = createNode({ name, cookie, hidden: false, epmdPort });
    const other = await startErlangNode(rt, {
      epmdPort,
      cookie,
      erlArgs: ['-erl_epmd_port', String(port), '-kernel', 'inet_dist_use_interface', '{127,0,0,1}'],
    });
    try {
      await pinned.listen({ port, host: '127.0.0.2', epmd: false });
      expect(await other.eval(`net_adm:ping('${name}')`)).toBe('pong');
      expect(await other.eval(`lists:member('${name}', nodes())`)).toBe('true');
      expect(await other.eval(`gen_server:call({net_kernel, '${name}'}, {is_auth, node()})`)).toBe('yes');
    } finally {
      await pinned.close();
      await other.stop();
    }
  });

  it('EPMD killed and restarted: the registration comes back', async () => {
    const own = await startEpmd(rt);
    const name = `${randomNodeName()}@127.0.0.1`;
    const node = createNode({ name, cookie, epmdPort: own.port });
    try {
      const { port } = await node.listen();
      expect((await portPlease2(name.split('@')[0], '127.0.0.1', { port: own.port })).port).toBe(port);
      const lost = new Promise<void>((r) => node.once('epmdlost', () => r()));
      await own.stop();
      await lost;
      const back = new Promise<void>((r) => node.once('epmdregistered', () => r()));
      const again = await startEpmd(rt, { port: own.port });
      try {
        await back;
        expect((await portPlease2(name.split('@')[0], '127.0.0.1', { port: own.port })).port).toBe(port);
      } finally {
        await node.close();
        await again.stop();
      }
    } finally {
      await node.close();
    }
  });

  it('two TS nodes cannot register the same name', async () => {
    const twin = createNode({ name: tsName, cookie, epmdPort });
    await expect(twin.listen()).rejects.toMatchObject({ code: 'NOT_ALLOWED' });
    await twin.close();
  });
});
