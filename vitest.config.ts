import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Finds (or starts) a Redis and provides its URL to tests as inject('redisUrl').
    globalSetup: ['test/global-setup.ts'],
    // Real TLS listeners, real Redis and key generation: the 5 s default is too tight on a 2-core CI box.
    testTimeout: 20_000,
    hookTimeout: 30_000,
    teardownTimeout: 15_000,
    // Each test file in its own child process; files run in parallel (each test uses its own key prefix).
    pool: 'forks',
    fileParallelism: true,
  },
});
