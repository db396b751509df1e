// Durable file steps — put a small file, commit a written one, append to a log — each run as one
// whole job in an io-lane thread of the pool (durable-files-thread.ts): one round trip per step
// instead of one per system call. Large objects are written with a steady write stream whose writes
// run here too, in the bulk lane (steady-write-stream.ts), and committed here.
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
  /**
   * Writes all of `chunks` at `fd`'s position, then fdatasync if `sync`, in a thread of the bulk
   * lane: the kernel's copy of bulk bytes runs below the event loop's priority. A chunk that is the
   * whole of its buffer moves to the thread (the caller gives it up: it is detached), so neither a
   * copy nor its garbage stays on the event loop; others (views, pooled Buffers) are copied.
   * Resolves to the bytes written.
   */
  write(fd: number, chunks: readonly Uint8Array[], options: { sync: boolean }): Promise<number>;
}

/** Errors keep their system `code` (ENOENT, EEXIST, ENOSPC…) for storage-errors.ts to name. */
export function createDurableFiles(threads: ThreadPool<'io' | 'bulk'>): DurableFiles {
  const run = (step: DurableStep, transfer?: readonly ArrayBuffer[]): Promise<number> => threads.run<number>('io', STEPS, step, transfer);
  return {
    put: (temp, final, bytes, options) => run({ kind: 'put', temp, final, bytes }, options?.handOver ? [bytes.buffer as ArrayBuffer] : undefined),
    commit: (temp, final) => run({ kind: 'commit', temp, final }),
    append: async (fd, bytes) => {
      await run({ kind: 'append', fd, bytes });
    },
    write: (fd, chunks, options) => threads.run<number>('bulk', STEPS, { kind: 'write', fd, chunks, sync: options.sync }, wholeBuffersOf(chunks)),
  };
}

/** The buffers the chunks fill entirely, once each: those can move rather than be copied. */
function wholeBuffersOf(chunks: readonly Uint8Array[]): ArrayBuffer[] {
  const whole = new Set<ArrayBuffer>();
  for (const chunk of chunks) {
    if (chunk.buffer instanceof ArrayBuffer && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength) whole.add(chunk.buffer);
  }
  return [...whole];
}
