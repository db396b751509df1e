// Group commit: items submitted while a flush (one write + one fsync) is in flight wait and go out
// together in the next flush, so each caller still waits for durability while throughput grows with
// concurrency instead of being capped at one fsync per item.
export interface GroupCommitStats {
  readonly flushes: number;
  readonly items: number;
  readonly largestBatch: number;
}

export interface GroupCommit<T> {
  /** Queues an item; resolves when the flush that carried it has completed. */
  submit(item: T): Promise<void>;
  /** Resolves when everything submitted so far has been flushed (or has failed). */
  idle(): Promise<void>;
  stats(): GroupCommitStats;
}

interface Pending<T> {
  readonly item: T;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export interface GroupCommitOptions {
  /** Items per flush, at most (default 4096). */
  readonly maxBatch?: number;
  /**
   * After a flush, wait one event-loop turn before taking the next batch, so that the callers it
   * resolved and that submit again at once (a closed loop; a transfer's next step) go out in the next
   * flush, not the one after: without it, busy callers split into two halves that alternate, each
   * flush carrying half of them. Worth a turn where a flush costs far more than one (a database
   * round trip whose statement has a large fixed cost).
   */
  readonly rejoin?: boolean;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * `flush` receives every item queued since the previous flush began, in submission order (at most
 * `maxBatch` at a time). If it throws, every item of that batch is rejected with the error.
 * `options` may also be just maxBatch.
 */
export function createGroupCommit<T>(flush: (items: readonly T[]) => Promise<void>, options: number | GroupCommitOptions = {}): GroupCommit<T> {
  const { maxBatch = 4096, rejoin = false } = typeof options === 'number' ? { maxBatch: options } : options;
  let queue: Pending<T>[] = [];
  let running: Promise<void> | undefined;
  let flushes = 0;
  let items = 0;
  let largestBatch = 0;

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
      try {
        await flush(batch.map((pending) => pending.item));
      } catch (error) {
        for (const pending of batch) pending.reject(error);
        if (rejoin) await nextTurn();
        continue;
      }
      flushes += 1;
      items += batch.length;
      largestBatch = Math.max(largestBatch, batch.length);
      for (const pending of batch) pending.resolve();
      if (rejoin) await nextTurn();
    }
    running = undefined;
  }

  return {
    submit(item) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        running ??= drain();
      });
    },
    async idle() {
      while (running) await running;
    },
    stats() {
      return { flushes, items, largestBatch };
    },
  };
}
