// The gateway's side of the queued path: enqueue a transfer's next stage, turn what happens to its
// job into record changes (each journaled by the transfer service), and reconcile the queue with the
// records — at start, when Redis comes back, and periodically — since Redis holds no truth: a stage
// a record says is pending but the queue does not hold (flushed, lost) is enqueued again.
import type { JobState, Stage, StageQueue } from '../queue/stage-queue.js';
import type { StageResults } from './stage-results.js';
import type { TransferEvent } from './transfer-events.js';
import type { TransferService } from './transfer-service.js';

export interface StageObserver {
  onEnqueueFailed?(transferId: string, stage: Stage, error: unknown): void;
  onFailed?(stage: Stage, reason: string): void;
  onApplied?(stage: Stage, durationMs: number, outcome: string): void;
  onReenqueued?(stage: Stage, count: number): void;
}

export async function createStageCoordinator(options: { transfers: TransferService; queue: StageQueue; results: StageResults; observer?: StageObserver }) {
  const { transfers, queue, results, observer = {} } = options;

  const enqueue = async (transferId: string, stage: Stage): Promise<void> => {
    try {
      await queue.enqueue(transferId, stage);
    } catch (error) {
      // The record keeps the stage pending: reconciliation enqueues it once the queue is back.
      observer.onEnqueueFailed?.(transferId, stage, error);
    }
  };

  const applying = new Set<string>();
  /** Applies a stage's result, if a worker left one, and enqueues the next stage. */
  const apply = async (transferId: string, stage: Stage): Promise<boolean> => {
    const key = `${transferId}--${stage}`;
    if (applying.has(key)) return true; // the job's completion and a reconciliation met: one applies
    applying.add(key);
    try {
      const result = await results.read(transferId, stage);
      if (!result) return false;
      const record = await transfers.applyStageResult(transferId, result);
      await results.remove(transferId, stage);
      observer.onApplied?.(stage, result.durationMs, result.stage === 'inspect' ? result.outcome : 'delivered');
      const next = record?.pendingStages?.[0];
      if (next) await enqueue(transferId, next);
      return true;
    } finally {
      applying.delete(key);
    }
  };

  await queue.observe({
    async onActive(transferId, stage) {
      if (stage === 'inspect') await transfers.markProcessing(transferId);
    },
    async onCompleted(transferId, stage) {
      await apply(transferId, stage);
    },
    async onFailed(transferId, stage, reason) {
      observer.onFailed?.(stage, reason);
      await transfers.failStage(transferId, stage, reason);
    },
  });

  let reconciling: Promise<number> | undefined;
  /** Brings the queue in line with the records; returns how many stages were enqueued again. */
  const reconcileOnce = async (): Promise<number> => {
    let reenqueued = 0;
    for await (const { id, stage } of transfers.pendingStages()) {
      // The queue first: a worker writes its result before its job completes, so once the job is
      // gone the result (if the stage ran) is there to apply, and only then is the stage missing.
      const state: JobState = await queue.jobState(id, stage);
      if (state === 'pending') continue;
      if (await apply(id, stage)) continue;
      if (!(await transfers.isPending(id, stage))) continue; // applied meanwhile (the job's own completion)
      if (state === 'absent') {
        await queue.enqueue(id, stage);
        reenqueued += 1;
        observer.onReenqueued?.(stage, 1);
      } else if (state === 'failed') {
        // Its failure was missed (the gateway was down): record it now.
        await transfers.failStage(id, stage, 'failed while the gateway was not listening');
      }
    }
    return reenqueued;
  };

  return {
    /**
     * Its subscription to the transfer events: a transfer just queued gets its first stage enqueued.
     * Subscribed `after` the change: an inline stage starts by taking the transfer's lock.
     */
    async onTransferEvent(event: TransferEvent): Promise<void> {
      if (event.type !== 'changed' || event.change !== 'queued') return;
      const first = event.record.pendingStages?.[0];
      if (first) await enqueue(event.record.id, first);
    },
    /** One reconciliation at a time; a call during one waits for it. Rejects when Redis is down. */
    reconcile(): Promise<number> {
      reconciling ??= reconcileOnce().finally(() => (reconciling = undefined));
      return reconciling;
    },
  };
}

export type StageCoordinator = Awaited<ReturnType<typeof createStageCoordinator>>;
