// The stage queue's contract, on a real Redis (a fresh key prefix per test) for BullMQ and in
// process for the inline queue: idempotent job ids, retries with backoff, permanent failures,
// depth, and job data that carries nothing but the transfer id.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBullmqStageQueue } from '../../gateway/queue/bullmq-stage-queue.js';
import { createInlineStageQueue, jobIdOf, PermanentStageError, StageDeferredError, type StageQueue } from '../../gateway/queue/stage-queue.js';
import { useRedis } from '../support/redis.js';

const redis = useRedis();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function bullmq(prefix: string, extra: { attempts?: number; backoffMs?: number } = {}): StageQueue {
  const queue = createBullmqStageQueue({ url: redis.url, prefix, attempts: extra.attempts ?? 3, backoffMs: extra.backoffMs ?? 20 });
  cleanups.push(async () => {
    await queue.close();
    const client = redis.connect();
    await redis.deleteKeys(client, prefix);
    await client.quit();
  });
  return queue;
}

describe.each([
  ['inline', () => createInlineStageQueue()],
  ['bullmq', () => bullmq(redis.uniquePrefix())],
] as const)('%s stage queue', (_name, make) => {
  it('runs a stage once when the same stage is enqueued twice at once', async () => {
    const queue = make();
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const completed = vi.fn();
    await queue.observe({ onCompleted: completed });
    queue.startWorkers({ inspect: async () => void (runs += 1, await gate), deliver: async () => undefined, forward: async () => undefined }, 2);
    await Promise.all([queue.enqueue('tr-000000001-aaaaaaaaaaaaaaaa', 'inspect'), queue.enqueue('tr-000000001-aaaaaaaaaaaaaaaa', 'inspect')]);
    await vi.waitFor(() => expect(runs).toBe(1), { timeout: 5000, interval: 10 });
    release();
    await vi.waitFor(() => expect(completed).toHaveBeenCalledTimes(1), { timeout: 5000, interval: 10 });
    expect(runs).toBe(1);
    if (_name === 'inline') await queue.close();
  });

  it('reports a permanent failure once, without retrying', async () => {
    const queue = make();
    const failed = vi.fn();
    let runs = 0;
    await queue.observe({ onFailed: failed });
    queue.startWorkers(
      {
        inspect: async () => undefined,
        deliver: async () => {
          runs += 1;
          throw new PermanentStageError('recipient revoked');
        },
        forward: async () => undefined,
      },
      2,
    );
    await queue.enqueue('tr-000000002-bbbbbbbbbbbbbbbb', 'deliver');
    await vi.waitFor(() => expect(failed).toHaveBeenCalledTimes(1), { timeout: 5000, interval: 10 });
    expect(failed.mock.calls[0]?.[0]).toBe('tr-000000002-bbbbbbbbbbbbbbbb');
    expect(runs).toBe(1);
    if (_name === 'inline') await queue.close();
  });
});

describe('bullmq stage queue', () => {
  it('retries a failing stage with exponential backoff until it succeeds', async () => {
    const queue = bullmq(redis.uniquePrefix(), { attempts: 4, backoffMs: 20 });
    const attempts: number[] = [];
    const completed = vi.fn();
    const attemptFailed = vi.fn();
    await queue.observe({ onCompleted: completed });
    queue.startWorkers(
      {
        inspect: async () => {
          attempts.push(performance.now());
          if (attempts.length < 3) throw new Error('recipient endpoint not reachable');
        },
        deliver: async () => undefined,
        forward: async () => undefined,
      },
      2,
      { onAttemptFailed: attemptFailed },
    );
    await queue.enqueue('tr-000000003-cccccccccccccccc', 'inspect');
    await vi.waitFor(() => expect(completed).toHaveBeenCalledTimes(1), { timeout: 10_000, interval: 20 });
    expect(attempts).toHaveLength(3);
    expect(attemptFailed.mock.calls).toEqual([
      ['inspect', 'recipient endpoint not reachable', true],
      ['inspect', 'recipient endpoint not reachable', true],
    ]);
    // Exponential: the second wait is about twice the first (20 ms, then 40 ms; BullMQ adds no jitter here).
    expect((attempts[2] as number) - (attempts[1] as number)).toBeGreaterThanOrEqual(35);
    expect(await queue.jobState('tr-000000003-cccccccccccccccc', 'inspect')).toBe('absent');
  });

  it('defers a stage whose recipient slots are full without using up an attempt', async () => {
    const queue = bullmq(redis.uniquePrefix(), { attempts: 1 });
    let runs = 0;
    const completed = vi.fn();
    await queue.observe({ onCompleted: completed });
    queue.startWorkers(
      {
        inspect: async () => {
          runs += 1;
          if (runs < 3) throw new StageDeferredError(20);
        },
        deliver: async () => undefined,
        forward: async () => undefined,
      },
      1,
    );
    await queue.enqueue('tr-000000005-eeeeeeeeeeeeeeee', 'inspect');
    await vi.waitFor(() => expect(completed).toHaveBeenCalledTimes(1), { timeout: 10_000, interval: 20 });
    expect(runs).toBe(3);
  });

  it('keeps a job that failed for good, so a reconciliation sees it failed and does not re-run it', async () => {
    const queue = bullmq(redis.uniquePrefix(), { attempts: 2, backoffMs: 10 });
    const failed = vi.fn();
    await queue.observe({ onFailed: failed });
    queue.startWorkers({ inspect: async () => Promise.reject(new Error('disk on fire')), deliver: async () => undefined, forward: async () => undefined }, 1);
    await queue.enqueue('tr-000000006-ffffffffffffffff', 'inspect');
    await vi.waitFor(() => expect(failed).toHaveBeenCalledTimes(1), { timeout: 10_000, interval: 20 });
    expect(failed.mock.calls[0]?.[2]).toBe('disk on fire');
    expect(await queue.jobState('tr-000000006-ffffffffffffffff', 'inspect')).toBe('failed');
  });

  it('keeps nothing but the transfer id in Redis, under the job id <transfer>--<stage>', async () => {
    const prefix = redis.uniquePrefix();
    const queue = bullmq(prefix);
    await queue.enqueue('tr-000000004-dddddddddddddddd', 'deliver');
    expect(await queue.depth()).toEqual({ inspect: 0, deliver: 1, forward: 0 });
    const client = redis.connect();
    try {
      const job = await client.hgetall(`${prefix}:hetao-deliver:${jobIdOf('tr-000000004-dddddddddddddddd', 'deliver')}`);
      expect(JSON.parse(job.data ?? '{}')).toEqual({ transferId: 'tr-000000004-dddddddddddddddd' });
    } finally {
      await client.quit();
    }
  });
});
