// The stage queue on Redis with BullMQ, for transfers too large or heavy to finish inline. Redis
// holds no truth: jobs carry ids only and the transfer records on disk say what is pending, so a
// flushed Redis is refilled from the records. Producers fail fast when Redis is down (no offline
// queue), workers and event listeners wait for it (maxRetriesPerRequest: null), as BullMQ's
// production guide advises.
import { DelayedError, Queue, QueueEvents, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { whenAborted } from '../clock/when-aborted.js';
import {
  STAGES,
  jobIdOf,
  PermanentStageError,
  StageDeferredError,
  type JobState,
  type Stage,
  type StageHandler,
  type StageQueue,
  type StageQueueEvents,
  type StageWorkerEvents,
} from './stage-queue.js';

export interface BullmqStageQueueOptions {
  readonly url: string;
  /** Key prefix (one per deployment; tests use one per test). */
  readonly prefix?: string;
  readonly attempts?: number;
  /** First retry delay; doubles each attempt. */
  readonly backoffMs?: number;
  /** A job whose worker stops renewing its lock for this long is stalled and handed to another worker. */
  readonly lockMs?: number;
}

interface JobData {
  readonly transferId: string;
}

const QUEUE_NAME: Readonly<Record<Stage, string>> = { inspect: 'hetao-inspect', deliver: 'hetao-deliver', forward: 'hetao-forward' };

const transferOf = (jobId: string): string => jobId.slice(0, jobId.lastIndexOf('--'));

export function createBullmqStageQueue(options: BullmqStageQueueOptions): StageQueue {
  const prefix = options.prefix ?? 'hetao';
  const lockDuration = options.lockMs ?? 30_000;
  const producer = new Redis(options.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: (times) => Math.min(times * 200, 2000) });
  // An idle producer connection that errors must not crash the process; callers see the failure.
  producer.on('error', () => undefined);
  const availableListeners: (() => void)[] = [];
  let wasReady = false;
  producer.on('ready', () => {
    // Only a *re*-connection is news: the first one is the start, which the caller handles itself.
    if (wasReady) for (const listener of availableListeners) listener();
    wasReady = true;
  });
  const queues = Object.fromEntries(STAGES.map((stage) => [stage, new Queue<JobData>(QUEUE_NAME[stage], { connection: producer, prefix })])) as Record<Stage, Queue<JobData>>;
  for (const queue of Object.values(queues)) queue.on('error', () => undefined);
  const closers: (() => Promise<unknown>)[] = [];
  /** Every Redis client, to drop them all when a close must give up. */
  const connections: Redis[] = [producer];
  /** Every worker: a close that gives up stops them all first (see close). */
  const workers: Worker<JobData>[] = [];
  /** A connection of its own for each blocking client (workers, event listeners). */
  const blockingConnection = (): Redis => {
    const connection = new Redis(options.url, { maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(times * 200, 2000) });
    connection.on('error', () => undefined);
    connections.push(connection);
    closers.push(() => connection.quit().catch(() => connection.disconnect()));
    return connection;
  };

  return {
    async enqueue(transferId, stage) {
      await queues[stage].add(
        stage,
        { transferId },
        {
          jobId: jobIdOf(transferId, stage),
          attempts: options.attempts ?? 5,
          backoff: { type: 'exponential', delay: options.backoffMs ?? 1000 },
          removeOnComplete: true,
          // Kept, so that the gateway can still learn of a failure it missed (and not re-enqueue it).
          removeOnFail: 10_000,
        },
      );
    },
    async jobState(transferId, stage): Promise<JobState> {
      const state = await queues[stage].getJobState(jobIdOf(transferId, stage));
      return state === 'failed' ? 'failed' : state === 'unknown' || state === 'completed' ? 'absent' : 'pending';
    },
    startWorkers(handlers: Readonly<Record<Stage, StageHandler>>, concurrency, events: StageWorkerEvents = {}) {
      for (const stage of STAGES) {
        const worker = new Worker<JobData>(
          QUEUE_NAME[stage],
          async (job: Job<JobData>, token?: string) => {
            const started = performance.now();
            try {
              await handlers[stage](job.data.transferId);
              events.onAttemptDone?.(stage, performance.now() - started);
            } catch (error) {
              if (error instanceof StageDeferredError) {
                // Back to the delayed set without using up an attempt, freeing this worker slot.
                await job.moveToDelayed(Date.now() + error.delayMs, token);
                throw new DelayedError();
              }
              // BullMQ stops retrying on UnrecoverableError; our core throws its own type.
              if (error instanceof PermanentStageError) throw new UnrecoverableError(error.message);
              throw error;
            }
          },
          { connection: blockingConnection(), prefix, concurrency, lockDuration, stalledInterval: lockDuration },
        );
        worker.on('failed', (job, error) => {
          if (!job || error instanceof DelayedError) return;
          const willRetry = !(error instanceof UnrecoverableError) && job.attemptsMade < (job.opts.attempts ?? 1);
          events.onAttemptFailed?.(stage, error.message, willRetry);
        });
        worker.on('error', () => undefined);
        workers.push(worker);
        closers.unshift(() => worker.close());
      }
    },
    async observe(events: StageQueueEvents) {
      const listening: Promise<unknown>[] = [];
      for (const stage of STAGES) {
        const listener = new QueueEvents(QUEUE_NAME[stage], { connection: blockingConnection(), prefix });
        listener.on('error', () => undefined);
        const report = (work: () => void | Promise<void>): void => {
          void (async () => work())().catch(() => undefined);
        };
        listener.on('active', ({ jobId }) => report(() => events.onActive?.(transferOf(jobId), stage)));
        listener.on('completed', ({ jobId }) => report(() => events.onCompleted?.(transferOf(jobId), stage)));
        // Emitted only when a job fails for good (a retry is a 'delayed' or 'waiting' event).
        listener.on('failed', ({ jobId, failedReason }) => report(() => events.onFailed?.(transferOf(jobId), stage, failedReason)));
        closers.unshift(() => listener.close());
        listening.push(listener.waitUntilReady());
      }
      await Promise.all(listening);
    },
    isAvailable: () => producer.status === 'ready',
    onAvailable(listener) {
      availableListeners.push(listener);
    },
    async depth() {
      const entries = await Promise.all(
        STAGES.map(async (stage) => {
          const counts = await queues[stage].getJobCounts('waiting', 'active', 'delayed', 'prioritized');
          return [stage, Object.values(counts).reduce((sum, n) => sum + n, 0)] as const;
        }),
      );
      return Object.fromEntries(entries) as Record<Stage, number>;
    },
    async close(deadline) {
      // No reconnection news once closing (it would start a reconciliation on a closed queue).
      availableListeners.length = 0;
      const orderly = async (): Promise<void> => {
        // Worker.close waits for running jobs, and it and QueueEvents.close wait forever for a Redis
        // that does not answer: hence the deadline.
        for (const close of closers.splice(0)) await close().catch(() => undefined);
        await Promise.all(STAGES.map((stage) => queues[stage].close().catch(() => undefined)));
        await producer.quit().catch(() => producer.disconnect());
      };
      if (!deadline) return orderly();
      // Giving up: no reconnecting, no blocking command left; a running job keeps its lock until it
      // runs out, and then another worker takes it.
      const dropConnections = (): void => {
        // Every worker stops fetching first: the orderly close may still be waiting on the first
        // one's running job, and a worker never told to close spins on its dropped connection
        // (every fetch fails at once), starving the event loop.
        for (const worker of workers) void worker.close(true).catch(() => undefined);
        for (const connection of connections) connection.disconnect();
      };
      if (deadline.aborted) dropConnections();
      else deadline.addEventListener('abort', dropConnections, { once: true });
      try {
        await Promise.race([orderly(), whenAborted(deadline)]);
      } finally {
        deadline.removeEventListener('abort', dropConnections);
      }
    },
  };
}
