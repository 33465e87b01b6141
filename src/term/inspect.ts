/**
 * Prints terms in Erlang or Elixir syntax, for logs, errors and the CLI. Pids, references, ports and
 * local funs have no literal syntax; they print in the `#Pid<node.id.serial>` style with the node
 * name spelled out, since a remote node's local index means nothing here.
 */
import {
  Atom,
  BitBinary,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  Pid,
  Port,
  Reference,
  type Term,
  Tuple,
} from './types.js';

export interface InspectOptions {
  syntax?: 'erlang' | 'elixir';
  /** Print at most this many bytes of a binary and elements of a list, then `...` (default: all). */
  limit?: number;
}

const ERLANG_RESERVED = new Set(
  'after and andalso band begin bnot bor bsl bsr bxor case catch cond div else end fun if let maybe not of or orelse receive rem try when xor'.split(
    ' ',
  ),
);

export function inspect(term: Term, options: InspectOptions = {}): string {
  const printer = options.syntax === 'elixir' ? new ElixirPrinter(options) : new ErlangPrinter(options);
  return printer.print(term);
}

abstract class Printer {
  protected readonly limit: number;
  constructor(options: InspectOptions) {
    this.limit = options.limit ?? Infinity;
  }

  print(t: unknown): string {
    switch (typeof t) {
      case 'number':
        return Number.isInteger(t) && Number.isSafeInteger(t) ? String(t) : formatFloat(t);
      case 'bigint':
        return t.toString();
      case 'boolean':
        return String(t);
      case 'string':
        return this.text(t);
      case 'object':
        break;
      default:
        return `<${typeof t}>`;
    }
    if (t === null) return '<null>';
    if (t instanceof Atom) return this.atom(t.name);
    if (Array.isArray(t)) return this.list(t, undefined);
    if (t instanceof Tuple) return `{${this.seq(t.elements)}}`;
    if (t instanceof Uint8Array) return this.bytes(t, 8);
    if (t instanceof Map) return this.map([...t.entries()]);
    if (t instanceof Float) return formatFloat(t.value);
    if (t instanceof ImproperList) return this.list(t.elements, t.tail);
    if (t instanceof BitBinary) return this.bytes(t.bytes, t.bits);
    if (t instanceof Pid) return `${this.hash('Pid')}<${t.node.name}.${t.id}.${t.serial}>`;
    if (t instanceof Reference) return `${this.hash('Ref')}<${t.node.name}.${[...t.ids].reverse().join('.')}>`;
    if (t instanceof Port) return `${this.hash('Port')}<${t.node.name}.${t.id}>`;
    if (t instanceof ExportFun) return this.exportFun(t);
    if (t instanceof Fun) return `${this.hash('Fun')}<${t.module.name}.${t.index}.${t.uniq}>`;
    const entries = Object.entries(t as Record<string, unknown>);
    return this.object(entries);
  }

  protected seq(items: readonly unknown[]): string {
    const shown = items.length > this.limit ? items.slice(0, this.limit) : items;
    const parts = shown.map((x) => this.print(x));
    if (shown.length < items.length) parts.push('...');
    return parts.join(this.separator);
  }

  protected list(items: readonly unknown[], tail: unknown): string {
    if (tail === undefined && items.length > 0 && isPrintableCharlist(items)) {
      return this.charlist(String.fromCharCode(...(items as number[])));
    }
    const body = this.seq(items);
    if (tail === undefined) return `[${body}]`;
    return `[${body} | ${this.print(tail)}]`;
  }

  protected bytes(b: Uint8Array, lastBits: number): string {
    const n = b.length;
    const shown = Math.min(n, this.limit);
    const parts: string[] = [];
    for (let i = 0; i < shown; i++) {
      if (i === n - 1 && lastBits !== 8) parts.push(this.segment(b[i] >> (8 - lastBits), lastBits));
      else parts.push(String(b[i]));
    }
    if (shown < n) parts.push('...');
    return `<<${parts.join(this.separator)}>>`;
  }

  /** A last segment of `bits` bits: `5:3` in Erlang, `5::size(3)` in Elixir. */
  protected abstract segment(value: number, bits: number): string;
  protected abstract readonly separator: string;
  protected abstract atom(name: string): string;
  protected abstract text(s: string): string;
  protected abstract charlist(s: string): string;
  protected abstract map(entries: [unknown, unknown][]): string;
  protected abstract object(entries: [string, unknown][]): string;
  protected abstract hash(kind: string): string;
  protected abstract exportFun(f: ExportFun): string;
}

class ErlangPrinter extends Printer {
  protected readonly separator = ',';

  protected segment(value: number, bits: number): string {
    return `${value}:${bits}`;
  }

  protected atom(name: string): string {
    if (/^[a-z][A-Za-z0-9_@]*$/.test(name) && !ERLANG_RESERVED.has(name)) return name;
    return `'${escapeText(name, "'")}'`;
  }

  protected text(s: string): string {
    if (s.length > this.limit) return this.text(s.slice(0, this.limit)).replace(/>>$/, '...>>');
    const quoted = `"${escapeText(s, '"')}"`;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is all of ASCII, NUL included
    return /[^\x00-\x7f]/.test(s) ? `<<${quoted}/utf8>>` : `<<${quoted}>>`;
  }

  protected charlist(s: string): string {
    return `"${escapeText(s, '"')}"`;
  }

  protected map(entries: [unknown, unknown][]): string {
    return `#{${entries.map(([k, v]) => `${this.print(k)} => ${this.print(v)}`).join(',')}}`;
  }

  protected object(entries: [string, unknown][]): string {
    return `#{${entries.map(([k, v]) => `${this.atom(k)} => ${this.print(v)}`).join(',')}}`;
  }

  protected hash(kind: string): string {
    return `#${kind}`;
  }

  protected exportFun(f: ExportFun): string {
    return `fun ${this.atom(f.module.name)}:${this.atom(f.name.name)}/${f.arity}`;
  }
}

class ElixirPrinter extends Printer {
  protected readonly separator = ', ';

  protected segment(value: number, bits: number): string {
    return `${value}::size(${bits})`;
  }

  protected atom(name: string): string {
    if (name === 'nil' || name === 'true' || name === 'false') return name;
    const alias = elixirAlias(name);
    if (alias !== undefined) return alias;
    if (/^[A-Za-z_][A-Za-z0-9_@]*[?!]?$/.test(name)) return `:${name}`;
    return `:"${elixirEscape(name)}"`;
  }

  protected text(s: string): string {
    if (s.length > this.limit) return `${this.text(s.slice(0, this.limit))} <> ...`;
    return `"${elixirEscape(s)}"`;
  }

  protected charlist(s: string): string {
    return `~c"${elixirEscape(s)}"`;
  }

  protected map(entries: [unknown, unknown][]): string {
    const parts = entries.map(([k, v]) => `${this.print(k)} => ${this.print(v)}`);
    return `%{${parts.join(', ')}}`;
  }

  protected object(entries: [string, unknown][]): string {
    const struct = entries.find(([k]) => k === '__struct__')?.[1];
    const fields = entries.filter(([k]) => struct === undefined || k !== '__struct__');
    const parts = fields.map(([k, v]) => `${this.key(k)} ${this.print(v)}`);
    if (struct instanceof Atom && elixirAlias(struct.name) !== undefined) {
      return `%${elixirAlias(struct.name)}{${parts.join(', ')}}`;
    }
    if (struct !== undefined)
      return `%{${this.key('__struct__')} ${this.print(struct)}${parts.length ? ', ' : ''}${parts.join(', ')}}`;
    return `%{${parts.join(', ')}}`;
  }

  private key(name: string): string {
    if (/^[A-Za-z_][A-Za-z0-9_@]*[?!]?$/.test(name)) return `${name}:`;
    return `"${elixirEscape(name)}":`;
  }

  protected hash(kind: string): string {
    return kind === 'Pid' ? '#PID' : kind === 'Fun' ? '#Function' : `#${kind}`;
  }

  protected exportFun(f: ExportFun): string {
    return `&${this.atom(f.module.name)}.${this.funName(f.name.name)}/${f.arity}`;
  }

  private funName(name: string): string {
    return /^[a-z_][A-Za-z0-9_]*[?!]?$/.test(name) ? name : `"${elixirEscape(name)}"`;
  }
}

function elixirAlias(name: string): string | undefined {
  if (!name.startsWith('Elixir.')) return undefined;
  const rest = name.slice(7);
  return /^[A-Z][A-Za-z0-9_]*(\.[A-Z][A-Za-z0-9_]*)*$/.test(rest) ? rest : undefined;
}

function isPrintableCharlist(items: readonly unknown[]): boolean {
  for (const c of items) {
    if (typeof c !== 'number' || !((c >= 32 && c <= 126) || c === 9 || c === 10 || c === 13)) return false;
  }
  return true;
}

/** Elixir string escapes: `\u{H}` for control characters, and `#{` kept from interpolating. */
function elixirEscape(s: string): string {
  return escapeText(s, '"', (c) => `\\u{${c.toString(16).toUpperCase()}}`).replace(/#\{/g, '\\#{');
}

function escapeText(s: string, quote: string, control = (c: number) => `\\x{${c.toString(16).toUpperCase()}}`): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c < 32 || c === 127) out += control(c);
    else out += ch;
  }
  return out;
}

/** Erlang's shortest round-trip float text: `1.0`, `1.5e300`, `-0.0`. */
export function formatFloat(v: number): string {
  if (Object.is(v, -0)) return '-0.0';
  let s = String(v);
  if (!Number.isFinite(v)) return s;
  s = s.replace('e+', 'e');
  const e = s.indexOf('e');
  const mantissa = e < 0 ? s : s.slice(0, e);
  const exponent = e < 0 ? '' : s.slice(e);
  return (mantissa.includes('.') ? mantissa : `${mantissa}.0`) + exponent;
}
