/**
 * The `tls` option's `sslDistOptfile`: OTP's `-ssl_dist_optfile`, an Erlang term file
 * `[{server, Opts}, {client, Opts}].`, read into the `node:tls` material of each side, so that a pod
 * uses the very file its release uses. An option we cannot honour is an INVALID_ARGUMENT that names
 * it, never dropped in silence.
 */
import { readFileSync } from 'node:fs';
import type { TlsOptions } from '../distribution/tls.js';
import { ErldistError } from '../errors.js';
import { Atom, parseTerm, type Term, Tuple } from '../term/index.js';

export type TlsSide = 'client' | 'server';

/** Options that only tune OTP's own ssl application: nothing to do for them here. */
const OTP_ONLY = new Set(['depth', 'secure_renegotiate', 'reuse_sessions', 'hibernate_after', 'log_level']);

const VERSIONS: Record<string, 'TLSv1.2' | 'TLSv1.3'> = { 'tlsv1.2': 'TLSv1.2', 'tlsv1.3': 'TLSv1.3' };

/** The `tls` material of one side: `tls` itself, or read from its `sslDistOptfile`. */
export function tlsFor(tls: TlsOptions | undefined, side: TlsSide): TlsOptions | undefined {
  if (tls !== undefined) checkTls(tls);
  if (tls?.sslDistOptfile === undefined) return tls;
  const { sslDistOptfile, ...rest } = tls;
  return { ...readSslDistOptfile(sslDistOptfile)[side], ...rest };
}

/** The `tls` option's own fields, checked before any file is read or socket opened. */
function checkTls(tls: TlsOptions): void {
  const bad = (why: string) => new ErldistError('INVALID_ARGUMENT', `tls: ${why}`);
  if (typeof tls !== 'object' || tls === null || Array.isArray(tls)) throw bad('expected an object');
  for (const key of ['rejectUnauthorized', 'requestCert'] as const) {
    if (tls[key] !== undefined && typeof tls[key] !== 'boolean') throw bad(`${key} is a boolean`);
  }
  for (const key of ['servername', 'passphrase', 'sslDistOptfile'] as const) {
    if (tls[key] !== undefined && (typeof tls[key] !== 'string' || tls[key] === ''))
      throw bad(`${key} is a non-empty string`);
  }
  for (const key of ['minVersion', 'maxVersion'] as const) {
    const v = tls[key];
    if (v !== undefined && v !== 'TLSv1.2' && v !== 'TLSv1.3') throw bad(`${key} is 'TLSv1.2' or 'TLSv1.3'`);
  }
}

/** Reads an ssl_dist_optfile into the TLS options of both sides. */
export function readSslDistOptfile(path: string): Record<TlsSide, TlsOptions> {
  const bad = (why: string, cause?: unknown) =>
    new ErldistError('INVALID_ARGUMENT', `ssl_dist_optfile ${path}: ${why}`, { cause });
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw bad(`cannot read it (${(err as Error).message})`, err);
  }
  let term: Term;
  try {
    term = parseTerm(text.trim().replace(/\.$/, ''));
  } catch (err) {
    throw bad(`not an Erlang term (${(err as Error).message})`, err);
  }
  if (!Array.isArray(term)) throw bad('expected a list [{server, [...]}, {client, [...]}]');
  const out: Record<TlsSide, TlsOptions> = { client: {}, server: {} };
  const unknown: string[] = [];
  for (const section of term) {
    const [side, opts] = pair(section);
    if (side !== 'client' && side !== 'server')
      throw bad(`unknown section ${side ?? '?'} (expected server and client)`);
    if (!Array.isArray(opts)) throw bad(`the ${side} section is not a list`);
    for (const opt of opts) {
      const [key, value] = pair(opt);
      if (key === undefined) throw bad(`the ${side} section holds an entry that is not {Key, Value}`);
      if (!apply(out[side], side, key, value, path)) unknown.push(`${side}: ${key}`);
    }
  }
  if (unknown.length > 0) throw bad(`options erldist does not support: ${unknown.join(', ')}`);
  return out;
}

function pair(term: Term): [string | undefined, Term] {
  if (term instanceof Tuple && term.length === 2 && term.elements[0] instanceof Atom) {
    return [term.elements[0].name, term.elements[1] as Term];
  }
  return [undefined, undefined as unknown as Term];
}

/** An Erlang string (a char list) or binary as text. */
function text(value: Term, key: string, path: string): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (Array.isArray(value) && value.every((c) => typeof c === 'number')) return String.fromCodePoint(...value);
  throw new ErldistError('INVALID_ARGUMENT', `ssl_dist_optfile ${path}: ${key} is not a string`);
}

function atomName(value: Term): string | undefined {
  return value instanceof Atom ? value.name : undefined;
}

function file(value: Term, key: string, path: string): Buffer {
  const name = text(value, key, path);
  try {
    return readFileSync(name);
  } catch (err) {
    throw new ErldistError('INVALID_ARGUMENT', `ssl_dist_optfile ${path}: cannot read ${key} ${name}`, {
      cause: err,
    });
  }
}

/** Sets one option; false when erldist does not know it. */
function apply(out: TlsOptions, side: TlsSide, key: string, value: Term, path: string): boolean {
  switch (key) {
    case 'certfile':
      out.cert = file(value, key, path);
      return true;
    case 'keyfile':
      out.key = file(value, key, path);
      return true;
    case 'cacertfile':
      out.ca = file(value, key, path);
      return true;
    case 'password':
      out.passphrase = text(value, key, path);
      return true;
    case 'verify': {
      const peer = atomName(value) === 'verify_peer';
      if (side === 'client') out.rejectUnauthorized = peer;
      else out.requestCert = peer;
      return atomName(value) === 'verify_peer' || atomName(value) === 'verify_none';
    }
    case 'fail_if_no_peer_cert':
      if (side !== 'server') return false;
      // `true` and `false` read as booleans.
      if (typeof value !== 'boolean') return false;
      out.rejectUnauthorized = value;
      return true;
    case 'server_name_indication':
      if (side !== 'client') return false;
      if (atomName(value) === 'disable') return false;
      out.servername = text(value, key, path);
      return true;
    case 'versions': {
      const names = Array.isArray(value) ? value.map((v) => VERSIONS[atomName(v) ?? ''] ?? '') : [''];
      if (names.some((n) => n === '')) return false;
      const sorted = [...names].sort();
      out.minVersion = sorted[0] as 'TLSv1.2' | 'TLSv1.3';
      out.maxVersion = sorted[sorted.length - 1] as 'TLSv1.2' | 'TLSv1.3';
      return true;
    }
    default:
      return OTP_ONLY.has(key);
  }
}
