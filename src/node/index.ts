import { ErldistError } from '../errors.js';
import type { WaitOptions } from '../wait.js';
import type { ReconnectOptions } from './dialer.js';
import { type AliasOptions, Mailbox, type Monitor, type MonitorOptions } from './mailbox.js';
import { defaultNodeName, parseNodeName, resolveCookie } from './names.js';
import {
  type ConnectOptions,
  createNode,
  type Listening,
  type ListenOptions,
  LocalNode,
  type NodeEvents,
  type NodeOptions,
  type NodeStats,
} from './node.js';
import { type CallOptions, type Destination, Peer as PeerOf, type Spawned, type SpawnOptions } from './peer.js';
import type { ExposedFunction } from './rpc-server.js';
import { From, type ServerHandlers } from './server.js';

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
  type AliasOptions,
  type CallOptions,
  type ConnectOptions,
  createNode,
  type Destination,
  defaultNodeName,
  ErldistError,
  type ExposedFunction,
  From,
  type Listening,
  type ListenOptions,
  LocalNode,
  Mailbox,
  type Monitor,
  type MonitorOptions,
  type NodeEvents,
  type NodeOptions,
  type NodeStats,
  parseNodeName,
  type ReconnectOptions,
  resolveCookie,
  type ServerHandlers,
  type Spawned,
  type SpawnOptions,
  type WaitOptions,
};
