import type { Reference } from '../term/index.js';

/** A map key for one of our own references (the node and creation are always ours). */
export function refKey(ref: Reference): string {
  return ref.ids.join('.');
}

/**
 * A number for one of our own references: its counter (the first word's 18 bits and the second's
 * 32, exact in a double). The salt word is not in it, so a table keyed by it keeps each entry's
 * reference and compares it whole with `sameRef` (cheaper on hot paths than a string key).
 */
export function refNumber(ref: Reference): number {
  const ids = ref.ids;
  return (ids[0] ?? 0) + (ids[1] ?? 0) * 0x40000;
}

/** The same reference: node, creation and every id word. */
export function sameRef(a: Reference, b: Reference): boolean {
  if (a === b) return true;
  if (a.node !== b.node || a.creation !== b.creation) return false;
  const x = a.ids;
  const y = b.ids;
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
