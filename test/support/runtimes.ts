/**
 * Which Erlang/OTP runtimes the interop tests run against (design.md, "Tests against real nodes").
 *
 * `ERLDIST_TEST_RUNTIMES` is a `;`-separated list of command prefixes, each split on whitespace;
 * an empty entry is the host (`erl` on PATH). Unset or empty means just the host. Example:
 * `ERLDIST_TEST_RUNTIMES=';chroot /opt/erldist-otp/trixie'` runs everything on the host and on
 * `chroot /opt/erldist-otp/trixie erl ...`.
 *
 * A runtime that cannot run is never skipped: helpers throw, so the tests fail (required when
 * `CI=true`, and done the same way outside CI).
 */
import { execFile } from 'node:child_process';

export type Runtime = { label: string; prefix: string[] };

export const RUNTIMES_ENV = 'ERLDIST_TEST_RUNTIMES';

export function isCI(): boolean {
  return process.env.CI === 'true';
}

/** Parses a `ERLDIST_TEST_RUNTIMES` value; duplicate entries are dropped. */
export function parseRuntimes(value: string | undefined): Runtime[] {
  const entries = value === undefined || value.trim() === '' ? [''] : value.split(';');
  const out: Runtime[] = [];
  for (const entry of entries) {
    const prefix = entry
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '');
    const label = prefix.length === 0 ? 'host' : prefix.join(' ');
    if (!out.some((rt) => rt.label === label)) out.push({ label, prefix });
  }
  return out;
}

export function runtimes(): Runtime[] {
  return parseRuntimes(process.env[RUNTIMES_ENV]);
}

/** The `[file, args]` to spawn `exe args...` on a runtime. */
export function command(rt: Runtime, exe: string, args: readonly string[]): [string, string[]] {
  if (rt.prefix.length === 0) return [exe, [...args]];
  const [first, ...rest] = rt.prefix;
  return [first as string, [...rest, exe, ...args]];
}

/**
 * Environment for spawned runtimes: no crash dumps (a failing boot would otherwise write
 * erl_crash.dump into the working directory).
 */
export function runtimeEnv(): NodeJS.ProcessEnv {
  return { ...process.env, ERL_CRASH_DUMP_SECONDS: '0' };
}

/** Explains a runtime that does not work; tests must fail with this, never skip. */
export function runtimeError(rt: Runtime, detail: string): Error {
  const where = isCI() ? 'CI=true: a missing runtime is a failure' : 'not skipping';
  return new Error(
    `Erlang runtime "${rt.label}" cannot run erl (${where}; set ${RUNTIMES_ENV} to change ` +
      `the runtimes): ${detail}`,
  );
}

/** The runtime's `erlang:system_info(otp_release)`, e.g. `"27"`. Throws if erl can't run. */
export function otpRelease(rt: Runtime, timeoutMs = 30_000): Promise<string> {
  const [file, args] = command(rt, 'erl', [
    '-noshell',
    '-eval',
    'io:format("~s",[erlang:system_info(otp_release)]),halt().',
  ]);
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { env: runtimeEnv(), timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' },
      (err, stdout, stderr) => {
        const release = stdout.trim();
        if (err || !/^\d+$/.test(release)) {
          const why = err ? err.message : `unexpected output ${JSON.stringify(stdout)}`;
          reject(runtimeError(rt, `${why}${stderr ? `\nstderr:\n${stderr}` : ''}`));
        } else {
          resolve(release);
        }
      },
    );
  });
}
