import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Timing checks need a quiet machine, not one running the suite in parallel: `npm run test:timing`.
    exclude: ['**/node_modules/**', '**/*.timing.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Each test file gets its own database (a PGlite loaded from a migrated snapshot, or a
    // PostgreSQL database cloned from a migrated template), so files never see each other's rows.
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 60_000,
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: ['src/**/*.test.ts', 'src/cli.ts', 'src/server.ts', 'src/cluster.ts'],
      thresholds: { lines: 90 },
      reporter: ['text-summary', 'text'],
    },
  },
});
