/**
 * Distribution over TLS (issue 10): real nodes run with `-proto_dist inet_tls -ssl_dist_optfile`,
 * on every runtime of the matrix, with certificates made here by `openssl`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atom, connect, createNode, ErldistError, type LocalNode, type Peer, tuple } from '../../src/index.js';
import { runCli } from '../support/cli.js';
import {
  type BeamNode,
  ERLANG_MAILBOX_ECHO,
  randomNodeName,
  startElixirNode,
  startEpmd,
  startErlangNode,
  stopAll,
} from '../support/nodes.js';
import { rejection } from '../support/rejection.js';
import { runtimes } from '../support/runtimes.js';
import { makeCerts, type TestCerts, tlsErlArgs } from '../support/tls.js';
import { nextEvent } from '../support/wait.js';

describe.each(runtimes())('TLS distribution on $label', (rt) => {
  let epmdPort: number;
  let certs: TestCerts;
  let tlsNode: BeamNode;
  let plainNode: BeamNode;
  let exNode: BeamNode;

  beforeAll(async () => {
    certs = await makeCerts(rt);
    const epmd = await startEpmd(rt);
    epmdPort = epmd.port;
    [tlsNode, plainNode, exNode] = await Promise.all([
      startErlangNode(rt, { epmdPort, eval: ERLANG_MAILBOX_ECHO, erlArgs: tlsErlArgs(certs.optfile('dist.conf')) }),
      startErlangNode(rt, { epmdPort }),
      startElixirNode(rt, { epmdPort, erlArgs: tlsErlArgs(certs.optfile('ex.conf')) }),
    ]);
  });
  afterAll(async () => {
    await stopAll();
    certs?.remove();
  });

  const material = () => ({ ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });

  describe('with { ca, cert, key }', () => {
    let peer: Peer;
    beforeAll(async () => {
      peer = await connect(tlsNode.name, { cookie: tlsNode.cookie, epmdPort, tls: material() });
    });
    afterAll(async () => {
      await peer?.close();
    });

    it('pings and rpcs', async () => {
      expect(await peer.ping()).toBe(true);
      expect(await peer.rpc('erlang', 'node', [])).toBe(atom(tlsNode.name));
      const big = Buffer.alloc(1 << 20, 7);
      expect(await peer.rpc('erlang', 'byte_size', [big], { timeout: 30_000 })).toBe(big.length);
    });

    it('the connection is TLS on the node', async () => {
      const dist = await tlsNode.eval(`hd([M || {N, M} <- erlang:system_info(dist_ctrl), N =:= '${peer.node.name}'])`);
      // inet_tls_dist's connections are controlled by a process, plain TCP ones by a port.
      expect(dist).toMatch(/^<\d+\.\d+\.\d+>$/);
    });

    it('reconnects over TLS when the node drops the connection', async () => {
      const down = nextEvent(peer.node, 'nodedown');
      expect(await tlsNode.eval(`erlang:disconnect_node('${peer.node.name}')`)).toBe('true');
      await down;
      expect(await peer.rpc('erlang', 'node', [], { timeout: 10_000 })).toBe(atom(tlsNode.name));
      expect(await peer.ping()).toBe(true);
    });

    it('calls a gen_server', async () => {
      expect(Array.isArray(await peer.call('kernel_sup', atom('which_children'), { timeout: 10_000 }))).toBe(true);
    });

    it('exchanges messages both ways', async () => {
      const box = peer.node.spawn();
      box.send('mailbox_echo', tuple(box.pid, 'over tls'), peer);
      expect(await box.receive({ timeout: 5000 })).toStrictEqual(tuple(atom('echo'), 'over tls'));
      await peer.rpc('erlang', 'send', [box.pid, atom('direct')]);
      expect(await box.receive({ timeout: 5000 })).toBe(atom('direct'));
    });
  });

  it('with { sslDistOptfile }: the very file an inet_tls node uses (host paths)', async () => {
    const optfile = certs.optfile('erldist.conf', { forHost: true });
    const peer = await connect(tlsNode.name, { cookie: tlsNode.cookie, epmdPort, tls: { sslDistOptfile: optfile } });
    try {
      expect(await peer.ping()).toBe(true);
      expect(await peer.rpc('erlang', 'node', [])).toBe(atom(tlsNode.name));
      expect(Array.isArray(await peer.call('kernel_sup', atom('which_children'), { timeout: 10_000 }))).toBe(true);
    } finally {
      await peer.close();
    }
  });

  it('erldist ping with only ERL_AFLAGS="-proto_dist inet_tls -ssl_dist_optfile F" pongs; plain, it says TLS', async () => {
    const optfile = certs.optfile('cli.conf', { forHost: true });
    const env = { ERLANG_COOKIE: tlsNode.cookie, ERL_EPMD_PORT: String(epmdPort) };
    const ok = await runCli(['ping', tlsNode.name], {
      ...env,
      ERL_AFLAGS: `-proto_dist inet_tls -ssl_dist_optfile ${optfile}`,
    });
    expect(ok.stdout).toMatch(/^pong from /);
    expect(ok.code).toBe(0);
    const flag = await runCli(['ping', tlsNode.name, '--ssl-dist-optfile', optfile], env);
    expect(flag.code).toBe(0);
    const plain = await runCli(['ping', tlsNode.name, '--timeout', '5000'], env);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toMatch(/TLS/);
  });

  it('an Elixir node with inet_tls: ping, rpc, and an Elixir node connecting to an erldist TLS listener', async () => {
    const peer = await connect(exNode.name, { cookie: exNode.cookie, epmdPort, tls: material() });
    try {
      expect(await peer.ping()).toBe(true);
      expect(await peer.rpc('Elixir.String', 'upcase', ['tls'])).toBe('TLS');
    } finally {
      await peer.close();
    }
    const ts = createNode({
      name: `${randomNodeName()}@127.0.0.1`,
      cookie: exNode.cookie,
      epmdPort,
      tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey, requestCert: true },
    });
    try {
      await ts.listen();
      ts.serve('calc', { handleCall: async (req) => tuple(atom('ok'), req) });
      expect(await exNode.evalElixir(`GenServer.call({:calc, :"${ts.name}"}, :hi)`)).toBe('{:ok, :hi}');
    } finally {
      await ts.close();
    }
  });

  it('rejects a server certificate from another CA with TLS', async () => {
    const err = await rejection(
      connect(tlsNode.name, { cookie: tlsNode.cookie, epmdPort, tls: { ...material(), ca: certs.rogueCa } }),
    );
    expect(err).toBeInstanceOf(ErldistError);
    expect(err.code).toBe('TLS');
    expect(err.message).toMatch(/not trusted/);
  });

  it('rejects a certificate for another host name with TLS', async () => {
    const err = await rejection(
      connect(tlsNode.name, { cookie: tlsNode.cookie, epmdPort, tls: { ...material(), servername: 'other.example' } }),
    );
    expect(err.code).toBe('TLS');
  });

  it('a node with fail_if_no_peer_cert refuses a client without a certificate: TLS', async () => {
    const started = Date.now();
    const err = await rejection(
      connect(tlsNode.name, { cookie: tlsNode.cookie, epmdPort, handshakeTimeout: 5000, tls: { ca: certs.ca } }),
    );
    expect(err.code).toBe('TLS');
    expect(err.message).toMatch(/certificate/);
    expect(Date.now() - started).toBeLessThan(6000);
  });

  it('plain erldist against a TLS node: TLS, within the handshake timeout', async () => {
    const started = Date.now();
    const err = await rejection(connect(tlsNode.name, { cookie: tlsNode.cookie, epmdPort, handshakeTimeout: 5000 }));
    expect(err.code).toBe('TLS');
    expect(err.message).toContain('the peer speaks TLS distribution; pass the `tls` option');
    expect(Date.now() - started).toBeLessThan(6000);
  });

  it('TLS erldist against a plain node: TLS, within the handshake timeout', async () => {
    const started = Date.now();
    const err = await rejection(
      connect(plainNode.name, { cookie: plainNode.cookie, epmdPort, handshakeTimeout: 3000, tls: material() }),
    );
    expect(err.code).toBe('TLS');
    expect(err.message).toMatch(/plain distribution/);
    expect(Date.now() - started).toBeLessThan(4500);
  });

  describe('a TLS erldist listener', () => {
    let ts: LocalNode;
    beforeAll(async () => {
      ts = createNode({
        name: `${randomNodeName()}@127.0.0.1`,
        cookie: tlsNode.cookie,
        epmdPort,
        tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey, requestCert: true },
      });
      await ts.listen();
      ts.expose('ts_math', { add: (a, b) => (a as number) + (b as number) });
      ts.serve('calc', { handleCall: async (req) => tuple(atom('ok'), req) });
    });
    afterAll(async () => {
      await ts?.close();
    });

    it('an inet_tls node pings it, and rpc:call, erpc:call and gen_server:call into it', async () => {
      expect(await tlsNode.eval(`net_adm:ping('${ts.name}')`)).toBe('pong');
      expect(await tlsNode.eval(`rpc:call('${ts.name}', ts_math, add, [1, 2])`)).toBe('3');
      expect(await tlsNode.eval(`erpc:call('${ts.name}', ts_math, add, [40, 2])`)).toBe('42');
      expect(await tlsNode.eval(`gen_server:call({calc, '${ts.name}'}, {x, 1})`)).toBe('{ok,{x,1}}');
      const dist = await tlsNode.eval(`hd([M || {N, M} <- erlang:system_info(dist_ctrl), N =:= '${ts.name}'])`);
      expect(dist).toMatch(/^<\d+\.\d+\.\d+>$/);
    });

    it('a plain node is refused with TLS on the listener, within the handshake timeout', async () => {
      const refused = nextEvent(ts, 'handshakeError');
      expect(await plainNode.eval(`net_adm:ping('${ts.name}')`)).toBe('pang');
      const [error] = (await refused) as [ErldistError];
      expect(error.code).toBe('TLS');
      expect(error.message).toContain('the peer sent plain distribution to a TLS listener');
    });
  });
});
