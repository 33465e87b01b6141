import type { Reference } from '../term/index.js';

/** A map key for one of our own references (the node and creation are always ours). */
export function refKey(ref: Reference): string {
  return ref.ids.join('.');
}
