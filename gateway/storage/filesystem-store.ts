// The default object store: files under the data folder. Writes go to a temporary name in the same
// folder, are fsynced, then renamed, so a crash leaves either the old object or the new one, never
// half of one; leftovers of interrupted writes are removed at start-up (all of them) or by
// `abortIncomplete` (those of one key). A write that fails for want of space (or on a failing disk)
// is named ERR_STORAGE_FULL / ERR_STORAGE_UNAVAILABLE and reported with its path to `onStorageError`
// (storage-errors.ts); what it had written is removed. Durable steps (put, commit) run as jobs in the
// io lane of the thread pool (durable/durable-files.ts). An appendable write (a resumable upload) lives
// in one file per key, `<file>~appending`, which start-up leaves alone (it holds what checkpoints made
// durable, to be resumed after a restart) and `abortIncomplete` removes; its commit renames it into place.
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { GatewayError } from '../errors.js';
import type { AppendableObject, ObjectStore, PendingObject } from './object-store.js';
import { createDurableFiles } from '../durable/durable-files.js';
import { createSteadyWriteStream } from '../durable/steady-write-stream.js';
import { createThreadPool, type ThreadPool } from '../threads/thread-pool.js';
import { createFileRangeStream } from './file-range-stream.js';
import { namingStorageErrors, toStorageError, type StorageErrorObserver } from './storage-errors.js';

const KEY_PATTERN = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const TEMP_MARK = '.tmp-';
/**
 * Suffix of an appendable write's file. `~` is no key character, so no key's file is ever named so,
 * and listings and leftovers can tell these files apart by it.
 */
const APPENDING_MARK = '~appending';
/** Large writes keep a Node sink near disk speed (small writes halve it). */
const WRITE_BUFFER_BYTES = 1024 * 1024;
/** Large objects are handed to the disk every this many bytes, the flush of one stretch overlapping the writing of the next (see steady-write-stream.ts). */
const SYNC_EVERY_BYTES = 8 * 1024 * 1024;

/** Threads of a store's own pool (when it is given none); fsyncs on one disk gain little from more. */
const OWN_IO_THREADS = 2;
/** Bulk writes run below the event loop (Unix niceness), as sealing does. */
const BULK_NICENESS = 10;

function checkKey(key: string): void {
  if (!KEY_PATTERN.test(key) || key.split('/').some((segment) => segment === '.' || segment === '..' || segment.includes(TEMP_MARK))) {
    throw new Error(`invalid object key ${JSON.stringify(key)}`);
  }
}

function checkKeep(keep: number): void {
  if (!Number.isSafeInteger(keep) || keep < 0) throw new Error(`keep must be a whole number of bytes, not ${keep}`);
}

function noUploadToResume(key: string, keep: number, durableBytes: number): GatewayError {
  return new GatewayError('ERR_UPLOAD_NOT_FOUND', `no unfinished write of ${key} holds the ${keep} bytes to keep`, { keep, durableBytes });
}

/** Fsyncs a folder, so that a file created or removed in it stays so after a crash. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Ends `stream` (if its writer has not) and resolves once it has finished. */
function ended(stream: Writable): Promise<void> {
  if (stream.writableFinished) return Promise.resolve();
  return new Promise((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
}

export interface FilesystemStoreOptions {
  /**
   * false for a second process on the same folder (a `hetao worker`): only the gateway, which owns
   * the uploads, may treat unfinished temp files as a crash's leftovers.
   */
  readonly removeLeftovers?: boolean;
  /** Told of every write that fails for want of space or on a failing disk. */
  readonly onStorageError?: StorageErrorObserver;
  /**
   * The process's thread pool: its io lane runs the durable steps, its bulk lane (below the event
   * loop's priority) the writes of large objects. Without one the store makes its own and closes it.
   */
  readonly threads?: ThreadPool<'io' | 'bulk'>;
}

/**
 * Writes throw GatewayError ERR_STORAGE_FULL (ENOSPC, EDQUOT) or ERR_STORAGE_UNAVAILABLE (EROFS, EIO).
 */
export async function createFilesystemStore(root: string, options: FilesystemStoreOptions = {}): Promise<ObjectStore> {
  const observe = options.onStorageError;
  const naming = <T>(file: string, operation: string, write: () => Promise<T>): Promise<T> => namingStorageErrors({ path: file, operation }, observe, write);
  await mkdir(root, { recursive: true });
  if (options.removeLeftovers !== false) await removeLeftovers(root);
  const fileOf = (key: string): string => {
    checkKey(key);
    return path.join(root, ...key.split('/'));
  };

  // Folders are created once, not before every write: each fs call is a round trip to another thread.
  const folders = new Map<string, Promise<void>>();
  const folderOf = (file: string): Promise<void> => {
    const folder = path.dirname(file);
    let made = folders.get(folder);
    if (!made) {
      made = naming(folder, 'mkdir', () => mkdir(folder, { recursive: true })).then(() => undefined);
      made.catch(() => folders.delete(folder));
      folders.set(folder, made);
    }
    return made;
  };
  const threads = options.threads ?? createThreadPool({ lanes: { io: { threads: OWN_IO_THREADS }, bulk: { threads: 1, niceness: BULK_NICENESS } } });
  const files = createDurableFiles(threads);

  /**
   * Content up to WRITE_BUFFER_BYTES stays in memory and is written whole at commit, as `put` does
   * (one durable step); beyond that it spills to a steady write stream on the temporary file.
   */
  const pendingObjectAt = (temp: string, final: string, key: string): PendingObject => {
    let spill: Writable | undefined;
    let small: Buffer[] = [];
    let smallBytes = 0;
    let settled = false;
    const named = (error: Error | null | undefined): Error | null | undefined => (error ? (toStorageError(error, { path: temp, operation: 'write' }, observe) as Error) : error);
    const spillWrite = (chunk: Buffer): Promise<void> =>
      new Promise((resolve, reject) => (spill as Writable).write(chunk, (error) => (error ? reject(named(error)) : resolve())));
    const spillClosed = (): Promise<void> =>
      !spill || spill.closed
        ? Promise.resolve()
        : new Promise((resolve) => {
            spill?.once('close', () => resolve());
            spill?.destroy();
          });
    const stream = new Writable({
      highWaterMark: WRITE_BUFFER_BYTES,
      write(chunk: Buffer, _encoding, callback) {
        if (spill) return void spillWrite(chunk).then(() => callback(), callback);
        small.push(chunk);
        smallBytes += chunk.length;
        if (smallBytes <= WRITE_BUFFER_BYTES) return callback();
        spill = createSteadyWriteStream(temp, { highWaterMark: WRITE_BUFFER_BYTES, syncEveryBytes: SYNC_EVERY_BYTES, writeChunks: files.write });
        // Its failures reach this stream through the write and end callbacks; unheard, the 'error'
        // event would be an uncaught exception that takes the whole process down.
        spill.on('error', () => undefined);
        const held = small;
        small = [];
        Promise.all(held.map(spillWrite)).then(() => callback(), callback);
      },
      final(callback) {
        if (spill) spill.end((error?: Error | null) => callback(named(error)));
        else callback();
      },
      // Also runs after a clean finish (autoDestroy): the content stays for commit.
      destroy(error, callback) {
        void spillClosed().then(() => callback(error));
      },
    });
    return {
      stream,
      async commit() {
        if (settled) throw new Error(`object ${key} already settled`);
        if (!stream.writableFinished) await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
        settled = true;
        if (spill) {
          await spillClosed();
          return { size: await naming(temp, 'commit', () => files.commit(temp, final)) };
        }
        // A buffer of its own (Buffer.concat may use the shared pool), so that it moves to the thread uncopied.
        const bytes = new Uint8Array(smallBytes);
        let at = 0;
        for (const chunk of small) {
          bytes.set(chunk, at);
          at += chunk.length;
        }
        small = [];
        return { size: await naming(temp, 'put', () => files.put(temp, final, bytes, { handOver: true })) };
      },
      async abort() {
        settled = true;
        small = [];
        stream.destroy();
        await spillClosed();
        await rm(temp, { force: true });
      },
    };
  };

  /**
   * Starts afresh: a new file, not the old one truncated, so that a writer of the old one still
   * running somewhere writes into a file nobody reads any more.
   */
  const startAppending = (file: string): Promise<FileHandle> =>
    naming(file, 'write', async () => {
      await rm(file, { force: true });
      const handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND);
      try {
        await syncFolder(path.dirname(file));
      } catch (error) {
        await handle.close();
        throw error;
      }
      return handle;
    });

  /** Opens the existing file, cut (durably) to `keep` bytes: appends go after them. */
  const resumeAppending = (file: string, key: string, keep: number): Promise<FileHandle> =>
    naming(file, 'write', async () => {
      let handle: FileHandle;
      try {
        handle = await open(file, constants.O_WRONLY | constants.O_APPEND);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw noUploadToResume(key, keep, 0);
        throw error;
      }
      try {
        const { size } = await handle.stat();
        if (size < keep) throw noUploadToResume(key, keep, size);
        if (size > keep) {
          await handle.truncate(keep);
          await handle.datasync();
        }
        return handle;
      } catch (error) {
        await handle.close();
        throw error;
      }
    });

  /**
   * Chunks are gathered up to WRITE_BUFFER_BYTES and appended with one write in the bulk lane, the
   * disk flushing one stretch of SYNC_EVERY_BYTES while the next is written, as in
   * steady-write-stream.ts (which creates its file, where this one appends to an existing one).
   */
  const appendableAt = (file: string, final: string, key: string, handle: FileHandle, keptBytes: number): AppendableObject => {
    let state: 'open' | 'committing' | 'committed' | 'failed' | 'aborted' | 'released' = 'open';
    let gathered: Buffer[] = [];
    let gatheredBytes = 0;
    /** Bytes from the start whose write has called back: what a checkpoint asked now covers. */
    let completed = keptBytes;
    /** What the last checkpoint made durable: release cuts the file back to it. */
    let durable = keptBytes;
    let unsynced = 0;
    /** The first failure of a step: every later step fails with it (the file may end mid-write). */
    let failure: Error | undefined;
    /** Disk steps run one at a time, in the order asked: appends land in the order written. */
    let steps: Promise<unknown> = Promise.resolve();
    /** The fdatasync of the last stretch, running while the next one is written. */
    let syncing: Promise<unknown> = Promise.resolve();
    let committing: Promise<unknown> | undefined;
    let closing: Promise<void> | undefined;
    let settling: Promise<void> | undefined;

    const inTurn = <T>(step: () => Promise<T>): Promise<T> => {
      const run = steps
        .then(() => {
          if (failure) throw failure;
          return step();
        })
        .catch((error: unknown) => {
          failure ??= toStorageError(error, { path: file, operation: 'write' }, observe) as Error;
          throw failure;
        });
      steps = run.catch(() => undefined);
      return run;
    };
    const takeGathered = (): Buffer[] => {
      const chunks = gathered;
      gathered = [];
      gatheredBytes = 0;
      return chunks;
    };
    const appendGathered = async (): Promise<void> => {
      const chunks = takeGathered();
      if (chunks.length === 0) return;
      unsynced += await files.write(handle.fd, chunks, { sync: false });
      if (unsynced < SYNC_EVERY_BYTES) return;
      unsynced = 0;
      await syncing;
      syncing = files.write(handle.fd, [], { sync: true });
      // Its failure is met by the next step that awaits it; unheard until then, it would count as unhandled.
      syncing.catch(() => undefined);
    };
    /** After every step: a write still running in another thread must not find its fd closed (and reused). */
    const closeFile = (): Promise<void> => {
      closing ??= steps.then(() => syncing.catch(() => undefined)).then(() => handle.close());
      return closing;
    };
    const settled = (): Error => new Error(`appendable object ${key} already settled`);

    const stream = new Writable({
      highWaterMark: WRITE_BUFFER_BYTES,
      writev(entries, callback) {
        if (failure) return callback(failure);
        let bytes = 0;
        for (const { chunk } of entries) {
          gathered.push(chunk as Buffer);
          bytes += (chunk as Buffer).length;
        }
        gatheredBytes += bytes;
        const done = (): void => {
          completed += bytes;
          callback();
        };
        if (gatheredBytes < WRITE_BUFFER_BYTES) return done();
        inTurn(appendGathered).then(done, callback);
      },
      final(callback) {
        inTurn(async () => {
          await appendGathered();
          await syncing;
        }).then(() => callback(), callback);
      },
    });

    return {
      stream,
      keptBytes,
      readKept: () => createFileRangeStream(file, { chunkBytes: WRITE_BUFFER_BYTES, start: 0, end: keptBytes - 1 }),
      async checkpoint() {
        if (state !== 'open') throw settled();
        const covered = completed;
        // Gathered chunks have called back: they are written, then everything is flushed (on Linux
        // fdatasync flushes the data and the file size, all an append changes).
        await inTurn(async () => {
          const chunks = takeGathered();
          await syncing;
          await files.write(handle.fd, chunks, { sync: true });
          unsynced = 0;
          // Within the step: a release waiting for the steps cuts the file back to this.
          durable = Math.max(durable, covered);
        });
        return covered;
      },
      commit() {
        if (state === 'released') return Promise.resolve({ size: 0 });
        if (state !== 'open') return Promise.reject(settled());
        state = 'committing';
        const commit = (async () => {
          try {
            await ended(stream);
            await closeFile();
            const size = await naming(file, 'commit', () => files.commit(file, final));
            state = 'committed';
            return { size };
          } catch (error) {
            state = 'failed';
            throw error;
          }
        })();
        committing = commit;
        return commit;
      },
      abort() {
        settling ??= (async () => {
          await committing?.catch(() => undefined);
          if (state === 'committed' || state === 'released') return;
          state = 'aborted';
          stream.destroy();
          gathered = [];
          await closeFile();
          await rm(file, { force: true });
        })();
        return settling;
      },
      release() {
        settling ??= (async () => {
          if (state !== 'open') return;
          state = 'released';
          // Gathered chunks stay for a checkpoint already asked for; nothing else writes them now.
          stream.destroy();
          await steps;
          // What no checkpoint covered goes: a later openAppendable finds what the last one reported.
          try {
            await naming(file, 'write', async () => {
              await handle.truncate(durable);
              await handle.datasync();
            });
          } finally {
            await closeFile();
          }
        })();
        return settling;
      },
    };
  };

  return {
    async createPending(key): Promise<PendingObject> {
      const final = fileOf(key);
      await folderOf(final);
      return pendingObjectAt(`${final}${TEMP_MARK}${randomUUID()}`, final, key);
    },
    async openAppendable(key, keep) {
      checkKeep(keep);
      const final = fileOf(key);
      // Resuming needs the folder there already: a refused resume leaves no folder behind.
      if (keep === 0) await folderOf(final);
      const file = `${final}${APPENDING_MARK}`;
      const handle = keep === 0 ? await startAppending(file) : await resumeAppending(file, key, keep);
      return appendableAt(file, final, key, handle, keep);
    },
    async put(key, bytes) {
      const final = fileOf(key);
      await folderOf(final);
      const temp = `${final}${TEMP_MARK}${randomUUID()}`;
      try {
        await naming(temp, 'put', () => files.put(temp, final, bytes));
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
    },
    async get(key) {
      try {
        return await readFile(fileOf(key));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async stat(key) {
      try {
        return { size: (await stat(fileOf(key))).size };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    read(key, range) {
      return createFileRangeStream(fileOf(key), { chunkBytes: WRITE_BUFFER_BYTES, ...(range ? { start: range.start, end: range.end } : {}) });
    },
    async delete(key) {
      await rm(fileOf(key), { force: true });
    },
    // Temporary names are `<final>.tmp-<uuid>`, and no key segment may contain `.tmp-`: the name
    // prefix belongs to this key alone. The appendable write's file is `<final>~appending`.
    async abortIncomplete(key) {
      const final = fileOf(key);
      const folder = path.dirname(final);
      const mark = `${path.basename(final)}${TEMP_MARK}`;
      const appending = `${path.basename(final)}${APPENDING_MARK}`;
      let names: string[];
      try {
        names = (await readdir(folder)).filter((name) => name.startsWith(mark) || name === appending);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
        throw error;
      }
      await Promise.all(names.map((name) => rm(path.join(folder, name), { force: true })));
      return names.length;
    },
    async close() {
      folders.clear();
      if (threads !== options.threads) await threads.close();
    },
    async list(prefix) {
      const folder = fileOf(prefix.replace(/\/$/, ''));
      try {
        // Objects only: a sub-folder holds keys of its own, listed from it, and is no object to get.
        const entries = await readdir(folder, { withFileTypes: true });
        return entries.filter((entry) => entry.isFile() && !entry.name.includes(TEMP_MARK) && !entry.name.endsWith(APPENDING_MARK)).map((entry) => `${prefix.replace(/\/$/, '')}/${entry.name}`);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
    },
  };
}

/**
 * Temporary files of writes a crash interrupted: never committed, so never visible. Appendable
 * writes' files (`~appending`) stay: what their checkpoints made durable is to be resumed.
 */
async function removeLeftovers(folder: string): Promise<void> {
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) await removeLeftovers(full);
    else if (entry.name.includes(TEMP_MARK)) await rm(full, { force: true });
  }
}
