/**
 * TLS on one side only, without a BEAM (issue 10): a TLS dialer against a plain erldist listener
 * fails with `TLS` on both sides, within the handshake timeout. Against real `inet_tls` nodes:
 * test/interop/tls.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createNode, type ErldistError, type LocalNode } from '../../src/index.js';
import { uniqueName } from '../support/pair.js';
import { rejection } from '../support/rejection.js';
import { nextEvent } from '../support/wait.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function node(options: Parameters<typeof createNode>[0]): LocalNode {
  const n = createNode({ name: uniqueName('n'), ...options });
  cleanup.push(() => n.close());
  return n;
}

describe('TLS on one side only', () => {
  it('a TLS dialer and a plain listener: TLS on both sides, at once', async () => {
    const b = node({ cookie: 'c' });
    const { port } = await b.listen({ epmd: false });
    const refused = nextEvent(b, 'handshakeError');
    const a = node({ cookie: 'c', tls: { rejectUnauthorized: false } });
    const started = Date.now();
    const err = await rejection(a.connect(`${b.name}:${port}`, { handshakeTimeout: 3000, reconnect: false }));
    expect(err.code).toBe('TLS');
    expect(err.message).toMatch(/plain distribution/);
    expect(Date.now() - started).toBeLessThan(2000);
    const [error] = (await refused) as [ErldistError];
    expect(error.code).toBe('TLS');
    expect(error.message).toContain('the peer speaks TLS distribution');
  });
});
