/**
 * Calls on a set of nodes: every one of them (as `rpc:multicall`, one result per node), or any one
 * of them (one at a time with failover, or all at once taking the first answer).
 */
import { ErldistError, type ErrorCode } from '../errors.js';
import type { Term } from '../term/index.js';
import { deadline, onAbort, type WaitOptions } from '../wait.js';

/** What the calls need of a peer. */
export interface CallablePeer {
  readonly name: string;
  rpc(module: string, fun: string, args: Term[], options?: WaitOptions): Promise<Term>;
}

/** One node's part of a multicall: its value, or why it has none. */
export type NodeResult<T = Term> =
  | { node: string; ok: true; value: T }
  | { node: string; ok: false; error: ErldistError };

export interface AnyCallOptions extends WaitOptions {
  /**
   * Call every node at once and take the first value (the calls run on every node: for reads).
   * Default: one node at a time, the next one only when a node could not answer.
   */
  race?: boolean;
  /** Ms one node has to answer before the next is tried (default: all that is left of `timeout`). */
  attemptTimeout?: number;
}

const DEFAULT_TIMEOUT = 5000;

/**
 * Failures that say the node could not answer, not what it answered: the next node is tried.
 * BAD_RPC is an answer (the function ran there), so it is not retried elsewhere.
 */
const NO_ANSWER: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'NODE_DOWN',
  'CONNECT_FAILED',
  'EPMD_UNREACHABLE',
  'NODE_NOT_FOUND',
  'TIMEOUT',
  'BUFFER_FULL',
]);

/** `rpc:multicall`: `module:fun(...args)` on every peer at once; one result per peer, in order. */
export function multicall(
  peers: Iterable<CallablePeer>,
  module: string,
  fun: string,
  args: Term[] = [],
  options: WaitOptions = {},
): Promise<NodeResult[]> {
  return multicallOn(
    [...peers].map((p) => [p.name, p] as const),
    module,
    fun,
    args,
    options,
  );
}

/**
 * `module:fun(...args)` on one of `peers`, tried in their order: the first value wins. Rejects with
 * the first answer that is an error (BAD_RPC), else with the last node's failure.
 */
export function anyCall(
  peers: Iterable<CallablePeer>,
  module: string,
  fun: string,
  args: Term[] = [],
  options: AnyCallOptions = {},
): Promise<Term> {
  return anyCallOn([...peers], module, fun, args, options);
}

/** multicall on named peers (discovery names them as its sources did). */
export async function multicallOn(
  entries: readonly (readonly [string, CallablePeer])[],
  module: string,
  fun: string,
  args: Term[],
  options: WaitOptions,
): Promise<NodeResult[]> {
  const opts = { timeout: DEFAULT_TIMEOUT, ...options };
  return Promise.all(
    entries.map(async ([node, peer]): Promise<NodeResult> => {
      try {
        return { node, ok: true, value: await peer.rpc(module, fun, args, opts) };
      } catch (err) {
        return { node, ok: false, error: asError(err, node) };
      }
    }),
  );
}

export async function anyCallOn(
  peers: readonly CallablePeer[],
  module: string,
  fun: string,
  args: Term[],
  options: AnyCallOptions,
): Promise<Term> {
  const what = `rpc ${module}:${fun}/${args.length}`;
  if (options.signal?.aborted)
    throw new ErldistError('ABORTED', `${what} was aborted`, { cause: options.signal.reason });
  if (peers.length === 0) throw new ErldistError('NODE_DOWN', `${what}: no node to call`);
  if (options.race) return race(peers, module, fun, args, options);
  const remaining = deadline(options.timeout ?? DEFAULT_TIMEOUT);
  let last: ErldistError | undefined;
  for (const peer of peers) {
    const left = remaining() ?? Number.POSITIVE_INFINITY;
    if (left <= 0) break;
    const timeout = Math.min(left, options.attemptTimeout ?? left);
    try {
      return await peer.rpc(module, fun, args, { timeout, signal: options.signal });
    } catch (err) {
      last = asError(err, peer.name);
      if (!NO_ANSWER.has(last.code)) throw last;
    }
  }
  throw last ?? new ErldistError('TIMEOUT', `${what} timed out after ${options.timeout} ms`);
}

/** Every peer at once; the first value wins and the other calls are abandoned here. */
function race(
  peers: readonly CallablePeer[],
  module: string,
  fun: string,
  args: Term[],
  options: AnyCallOptions,
): Promise<Term> {
  const losers = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, losers.signal]) : losers.signal;
  const opts = { timeout: options.attemptTimeout ?? options.timeout ?? DEFAULT_TIMEOUT, signal };
  return new Promise<Term>((resolve, reject) => {
    let pending = peers.length;
    let answer: ErldistError | undefined;
    let last: ErldistError | undefined;
    const stop = onAbort(options.signal, () => losers.abort());
    for (const peer of peers) {
      peer.rpc(module, fun, args, opts).then(
        (value) => {
          stop();
          losers.abort();
          resolve(value);
        },
        (err: unknown) => {
          const error = asError(err, peer.name);
          if (NO_ANSWER.has(error.code)) last = error;
          else answer ??= error;
          if (--pending > 0) return;
          stop();
          reject(answer ?? last);
        },
      );
    }
  });
}

/** Calls reject with ErldistErrors; anything else (a broken peer object) is said to be one. */
function asError(err: unknown, node: string): ErldistError {
  if (err instanceof ErldistError) return err;
  return new ErldistError('PROTOCOL', `call on ${node} failed: ${String(err)}`, { node, cause: err });
}
