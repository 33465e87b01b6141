/**
 * Control messages that arrived on a peer's connection (protocol-notes §4), each handed to what
 * owns it: messages to the registry, links and monitors to the signal tables, answers to calls to
 * the peer that carries them, spawn requests to the rpc server.
 */
import { type Control, Op } from '../distribution/control.js';
import type { Pid, Reference, Term } from '../term/index.js';
import type { Registry } from './registry.js';
import type { SignalPeer, Signals } from './signals.js';

/** A connection as dispatch sees it: the signal surface and its calls' answers. */
export interface DispatchPeer extends SignalPeer {
  /** Answers the call pending under `ref`; false when no such call waits. */
  settleReply(ref: Reference, reply: Term): boolean;
  settleDown(ref: Reference, reason: Term): void;
  settleSpawn(reqId: Reference, flags: number, result: Term): void;
}

export interface DispatchHost {
  readonly registry: Registry;
  readonly signals: Signals;
  spawnRequest(
    peer: DispatchPeer,
    req: Extract<Control, { op: typeof Op.SPAWN_REQUEST }>,
    payload: Term | undefined,
  ): void;
}

export function dispatch(host: DispatchHost, peer: DispatchPeer, control: Control, payload: Term | undefined): void {
  const { registry, signals } = host;
  switch (control.op) {
    case Op.SEND:
    case Op.SEND_SENDER:
      registry.deliver(control.to, payload as Term, peer.name);
      return;
    case Op.REG_SEND:
      registry.deliverNamed(control.toName.name, payload as Term);
      return;
    case Op.ALIAS_SEND:
      // To a mailbox's alias, or the reply to one of this peer's calls (its alias is its reference).
      registry.deliverAlias(control.alias, payload as Term, (ref, reply) => peer.settleReply(ref, reply));
      return;
    case Op.MONITOR_P_EXIT:
      down(host, peer, control.ref, control.reason);
      return;
    case Op.PAYLOAD_MONITOR_P_EXIT:
      down(host, peer, control.ref, payload as Term);
      return;
    case Op.MONITOR_P:
      signals.onMonitor(peer, control.from, control.to, control.ref);
      return;
    case Op.DEMONITOR_P:
      signals.onDemonitor(control.to, control.ref);
      return;
    case Op.SPAWN_REQUEST:
      host.spawnRequest(peer, control, payload);
      return;
    case Op.SPAWN_REPLY:
      peer.settleSpawn(control.reqId, control.flags, control.result);
      return;
    case Op.UNLINK_ID:
      if (!fromPeer(host, peer, control.from)) return;
      // Answer before any other signal to the sender (protocol-notes §4).
      peer.trySend({ op: Op.UNLINK_ID_ACK, id: control.id, from: control.to, to: control.from });
      signals.onUnlink(control.from, control.to);
      return;
    case Op.UNLINK_ID_ACK:
      return;
    case Op.LINK:
      if (fromPeer(host, peer, control.from)) signals.onLink(peer, control.from, control.to);
      return;
    case Op.EXIT:
      if (fromPeer(host, peer, control.from)) signals.onExit(control.from, control.to, control.reason, false);
      return;
    case Op.PAYLOAD_EXIT:
      if (fromPeer(host, peer, control.from)) signals.onExit(control.from, control.to, payload as Term, false);
      return;
    case Op.EXIT2:
      if (fromPeer(host, peer, control.from)) signals.onExit(control.from, control.to, control.reason, true);
      return;
    case Op.PAYLOAD_EXIT2:
      if (fromPeer(host, peer, control.from)) signals.onExit(control.from, control.to, payload as Term, true);
      return;
    default:
      // GROUP_LEADER, ALTACT_SIG_SEND: features we do not advertise.
      registry.stats.dropped++;
  }
}

/** A DOWN for a mailbox's monitor, else for a call's. */
function down(host: DispatchHost, peer: DispatchPeer, ref: Reference, reason: Term): void {
  if (!host.signals.down(ref, reason, peer.name)) peer.settleDown(ref, reason);
}

/** Link and exit signals must come from a process of the sending node (protocol-notes §4). */
function fromPeer(host: DispatchHost, peer: DispatchPeer, from: Pid): boolean {
  if (from.node.name === peer.name) return true;
  host.registry.stats.dropped++;
  return false;
}
