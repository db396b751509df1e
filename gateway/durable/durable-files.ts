// Durable file steps — put a small file, commit a written one, append to a log — each run as one
// whole job in an io-lane thread of the pool (durable-files-thread.ts): one round trip per step
// instead of one per system call. Large objects are written with a steady write stream instead
// (steady-write-stream.ts) and committed here.
import type { ThreadPool } from '../threads/thread-pool.js';
import type { DurableStep } from './durable-files-thread.js';

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
}

/** Errors keep their system `code` (ENOENT, EEXIST, ENOSPC…) for storage-errors.ts to name. */
export function createDurableFiles(threads: ThreadPool<'io'>): DurableFiles {
  const run = (step: DurableStep, transfer?: readonly ArrayBuffer[]): Promise<number> => threads.run<number>('io', STEPS, step, transfer);
  return {
    put: (temp, final, bytes, options) => run({ kind: 'put', temp, final, bytes }, options?.handOver ? [bytes.buffer as ArrayBuffer] : undefined),
    commit: (temp, final) => run({ kind: 'commit', temp, final }),
    append: async (fd, bytes) => {
      await run({ kind: 'append', fd, bytes });
    },
  };
}
