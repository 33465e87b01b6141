/**
 * A hostile peer after the handshake: mutated distribution frames of every kind. The host process
 * must never throw: each connection either keeps going or ends with PROTOCOL/NODE_DOWN.
 */
import { describe, expect, it } from 'vitest';
import { encodeControl, Op } from '../../src/distribution/control.js';
import { atom, connect, type ErldistError, Pid, Reference, type Term, tuple } from '../../src/index.js';
import { distFrame as frame, startFakePeer } from '../support/fake-peer.js';
import { rng } from '../support/gen.js';

const COOKIE = `fuzz-frames-${Math.random().toString(36).slice(2)}`;

describe('mutated frames from a peer', () => {
  it('never crash the host (60 connections x 60 frames)', async () => {
    const next = rng(99);
    const pick = (n: number) => Math.floor(next() * n);
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('uncaughtException', onUnhandled);
    process.on('unhandledRejection', onUnhandled);
    let closedByProtocol = 0;
    let survived = 0;
    try {
      for (let c = 0; c < 60; c++) {
        let sendAll!: (s: import('node:net').Socket) => void;
        const fake = await startFakePeer(
          { kind: 'handshake', cookie: COOKIE, after: (s) => sendAll(s) },
          'fake@127.0.0.1',
        );
        const ready = new Promise<import('node:net').Socket>((resolve) => (sendAll = resolve));
        const peer = await connect(`fake@127.0.0.1:${fake.port}`, { cookie: COOKIE });
        const socket = await ready;
        const node = peer.node;
        const them = new Pid(atom('fake@127.0.0.1'), 1, 0, 1234);
        const us = node.spawn().pid;
        const ref = new Reference(atom('fake@127.0.0.1'), 1234, [1, 2, 3]);
        const controls: [Term, Term?][] = [
          [encodeControl({ op: Op.SEND, to: us }), tuple(atom('hello'), [1, 2, 3])],
          [
            encodeControl({ op: Op.REG_SEND, from: them, toName: atom('rex') }),
            tuple(atom('$gen_call'), tuple(them, ref), atom('x')),
          ],
          [encodeControl({ op: Op.LINK, from: them, to: us })],
          [encodeControl({ op: Op.MONITOR_P, from: them, to: atom('net_kernel'), ref })],
          [encodeControl({ op: Op.EXIT, from: them, to: us, reason: atom('boom') })],
          [encodeControl({ op: Op.UNLINK_ID, id: 5, from: them, to: us })],
          [
            encodeControl({
              op: Op.SPAWN_REQUEST,
              reqId: ref,
              from: them,
              groupLeader: them,
              mfa: [atom('erpc'), atom('execute_call'), 4],
              options: [atom('monitor')],
            }),
            [ref, atom('m'), atom('f'), []],
          ],
          [encodeControl({ op: Op.MONITOR_P_EXIT, from: them, to: us, ref, reason: atom('normal') })],
          [tuple(82, 0), atom('x')],
        ];
        const frames: Buffer[] = [];
        for (let i = 0; i < 60; i++) {
          const [ctl, payload] = controls[pick(controls.length)];
          const f = frame(ctl, payload);
          const mutations = pick(4);
          for (let m = 0; m < mutations; m++) {
            const at = 4 + pick(f.length - 4);
            f[at] = pick(256);
          }
          if (pick(10) === 0) frames.push(f.subarray(0, 4 + pick(f.length - 4)));
          else frames.push(f);
        }
        // A well-formed message after the mutated ones: once it arrives, the connection survived.
        const probe = node.spawn();
        frames.push(frame(encodeControl({ op: Op.SEND, to: probe.pid }), atom('probe')));
        socket.write(Buffer.concat(frames));
        const down = new Promise<ErldistError | undefined>((resolve) => {
          node.once('nodedown', (_n: string, e: ErldistError) => resolve(e));
          // A truncated frame can swallow the probe: then surviving means not going down in 200 ms.
          probe.receive({ timeout: 200 }).then(
            () => resolve(undefined),
            () => resolve(undefined),
          );
        });
        const reason = await down;
        if (reason) expect(['PROTOCOL', 'NODE_DOWN']).toContain(reason.code);
        if (reason?.code === 'PROTOCOL') closedByProtocol++;
        if (!reason) survived++;
        await peer.close();
        await fake.close();
      }
      expect(unhandled).toEqual([]);
      // The mutations hit both ways: some connections refuse a broken frame, some read theirs whole.
      expect(closedByProtocol).toBeGreaterThan(0);
      expect(closedByProtocol + survived).toBeGreaterThan(30);
    } finally {
      process.off('uncaughtException', onUnhandled);
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
