/**
 * The CLI's default node name: one of a few fixed names per host (`erldist-probe-0` … `-7`), each
 * held by one process at a time. Every name a node hears is an atom it never frees, so a probe that
 * ran under a fresh name every 10 s would fill the target's atom table in months; fixed names add
 * at most SLOTS atoms. Two processes must never hold the same name at once: the target would take
 * the second connection for a restart of the first and drop the first (handshake status `alive`).
 *
 * How a slot is held, with nothing to clean up after a crash where the platform allows it:
 * - Linux: a listening socket in the abstract namespace (`\0erldist-probe-N`). Binding is exclusive
 *   per network namespace, which is what a node name's host part stands for (a pod shares one
 *   between its containers, unlike /tmp or pids), and the kernel frees it when the process dies,
 *   even by SIGKILL. It needs no writable file system (readOnlyRootFilesystem).
 * - Windows: a named pipe (`\\.\pipe\erldist-probe-N`), exclusive and freed the same way.
 * - Elsewhere (macOS, BSD): a lock file `os.tmpdir()/erldist-probe/erldist-probe-N.lock`, created
 *   exclusively and holding the pid; one whose pid is dead is reclaimed, under a short-lived reclaim
 *   lock so that two reclaimers cannot both win.
 */
import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How many fixed names there are per host. */
export const SLOTS = 8;
export const SLOT_PREFIX = 'erldist-probe';

/** A reclaim lock older than this was left by a process that died while reclaiming. */
const STALE_RECLAIM_MS = 10_000;

/** Lock files this process holds: a lock with our pid that is not one of them is a dead process's. */
const ownLocks = new Set<string>();

export interface Slot {
  /** The name part for this slot, e.g. `erldist-probe-3`. */
  readonly alive: string;
  /** Gives the slot back (idempotent). */
  release(): Promise<void>;
}

export interface SlotOptions {
  /** Name part before `-N` (tests use their own). Default `erldist-probe`. */
  prefix?: string;
  slots?: number;
  /** Default: `socket` on Linux and Windows, `file` elsewhere. */
  strategy?: 'socket' | 'file';
  /** Directory of the lock files (strategy `file`). Default `os.tmpdir()/<prefix>`. */
  dir?: string;
}

/**
 * Claims the first free slot; undefined when every slot is held (or none can be held here), and the
 * caller falls back to a unique name: correct, at the price of one atom on the target.
 */
export async function claimSlot(options: SlotOptions = {}): Promise<Slot | undefined> {
  const prefix = options.prefix ?? SLOT_PREFIX;
  const slots = options.slots ?? SLOTS;
  const strategy =
    options.strategy ?? (process.platform === 'linux' || process.platform === 'win32' ? 'socket' : 'file');
  for (let n = 0; n < slots; n++) {
    const alive = `${prefix}-${n}`;
    try {
      const slot =
        strategy === 'socket' ? await holdSocket(alive) : holdFile(alive, options.dir ?? join(tmpdir(), prefix));
      if (slot) return slot;
    } catch {
      // This slot cannot be held here (a file system we cannot write, an odd platform): no slot.
      return undefined;
    }
  }
  return undefined;
}

function socketPath(alive: string): string {
  return process.platform === 'win32' ? `\\\\.\\pipe\\${alive}` : `\0${alive}`;
}

/** The slot, or undefined when another process holds it; throws when sockets cannot be used. */
function holdSocket(alive: string): Promise<Slot | undefined> {
  return new Promise((resolve, reject) => {
    // Nobody is meant to connect; whoever does is hung up on.
    const server: Server = createServer((socket) => socket.destroy());
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(undefined);
      else reject(err);
    });
    server.listen(socketPath(alive), () => {
      // Holding the slot must not keep the process alive.
      server.unref();
      let released: Promise<void> | undefined;
      resolve({
        alive,
        release: () => {
          released ??= new Promise<void>((done) => server.close(() => done()));
          return released;
        },
      });
    });
  });
}

/** The slot through a lock file, or undefined when a live process holds it. */
function holdFile(alive: string, dir: string): Slot | undefined {
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, `${alive}.lock`);
  if (!createLock(lock)) {
    const holder = readPid(lock);
    if (holder !== undefined && (ownLocks.has(lock) || isRunning(holder))) return undefined;
    if (!reclaim(lock, join(dir, `${alive}.reclaim`), holder)) return undefined;
    if (!createLock(lock)) return undefined;
  }
  ownLocks.add(lock);
  let released = false;
  return {
    alive,
    release: async () => {
      if (released) return;
      released = true;
      ownLocks.delete(lock);
      // Only our own lock: a slot reclaimed from us (our pid looked dead) is someone else's now.
      if (readPid(lock) === process.pid) unlinkQuietly(lock);
    },
  };
}

/** Creates `path` holding our pid; false when it exists. */
function createLock(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Removes the lock `path` of the dead process `holder`, unless it changed meanwhile. Only the
 * process holding `guard` may remove it, so that a reclaimer cannot remove a lock another one has
 * just created in its place. Undefined `holder`: the file was empty or unreadable (a process that
 * died between creating and writing it, or one writing it right now; only the first ages).
 */
function reclaim(path: string, guard: string, holder: number | undefined): boolean {
  if (holder === undefined && !olderThan(path, STALE_RECLAIM_MS)) return false;
  if (!createLock(guard)) {
    if (!olderThan(guard, STALE_RECLAIM_MS)) return false;
    unlinkQuietly(guard);
    if (!createLock(guard)) return false;
  }
  try {
    if (readPid(path) !== holder) return false;
    unlinkQuietly(path);
    return true;
  } finally {
    unlinkQuietly(guard);
  }
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** True while `pid` runs. Our own pid in a lock we do not hold is a dead process's, reused. */
function isRunning(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function olderThan(path: string, ms: number): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs > ms;
  } catch {
    return false;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}
