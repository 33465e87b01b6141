export type { TlsOptions } from './distribution/tls.js';
export { type EpmdEntry, EpmdServer, names, portPlease2, type StartEpmdOptions, startEpmd } from './epmd/index.js';
export { ErldistError, type ErldistErrorOptions, type ErrorCode, isErldistError } from './errors.js';
export {
  type DiscoverOptions,
  Discovery,
  type DiscoveryEvents,
  type DiscoveryNode,
  type DiscoveryPeer,
  discover,
  type LeaveReason,
} from './node/discovery.js';
export { type AnyCallOptions, anyCall, type CallablePeer, multicall, type NodeResult } from './node/discovery-calls.js';
export type {
  DiscoveryResolver,
  DiscoverySource,
  DnsSource,
  EpmdSource,
  SrvRecord,
  SrvSource,
} from './node/discovery-sources.js';
export {
  type CallOptions,
  type ConnectAllOptions,
  type ConnectOptions,
  connect,
  createNode,
  type Destination,
  defaultNodeName,
  type ExposedFunction,
  From,
  type Listening,
  type ListenOptions,
  LocalNode,
  Mailbox,
  type Monitor,
  type NodeEvents,
  type NodeOptions,
  type NodeStats,
  Peer,
  parseNodeName,
  type ReconnectOptions,
  type ServerHandlers,
  type Spawned,
  type SpawnOptions,
  type WaitOptions,
} from './node/index.js';
export type { Group, PgEvents, PgScope } from './node/pg.js';
export type { BroadcastOptions, PubSub } from './node/pubsub.js';
export {
  Atom,
  atom,
  BitBinary,
  type DecodeOptions,
  decode,
  decodeAt,
  type EncodeOptions,
  ExportFun,
  encode,
  Float,
  Fun,
  float,
  ImproperList,
  type InspectOptions,
  inspect,
  type ParseOptions,
  Pid,
  Port,
  parseTerm,
  Reference,
  type Term,
  Tuple,
  tuple,
} from './term/index.js';
