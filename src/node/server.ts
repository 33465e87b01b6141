/**
 * gen_server on the TS side: `node.serve(name, handlers)` answers `gen_server:call/cast` and
 * `GenServer.call/cast` from Erlang and Elixir (the `$gen_call` / `$gen_cast` protocol of gen.erl).
 */
import { atom, ImproperList, Pid, Reference, type Term, Tuple } from '../term/index.js';
import type { Mailbox } from './mailbox.js';

const GEN_CALL = atom('$gen_call');
const GEN_CAST = atom('$gen_cast');
const ALIAS = atom('alias');

/** Who made a call: the caller's pid and its opaque tag (a reference, or `[alias | Ref]`). */
export class From {
  constructor(
    readonly pid: Pid,
    readonly tag: Term,
  ) {}

  /** The monitor reference gen:call put in its tag, if any (the call fails through it). */
  get monitorRef(): Reference | undefined {
    if (this.tag instanceof Reference) return this.tag;
    const alias = aliasIn(this.tag);
    if (alias !== undefined) return alias;
    if (Array.isArray(this.tag) && this.tag[0] === ALIAS && this.tag[1] instanceof Reference) return this.tag[1];
    return undefined;
  }

  /**
   * The caller's alias, from a tag `[alias | Alias]` or `[[alias | Alias] | _]` (gen.erl): gen:reply
   * sends `{Tag, Reply}` to it rather than to the pid, so a caller that gave up never sees it.
   */
  get alias(): Reference | undefined {
    const tag = this.tag;
    const inner = tag instanceof ImproperList || Array.isArray(tag) ? headOf(tag) : undefined;
    return aliasIn(tag) ?? (inner === undefined ? undefined : aliasIn(inner));
  }
}

function headOf(list: ImproperList | Term[]): Term | undefined {
  return list instanceof ImproperList ? list.elements[0] : list[0];
}

/** The reference of a gen:call tag `[alias | Ref]` (an alias), if `t` is one. */
export function aliasIn(t: Term): Reference | undefined {
  if (t instanceof ImproperList && t.elements.length === 1 && t.elements[0] === ALIAS && t.tail instanceof Reference)
    return t.tail;
  return undefined;
}

export interface ServerHandlers {
  /** Returns (or resolves to) the reply. A throw exits the caller's call with the error's message. */
  handleCall?(request: Term, from: From): Term | Promise<Term>;
  handleCast?(request: Term): void | Promise<void>;
  /** Any other message. */
  handleInfo?(message: Term): void | Promise<void>;
}

/** A decoded `{'$gen_call', {Pid, Tag}, Request}`, or undefined. */
export function parseGenCall(m: Term): { from: From; request: Term } | undefined {
  if (!(m instanceof Tuple) || m.length !== 3 || m.elements[0] !== GEN_CALL) return undefined;
  const from = m.elements[1];
  if (!(from instanceof Tuple) || from.length !== 2 || !(from.elements[0] instanceof Pid)) return undefined;
  return { from: new From(from.elements[0], from.elements[1]), request: m.elements[2] };
}

export function parseGenCast(m: Term): Term | undefined {
  if (m instanceof Tuple && m.length === 2 && m.elements[0] === GEN_CAST) return m.elements[1];
  return undefined;
}

/** The reason a caller sees when a TS handler throws: `{erldist_handler_error, <<"message">>}`. */
export function handlerErrorReason(err: unknown): Term {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new Tuple([atom('erldist_handler_error'), text]);
}

export interface ServerHost {
  /** Sends `{Tag, Reply}` to the caller: to its alias when its tag has one (gen:reply/2). */
  reply(from: From, reply: Term): void;
  /** Ends one call with `reason`, as if the server had died for that caller only. */
  failCall(server: Mailbox, from: From, reason: Term): void;
}

/** Runs a gen_server loop on `box` until it closes. Calls are handled one at a time, in order. */
export async function runServer(box: Mailbox, handlers: ServerHandlers, host: ServerHost): Promise<void> {
  for await (const message of box) {
    const call = parseGenCall(message);
    if (call) {
      try {
        const reply = handlers.handleCall ? await handlers.handleCall(call.request, call.from) : atom('ok');
        host.reply(call.from, reply);
      } catch (err) {
        host.failCall(box, call.from, handlerErrorReason(err));
      }
      continue;
    }
    const cast = parseGenCast(message);
    try {
      if (cast !== undefined) await handlers.handleCast?.(cast);
      else await handlers.handleInfo?.(message);
    } catch {
      // A cast or info handler that throws has no caller to tell; the server keeps serving.
    }
  }
}
