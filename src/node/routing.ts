/**
 * Where messages from our processes go: to a local pid or name through the registry, to another
 * node through its peer; and the node's caller process, which receives the replies to calls
 * (`{Ref, Reply}`, gen:reply/2) and the io requests of processes we spawned elsewhere.
 */
import { Op } from '../distribution/control.js';
import { type Atom, atom, Pid, Reference, type Term, Tuple } from '../term/index.js';
import type { Dialer } from './dialer.js';
import type { Registry } from './registry.js';
import type { From } from './server.js';

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
  sendFrom(from: Pid, to: Pid | string, message: Term, peerName?: string): boolean {
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
  sendQuietly(to: Pid, message: Term): void {
    try {
      this.sendFrom(this.callerPid, to, message);
    } catch {
      // the receiver's node is gone
    }
  }

  /** Answers a `$gen_call`: `{Tag, Reply}` to the caller. */
  reply(from: From, reply: Term): void {
    this.sendQuietly(from.pid, new Tuple([from.tag, reply]));
  }

  private deliverToCaller(message: Term, via: string | undefined): void {
    if (
      message instanceof Tuple &&
      message.length === 2 &&
      message.elements[0] instanceof Reference &&
      via !== undefined
    ) {
      if (this.dialer.connected(via)?.settleReply(message.elements[0], message.elements[1])) return;
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
