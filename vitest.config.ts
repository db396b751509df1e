import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Finds (or starts) a Redis and provides its URL to tests as inject('redisUrl').
    globalSetup: ['test/global-setup.ts'],
    // Real TLS listeners, real Redis, key generation and child processes, on a 2-core CI box that may be
    // busy: bounds for a hang, never a measure of speed.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 15_000,
    // Each test file in its own child process; files run in parallel (each test uses its own key prefix).
    pool: 'forks',
    fileParallelism: true,
    // Vitest's default is one worker per core less one: a single one on a 2-core machine. Most files
    // wait on child processes, sockets, Redis and fsync rather than on their own CPU, so three run
    // side by side even on two cores.
    maxWorkers: Math.max(3, availableParallelism()),
  },
});
