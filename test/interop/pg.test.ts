/**
 * OTP `pg` scopes with real nodes: two Erlang nodes run scope `s`; a TypeScript node joins it.
 * Every wait for a membership change is 1 s, the bound. The Erlang scope processes must
 * never crash: their pids are the same at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atom, createNode, type LocalNode, type Peer, type PgScope, type Pid } from '../../src/index.js';
import { type BeamNode, randomCookie, randomNodeName, startEpmd, startErlangNode, stopAll } from '../support/nodes.js';
import { runtimes } from '../support/runtimes.js';
import { eventually } from '../support/wait.js';

const S = atom('s');
const G = atom('g');
const within1s = (what: string) => ({ timeout: 1000, what });
const key = (p: Pid) => `${p.node.name}.${p.id}.${p.serial}.${p.creation}`;

async function members(peer: Peer, group = G): Promise<string[]> {
  const pids = await peer.rpc('pg', 'get_members', [S, group]);
  expect(Array.isArray(pids)).toBe(true);
  return (pids as Pid[]).map(key);
}

describe.each(runtimes())('pg scopes on $label', (rt) => {
  let epmdPort: number;
  let cookie: string;
  let ts: LocalNode;
  let scope: PgScope;
  let erls: BeamNode[];
  let peers: Peer[];
  let scopePids: string[];

  beforeAll(async () => {
    epmdPort = (await startEpmd(rt)).port;
    cookie = randomCookie();
    const eval_ = 'pg:start(s)';
    erls = await Promise.all([0, 1].map(() => startErlangNode(rt, { epmdPort, cookie, eval: eval_ })));
    ts = createNode({ name: `${randomNodeName()}@127.0.0.1`, cookie, epmdPort });
    scope = ts.pg('s'); // before connecting: each nodeup discovers that node's scope
    peers = await Promise.all(erls.map((e) => ts.connect(e.name)));
    scopePids = await Promise.all(erls.map((e) => e.eval('whereis(s)')));
  });
  afterAll(async () => {
    await ts?.close();
    await stopAll();
  });

  it('an Erlang process that joins shows in members() within 1 s', async () => {
    const pid = await erls[0].eval('P = spawn(fun() -> receive stop -> ok end end), ok = pg:join(s, g, P), P');
    await eventually(() => scope.members('g').some((p) => `${p}`.includes(erls[0].name)), within1s('remote member'));
    expect(scope.members('g').map(String)).toHaveLength(1);
    expect(scope.localMembers('g')).toEqual([]);
    expect(scope.groups()).toContain(G);
    expect(pid).toMatch(/^<\d+\.\d+\.\d+>$/);
  });

  it('a TypeScript mailbox that joins shows on every node within 1 s, and leaves when it closes', async () => {
    const box = ts.spawn();
    scope.join('t', box);
    for (const peer of peers)
      await eventually(async () => (await members(peer, atom('t'))).includes(key(box.pid)), within1s('join'));
    box.close();
    for (const peer of peers)
      await eventually(async () => (await members(peer, atom('t'))).length === 0, within1s('gone after close'));
  });

  it('members go when the TypeScript node disconnects, and come back when it reconnects', async () => {
    const box = ts.spawn();
    scope.join('u', box);
    await eventually(async () => (await members(peers[1], atom('u'))).length === 1, within1s('join'));
    await peers[0].close();
    await eventually(async () => (await members(peers[1], atom('u'))).length === 1, within1s('other node keeps it'));
    await eventually(async () => (await erls[0].eval('length(pg:get_members(s, u))')) === '0', within1s('gone'));
    await eventually(() => !scope.members('g').some((p) => p.node.name === erls[0].name), within1s('remote gone'));
    peers[0] = await ts.connect(erls[0].name);
    await eventually(async () => (await members(peers[0], atom('u'))).length === 1, within1s('back after reconnect'));
    await eventually(() => scope.members('g').length === 1, within1s('remote member back'));
    box.close();
  });

  it('a handle made after the nodes connected finds their members; groups may be charlists', async () => {
    const s2 = await Promise.all(erls.map((e) => e.eval('{ok, P} = pg:start(s2), P')));
    const late = ts.pg('s2');
    await erls[1].eval('P = spawn(fun() -> receive stop -> ok end end), ok = pg:join(s2, "cg", P), P');
    const cg = [...'cg'].map((c) => c.charCodeAt(0));
    await eventually(() => late.members(cg).length === 1, within1s('remote member of a charlist group'));
    const box = ts.spawn();
    late.join(cg, box);
    const ours = `length([P || P <- pg:get_members(s2, "cg"), node(P) =:= '${ts.name}'])`;
    for (const e of erls) await eventually(async () => (await e.eval(ours)) === '1', within1s('join'));
    box.close();
    for (const e of erls) await eventually(async () => (await e.eval(ours)) === '0', within1s('leave'));
    expect(await Promise.all(erls.map((e) => e.eval('whereis(s2)')))).toEqual(s2);
  });

  it('the Erlang scope processes never crashed', async () => {
    expect(await Promise.all(erls.map((e) => e.eval('whereis(s)')))).toEqual(scopePids);
    expect(scopePids.every((p) => p.startsWith('<'))).toBe(true);
  });
});
