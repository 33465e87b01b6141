import { expect } from 'vitest';
import { ErldistError } from '../../src/index.js';

/** The ErldistError a promise rejects with (fails the test if it resolves or rejects otherwise). */
export async function rejection(p: Promise<unknown>): Promise<ErldistError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ErldistError);
    return err as ErldistError;
  }
  throw new Error('expected a rejection');
}
