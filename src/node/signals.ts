/**
 * Links and monitors across connections, both directions (protocol-notes §4): LINK, UNLINK_ID,
 * EXIT/EXIT2 (and payload forms), MONITOR_P, DEMONITOR_P, MONITOR_P_EXIT. Our mailboxes always trap
 * exits: exit signals become `{'EXIT', From, Reason}` messages, and only `kill` closes a mailbox.
 */
import { type Control, Op } from '../distribution/control.js';
import { type Atom, atom, Pid, type Reference, type Term, Tuple } from '../term/index.js';
import { refKey } from './keys.js';
import type { Mailbox, Monitor } from './mailbox.js';
import type { From } from './server.js';

const DOWN = atom('DOWN');
const PROCESS = atom('process');
const EXIT = atom('EXIT');
const KILL = atom('kill');
const KILLED = atom('killed');
const NORMAL = atom('normal');
const NOPROC = atom('noproc');
const NOCONNECTION = atom('noconnection');

/** What the signal tables need of a connection. */
export interface SignalPeer {
  readonly name: string;
  /** Throws when the connection is gone or full. */
  sendControl(control: Control, payload?: Term): boolean;
  /** Never throws: the signal is lost with the connection. */
  trySend(control: Control, payload?: Term): void;
}

/** What the signal tables need from the node. */
export interface SignalsHost {
  /** The open connection to a node, if any. */
  peer(name: string): SignalPeer | undefined;
  /** The open connection to a node; throws NODE_DOWN. */
  peerFor(name: string): SignalPeer;
  /** The only connected node, for a name given without one. */
  onlyPeerName(name: string): string;
  makeRef(): Reference;
  /** One of our mailboxes by pid (this node and creation) or registered name. */
  mailbox(target: Pid | Atom): Mailbox | undefined;
  /** One of our mailboxes by its pid's id. */
  mailboxById(id: number): Mailbox | undefined;
}

interface LocalMonitor {
  box: Mailbox;
  target: Pid | Atom;
  node: string;
  ref: Reference;
  fire(reason: Term): void;
}

export class Signals {
  /** Links of our mailboxes: pid id -> linked remote pids. */
  private readonly links = new Map<number, Pid[]>();
  /** Monitors our mailboxes hold on remote processes, by reference. */
  private readonly localMonitors = new Map<string, LocalMonitor>();
  /** Monitors other nodes hold on our mailboxes: pid id -> monitors. */
  private readonly remoteMonitors = new Map<number, { peer: SignalPeer; from: Pid; ref: Reference }[]>();
  /** Monitors our mailboxes hold on our other mailboxes: target pid id -> reference keys. */
  private readonly localTargets = new Map<number, string[]>();
  private nextUnlinkId = 1;

  constructor(private readonly host: SignalsHost) {}

  // --- our mailboxes link and monitor ---------------------------------------------------------------

  link(box: Mailbox, to: Pid): void {
    // Sent first: if the peer is gone or not reading, the call throws and nothing is recorded.
    this.host.peerFor(to.node.name).sendControl({ op: Op.LINK, from: box.pid, to });
    this.addLink(box, to);
  }

  /** Records a link (also one a SPAWN_REPLY confirmed). */
  addLink(box: Mailbox, pid: Pid): void {
    const list = this.links.get(box.pid.id) ?? [];
    if (!list.some((p) => samePid(p, pid))) list.push(pid);
    this.links.set(box.pid.id, list);
  }

  unlink(box: Mailbox, to: Pid): void {
    if (!this.dropLink(box.pid.id, to)) return;
    this.host.peer(to.node.name)?.trySend({ op: Op.UNLINK_ID, id: this.nextUnlinkId++, from: box.pid, to });
  }

  monitor(box: Mailbox, target: Pid | string, peerName?: string): Monitor {
    const node = target instanceof Pid ? target.node.name : (peerName ?? this.host.onlyPeerName(target));
    const to = target instanceof Pid ? target : atom(target);
    const ref = this.host.makeRef();
    const local = target instanceof Pid ? this.host.mailbox(target) : undefined;
    if (local) {
      // A mailbox of this node: the DOWN comes when it closes.
      const refs = this.localTargets.get(local.pid.id) ?? [];
      refs.push(refKey(ref));
      this.localTargets.set(local.pid.id, refs);
      return this.addMonitor(box, to, node, ref);
    }
    const peer = this.host.peer(node);
    // Sent before it is recorded: a send that throws (BUFFER_FULL) leaves no entry behind.
    peer?.sendControl({ op: Op.MONITOR_P, from: box.pid, to, ref });
    const monitor = this.addMonitor(box, to, node, ref);
    // As Erlang does for a node it cannot reach: an immediate DOWN with noconnection.
    if (!peer) queueMicrotask(() => this.localMonitors.get(refKey(ref))?.fire(NOCONNECTION));
    return monitor;
  }

  /** Records a monitor (also one a SPAWN_REPLY confirmed, whose reference is the request's). */
  addMonitor(box: Mailbox, target: Pid | Atom, node: string, ref: Reference): Monitor {
    let fire!: (reason: Term) => void;
    const down = new Promise<Term>((resolve) => (fire = resolve));
    const key = refKey(ref);
    this.localMonitors.set(key, {
      box,
      target,
      node,
      ref,
      fire: (reason: Term) => {
        this.localMonitors.delete(key);
        box.monitorFired(ref);
        const who = target instanceof Pid ? target : new Tuple([target, atom(node)]);
        box.deliver(new Tuple([DOWN, ref, PROCESS, who, reason]));
        fire(reason);
      },
    });
    return { ref, down };
  }

  demonitor(box: Mailbox, ref: Reference): void {
    const key = refKey(ref);
    const m = this.localMonitors.get(key);
    if (!m || m.box !== box) return;
    this.localMonitors.delete(key);
    if (m.target instanceof Pid) this.dropLocalTarget(m.target.id, key);
    this.host.peer(m.node)?.trySend({ op: Op.DEMONITOR_P, from: box.pid, to: m.target, ref });
  }

  /** A DOWN for one of our monitors, from the node it monitors; false when it is not one of them. */
  down(ref: Reference, reason: Term, via: string): boolean {
    if (this.localMonitors.size === 0) return false; // the DOWN of an rpc or a call
    const local = this.localMonitors.get(refKey(ref));
    if (!local || local.node !== via) return false;
    local.fire(reason);
    return true;
  }

  /** A mailbox closed: its links get the exit, monitors on it a DOWN, its own monitors end. */
  released(box: Mailbox): void {
    const reason = box.exitReason ?? NORMAL;
    const watchers = this.localTargets.get(box.pid.id) ?? [];
    this.localTargets.delete(box.pid.id);
    for (const key of watchers) this.localMonitors.get(key)?.fire(reason);
    const monitors = this.remoteMonitors.get(box.pid.id);
    this.remoteMonitors.delete(box.pid.id);
    for (const m of monitors ?? []) {
      m.peer.trySend({ op: Op.MONITOR_P_EXIT, from: box.pid, to: m.from, ref: m.ref, reason });
    }
    const linked = this.links.get(box.pid.id) ?? [];
    this.links.delete(box.pid.id);
    for (const pid of linked) this.host.peer(pid.node.name)?.trySend({ op: Op.EXIT, from: box.pid, to: pid, reason });
    for (const [key, m] of this.localMonitors) {
      if (m.box !== box) continue;
      this.localMonitors.delete(key);
      this.host.peer(m.node)?.trySend({ op: Op.DEMONITOR_P, from: box.pid, to: m.target, ref: m.ref });
    }
  }

  // --- signals from other nodes ---------------------------------------------------------------------

  onLink(peer: SignalPeer, from: Pid, to: Pid): void {
    const box = this.host.mailbox(to);
    if (!box) {
      // Linking to a process that does not exist: the linker gets an exit with noproc.
      peer.trySend({ op: Op.EXIT, from: to, to: from, reason: NOPROC });
      return;
    }
    this.addLink(box, from);
  }

  onUnlink(from: Pid, to: Pid): void {
    this.dropLink(to.id, from);
  }

  /** EXIT (a linked process died) or EXIT2 (exit/2 on one of ours). */
  onExit(from: Pid, to: Pid, reason: Term, isExit2: boolean): void {
    const box = this.host.mailbox(to);
    if (!box) return;
    if (!isExit2 && !this.dropLink(to.id, from)) return;
    if (isExit2 && reason === KILL) {
      box.close(KILLED);
      return;
    }
    box.deliver(new Tuple([EXIT, from, reason]));
  }

  onMonitor(peer: SignalPeer, from: Pid, target: Pid | Atom, ref: Reference): void {
    const box = this.host.mailbox(target);
    if (!box) {
      peer.trySend({ op: Op.MONITOR_P_EXIT, from: target, to: from, ref, reason: NOPROC });
      return;
    }
    const list = this.remoteMonitors.get(box.pid.id) ?? [];
    list.push({ peer, from, ref });
    this.remoteMonitors.set(box.pid.id, list);
  }

  onDemonitor(target: Pid | Atom, ref: Reference): void {
    const box = this.host.mailbox(target);
    const list = box && this.remoteMonitors.get(box.pid.id);
    if (!box || !list) return;
    const rest = list.filter((m) => refKey(m.ref) !== refKey(ref));
    if (rest.length > 0) this.remoteMonitors.set(box.pid.id, rest);
    else this.remoteMonitors.delete(box.pid.id);
  }

  /** Ends one caller's gen_server call as if `server` had exited with `reason` (through its monitor). */
  failCall(server: Mailbox, from: From, reason: Term): void {
    const ref = from.monitorRef;
    const list = this.remoteMonitors.get(server.pid.id);
    const i =
      ref === undefined || !list
        ? -1
        : list.findIndex((m) => refKey(m.ref) === refKey(ref) && samePid(m.from, from.pid));
    if (i < 0 || !list) return;
    const [m] = list.splice(i, 1);
    m.peer.trySend({ op: Op.MONITOR_P_EXIT, from: server.pid, to: m.from, ref: m.ref, reason });
  }

  /** A connection ended: monitors it held on us go, and every link and monitor across it fires. */
  peerDown(peer: SignalPeer): void {
    for (const [id, list] of this.remoteMonitors) {
      const rest = list.filter((m) => m.peer !== peer);
      if (rest.length > 0) this.remoteMonitors.set(id, rest);
      else this.remoteMonitors.delete(id);
    }
    for (const [id, list] of [...this.links]) {
      for (const pid of list.filter((p) => p.node.name === peer.name)) {
        const box = this.host.mailboxById(id);
        this.dropLink(id, pid);
        box?.deliver(new Tuple([EXIT, pid, NOCONNECTION]));
      }
    }
    for (const m of [...this.localMonitors.values()]) if (m.node === peer.name) m.fire(NOCONNECTION);
  }

  private dropLocalTarget(id: number, key: string): void {
    const rest = (this.localTargets.get(id) ?? []).filter((k) => k !== key);
    if (rest.length > 0) this.localTargets.set(id, rest);
    else this.localTargets.delete(id);
  }

  private dropLink(id: number, pid: Pid): boolean {
    const list = this.links.get(id);
    const i = list ? list.findIndex((p) => samePid(p, pid)) : -1;
    if (i < 0 || !list) return false;
    list.splice(i, 1);
    if (list.length === 0) this.links.delete(id);
    return true;
  }
}

export function samePid(a: Pid, b: Pid): boolean {
  return a.id === b.id && a.serial === b.serial && a.creation === b.creation && a.node === b.node;
}
