// The heavy stages of a transfer (full inspection, push delivery) run as jobs. A job carries only
// the transfer id and the stage — never a manifest or a key (BullMQ keeps job data in clear text) —
// and its id is `<transfer>--<stage>`, so a duplicate or a retry never runs a stage twice at once.
// Two implementations: inline (no Redis; the default) and BullMQ (bullmq-stage-queue.ts).

export type Stage = 'inspect' | 'deliver';
export const STAGES: readonly Stage[] = ['inspect', 'deliver'];

/** Runs one stage of one transfer; throws to retry, or throws a PermanentStageError to give up. */
export type StageHandler = (transferId: string) => Promise<void>;

/** A failure that retrying cannot mend (the record is gone, the recipient was revoked…). */
export class PermanentStageError extends Error {
  override readonly name = 'PermanentStageError';
}

export interface StageQueueEvents {
  /** A stage that failed for good: record it on the transfer and in the audit journal. */
  onFailed?(transferId: string, stage: Stage, error: Error, attempts: number): void | Promise<void>;
  onCompleted?(transferId: string, stage: Stage, millis: number): void;
}

export interface StageQueue {
  /** Idempotent: a stage already waiting or running for this transfer is not added again. */
  enqueue(transferId: string, stage: Stage): Promise<void>;
  /** Starts running jobs with these handlers (workers in this process). */
  start(handlers: Readonly<Record<Stage, StageHandler>>, events?: StageQueueEvents): void;
  /** Jobs waiting, delayed or running, per stage. */
  depth(): Promise<Record<Stage, number>>;
  close(): Promise<void>;
}

export function jobIdOf(transferId: string, stage: Stage): string {
  // BullMQ refuses ':' in custom ids; transfer ids never contain '--'.
  return `${transferId}--${stage}`;
}

/**
 * Inline: no Redis. A stage runs in this process right after it is enqueued, with the same
 * idempotency and permanent-failure semantics as the BullMQ queue; retries are the caller's.
 */
export function createInlineStageQueue(options: { clock?: () => number } = {}): StageQueue {
  const now = options.clock ?? (() => performance.now());
  const running = new Map<string, Promise<void>>();
  let handlers: Readonly<Record<Stage, StageHandler>> | undefined;
  let events: StageQueueEvents = {};
  let closed = false;
  return {
    async enqueue(transferId, stage) {
      if (closed) throw new Error('the stage queue is closed');
      const id = jobIdOf(transferId, stage);
      if (running.has(id) || !handlers) return;
      const handler = handlers[stage];
      const started = now();
      const run = handler(transferId).then(
        () => events.onCompleted?.(transferId, stage, now() - started),
        (error: unknown) => events.onFailed?.(transferId, stage, error as Error, 1),
      );
      running.set(id, run.then(() => undefined).finally(() => running.delete(id)));
    },
    start(next, nextEvents = {}) {
      handlers = next;
      events = nextEvents;
    },
    async depth() {
      const counts: Record<Stage, number> = { inspect: 0, deliver: 0 };
      for (const id of running.keys()) counts[id.endsWith('--inspect') ? 'inspect' : 'deliver'] += 1;
      return counts;
    },
    async close() {
      closed = true;
      await Promise.allSettled(running.values());
    },
  };
}
