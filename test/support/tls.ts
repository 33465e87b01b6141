/**
 * Throwaway certificates for the TLS tests, made with the `openssl` command: a CA, a server and a
 * client certificate signed by it (SAN `localhost`, and `127.0.0.1` both as an IP and as a DNS name, since OTP's client checks the host of a node name as a DNS name), and a second CA with a server
 * certificate of its own (a peer nobody should trust). Nothing is committed; each call makes new
 * keys. For a chroot runtime the files go under the chroot's /tmp, and `nodePath` is the path a node
 * inside it sees.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomNodeName } from './nodes.js';
import type { Runtime } from './runtimes.js';

const run = promisify(execFile);

export interface TestCerts {
  /** The directory on the host. */
  dir: string;
  /** A file of `dir` as a node of the runtime sees it. */
  nodePath(file: string): string;
  /** PEM contents. */
  ca: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
  rogueCa: Buffer;
  rogueCert: Buffer;
  rogueKey: Buffer;
  /**
   * Writes an ssl_dist_optfile for a node of the runtime (paths as it sees them) and returns its path
   * there; `forHost`: for erldist on the host (host paths).
   */
  optfile(
    name: string,
    options?: { failIfNoPeerCert?: boolean; server?: 'server' | 'rogue'; forHost?: boolean },
  ): string;
  remove(): void;
}

/** The chroot root of a runtime (`chroot DIR`), or '' for the host. */
function rootOf(rt: Runtime): string {
  return rt.prefix[0] === 'chroot' && rt.prefix[1] ? rt.prefix[1] : '';
}

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir });
  } catch (err) {
    throw new Error(`openssl ${args.join(' ')} failed (is openssl installed?): ${(err as Error).message}`);
  }
}

/** A new P-256 key, unencrypted: what every certificate of the tests uses. */
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function signed(dir: string, ca: string, name: string): Promise<void> {
  await openssl(dir, ['req', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  writeFileSync(join(dir, `${name}.ext`), 'subjectAltName=DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1\n');
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  ]);
}

export async function makeCerts(rt: Runtime): Promise<TestCerts> {
  const inNode = `/tmp/erldist-tls-${randomNodeName()}`;
  const dir = `${rootOf(rt)}${inNode}`;
  mkdirSync(dir, { recursive: true });
  for (const ca of ['ca', 'rogueca']) {
    await openssl(dir, [
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=erldist test ${ca}`,
    ]);
  }
  await Promise.all([signed(dir, 'ca', 'server'), signed(dir, 'ca', 'client'), signed(dir, 'rogueca', 'rogue')]);
  const file = (name: string) => readFileSync(join(dir, name));
  const nodePath = (name: string) => `${inNode}/${name}`;
  return {
    dir,
    nodePath,
    ca: file('ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
    rogueCa: file('rogueca.pem'),
    rogueCert: file('rogue.pem'),
    rogueKey: file('rogue.key'),
    optfile(name, options = {}) {
      const server = options.server ?? 'server';
      const where = options.forHost ? (f: string) => join(dir, f) : nodePath;
      const q = (f: string) => JSON.stringify(where(f));
      const text = [
        `[{server, [{certfile, ${q(`${server}.pem`)}}, {keyfile, ${q(`${server}.key`)}},`,
        `           {cacertfile, ${q('ca.pem')}}, {verify, verify_peer},`,
        `           {fail_if_no_peer_cert, ${options.failIfNoPeerCert === false ? 'false' : 'true'}}]},`,
        ` {client, [{certfile, ${q('client.pem')}}, {keyfile, ${q('client.key')}},`,
        `           {cacertfile, ${q('ca.pem')}}, {verify, verify_peer}]}].`,
        '',
      ].join('\n');
      writeFileSync(join(dir, name), text);
      return where(name);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `erl` flags for a TLS distribution node using the optfile at `nodePath`. */
export function tlsErlArgs(optfileNodePath: string): string[] {
  return ['-proto_dist', 'inet_tls', '-ssl_dist_optfile', optfileNodePath];
}
