// A file write stream that hands its data to the disk as it goes (fdatasync every `syncEveryBytes`)
// instead of leaving gigabytes of dirty pages for the kernel to flush at once. Large envelopes are
// written this way so that the small fsyncs of records and of the audit journal, which on ext4 may
// have to wait for other files' pending data, never queue behind a whole upload's worth of it.
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { Writable } from 'node:stream';

/** Runs one bulk sync at a time: a small fsync then waits behind at most one, not one per upload. */
export function createSyncQueue(): (sync: () => Promise<void>) => Promise<void> {
  let tail: Promise<void> = Promise.resolve();
  return (sync) => {
    const run = tail.then(sync);
    tail = run.catch(() => undefined);
    return run;
  };
}

export function createSteadyWriteStream(
  file: string,
  options: { highWaterMark: number; syncEveryBytes: number; queueSync?: (sync: () => Promise<void>) => Promise<void> },
): Writable {
  const queueSync = options.queueSync ?? ((sync: () => Promise<void>) => sync());
  let handle: FileHandle | undefined;
  let unsynced = 0;

  const writeAll = async (chunks: readonly Buffer[]): Promise<void> => {
    const target = handle as FileHandle;
    let pending = [...chunks];
    while (pending.length > 0) {
      const { bytesWritten } = await target.writev(pending);
      unsynced += bytesWritten;
      // A short write: drop what was written and go on with the rest.
      let left = bytesWritten;
      while (left > 0 && pending.length > 0) {
        const first = pending[0] as Buffer;
        if (first.length <= left) {
          left -= first.length;
          pending.shift();
        } else {
          pending[0] = first.subarray(left);
          left = 0;
        }
      }
      pending = pending.filter((chunk) => chunk.length > 0);
    }
    if (unsynced >= options.syncEveryBytes) {
      unsynced = 0;
      await queueSync(() => target.datasync());
    }
  };

  // Chunks are gathered up to `highWaterMark` bytes and written with one writev: every file-system
  // call wakes a thread-pool thread, and on a busy host each wake-up can cost the event loop its CPU.
  let gathered: Buffer[] = [];
  let gatheredBytes = 0;
  const writeGathered = async (): Promise<void> => {
    const chunks = gathered;
    gathered = [];
    gatheredBytes = 0;
    if (chunks.length > 0) await writeAll(chunks);
  };

  return new Writable({
    highWaterMark: options.highWaterMark,
    construct(callback) {
      open(file, 'wx').then((opened) => {
        handle = opened;
        callback();
      }, callback);
    },
    writev(chunks, callback) {
      for (const { chunk } of chunks) {
        gathered.push(chunk as Buffer);
        gatheredBytes += (chunk as Buffer).length;
      }
      if (gatheredBytes < options.highWaterMark) {
        callback();
        return;
      }
      writeGathered().then(() => callback(), callback);
    },
    final(callback) {
      writeGathered().then(() => callback(), callback);
    },
    destroy(error, callback) {
      gathered = [];
      const closing = handle?.close() ?? Promise.resolve();
      handle = undefined;
      closing.then(() => callback(error), (closeError: unknown) => callback((error ?? closeError) as Error | null));
    },
  });
}
