/**
 * Fast deep equality for property tests over thousands of terms: node's isDeepStrictEqual first,
 * and vitest's matchers (with their readable diff) only when that finds a difference.
 * `expect(buffer).toEqual(other)` walks every byte through the matcher machinery; comparing hex
 * strings is a hundred times faster and still shows where the bytes differ.
 */
import { isDeepStrictEqual } from 'node:util';
import { expect } from 'vitest';

export function expectSame(actual: unknown, expected: unknown): void {
  if (isDeepStrictEqual(actual, expected)) return;
  expect(actual).toStrictEqual(expected);
  expect.fail('isDeepStrictEqual found a difference that toStrictEqual did not show');
}

export function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(Buffer.from(actual).toString('hex')).toBe(Buffer.from(expected).toString('hex'));
}
