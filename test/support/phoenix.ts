/**
 * Phoenix.PubSub 2.2.0 (../shared/third_party, MIT) compiled with each runtime's own `elixirc`, once
 * per runtime and test process, for Elixir nodes started with `-pa <ebin>`. It stays out of the package.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir } from 'node:fs/promises';
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

async function compile(rt: Runtime): Promise<string> {
  const root = rt.prefix[0] === 'chroot' ? (rt.prefix[1] ?? '') : '';
  const inside = `/tmp/erldist-phx-${process.pid}-${built.size}`;
  await mkdir(`${root}${inside}/ebin`, { recursive: true });
  await cp(SOURCE, `${root}${inside}/lib`, { recursive: true });
  const sources = (await files(`${root}${inside}/lib`)).map((f) => f.slice(root.length));
  const [cmd, ...args] = [...rt.prefix, 'elixirc', '--ignore-module-conflict', '-o', `${inside}/ebin`, ...sources];
  await promisify(execFile)(cmd, args, { timeout: 120_000, env: { ...process.env, HOME: '/tmp' } });
  return `${inside}/ebin`;
}
