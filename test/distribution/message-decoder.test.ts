/**
 * MessageDecoder: a connection's two reused decoders. Each message is decoded as if by fresh ones
 * (options, atom cache, budget), and nothing of a message stays reachable once it is decoded.
 */
import { describe, expect, it } from 'vitest';
import { Op } from '../../src/distribution/control.js';
import { MessageDecoder } from '../../src/distribution/inbound.js';
import { ErldistError } from '../../src/errors.js';
import { atom, encode, Pid, type Term, tuple } from '../../src/index.js';

const node = atom('peer@host');
const to = new Pid(node, 1, 0, 1);

/** A message without a distribution header: `112, 131 Control, 131 Payload`. */
function message(payload: Term): Buffer {
  return Buffer.concat([Buffer.from([112]), encode(tuple(Op.SEND, atom(''), to)), encode(payload)]);
}

/** Every value reachable from the decoders' own fields (arrays followed one level). */
function heldBy(decoder: MessageDecoder): unknown[] {
  const held: unknown[] = [];
  for (const part of Object.values(decoder as unknown as Record<string, unknown>)) {
    if (part === null || typeof part !== 'object') continue;
    for (const v of Object.values(part)) {
      held.push(v);
      if (Array.isArray(v)) held.push(...v);
    }
  }
  return held;
}

describe('MessageDecoder', () => {
  it('keeps no view of a decoded message, also through its map shape cache', () => {
    const decoder = new MessageDecoder({ binaries: 'buffer' }, 'peer@host');
    const key = Buffer.from([255, 254]);
    const data = message(
      new Map<Term, Term>([
        [key, 1],
        [atom('a'), 2],
      ]),
    );
    const decoded = decoder.decode({ data, pos: 1, refs: undefined, transient: false });
    const payload = decoded.payload as Map<Term, Term>;
    const [first] = [...payload.keys()] as Buffer[];
    // The key is a view of the message (not transient, no copyBinaries) ...
    expect(first.buffer).toBe(data.buffer);
    // ... which the decoders must not keep once decode returned.
    for (const v of heldBy(decoder)) {
      if (v instanceof Uint8Array) expect(v.buffer).not.toBe(data.buffer);
    }
  });

  it('each message gets a full budget and its own copy rule, after a message that failed', () => {
    const decoder = new MessageDecoder({ maxHeap: 4096 }, 'peer@host');
    const big = message(new Array(1000).fill(atom('x')));
    const dropped = decoder.decode({ data: big, pos: 1, refs: undefined, transient: false });
    expect(dropped.dropped).toBeInstanceOf(ErldistError);
    expect(dropped.dropped?.code).toBe('DECODE');
    const small = message([Buffer.from([200, 1, 2])]);
    const ok = decoder.decode({ data: small, pos: 1, refs: undefined, transient: true });
    const [bin] = ok.payload as Buffer[];
    // Transient: the binary was copied out of the read buffer, which the socket reuses.
    small.fill(0);
    expect([...bin]).toEqual([200, 1, 2]);
  });

  it('a malformed control term is PROTOCOL, and the next message decodes', () => {
    const decoder = new MessageDecoder({}, 'peer@host');
    const bad = Buffer.from([112, 131, 104, 9]);
    expect(() => decoder.decode({ data: bad, pos: 1, refs: undefined, transient: false })).toThrow(
      expect.objectContaining({ code: 'PROTOCOL' }),
    );
    const good = decoder.decode({ data: message(atom('ok')), pos: 1, refs: undefined, transient: false });
    expect(good.payload).toBe(atom('ok'));
  });
});
