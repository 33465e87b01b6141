/**
 * The atom cache on send (DFLAG_DIST_HDR_ATOM_CACHE, issue 11) against real nodes: our frames name
 * their atoms in the peer's cache, new ones with their text and known ones by slot, and the BEAM
 * must read back exactly what was sent: past the 255 refs a header holds, across slot evictions,
 * with atoms longer than 255 bytes (LongAtoms), and around fragmented messages, whose frames and
 * those queued behind them name no cache entries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Atom, atom, connect, type Mailbox, type Peer, type Term, type Tuple, tuple } from '../../src/index.js';
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

  it('a message of 200 new atoms arrives as sent; sent again, its atoms cost a ref each, not their text', async () => {
    const msg = atoms('first_sight_of_this_atom', 200);
    const stats = peer.node.stats;
    const before = stats.bytesOut;
    expect(await echo(peer, box, msg)).toStrictEqual(msg);
    const first = stats.bytesOut - before;
    expect(await echo(peer, box, msg)).toStrictEqual(msg);
    const second = stats.bytesOut - before - first;
    // Text: about 30 bytes an atom; a known atom: a 2-byte ATOM_CACHE_REF and 1.5 bytes of header
    // (about 1,050 bytes for the frame).
    expect(first).toBeGreaterThan(200 * 28);
    expect(second).toBeLessThan(200 * 6);
  });

  it('more atoms than a header names (255), and 4,000 over 20 messages: slots evicted and reused', async () => {
    for (let round = 0; round < 20; round++) {
      const fresh = atoms(`round_${round}`, 200);
      // Atoms of earlier rounds (cached, or evicted by a slot's new atom) among new ones.
      const old = atoms(`round_${Math.max(0, round - 1)}`, 200).filter((_, i) => i % 3 === 0);
      const msg: Term = [
        ...fresh,
        tuple(...old),
        { ok: true, error: false, [`key_${round}`]: atom('nil') },
        peer.node.spawn().pid,
      ];
      expect(await echo(peer, box, msg)).toStrictEqual(msg);
    }
  });

  it('atoms of more than 255 bytes (LongAtoms) with short ones in one header', async () => {
    const msg = [atom('ü'.repeat(255)), atom('short'), atom('😀'.repeat(255)), atom('ü'.repeat(255)), atom('a')];
    expect(await echo(peer, box, msg)).toStrictEqual(msg);
    expect(await echo(peer, box, msg)).toStrictEqual(msg);
    expect(await peer.rpc('erlang', 'atom_to_binary', [atom('😀'.repeat(255))])).toBe('😀'.repeat(255));
  });

  it('around a fragmented message: what waits behind it and what passes it both arrive right', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 0xff); // not UTF-8: it comes back as a Buffer
    const bigMsg = tuple(atom('big_one_atom'), big, atoms('inside_fragments', 50));
    box.send('mailbox_echo', tuple(box.pid, bigMsg), peer);
    // Queued behind the fragments (same process), and passing them (another process), with atoms
    // new to the cache and atoms the fragmented message also carries.
    const behind = [atom('behind_fragments'), atom('big_one_atom'), ...atoms('inside_fragments', 5)];
    // `passing` goes out first: had `behind` added its atoms to the cache, this would name a slot
    // that the peer has not filled yet.
    const passing = [atom('behind_fragments'), atom('big_one_atom'), ...atoms('inside_fragments', 5)];
    box.send('mailbox_echo', tuple(box.pid, behind), peer);
    const other = peer.node.spawn();
    other.send('mailbox_echo_2', tuple(other.pid, passing), peer);
    expect(((await other.receive({ timeout: 10_000 })) as Tuple).get(1)).toStrictEqual(passing);
    const first = (await box.receive({ timeout: 30_000 })) as Tuple;
    const back = first.get(1) as Tuple;
    expect(back.get(0)).toBe(atom('big_one_atom'));
    expect((back.get(1) as Buffer).equals(big)).toBe(true);
    expect(back.get(2)).toStrictEqual(atoms('inside_fragments', 50));
    expect(((await box.receive({ timeout: 10_000 })) as Tuple).get(1)).toStrictEqual(behind);
    // The cache is still in step with the peer's.
    expect(await echo(peer, box, passing)).toStrictEqual(passing);
  });
});
