/**
 * Where discovery finds the members of a cluster, as libcluster's Kubernetes strategies do: the
 * A/AAAA records of a headless Service (`basename@<pod ip>`), SRV records (`basename@<target>`, the
 * StatefulSet way), and EPMD's NAMES on a host. Each source answers a list of candidates, or fails.
 */
import * as dns from 'node:dns/promises';
import { isIP } from 'node:net';
import { names } from '../epmd/client.js';
import { ErldistError } from '../errors.js';
import { type WaitOptions, waitFor } from '../wait.js';
import { parseNodeName } from './names.js';

/** One SRV record, as `dns.resolveSrv` gives it. */
export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** The DNS queries discovery makes; `node:dns/promises` by default, a fake in tests. */
export interface DiscoveryResolver {
  resolve4(hostname: string): Promise<string[]>;
  resolve6(hostname: string): Promise<string[]>;
  resolveSrv(hostname: string): Promise<SrvRecord[]>;
}

/** A headless Service's A and AAAA records: one member `basename@<ip>` per address. */
export interface DnsSource {
  type: 'dns';
  /** The Service's full DNS name, e.g. `app-headless.default.svc.cluster.local` (no search domains). */
  service: string;
  /** The part before `@` of every member (the release's name). */
  basename: string;
  /** Query A only (4), AAAA only (6); default both. */
  family?: 4 | 6;
  /** The members' pinned distribution port: dial `name@host:port` without EPMD. */
  port?: number;
}

/** SRV records: one member `basename@<target>` per record (the record's port is not used). */
export interface SrvSource {
  type: 'srv';
  /** The name to query, e.g. `app-headless.default.svc.cluster.local`. */
  service: string;
  basename: string;
  /** The members' pinned distribution port: dial `name@host:port` without EPMD. */
  port?: number;
}

/** EPMD's NAMES on each host: one member `name@host` per registered node, dialled at its port. */
export interface EpmdSource {
  type: 'epmd';
  hosts: string[];
  /** Only nodes of this name (EPMD also lists remote shells, probes and other releases). */
  basename?: string;
  /** EPMD's port on those hosts (default: ERL_EPMD_PORT, else 4369). */
  epmdPort?: number;
}

export type DiscoverySource = DnsSource | SrvSource | EpmdSource;

/** A member as a source lists it: its name and what to dial to reach it. */
export interface Candidate {
  node: string;
  target: string;
}

const BASENAME = /^[A-Za-z0-9_-]+$/;

/** The default resolver: the system's DNS servers, through node:dns/promises. */
export const systemResolver: DiscoveryResolver = {
  resolve4: (hostname) => dns.resolve4(hostname),
  resolve6: (hostname) => dns.resolve6(hostname),
  resolveSrv: (hostname) => dns.resolveSrv(hostname),
};

/** Throws INVALID_ARGUMENT for a source that cannot work, before any query. */
export function checkSource(source: DiscoverySource): void {
  const bad = (why: string) => new ErldistError('INVALID_ARGUMENT', `discovery source: ${why}`);
  if (typeof source !== 'object' || source === null) throw bad('expected an object');
  if (source.type === 'dns' || source.type === 'srv') {
    if (typeof source.service !== 'string' || source.service === '') throw bad(`${source.type}: no service name`);
    if (typeof source.basename !== 'string' || !BASENAME.test(source.basename))
      throw bad(`${source.type}: basename must be letters, digits, _ and -`);
    if (source.type === 'dns' && source.family !== undefined && source.family !== 4 && source.family !== 6)
      throw bad('dns: family is 4 or 6');
    if (source.port !== undefined) checkPort(source.port, bad);
  } else if (source.type === 'epmd') {
    if (!Array.isArray(source.hosts) || source.hosts.some((h) => typeof h !== 'string' || h === ''))
      throw bad('epmd: hosts is an array of host names or addresses');
    if (source.basename !== undefined && !BASENAME.test(source.basename))
      throw bad('epmd: basename must be letters, digits, _ and -');
    if (source.epmdPort !== undefined) checkPort(source.epmdPort, bad);
  } else {
    throw bad(`unknown type ${JSON.stringify((source as { type?: unknown }).type)} (dns, srv or epmd)`);
  }
}

function checkPort(port: number, bad: (why: string) => ErldistError): void {
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) throw bad(`port ${String(port)} is not in 1..65535`);
}

/** The candidates one source lists now. Rejects when the source could not answer. */
export async function querySource(
  source: DiscoverySource,
  resolver: DiscoveryResolver,
  options: WaitOptions,
): Promise<Candidate[]> {
  if (source.type === 'dns') {
    const queries: Promise<string[]>[] = [];
    if (source.family !== 6) queries.push(query(resolver, 'resolve4', source.service, options));
    if (source.family !== 4) queries.push(query(resolver, 'resolve6', source.service, options));
    const addresses = (await Promise.all(queries)).flat();
    return addresses.map((ip) => candidate(source.basename, ip, source.port));
  }
  if (source.type === 'srv') {
    const records = await query(resolver, 'resolveSrv', source.service, options);
    // A target is an FQDN, given with or without its final dot.
    return records.map((r) => candidate(source.basename, r.name.replace(/\.$/, ''), source.port));
  }
  const found = await Promise.all(
    source.hosts.map(async (host) => {
      const reply = await names(host, { port: source.epmdPort, ...options });
      return reply.nodes
        .filter((n) => source.basename === undefined || n.name === source.basename)
        .map((n) => candidate(n.name, host, n.port));
    }),
  );
  return found.flat();
}

/** `name@host` (an IPv6 host in brackets for dialling, as parseNodeName reads it). */
function candidate(basename: string, host: string, port: number | undefined): Candidate {
  const bracketed = isIP(host) === 6 ? `[${host}]` : host;
  const target = port === undefined ? `${basename}@${bracketed}` : `${basename}@${bracketed}:${port}`;
  // Checks the host: a record that gives no valid node name fails the source (INVALID_ARGUMENT).
  return { node: parseNodeName(target).node, target };
}

type Query = 'resolve4' | 'resolve6' | 'resolveSrv';

/**
 * One DNS query within the timeout. No such name, or no record of this type, is an empty answer (a
 * headless Service with no ready pod has none); any other failure fails the source.
 */
async function query<Q extends Query>(
  resolver: DiscoveryResolver,
  kind: Q,
  hostname: string,
  options: WaitOptions,
): Promise<Awaited<ReturnType<DiscoveryResolver[Q]>>> {
  type Answer = Awaited<ReturnType<DiscoveryResolver[Q]>>;
  const what = `DNS ${kind} ${hostname}`;
  try {
    return await waitFor<Answer>(options, what, (resolve, reject) => {
      (resolver[kind](hostname) as Promise<Answer>).then(resolve, reject);
      // A query cannot be cancelled; its late answer is dropped.
      return () => {};
    });
  } catch (err) {
    if (err instanceof ErldistError) throw err;
    const code = (err as { code?: unknown }).code;
    if (code === 'ENODATA' || code === 'ENOTFOUND') return [] as unknown as Answer;
    const message = err instanceof Error ? err.message : String(err);
    // CONNECT_FAILED, as for a host name the dialler cannot resolve.
    throw new ErldistError('CONNECT_FAILED', `${what} failed: ${message}`, { cause: err, step: kind });
  }
}
