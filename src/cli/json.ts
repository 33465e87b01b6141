/**
 * The CLI's `--json` mapping of terms: JSON's own types where they fit, and one-key `$` objects for
 * the rest, so that a machine can tell every Erlang type apart.
 *
 *   integer (safe)        42                   float            1.5 (an integral float: {"$float": 1})
 *   integer (beyond 2^53) {"$bigint": "…"}     true / false     true / false
 *   atom                  {"$atom": "ok"}      binary (UTF-8)   "text"
 *   binary (other)        {"$binary": "<base64>"}   bitstring   {"$bits": "<base64>", "size": <bits>}
 *   list                  [ … ]                improper list    {"$improper": [ … ], "tail": …}
 *   tuple                 {"$tuple": [ … ]}    map, atom keys   { "key": … } (no key starting with "$")
 *   other maps            {"$map": [[key, value], …]}
 *   pid, ref, port, fun   {"$pid": "…"}, {"$ref": "…"}, {"$port": "…"}, {"$fun": "…"} (printed form)
 */
import {
  Atom,
  BitBinary,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  inspect,
  Pid,
  Port,
  Reference,
  type Term,
  Tuple,
} from '../index.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function toJson(t: Term): Json {
  switch (typeof t) {
    case 'number':
      return t;
    case 'bigint':
      return { $bigint: t.toString() };
    case 'boolean':
      return t;
    case 'string':
      return t;
  }
  if (t instanceof Atom) return { $atom: t.name };
  if (Array.isArray(t)) return t.map(toJson);
  if (t instanceof Tuple) return { $tuple: t.elements.map(toJson) };
  if (t instanceof Uint8Array) return { $binary: Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString('base64') };
  if (t instanceof Map) return { $map: [...t.entries()].map(([k, v]) => [toJson(k), toJson(v)]) };
  if (t instanceof Float) return { $float: t.value };
  if (t instanceof ImproperList) return { $improper: t.elements.map(toJson), tail: toJson(t.tail) };
  if (t instanceof BitBinary) return { $bits: Buffer.from(t.bytes).toString('base64'), size: t.bitLength };
  if (t instanceof Pid) return { $pid: inspect(t) };
  if (t instanceof Reference) return { $ref: inspect(t) };
  if (t instanceof Port) return { $port: inspect(t) };
  if (t instanceof ExportFun || t instanceof Fun) return { $fun: inspect(t) };
  const entries = Object.entries(t as Record<string, Term>);
  if (entries.some(([k]) => k.startsWith('$'))) {
    return { $map: entries.map(([k, v]) => [{ $atom: k }, toJson(v)]) };
  }
  const out: { [key: string]: Json } = {};
  for (const [k, v] of entries) out[k] = toJson(v);
  return out;
}
