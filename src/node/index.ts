import { ErldistError } from '../errors.js';
import { Mailbox, type Monitor } from './mailbox.js';
import { defaultNodeName, parseNodeName, resolveCookie } from './names.js';
import { type ConnectOptions, type ListenOptions, type Listening, LocalNode, type NodeEvents, type NodeOptions, type NodeStats, createNode } from './node.js';
import { type CallOptions, type Destination, Peer as PeerOf, type SpawnOptions, type Spawned } from './peer.js';
import type { ExposedFunction } from './rpc-server.js';
import { From, type ServerHandlers } from './server.js';
import type { WaitOptions } from '../wait.js';

export type ConnectAllOptions = NodeOptions & ConnectOptions;

/** A connection to one remote node, as `connect()` and `node.connect()` give it. */
export type Peer = PeerOf<LocalNode>;
export const Peer = PeerOf;

/**
 * Connects to `target` (`name@host`, or `name@host:port` to skip EPMD) as a hidden node of its own.
 * `peer.close()` closes that node too.
 */
export async function connect(target: string, options: ConnectAllOptions = {}): Promise<Peer> {
  const address = parseNodeName(target);
  const node = createNode({ ...options, name: options.name ?? defaultNodeName(address) });
  try {
    const peer = await node.connect(target, options);
    peer.ownNode();
    return peer;
  } catch (err) {
    await node.close();
    throw err;
  }
}

export {
  LocalNode,
  Mailbox,
  createNode,
  parseNodeName,
  resolveCookie,
  ErldistError,
  type NodeOptions,
  type NodeEvents,
  type ConnectOptions,
  type CallOptions,
  type Destination,
  type NodeStats,
  type WaitOptions,
  type ListenOptions,
  type Listening,
  type Monitor,
  type SpawnOptions,
  type Spawned,
  type ExposedFunction,
  From,
  type ServerHandlers,
};
