// Durable file steps — put a small file, commit a written one, append to a log — each run as one
// whole job in an io-lane thread of the pool (durable-files-thread.ts): one round trip per step
// instead of one per system call. Puts are group-committed: while every io thread is busy, the puts
// that arrive wait and then go out together, one job, one fsync per folder. Large objects are
// written with a steady write stream whose writes run here too, in the bulk lane
// (steady-write-stream.ts), and committed here.
import type { ThreadPool } from '../threads/thread-pool.js';
import { wholeBuffersOf, type DurableStep, type PutOutcome, type PutRequest } from './durable-files-thread.js';

const STEPS = new URL('./durable-files-thread.js', import.meta.url);

export interface DurableFiles {
  /**
   * Writes `bytes` to `temp` (created exclusively: EEXIST if it is there), fsyncs it, renames it to
   * `final` and fsyncs the folder: a crash leaves the old file or the new one. Resolves to the size.
   * `handOver`: the caller gives up `bytes`, whose whole buffer moves to the thread instead of being
   * copied (never a pooled Buffer's).
   */
  put(temp: string, final: string, bytes: Uint8Array, options?: { handOver?: boolean }): Promise<number>;
  /** Fsyncs the written `temp`, renames it to `final`, fsyncs the folder; resolves to the size. */
  commit(temp: string, final: string): Promise<number>;
  /**
   * Appends all of `bytes` to `fd` (opened for appending), then fdatasync; a failed append is cut
   * back off, so the file never ends in half a record. One append at a time per file: the cut-back
   * assumes nobody else appends meanwhile.
   */
  append(fd: number, bytes: Uint8Array): Promise<void>;
  /**
   * Writes all of `chunks` at `fd`'s position, then fdatasync if `sync`, in a thread of the bulk
   * lane: the kernel's copy of bulk bytes runs below the event loop's priority. A chunk that is the
   * whole of its buffer moves to the thread (the caller gives it up: it is detached), so neither a
   * copy nor its garbage stays on the event loop; others (views, pooled Buffers) are copied.
   * Resolves to the bytes written.
   */
  write(fd: number, chunks: readonly Uint8Array[], options: { sync: boolean }): Promise<number>;
}

/** Puts in one job, at most: bounds the time the first of them waits for the last. */
const MAX_PUTS_PER_JOB = 64;

interface QueuedPut extends PutRequest {
  readonly handOver: boolean;
  readonly resolve: (size: number) => void;
  readonly reject: (error: Error) => void;
}

function settle(put: QueuedPut, outcome: PutOutcome | undefined): void {
  if (outcome && 'size' in outcome) put.resolve(outcome.size);
  else if (outcome) put.reject(Object.assign(new Error(outcome.failed.message), outcome.failed.code === undefined ? {} : { code: outcome.failed.code }));
  else put.reject(new Error('the put job answered no outcome for this put'));
}

/**
 * Puts go out at once while an io thread is free; those that arrive while all are busy queue and
 * leave together as one job when a put job ends: batches grow with the load, and a lone put never
 * waits for company.
 */
function createPutBatcher(threads: ThreadPool<'io' | 'bulk'>): (put: PutRequest, handOver: boolean) => Promise<number> {
  const limit = threads.threads('io');
  let queue: QueuedPut[] = [];
  let jobs = 0;
  const dispatch = (): void => {
    while (jobs < limit && queue.length > 0) {
      const batch = queue.length <= MAX_PUTS_PER_JOB ? queue : queue.slice(0, MAX_PUTS_PER_JOB);
      queue = queue.length <= MAX_PUTS_PER_JOB ? [] : queue.slice(MAX_PUTS_PER_JOB);
      jobs += 1;
      const transfer = [...new Set(batch.filter((put) => put.handOver).map((put) => put.bytes.buffer as ArrayBuffer))];
      const step: DurableStep = { kind: 'puts', puts: batch.map(({ temp, final, bytes }) => ({ temp, final, bytes })) };
      threads
        .run<PutOutcome[]>('io', STEPS, step, transfer)
        .then(
          (outcomes) => batch.forEach((put, index) => settle(put, outcomes[index])),
          (error: Error) => batch.forEach((put) => put.reject(error)),
        )
        .finally(() => {
          jobs -= 1;
          dispatch();
        });
    }
  };
  return (put, handOver) =>
    new Promise<number>((resolve, reject) => {
      queue.push({ ...put, handOver, resolve, reject });
      dispatch();
    });
}

/** Errors keep their system `code` (ENOENT, EEXIST, ENOSPC…) for storage-errors.ts to name. */
export function createDurableFiles(threads: ThreadPool<'io' | 'bulk'>): DurableFiles {
  const run = (step: DurableStep, transfer?: readonly ArrayBuffer[]): Promise<number> => threads.run<number>('io', STEPS, step, transfer);
  const put = createPutBatcher(threads);
  return {
    put: (temp, final, bytes, options) => put({ temp, final, bytes }, options?.handOver === true),
    commit: (temp, final) => run({ kind: 'commit', temp, final }),
    append: async (fd, bytes) => {
      await run({ kind: 'append', fd, bytes });
    },
    write: (fd, chunks, options) => threads.run<number>('bulk', STEPS, { kind: 'write', fd, chunks, sync: options.sync }, wholeBuffersOf(chunks)),
  };
}
