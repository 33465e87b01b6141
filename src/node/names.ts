/**
 * Node names (`name@host`, optionally `name@host:port` to skip EPMD) and cookies.
 */

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { homedir, hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { ErldistError } from '../errors.js';

export interface NodeAddress {
  /** `name@host`, as the node calls itself. */
  node: string;
  /** The part before `@` (what EPMD knows). */
  alive: string;
  host: string;
  /** Distribution port given after the host; undefined means ask EPMD. */
  port?: number;
  /** A long name: the host is a fully qualified name or an IP address. */
  long: boolean;
}

const ALIVE = /^[A-Za-z0-9_-]+$/;
const HOST = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;

function invalid(what: string, why: string): ErldistError {
  return new ErldistError('INVALID_ARGUMENT', `invalid node name ${JSON.stringify(what)}: ${why}`);
}

/**
 * Parses `name@host`, `name@host:port`, `name@1.2.3.4:port`, `name@::1` (what `app@$(POD_IP)` gives
 * in an IPv6 cluster, as Erlang takes it) and `name@[::1]:port`. An IPv6 address with a port needs
 * the brackets: `fd00::12:43691` is itself an address.
 */
export function parseNodeName(text: string): NodeAddress {
  if (typeof text !== 'string') throw invalid(String(text), 'not a string');
  const at = text.indexOf('@');
  if (at <= 0) throw invalid(text, 'expected name@host');
  const alive = text.slice(0, at);
  let rest = text.slice(at + 1);
  if (!ALIVE.test(alive) || alive.length > 255) throw invalid(text, 'the name part may hold letters, digits, _ and -');
  let port: number | undefined;
  let host: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw invalid(text, 'unclosed [');
    host = rest.slice(1, close);
    rest = rest.slice(close + 1);
    if (isIP(host) !== 6) throw invalid(text, 'not an IPv6 address inside []');
    if (rest.length > 0) {
      if (!rest.startsWith(':')) throw invalid(text, 'expected :port after ]');
      port = parsePort(text, rest.slice(1));
    }
  } else if (isIP(rest) === 6) {
    host = rest;
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon >= 0) {
      port = parsePort(text, rest.slice(colon + 1));
      rest = rest.slice(0, colon);
    }
    host = rest;
    if (isIP(host) === 0 && !HOST.test(host)) throw invalid(text, 'the host is not a valid host name or IP address');
  }
  if (host.length === 0) throw invalid(text, 'empty host');
  const long = isIP(host) !== 0 || host.includes('.');
  return { node: `${alive}@${host}`, alive, host, port, long };
}

function parsePort(text: string, digits: string): number {
  if (!/^\d{1,5}$/.test(digits)) throw invalid(text, 'the port is not a number');
  const port = Number(digits);
  if (port < 1 || port > 65535) throw invalid(text, 'the port is out of range');
  return port;
}

/**
 * A local node name for reaching `target`: `alive` (default: unique to this process) at this
 * host, long or short to match the target (a long-name node refuses short-name peers and the other
 * way round), an IPv6 address for an IPv6 target.
 */
export function defaultNodeName(
  target: NodeAddress,
  alive = `erldist_${process.pid}_${randomBytes(3).toString('hex')}`,
): string {
  return `${alive}@${target.long ? longHost(target) : shortHost()}`;
}

function shortHost(): string {
  return hostname().split('.')[0] || 'localhost';
}

function longHost(target: NodeAddress): string {
  if (target.host === '::1') return '::1';
  if (isIP(target.host) === 6) return ownAddress('IPv6') ?? '::1';
  if (target.host === 'localhost' || /^127\./.test(target.host)) return '127.0.0.1';
  const h = hostname();
  if (h.includes('.')) return h;
  return ownAddress('IPv4') ?? '127.0.0.1';
}

/** This host's first address of a family that other hosts can reach (not loopback, not link-local). */
function ownAddress(family: 'IPv4' | 'IPv6'): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === family && !a.internal && !a.address.startsWith('fe80:')) return a.address;
    }
  }
  return undefined;
}

/**
 * The cookie: the option, else ERLANG_COOKIE, else RELEASE_COOKIE (Elixir releases), else
 * ~/.erlang.cookie. Throws INVALID_ARGUMENT, before any socket opens, when there is none.
 */
export function resolveCookie(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (option !== undefined) {
    if (typeof option !== 'string' || option.length === 0) {
      throw new ErldistError('INVALID_ARGUMENT', 'the cookie option must be a non-empty string');
    }
    return option;
  }
  for (const key of ['ERLANG_COOKIE', 'RELEASE_COOKIE'] as const) {
    const value = env[key];
    if (value !== undefined && value.length > 0) return value;
  }
  const file = join(env.HOME ?? homedir(), '.erlang.cookie');
  try {
    const text = readFileSync(file, 'latin1').trim();
    if (text.length > 0) return text;
  } catch {
    // fall through to the error below
  }
  throw new ErldistError(
    'INVALID_ARGUMENT',
    `no cookie: pass { cookie }, or set ERLANG_COOKIE or RELEASE_COOKIE, or create ${file}`,
  );
}
