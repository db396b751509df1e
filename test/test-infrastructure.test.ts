// The test infrastructure itself: the global setup provided a Redis that really answers.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { useRedis } from './support/redis.js';

describe('test infrastructure: Redis', () => {
  const redis = useRedis();
  let client: Redis;

  beforeAll(async () => {
    client = redis.connect({ lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
  });

  afterAll(async () => {
    await client.quit();
  });

  it('provides a redis:// URL', () => {
    expect(redis.url).toMatch(/^rediss?:\/\//);
  });

  it('sets, reads and deletes a key under a unique prefix', async () => {
    const prefix = redis.uniquePrefix();
    // Under this run's prefix, which the global teardown empties when the run ends.
    expect(prefix).toMatch(/^test:[0-9a-f-]{36}:[0-9a-f-]{36}$/);
    expect(prefix.startsWith(`${inject('redisKeyPrefix')}:`)).toBe(true);
    expect(redis.uniquePrefix()).not.toBe(prefix);

    const key = `${prefix}:greeting`;
    expect(await client.set(key, 'hello', 'EX', 60)).toBe('OK');
    expect(await client.get(key)).toBe('hello');

    expect(await redis.deleteKeys(client, prefix)).toBe(1);
    expect(await client.get(key)).toBeNull();
    expect(await client.exists(key)).toBe(0);
  });
});
