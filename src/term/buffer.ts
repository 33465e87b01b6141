/**
 * Node's Buffer has fast, undocumented slice and write methods (used by Node itself for
 * `toString`/`write`), which skip the encoding-name dispatch. They exist on every Node we support;
 * typing them here keeps the casts in one place.
 */
export interface FastBuffer extends Buffer {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
  utf8Write(text: string, offset: number, length?: number): number;
}

export function fast(buf: Buffer): FastBuffer {
  return buf as FastBuffer;
}
