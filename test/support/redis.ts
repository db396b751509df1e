// Redis for tests: the URL comes from test/global-setup.ts (a Redis found running, or one it started).
// Tests share that Redis and run in parallel, so every test keeps its keys under its own prefix.
import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { inject } from 'vitest';

/**
 * A key prefix no other test uses, `test:<run>:<uuid>`; use it as `${prefix}:key` or as a BullMQ
 * `prefix`. Whatever is left under the run's part is deleted when the run ends (test/global-setup.ts).
 */
export function uniquePrefix(): string {
  return `${inject('redisKeyPrefix')}:${randomUUID()}`;
}

export interface TestRedis {
  /** e.g. redis://127.0.0.1:6379 */
  readonly url: string;
  uniquePrefix(): string;
  /** A new ioredis client on the test Redis; the caller quits it. */
  connect(options?: RedisOptions): Redis;
  /** Deletes every key that starts with `prefix` (SCAN + UNLINK), e.g. in afterEach. */
  deleteKeys(client: Redis, prefix: string): Promise<number>;
}

export function useRedis(): TestRedis {
  const url = inject('redisUrl');
  return {
    url,
    uniquePrefix,
    connect: (options: RedisOptions = {}) => new Redis(url, options),
    async deleteKeys(client: Redis, prefix: string): Promise<number> {
      let deleted = 0;
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length > 0) deleted += await client.unlink(...keys);
      } while (cursor !== '0');
      return deleted;
    },
  };
}
