/**
 * How a local node's dialer and listener see the node: the host objects node.ts hands them. Kept
 * apart so node.ts holds the public surface only. Generic over the node type, so that this module
 * does not import node.ts.
 */
import type { ErldistError } from '../errors.js';
import type { Atom, Pid } from '../term/index.js';
import { Dialer, type LocalIdentity } from './dialer.js';
import { type DispatchHost, dispatch } from './dispatch.js';
import type { Identifiers } from './ids.js';
import type { ListenerHost } from './listener.js';
import { connectionOptions, type NodeOptions, transport } from './options.js';
import type { Registry } from './registry.js';
import type { Signals } from './signals.js';

/** What a node shares with its dialer and listener. */
export interface NodeParts<N extends LocalIdentity> {
  readonly node: N;
  readonly nodeAtom: Atom;
  emit(event: string, ...args: unknown[]): void;
  readonly options: Readonly<Omit<NodeOptions, 'cookie'>>;
  readonly ids: Identifiers;
  readonly registry: Registry;
  /** Made after the dialer, which they need: read when first used. */
  signals(): Signals;
  dispatchHost(): DispatchHost;
  cookieFor(node: string): string;
  background(work: Promise<unknown>): void;
  close(): Promise<void>;
}

/** The node's dialer; `callerPid` sends calls and receives their replies. */
export function makeDialer<N extends LocalIdentity>(parts: NodeParts<N>, callerPid: Pid): Dialer<N> {
  const { node, options, registry, ids } = parts;
  const emit = (event: string, ...args: unknown[]) => parts.emit(event, ...args);
  return new Dialer<N>({
    local: node,
    ...transport(options),
    reconnect: options.reconnect ?? {},
    stats: registry.stats,
    cookieFor: (peer) => parts.cookieFor(peer),
    nodeUp: (peer) => emit('nodeup', peer.name),
    nodeDown: (peer, error: ErldistError) => {
      parts.signals().peerDown(peer);
      emit('nodedown', peer.name, error);
    },
    peer: {
      node,
      nodeAtom: parts.nodeAtom,
      callerPid,
      connectionOptions: connectionOptions(options, registry.stats),
      makeRef: () => ids.makeRef(),
      dispatch: (peer, control, payload) => dispatch(parts.dispatchHost(), peer, control, payload),
      dropped: (_peer, count) => {
        registry.stats.dropped += count;
      },
      warning: (err) => emit('warning', err),
      addLink: (box, pid) => parts.signals().addLink(box, pid),
      addMonitor: (box, target, name, ref) => parts.signals().addMonitor(box, target, name, ref),
      closeNode: () => parts.close(),
    },
  });
}

/** What the node's listener sees of it. */
export function listenerHost<N extends LocalIdentity>(parts: NodeParts<N>, dialer: Dialer<N>): ListenerHost {
  return {
    local: parts.node,
    hidden: parts.options.hidden !== false,
    ...transport(parts.options, 'server'),
    cookieFor: (peer) => parts.cookieFor(peer),
    acceptStatus: (peer) => dialer.acceptStatus(peer),
    addPeer: (name, socket, handshake) => void dialer.add(name, socket, handshake),
    emit: (event, ...args) => {
      parts.emit(event, ...args);
      return true;
    },
    background: (work) => parts.background(work),
  };
}
