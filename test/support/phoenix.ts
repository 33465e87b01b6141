/**
 * Phoenix.PubSub 2.2.0 (../shared/third_party, MIT) compiled with each runtime's own `elixirc`, once
 * per runtime and test process, for Elixir nodes started with `-pa <ebin>`. It stays out of the package.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Runtime } from './runtimes.js';

const SOURCE = join(import.meta.dirname, '../../../shared/third_party/phoenix_pubsub-2.2.0/lib');
const built = new Map<string, Promise<string>>();

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await files(path)));
    else if (entry.name.endsWith('.ex')) out.push(path);
  }
  return out;
}

/** The ebin directory as the runtime sees it (inside its chroot). */
export function phoenixPubSubEbin(rt: Runtime): Promise<string> {
  let done = built.get(rt.label);
  if (!done) {
    done = compile(rt);
    built.set(rt.label, done);
  }
  return done;
}

/**
 * Compiled once per runtime into a fixed place in its /tmp and reused by later runs (no copies pile
 * up); built in a directory of its own and renamed into place, so concurrent test processes agree.
 */
async function compile(rt: Runtime): Promise<string> {
  const root = rt.prefix[0] === 'chroot' ? (rt.prefix[1] ?? '') : '';
  const inside = '/tmp/erldist-phoenix_pubsub-2.2.0';
  if (existsSync(`${root}${inside}/ebin/Elixir.Phoenix.PubSub.beam`)) return `${inside}/ebin`;
  const building = `${inside}.${process.pid}`;
  await mkdir(`${root}${building}/ebin`, { recursive: true });
  await cp(SOURCE, `${root}${building}/lib`, { recursive: true });
  const sources = (await files(`${root}${building}/lib`)).map((f) => f.slice(root.length));
  const [cmd, ...args] = [...rt.prefix, 'elixirc', '--ignore-module-conflict', '-o', `${building}/ebin`, ...sources];
  await promisify(execFile)(cmd, args, { timeout: 120_000, env: { ...process.env, HOME: '/tmp' } });
  // Another process may have put its build in place first: then ours goes.
  await rename(`${root}${building}`, `${root}${inside}`).catch(() => rm(`${root}${building}`, { recursive: true }));
  return `${inside}/ebin`;
}
