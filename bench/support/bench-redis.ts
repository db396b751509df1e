// The benches' Redis: whether it answers (the queued paths are measured only when it does), and
// dropping a run's queue keys afterwards.
import { Redis } from 'ioredis';

export async function redisReachable(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** Deletes the keys under a queue prefix (HETAO_QUEUE_PREFIX) a bench run used. */
export async function dropQueueKeys(url: string, prefix: string): Promise<void> {
  const client = new Redis(url);
  try {
    const keys = await client.keys(`${prefix}:*`);
    if (keys.length > 0) await client.del(...keys);
  } finally {
    client.disconnect();
  }
}
