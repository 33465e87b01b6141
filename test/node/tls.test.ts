/**
 * TLS on one side only, without a BEAM (issue 10): a TLS dialer against a plain erldist listener
 * fails with `TLS` on both sides, within the handshake timeout. Against real `inet_tls` nodes:
 * test/interop/tls.test.ts.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createNode, type ErldistError, type LocalNode } from '../../src/index.js';
import { randomTestCookie, uniqueName } from '../support/pair.js';
import { rejection } from '../support/rejection.js';
import { makeCerts } from '../support/tls.js';
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

describe('an erldist TLS listener', () => {
  it('mutual TLS between two erldist nodes; a client without a certificate is refused with TLS on both sides', async () => {
    const certs = await makeCerts({ label: 'host', prefix: [] });
    cleanup.push(async () => certs.remove());
    const cookie = randomTestCookie();
    const b = node({ cookie, tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey, requestCert: true } });
    const { port } = await b.listen({ epmd: false });
    const a = node({ cookie, tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
    const peer = await a.connect(`${b.name}:${port}`);
    expect(await peer.ping()).toBe(true);

    const refused = nextEvent(b, 'handshakeError');
    const c = node({ cookie, tls: { ca: certs.ca } });
    const err = await rejection(c.connect(`${b.name}:${port}`, { handshakeTimeout: 3000, reconnect: false }));
    expect(err.code).toBe('TLS');
    const [error] = (await refused) as [ErldistError];
    expect(error.code).toBe('TLS');
    expect(error.message).toMatch(/certificate/);
  });

  it('a tls option of the wrong shape: INVALID_ARGUMENT from createNode and connect', async () => {
    const make = (tls: unknown) => Promise.resolve().then(() => createNode({ cookie: 'c', tls: tls as never }));
    expect((await rejection(make('yes'))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(make({ rejectUnauthorized: 'no' }))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(make({ minVersion: 'TLSv1' }))).code).toBe('INVALID_ARGUMENT');
    const a = node({ cookie: 'c' });
    const err = await rejection(a.connect('x@127.0.0.1:1', { tls: { servername: 7 as never } }));
    expect(err.code).toBe('INVALID_ARGUMENT');
  });

  it('a listener without cert and key: INVALID_ARGUMENT before any port opens', async () => {
    const b = node({ cookie: 'c', tls: { rejectUnauthorized: false } });
    expect((await rejection(b.listen({ epmd: false }))).code).toBe('INVALID_ARGUMENT');
  });
});

describe('sslDistOptfile', () => {
  it('both sides from one file: the listener verifies clients (fail_if_no_peer_cert), the dialer the server', async () => {
    const certs = await makeCerts({ label: 'host', prefix: [] });
    cleanup.push(async () => certs.remove());
    const optfile = certs.optfile('dist.conf', { forHost: true });
    const cookie = randomTestCookie();
    const b = node({ cookie, tls: { sslDistOptfile: optfile } });
    const { port } = await b.listen({ epmd: false });
    const a = node({ cookie, tls: { sslDistOptfile: optfile } });
    expect(await (await a.connect(`${b.name}:${port}`)).ping()).toBe(true);
    const c = node({ cookie, tls: { ca: certs.ca } });
    expect((await rejection(c.connect(`${b.name}:${port}`, { handshakeTimeout: 3000, reconnect: false }))).code).toBe(
      'TLS',
    );
  });

  it('an option erldist does not support, a missing file, or no term: INVALID_ARGUMENT naming it', async () => {
    const certs = await makeCerts({ label: 'host', prefix: [] });
    cleanup.push(async () => certs.remove());
    const unknown = join(certs.dir, 'unknown.conf');
    writeFileSync(
      unknown,
      `[{client, [{cacertfile, "${join(certs.dir, 'ca.pem')}"}, {crl_check, true}, {depth, 2}]}].`,
    );
    const err = await rejection(
      Promise.resolve().then(() => createNode({ cookie: 'c', tls: { sslDistOptfile: unknown } })),
    );
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('client: crl_check');
    const perConnect = node({ cookie: 'c' });
    const bad = await rejection(perConnect.connect('x@127.0.0.1:1', { tls: { sslDistOptfile: '/nonexistent.conf' } }));
    expect(bad.code).toBe('INVALID_ARGUMENT');
    const missing = await rejection(
      Promise.resolve().then(() => createNode({ cookie: 'c', tls: { sslDistOptfile: '/nonexistent.conf' } })),
    );
    expect(missing.code).toBe('INVALID_ARGUMENT');
    const garbage = join(certs.dir, 'garbage.conf');
    writeFileSync(garbage, '[{client, [');
    expect(
      (await rejection(Promise.resolve().then(() => createNode({ cookie: 'c', tls: { sslDistOptfile: garbage } }))))
        .code,
    ).toBe('INVALID_ARGUMENT');
  });
});
