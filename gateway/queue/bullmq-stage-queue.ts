// The stage queue on Redis with BullMQ, for transfers too large or heavy to finish inline. Redis
// holds no truth: jobs carry ids only and the transfer records on disk say what is pending, so a
// flushed Redis is refilled from the records. Producers fail fast when Redis is down (no offline
// queue), workers wait for it (maxRetriesPerRequest: null), as BullMQ's production guide advises.
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { STAGES, jobIdOf, PermanentStageError, type Stage, type StageHandler, type StageQueue, type StageQueueEvents } from './stage-queue.js';

export interface BullmqStageQueueOptions {
  readonly url: string;
  /** Key prefix (one per deployment; tests use one per test). */
  readonly prefix?: string;
  readonly attempts?: number;
  /** First retry delay; doubles each attempt. */
  readonly backoffMs?: number;
  readonly concurrency?: number;
}

interface JobData {
  readonly transferId: string;
}

const QUEUE_NAME: Readonly<Record<Stage, string>> = { inspect: 'hetao-inspect', deliver: 'hetao-deliver' };

export function createBullmqStageQueue(options: BullmqStageQueueOptions): StageQueue {
  const prefix = options.prefix ?? 'hetao';
  const producer = new Redis(options.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
  // An idle producer connection that errors must not crash the process; callers see the failure.
  producer.on('error', () => undefined);
  const queues = Object.fromEntries(STAGES.map((stage) => [stage, new Queue<JobData>(QUEUE_NAME[stage], { connection: producer, prefix })])) as Record<Stage, Queue<JobData>>;
  const workers: Worker<JobData>[] = [];
  const workerConnections: Redis[] = [];

  return {
    async enqueue(transferId, stage) {
      await queues[stage].add(stage, { transferId }, {
        jobId: jobIdOf(transferId, stage),
        attempts: options.attempts ?? 5,
        backoff: { type: 'exponential', delay: options.backoffMs ?? 1000 },
        removeOnComplete: true,
        removeOnFail: 1000,
      });
    },
    start(handlers: Readonly<Record<Stage, StageHandler>>, events: StageQueueEvents = {}) {
      for (const stage of STAGES) {
        const connection = new Redis(options.url, { maxRetriesPerRequest: null });
        connection.on('error', () => undefined);
        workerConnections.push(connection);
        const worker = new Worker<JobData>(
          QUEUE_NAME[stage],
          async (job: Job<JobData>) => {
            const started = performance.now();
            try {
              await handlers[stage](job.data.transferId);
            } catch (error) {
              // BullMQ stops retrying on UnrecoverableError; our core throws its own type.
              if (error instanceof PermanentStageError) throw new UnrecoverableError(error.message);
              throw error;
            }
            events.onCompleted?.(job.data.transferId, stage, performance.now() - started);
          },
          { connection, prefix, concurrency: options.concurrency ?? 2 },
        );
        worker.on('failed', (job, error) => {
          if (!job) return;
          const exhausted = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
          if (exhausted) void events.onFailed?.(job.data.transferId, stage, error, job.attemptsMade);
        });
        worker.on('error', () => undefined);
        workers.push(worker);
      }
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
    async close() {
      await Promise.all(workers.map((worker) => worker.close()));
      await Promise.all(STAGES.map((stage) => queues[stage].close()));
      await Promise.all([producer, ...workerConnections].map((connection) => connection.quit().catch(() => connection.disconnect())));
    },
  };
}
