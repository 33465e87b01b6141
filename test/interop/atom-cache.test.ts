/**
 * The atom cache on send (DFLAG_DIST_HDR_ATOM_CACHE, issue 11) against real nodes: our frames name
 * in the peer's cache the atoms of their control terms and the nodes of the pids, references and
 * ports of their payloads, new ones with their text and known ones by slot, and the BEAM must read
 * back exactly what was sent: past the 255 refs a header holds, across slot evictions, with node
 * names longer than 255 bytes (LongAtoms), and around fragmented messages, whose frames and those
 * queued behind them name no cache entries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Atom,
  atom,
  connect,
  type Mailbox,
  type Peer,
  Pid,
  type Term,
  type Tuple,
  tuple,
} from '../../src/index.js';
import { type BeamNode, ERLANG_MAILBOX_ECHO, startEpmd, startErlangNode, stopAll } from '../support/nodes.js';
import { runtimes } from '../support/runtimes.js';

const ECHO_2 = ERLANG_MAILBOX_ECHO.replace('mailbox_echo', 'mailbox_echo_2');

/** Sends `msg` to `name` (a mailbox echo) and returns what comes back. */
async function echo(peer: Peer, box: Mailbox, msg: Term, name = 'mailbox_echo'): Promise<Term> {
  box.send(name, tuple(box.pid, msg), peer);
  const reply = (await box.receive({ timeout: 10_000 })) as Tuple;
  expect(reply.get(0)).toBe(atom('echo'));
  return reply.get(1);
}

const atoms = (prefix: string, n: number): Atom[] => Array.from({ length: n }, (_, i) => atom(`${prefix}_${i}`));
/** Pids of `n` nodes named `prefix_i@somewhere`: their nodes go by the atom cache. */
const pids = (prefix: string, n: number): Pid[] =>
  Array.from({ length: n }, (_, i) => new Pid(atom(`${prefix}_${i}@somewhere`), 1, 0, 1));

describe.each(runtimes())('atom cache on send, $label', (rt) => {
  let erl: BeamNode;
  let peer: Peer;
  let box: Mailbox;

  beforeAll(async () => {
    const epmd = await startEpmd(rt);
    erl = await startErlangNode(rt, { epmdPort: epmd.port, eval: `${ERLANG_MAILBOX_ECHO},\n${ECHO_2}` });
    // Fragments of 64 KiB: the fragmented case below stays small.
    peer = await connect(erl.name, { cookie: erl.cookie, epmdPort: epmd.port, fragmentSize: 64 * 1024 });
    box = peer.node.spawn();
  });
  afterAll(async () => {
    await peer?.close();
    await stopAll();
  });

  it('200 pids of new nodes arrive as sent; sent again, each node costs a ref, not its text', async () => {
    const msg = pids('first_sight_of_this_node', 200);
    const stats = peer.node.stats;
    const before = stats.bytesOut;
    expect(await echo(peer, box, msg)).toStrictEqual(msg);
    const first = stats.bytesOut - before;
    expect(await echo(peer, box, msg)).toStrictEqual(msg);
    const second = stats.bytesOut - before - first;
    // A pid is 13 bytes and its node: about 40 bytes of text, or a 2-byte ATOM_CACHE_REF and 1.5
    // bytes of header once known (about 3,700 bytes for the frame).
    expect(first).toBeGreaterThan(200 * 50);
    expect(second).toBeLessThan(200 * 20);
  });

  it('more nodes than a header names (255), and 4,000 over 20 messages: slots evicted and reused', async () => {
    for (let round = 0; round < 20; round++) {
      const fresh = pids(`round_${round}`, 200);
      // Nodes of earlier rounds (cached, or evicted by a slot's new node) among new ones.
      const old = pids(`round_${Math.max(0, round - 1)}`, 200).filter((_, i) => i % 3 === 0);
      const msg: Term = [
        ...fresh,
        tuple(...old),
        { ok: true, error: false, [`key_${round}`]: atom('nil') },
        ...atoms(`round_${round}`, 20),
        peer.node.spawn().pid,
      ];
      expect(await echo(peer, box, msg)).toStrictEqual(msg);
    }
  });

  it('node names of more than 255 bytes (LongAtoms) with short ones in one header', async () => {
    const long = (c: string) => new Pid(atom(`${c.repeat(240)}@somewhere`), 1, 0, 1);
    const msg = [long('ü'), pids('short', 1)[0] as Pid, long('😀'), long('ü'), peer.node.spawn().pid];
    expect(await echo(peer, box, msg)).toStrictEqual(msg);
    expect(await echo(peer, box, msg)).toStrictEqual(msg);
  });

  it('around a fragmented message: what waits behind it and what passes it both arrive right', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 0xff); // not UTF-8: it comes back as a Buffer
    const bigMsg = tuple(atom('big_one_atom'), big, pids('inside_fragments', 50));
    box.send('mailbox_echo', tuple(box.pid, bigMsg), peer);
    // Queued behind the fragments (same process), and passing them (another process), with nodes
    // new to the cache and nodes the fragmented message also carries.
    const behind = [...pids('behind_fragments', 1), ...pids('inside_fragments', 5)];
    // `passing` goes out first: had `behind` added its atoms to the cache, this would name a slot
    // that the peer has not filled yet.
    const passing = [...pids('behind_fragments', 1), ...pids('inside_fragments', 5)];
    box.send('mailbox_echo', tuple(box.pid, behind), peer);
    const other = peer.node.spawn();
    other.send('mailbox_echo_2', tuple(other.pid, passing), peer);
    expect(((await other.receive({ timeout: 10_000 })) as Tuple).get(1)).toStrictEqual(passing);
    const first = (await box.receive({ timeout: 30_000 })) as Tuple;
    const back = first.get(1) as Tuple;
    expect(back.get(0)).toBe(atom('big_one_atom'));
    expect((back.get(1) as Buffer).equals(big)).toBe(true);
    expect(back.get(2)).toStrictEqual(pids('inside_fragments', 50));
    expect(((await box.receive({ timeout: 10_000 })) as Tuple).get(1)).toStrictEqual(behind);
    // The cache is still in step with the peer's.
    expect(await echo(peer, box, passing)).toStrictEqual(passing);
  });
});
