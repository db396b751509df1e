// Durable small-file steps (an object store write, a journal append) run as whole jobs in a few
// threads (file-jobs-thread.ts): one round trip per step instead of one per system call.
import { threadEntry } from '../threads/thread-entry.js';
import { createThreadPool } from '../threads/thread-pool.js';
import type { FileJob, FileJobRequest, FileJobResponse } from './file-jobs-thread.js';

const THREAD_ENTRY = threadEntry('file-jobs-thread', import.meta.url);

export interface FileJobs {
  /** Runs the job; resolves with the file's final size. Errors keep their `code` (ENOENT, EEXIST…). */
  run(job: FileJob): Promise<number>;
  close(): Promise<void>;
}

export function createFileJobs(options: { threads: number }): FileJobs {
  const pool = createThreadPool<FileJobResponse>({ entry: THREAD_ENTRY, threads: options.threads });
  return {
    run(job) {
      return new Promise<number>((resolve, reject) => {
        const channel = pool.open({
          onMessage(response) {
            channel.close();
            if ('error' in response) reject(Object.assign(new Error(response.error.message), response.error.code ? { code: response.error.code } : {}));
            else resolve(response.size);
          },
          onStopped: reject,
        });
        const request: FileJobRequest = { id: channel.id, job };
        channel.post(request);
      });
    },
    close: () => pool.close(),
  };
}
