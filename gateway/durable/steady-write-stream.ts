// A file write stream that hands its data to the disk as it goes (fdatasync every `syncEveryBytes`)
// instead of leaving gigabytes of dirty pages for the kernel to flush at once. Large envelopes are
// written this way so that the small fsyncs of records and of the audit journal, which on ext4 may
// have to wait for other files' pending data, never queue behind a whole upload's worth of it. The
// flush of one stretch overlaps the writing of the next (in another thread), so the sender is not
// held to the disk's latency once per stretch; the end waits for the last flush.
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { Writable } from 'node:stream';

export function createSteadyWriteStream(
  file: string,
  options: {
    highWaterMark: number;
    syncEveryBytes: number;
    queueSync?: (sync: () => Promise<void>) => Promise<void>;
    /**
     * Writes the chunks at the file's position (then fdatasync when `sync`) somewhere else than the
     * libuv pool: a thread below the event loop's priority (durable-files.ts `write`). Absent:
     * FileHandle.writev, and datasync through `queueSync`.
     */
    writeChunks?: (fd: number, chunks: readonly Buffer[], options: { sync: boolean }) => Promise<number>;
  },
): Writable {
  const queueSync = options.queueSync ?? ((sync: () => Promise<void>) => sync());
  let handle: FileHandle | undefined;
  let unsynced = 0;
  /**
   * A write running in another thread on the handle's fd: the handle closes only after it, or the
   * fd number could be reused by another open file meanwhile and the write land there.
   */
  let writingElsewhere: Promise<unknown> = Promise.resolve();

  /**
   * The fdatasync handed to the other thread while writing goes on: the disk flushes one stretch
   * while the next one is written, and a sync waits only for the one before it, so at most two
   * stretches are ever dirty. Its failure is reported by the next write or by the end.
   */
  let syncing: Promise<unknown> = Promise.resolve();
  let syncFailure: Error | undefined;

  const writeAll = async (chunks: readonly Buffer[]): Promise<void> => {
    const target = handle as FileHandle;
    if (options.writeChunks) {
      if (syncFailure) throw syncFailure;
      const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
      const writing = options.writeChunks(target.fd, chunks, { sync: false });
      writingElsewhere = Promise.all([writing, syncing]).catch(() => undefined);
      await writing;
      unsynced += total;
      if (unsynced >= options.syncEveryBytes) {
        unsynced = 0;
        await syncing;
        if (syncFailure) throw syncFailure;
        syncing = options.writeChunks(target.fd, [], { sync: true }).catch((error: unknown) => {
          syncFailure = error as Error;
        });
        writingElsewhere = syncing;
      }
      return;
    }
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
      writeGathered()
        .then(() => syncing)
        .then(() => callback(syncFailure ?? null), callback);
    },
    destroy(error, callback) {
      gathered = [];
      const open = handle;
      handle = undefined;
      const closing = writingElsewhere.then(() => open?.close());
      closing.then(() => callback(error), (closeError: unknown) => callback((error ?? closeError) as Error | null));
    },
  });
}
