import { defineConfig } from 'vitest/config';

/**
 * Security checks that compare response times (account enumeration by timing). They run alone, one
 * file at a time, after the suite: on a machine busy with other test files the noise is larger than
 * the 5 % they check. `npm run test:timing`; CI runs it after the suites.
 */
export default defineConfig({
  test: {
    include: ['src/**/*.timing.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    fileParallelism: false,
    // The enumeration check collects garbage before each sample, so no case pays for another's.
    execArgv: ['--expose-gc'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
