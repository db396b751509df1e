// The heavy stages of a transfer (full inspection, push delivery) run as jobs. A job carries only
// the transfer id and the stage — never a manifest or a key (BullMQ keeps job data in clear text) —
// and its id is `<transfer>--<stage>`, so a duplicate or a retry never runs a stage twice at once.
// Two sides: workers run handlers (in the gateway process or in `hetao worker` processes); the
// gateway observes what happens to jobs (active, completed, retried, failed for good) and records it.
// Two implementations: inline (no Redis; the default) and BullMQ (bullmq-stage-queue.ts).
import { whenAborted } from '../clock/when-aborted.js';

export type Stage = 'inspect' | 'deliver' | 'forward';
export const STAGES: readonly Stage[] = ['inspect', 'deliver', 'forward'];

/** Runs one stage of one transfer; throws to retry, a PermanentStageError to give up, a StageDeferredError to run later. */
export type StageHandler = (transferId: string) => Promise<void>;

/** A failure that retrying cannot mend (the record is gone, the recipient was revoked…). */
export class PermanentStageError extends Error {
  override readonly name = 'PermanentStageError';
}

/** Not a failure: the stage cannot start yet (e.g. its recipient's slots are full); try again after `delayMs`. */
export class StageDeferredError extends Error {
  override readonly name = 'StageDeferredError';
  constructor(readonly delayMs: number) {
    super(`deferred for ${delayMs} ms`);
  }
}

export interface StageQueueEvents {
  /** A worker started the stage (possibly again, after a crash). */
  onActive?(transferId: string, stage: Stage): void | Promise<void>;
  onCompleted?(transferId: string, stage: Stage): void | Promise<void>;
  /** The stage failed for good: record it on the transfer and in the audit journal. */
  onFailed?(transferId: string, stage: Stage, reason: string): void | Promise<void>;
}

/** What a worker sees of its own attempts (for the metrics of the process running it). */
export interface StageWorkerEvents {
  onAttemptDone?(stage: Stage, millis: number): void;
  /** `willRetry`: false when this was the last attempt or the failure is permanent. */
  onAttemptFailed?(stage: Stage, reason: string, willRetry: boolean): void;
}

/** What the queue knows of a stage: still to run (waiting, delayed, running), failed for good, or nothing. */
export type JobState = 'pending' | 'failed' | 'absent';

export interface StageQueue {
  /** Idempotent: a stage already waiting or running for this transfer is not added again. */
  enqueue(transferId: string, stage: Stage): Promise<void>;
  jobState(transferId: string, stage: Stage): Promise<JobState>;
  /** Runs jobs in this process, `concurrency` at a time per stage. */
  startWorkers(handlers: Readonly<Record<Stage, StageHandler>>, concurrency: number, events?: StageWorkerEvents): void;
  /** Reports what happens to every job, whichever process runs it; resolves once listening. */
  observe(events: StageQueueEvents): Promise<void>;
  /** Whether jobs can be enqueued right now (Redis connected). */
  isAvailable(): boolean;
  /** Called whenever the queue becomes available again (Redis reconnected). */
  onAvailable(listener: () => void): void;
  /** Jobs waiting, delayed or running, per stage. */
  depth(): Promise<Record<Stage, number>>;
  /**
   * Lets running jobs finish (BullMQ: or hands them back), then lets go of the queue. When `deadline`
   * aborts first it stops waiting and rejects with the signal's reason: connections are dropped and
   * running jobs abandoned (BullMQ gives them to another worker once their lock runs out; inline
   * stages are pending in their records and run again after a restart).
   */
  close(deadline?: AbortSignal): Promise<void>;
}

export function jobIdOf(transferId: string, stage: Stage): string {
  // BullMQ refuses ':' in custom ids; transfer ids never contain '--'.
  return `${transferId}--${stage}`;
}

const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Inline: no Redis. A stage runs in this process right after it is enqueued, with the same
 * idempotency, retry (immediate, `attempts` times), deferral and permanent-failure semantics as the
 * BullMQ queue. Nothing survives a restart here either: the records say what is pending.
 */
export function createInlineStageQueue(options: { attempts?: number; retryDelayMs?: number } = {}): StageQueue {
  const attempts = options.attempts ?? 3;
  const running = new Map<string, Promise<void>>();
  let handlers: Readonly<Record<Stage, StageHandler>> | undefined;
  let events: StageQueueEvents = {};
  let workerEvents: StageWorkerEvents = {};
  let closed = false;
  const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());

  const run = async (transferId: string, stage: Stage, handler: StageHandler): Promise<void> => {
    await events.onActive?.(transferId, stage);
    for (let attempt = 1; ; ) {
      const started = performance.now();
      try {
        await handler(transferId);
        workerEvents.onAttemptDone?.(stage, performance.now() - started);
        await events.onCompleted?.(transferId, stage);
        return;
      } catch (error) {
        if (error instanceof StageDeferredError && !closed) {
          await delay(error.delayMs);
          continue;
        }
        const final = error instanceof PermanentStageError || attempt >= attempts || closed;
        workerEvents.onAttemptFailed?.(stage, errorMessage(error), !final);
        if (final) {
          await events.onFailed?.(transferId, stage, errorMessage(error));
          return;
        }
        await delay((options.retryDelayMs ?? 100) * 2 ** (attempt - 1));
        attempt += 1;
      }
    }
  };

  return {
    async enqueue(transferId, stage) {
      if (closed) throw new Error('the stage queue is closed');
      const id = jobIdOf(transferId, stage);
      if (running.has(id) || !handlers) return;
      const job = run(transferId, stage, handlers[stage]).catch(() => undefined);
      running.set(id, job);
      void job.finally(() => running.delete(id));
    },
    async jobState(transferId, stage) {
      return running.has(jobIdOf(transferId, stage)) ? 'pending' : 'absent';
    },
    startWorkers(next, _concurrency, nextEvents = {}) {
      handlers = next;
      workerEvents = nextEvents;
    },
    async observe(next) {
      events = next;
    },
    isAvailable: () => !closed,
    onAvailable() {
      // Always available: nothing to wait for.
    },
    async depth() {
      const counts: Record<Stage, number> = { inspect: 0, deliver: 0, forward: 0 };
      for (const id of running.keys()) counts[STAGES.find((stage) => id.endsWith(`--${stage}`)) ?? 'deliver'] += 1;
      return counts;
    },
    async close(deadline) {
      closed = true;
      const finished = Promise.allSettled(running.values());
      await (deadline ? Promise.race([finished, whenAborted(deadline)]) : finished);
    },
  };
}
