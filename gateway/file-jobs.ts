// Durable small-file steps (an object store write, a journal append) run as whole jobs in a few
// threads (file-jobs-thread.ts): one round trip per step instead of one per system call. Jobs go to the thread with the fewest outstanding ones;
// threads start when first needed and do not keep the process alive.
import { Worker } from 'node:worker_threads';
import { threadEntry } from './thread-entry.js';
import type { FileJob, FileJobRequest, FileJobResponse } from './file-jobs-thread.js';

const THREAD_ENTRY = threadEntry('file-jobs-thread', import.meta.url);

export interface FileJobs {
  /** Runs the job; resolves with the file's final size. Errors keep their `code` (ENOENT, EEXIST…). */
  run(job: FileJob): Promise<number>;
  close(): Promise<void>;
}

interface JobThread {
  readonly worker: Worker;
  readonly waiting: Map<number, { resolve: (size: number) => void; reject: (error: Error) => void }>;
}

export function createFileJobs(options: { threads: number }): FileJobs {
  const threads: JobThread[] = [];
  let nextId = 1;

  const startThread = (): JobThread => {
    const worker = new Worker(THREAD_ENTRY);
    const thread: JobThread = { worker, waiting: new Map() };
    worker.unref();
    worker.on('message', (response: FileJobResponse) => {
      const waiter = thread.waiting.get(response.id);
      thread.waiting.delete(response.id);
      if (thread.waiting.size === 0) worker.unref();
      if ('error' in response) waiter?.reject(Object.assign(new Error(response.error.message), response.error.code ? { code: response.error.code } : {}));
      else waiter?.resolve(response.size);
    });
    const stopped = (error: Error): void => {
      const index = threads.indexOf(thread);
      if (index >= 0) threads.splice(index, 1);
      for (const waiter of thread.waiting.values()) waiter.reject(error);
      thread.waiting.clear();
    };
    worker.once('error', stopped);
    worker.once('exit', (code) => stopped(new Error(`file job thread stopped (exit code ${code})`)));
    threads.push(thread);
    return thread;
  };

  const pickThread = (): JobThread => {
    const idle = threads.find((thread) => thread.waiting.size === 0);
    if (idle) return idle;
    if (threads.length < options.threads) return startThread();
    return threads.reduce((least, thread) => (thread.waiting.size < least.waiting.size ? thread : least));
  };

  return {
    run(job) {
      const thread = pickThread();
      const id = nextId++;
      return new Promise<number>((resolve, reject) => {
        thread.waiting.set(id, { resolve, reject });
        // A job in flight keeps the process alive, as a pending fs call would.
        thread.worker.ref();
        thread.worker.postMessage({ id, job } satisfies FileJobRequest);
      });
    },
    async close() {
      await Promise.all(threads.map((thread) => thread.worker.terminate()));
    },
  };
}
