/**
 * The CLI's fixed default names (src/cli/slot.ts): one process per slot, slots of a process that
 * died come back, and a full set gives no slot. Each test uses its own prefix, so that CLI runs of
 * other test files (which use the real `erldist-probe` slots) neither disturb nor are disturbed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { claimSlot, type Slot } from '../../src/cli/slot.js';
import { defaultNodeName, parseNodeName } from '../../src/index.js';

let serial = 0;
const prefix = () => `erldist-test-${process.pid}-${++serial}`;

const held: Slot[] = [];
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const slot of held.splice(0)) await slot.release();
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function claim(options: Parameters<typeof claimSlot>[0]): Promise<string | undefined> {
  const slot = await claimSlot(options);
  if (slot) held.push(slot);
  return slot?.alive;
}

/** A process that runs `code` and prints `ready` once it holds what it holds. */
async function holder(code: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', `${code}; console.log('ready'); setInterval(() => {}, 1e6)`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
  });
  return child;
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe.each(['socket', 'file'] as const)('slots held by %s', (strategy) => {
  const options = (p: string) => {
    if (strategy === 'socket') return { prefix: p, strategy, slots: 3 };
    const dir = mkdtempSync(join(tmpdir(), 'erldist-slots-'));
    dirs.push(dir);
    return { prefix: p, strategy, slots: 3, dir };
  };

  it('each claim gets the first free slot; none when all are held; a released one comes back', async () => {
    const p = prefix();
    const o = options(p);
    expect([await claim(o), await claim(o), await claim(o)]).toEqual([`${p}-0`, `${p}-1`, `${p}-2`]);
    expect(await claim(o)).toBeUndefined();
    await held[1].release();
    await held[1].release(); // idempotent
    expect(await claim(o)).toBe(`${p}-1`);
  });

  it('claims made at once get different slots', async () => {
    const o = options(prefix());
    const got = await Promise.all([claim(o), claim(o), claim(o), claim(o)]);
    expect(new Set(got.filter((a) => a !== undefined)).size).toBe(3);
    expect(got.filter((a) => a === undefined)).toHaveLength(1);
  });

  it("another live process's slot is skipped; once it is killed (SIGKILL), the slot is free", async () => {
    const p = prefix();
    const o = options(p);
    const code =
      strategy === 'socket'
        ? `require('node:net').createServer().listen(${JSON.stringify(`\0${p}-0`)})`
        : `require('node:fs').writeFileSync(${JSON.stringify(join((o as { dir: string }).dir, `${p}-0.lock`))}, process.pid + '\\n')`;
    const child = await holder(code);
    expect(await claim(o)).toBe(`${p}-1`);
    await killed(child);
    expect(await claim(o)).toBe(`${p}-0`);
  });
});

describe('lock files', () => {
  const setup = () => {
    const dir = mkdtempSync(join(tmpdir(), 'erldist-slots-'));
    dirs.push(dir);
    const p = prefix();
    return { dir, p, o: { prefix: p, strategy: 'file' as const, slots: 2, dir } };
  };

  it('release removes only its own lock, and leaves no file behind', async () => {
    const { dir, o } = setup();
    await claim(o);
    await held[0].release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a lock being reclaimed by another process (a fresh reclaim guard) is not taken', async () => {
    const { dir, p, o } = setup();
    const child = await holder('');
    writeFileSync(join(dir, `${p}-0.lock`), `${child.pid}\n`);
    await killed(child);
    writeFileSync(join(dir, `${p}-0.reclaim`), `${process.ppid}\n`);
    expect(await claim(o)).toBe(`${p}-1`);
  });

  it('an empty lock (its writer may be writing it) is not taken while it is fresh', async () => {
    const { dir, p, o } = setup();
    writeFileSync(join(dir, `${p}-0.lock`), '');
    expect(await claim(o)).toBe(`${p}-1`);
  });

  it('a directory that cannot be written gives no slot, without throwing', async () => {
    const { dir, p } = setup();
    writeFileSync(join(dir, 'file'), '');
    expect(await claim({ prefix: p, strategy: 'file', dir: join(dir, 'file', 'sub') })).toBeUndefined();
  });
});

describe('defaultNodeName with a slot name', () => {
  it('matches the kind of the target: loopback, short, long, IPv6', () => {
    const host = (target: string) => defaultNodeName(parseNodeName(target), 'erldist-probe-0').split('@')[1];
    expect(defaultNodeName(parseNodeName('a@127.0.0.1'), 'erldist-probe-0')).toBe('erldist-probe-0@127.0.0.1');
    expect(host('a@::1')).toBe('::1');
    expect(isIP(host('a@fd00::12'))).toBe(6);
    expect(host('a@localhost')).toBe(hostname().split('.')[0]);
    const long = host('a@app.ns.svc.cluster.local');
    expect(long.includes('.') || /^\d+\.\d+\.\d+\.\d+$/.test(long)).toBe(true);
  });
});
