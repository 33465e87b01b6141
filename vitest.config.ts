import { defineConfig } from 'vitest/config';

/**
 * Two projects. `unit` needs Node alone (no erl, elixir or epmd on PATH) and keeps every test
 * under 5 s. `interop` starts real BEAM nodes (on every runtime in ERLDIST_TEST_RUNTIMES), so its
 * tests and hooks get generous timeouts. A file belongs to `interop` when it starts a runtime.
 */
const INTEROP = ['test/interop/**/*.test.ts', 'test/cli/cli.test.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: INTEROP,
          testTimeout: 5_000,
          hookTimeout: 10_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'interop',
          include: INTEROP,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
