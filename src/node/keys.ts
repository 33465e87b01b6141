import type { Reference } from '../term/index.js';

/** A map key for one of our own references (the node and creation are always ours). */
export function refKey(ref: Reference): string {
  return ref.ids.join('.');
}

/**
 * A map key for something we wait for from one peer: a reply, a DOWN, a spawn reply. Keyed by the
 * peer too, so that another connected node cannot answer in its place.
 */
export function pendingKey(node: string, ref: Reference): string {
  return `${node} ${ref.ids.join('.')}`;
}
