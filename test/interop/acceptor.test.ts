/**
 * The acceptor's less common paths: the old send_name form, simultaneous connects, a node that
 * reconnects under the same name (alive), and rex's $gen_call form.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DFLAG_ERLDIST } from '../../src/distribution/flags.js';
import { createNode, type LocalNode, type NodeOptions } from '../../src/index.js';
import { u16Framed } from '../support/bytes.js';
import { freePort } from '../support/net.js';
import { type BeamNode, randomCookie, randomNodeName, startEpmd, startErlangNode, stopAll } from '../support/nodes.js';
import { runtimes } from '../support/runtimes.js';
import { eventually, pause } from '../support/wait.js';

function digest(challenge: number, cookie: string): Buffer {
  return createHash('md5')
    .update(cookie)
    .update(String(challenge >>> 0))
    .digest();
}

/** Reads `Len:16` packets from a socket (handshake packets). */
function packets(socket: Socket): () => Promise<Buffer> {
  let buf = Buffer.alloc(0);
  const waiting: ((b: Buffer) => void)[] = [];
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0) && waiting.length > 0) {
      const len = buf.readUInt16BE(0);
      const p = buf.subarray(2, 2 + len);
      buf = buf.subarray(2 + len);
      waiting.shift()!(p);
    }
  });
  return () => new Promise((resolve) => waiting.push(resolve));
}

function send(socket: Socket, body: Buffer): void {
  socket.write(u16Framed(body));
}

describe.each(runtimes())('acceptor paths on $label', (rt) => {
  let epmdPort: number;
  let cookie: string;
  let erl: BeamNode;
  const nodes: LocalNode[] = [];
  const node = (name = `${randomNodeName()}@127.0.0.1`, options: NodeOptions = {}) => {
    const n = createNode({ name, cookie, epmdPort, ...options });
    nodes.push(n);
    return n;
  };

  beforeAll(async () => {
    epmdPort = (await startEpmd(rt)).port;
    cookie = randomCookie();
    erl = await startErlangNode(rt, { epmdPort, cookie });
  });
  afterAll(async () => {
    for (const n of nodes) await n.close();
    await stopAll();
  });

  it("accepts the old send_name form ('n' then the complement)", async () => {
    const ts = node();
    ts.expose('m', { f: () => 1 });
    const { port } = await ts.listen({ epmd: false });
    const socket = netConnect({ host: '127.0.0.1', port });
    await new Promise((r) => socket.once('connect', r));
    const read = packets(socket);
    const flags = DFLAG_ERLDIST;
    const name = Buffer.from('oldstyle@127.0.0.1');
    const sendName = Buffer.alloc(7 + name.length);
    sendName[0] = 0x6e; // 'n'
    sendName.writeUInt16BE(5, 1);
    sendName.writeUInt32BE(Number(flags & 0xffffffffn), 3);
    name.copy(sendName, 7);
    send(socket, sendName);
    expect((await read()).toString()).toBe('sok');
    const complement = Buffer.alloc(9);
    complement[0] = 0x63; // 'c'
    complement.writeUInt32BE(Number(flags >> 32n), 1);
    complement.writeUInt32BE(7, 5);
    send(socket, complement);
    const challenge = await read();
    expect(challenge[0]).toBe(0x4e);
    const theirs = challenge.readUInt32BE(9);
    const mine = randomBytes(4).readUInt32BE(0);
    const reply = Buffer.alloc(21);
    reply[0] = 0x72;
    reply.writeUInt32BE(mine, 1);
    digest(theirs, cookie).copy(reply, 5);
    send(socket, reply);
    const ack = await read();
    expect(ack[0]).toBe(0x61);
    expect(ack.subarray(1)).toEqual(digest(mine, cookie));
    await eventually(() => ts.peer('oldstyle@127.0.0.1') !== undefined, { what: 'the old-style peer is up' });
    socket.destroy();
  });

  it('simultaneous connects end in one working connection each way', async () => {
    const a = node();
    const b = node();
    await a.listen();
    await b.listen();
    const [pa, pb] = await Promise.all([a.connect(b.name), b.connect(a.name)]);
    expect(await pa.ping()).toBe(true);
    expect(await pb.ping()).toBe(true);
    // Proving stability: a losing attempt that closed the winning connection would do it by now.
    await pause(100);
    expect(a.peer(b.name)?.isClosed).toBe(false);
    expect(b.peer(a.name)?.isClosed).toBe(false);
  });

  it('a node that reconnects under the same name replaces its old connection (alive)', async () => {
    const server = node();
    await server.listen();
    const name = `${randomNodeName()}@127.0.0.1`;
    // The old incarnation: it would reconnect and take the name back, but a restarted one is gone.
    const first = node(name, { reconnect: false });
    const p1 = await first.connect(server.name);
    expect(await p1.ping()).toBe(true);
    // The same name again, as a restarted process would come back before the old socket is gone.
    const second = node(name);
    const p2 = await second.connect(server.name);
    expect(await p2.ping()).toBe(true);
    await eventually(() => p1.isClosed, { what: 'the old connection closes' });
  });

  it("rex's $gen_call form, as gen_server:call({rex, Node}, {call, M, F, A, GL}) sends it", async () => {
    const ts = node();
    ts.expose('ts_math', { add: (x, y) => (x as number) + (y as number) });
    await ts.listen();
    expect(await erl.eval(`gen_server:call({rex, '${ts.name}'}, {call, ts_math, add, [2, 3], user})`)).toBe('5');
    expect(await erl.eval(`gen_server:call({rex, '${ts.name}'}, {call, ts_math, nope, [], user})`)).toBe(
      "{badrpc,{'EXIT',{undef,[{ts_math,nope,[],[]}]}}}",
    );
  });

  it('a pinned port that is taken: LISTEN_FAILED from listen', async () => {
    const port = await freePort();
    const a = node();
    await a.listen({ port, epmd: false });
    await expect(node().listen({ port, epmd: false })).rejects.toMatchObject({ code: 'LISTEN_FAILED' });
  });
});
