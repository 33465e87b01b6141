/**
 * Where messages from our processes go: to a local pid, name or alias through the registry, to
 * another node through its peer; and the node's caller process, which receives the replies to
 * calls (`{Ref, Reply}` or `{[alias | Ref], Reply}`, gen:reply/2) and the io requests of processes
 * we spawned elsewhere.
 */
import { Op } from '../distribution/control.js';
import { DFLAG } from '../distribution/flags.js';
import { type Atom, atom, Pid, Reference, type Term, Tuple } from '../term/index.js';
import type { Dialer } from './dialer.js';
import type { Registry } from './registry.js';
import { aliasIn, type From } from './server.js';

const IO_REQUEST = atom('io_request');
const IO_REPLY = atom('io_reply');
const OK = atom('ok');

export class Router<N> {
  constructor(
    private readonly name: string,
    private readonly nodeAtom: Atom,
    readonly callerPid: Pid,
    private readonly registry: Registry,
    private readonly dialer: Dialer<N>,
  ) {
    registry.add(callerPid, { deliver: (m, via) => this.deliverToCaller(m, via) });
  }

  /**
   * Sends from one of our pids. A node that is not connected is dialled on demand and gets the
   * message once it is up (as Erlang's auto-connect); what cannot be delivered is counted.
   */
  sendFrom(from: Pid, to: Pid | string | Reference, message: Term, peerName?: string): boolean {
    if (to instanceof Reference) return this.sendAlias(from, to, message);
    if (to instanceof Pid) {
      if (to.node === this.nodeAtom) {
        this.registry.deliver(to, message);
        return true;
      }
      return this.dialer.handle(to.node.name).sendMessage({ op: Op.SEND, to }, message);
    }
    const target = peerName ?? this.dialer.onlyPeerName(to);
    if (target === this.name) {
      this.registry.deliverNamed(to, message);
      return true;
    }
    return this.dialer.handle(target).sendMessage({ op: Op.REG_SEND, from, toName: atom(to) }, message);
  }

  /** From the caller pid; a message to a node that is gone is dropped (nobody waits for it). */
  sendQuietly(to: Pid | Reference, message: Term): void {
    try {
      this.sendFrom(this.callerPid, to, message);
    } catch {
      // the receiver's node is gone
    }
  }

  /**
   * Answers a `$gen_call`: `{Tag, Reply}` to the caller's alias when its tag has one and its node
   * takes aliases (gen:reply/2; a caller that timed out has deactivated it, so its node drops the
   * reply), else to the caller's pid.
   */
  reply(from: From, reply: Term): void {
    const message = new Tuple([from.tag, reply]);
    const alias = from.alias;
    if (alias !== undefined && this.takesAliases(alias.node)) this.sendQuietly(alias, message);
    else this.sendQuietly(from.pid, message);
  }

  /**
   * `Alias ! Msg`: ours goes through the registry; another node's as ALIAS_SEND, dropped (as
   * erts drops it) when the last handshake with that node did not agree DFLAG_ALIAS.
   */
  private sendAlias(from: Pid, alias: Reference, message: Term): boolean {
    if (alias.node === this.nodeAtom) {
      this.registry.deliverAlias(alias, message);
      return true;
    }
    const peer = this.dialer.handle(alias.node.name);
    if (peer.flags !== 0n && !(peer.flags & DFLAG.ALIAS)) {
      this.registry.stats.dropped++;
      return true;
    }
    return peer.sendMessage({ op: Op.ALIAS_SEND, from, alias }, message);
  }

  private takesAliases(node: Atom): boolean {
    if (node === this.nodeAtom) return true;
    return ((this.dialer.peer(node.name)?.flags ?? 0n) & DFLAG.ALIAS) !== 0n;
  }

  private deliverToCaller(message: Term, via: string | undefined): void {
    const ref = message instanceof Tuple && message.length === 2 ? callRef(message.elements[0]) : undefined;
    if (ref !== undefined && via !== undefined) {
      if (this.dialer.connected(via)?.settleReply(ref, (message as Tuple).elements[1])) return;
    }
    // A process we spawned elsewhere writes to its group leader (us): take the output, say ok.
    if (
      message instanceof Tuple &&
      message.length === 4 &&
      message.elements[0] === IO_REQUEST &&
      message.elements[1] instanceof Pid
    ) {
      this.sendQuietly(message.elements[1], new Tuple([IO_REPLY, message.elements[2], OK]));
      return;
    }
    this.registry.stats.dropped++;
  }
}

/** The call reference in a reply's tag: `Ref`, or `[alias | Ref]` (a reply sent to the pid). */
function callRef(tag: Term): Reference | undefined {
  return tag instanceof Reference ? tag : aliasIn(tag);
}
