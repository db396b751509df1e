// The default object store: files under the data folder. Writes go to a temporary name in the same
// folder, are fsynced, then renamed, so a crash leaves either the old object or the new one, never
// half of one; leftovers of interrupted writes are removed at start-up.
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { ObjectStore, PendingFile, PendingObject } from './object-store.js';
import { createSteadyWriteStream, createSyncQueue } from './steady-write-stream.js';

const KEY_PATTERN = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const TEMP_MARK = '.tmp-';
/** Large writes keep a Node sink near disk speed (small writes halve it). */
const WRITE_BUFFER_BYTES = 1024 * 1024;
/** Large objects are handed to the disk every this many bytes (see steady-write-stream.ts). */
const SYNC_EVERY_BYTES = 1024 * 1024;

function checkKey(key: string): void {
  if (!KEY_PATTERN.test(key) || key.split('/').some((segment) => segment === '.' || segment === '..' || segment.includes(TEMP_MARK))) {
    throw new Error(`invalid object key ${JSON.stringify(key)}`);
  }
}

async function fsyncPath(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * @param options.removeLeftovers false for a second process on the same folder (a `hetao worker`):
 *   only the gateway, which owns the uploads, may treat unfinished temp files as a crash's leftovers.
 */
export async function createFilesystemStore(root: string, options: { removeLeftovers?: boolean } = {}): Promise<ObjectStore> {
  await mkdir(root, { recursive: true });
  if (options.removeLeftovers !== false) await removeLeftovers(root);
  const fileOf = (key: string): string => {
    checkKey(key);
    return path.join(root, ...key.split('/'));
  };

  // Every small write is a handful of steps, each waiting for a turn of a possibly busy event loop:
  // folders are created once and kept open for their fsyncs, instead of mkdir + open + close each time.
  const folders = new Map<string, Promise<FileHandle>>();
  const bulkSyncs = createSyncQueue();
  const folderOf = (file: string): Promise<FileHandle> => {
    const folder = path.dirname(file);
    let handle = folders.get(folder);
    if (!handle) {
      handle = mkdir(folder, { recursive: true }).then(() => open(folder, 'r'));
      handle.catch(() => folders.delete(folder));
      folders.set(folder, handle);
    }
    return handle;
  };

  const pendingFileAt = (temp: string, final: string, key: string): PendingFile => {
    let settled = false;
    return {
      path: temp,
      async commit() {
        if (settled) throw new Error(`object ${key} already settled`);
        settled = true;
        await fsyncPath(temp);
        await rename(temp, final);
        await (await folderOf(final)).sync();
        return { size: (await stat(final)).size };
      },
      async abort() {
        settled = true;
        await rm(temp, { force: true });
      },
    };
  };

  return {
    async createPendingFile(key): Promise<PendingFile> {
      const final = fileOf(key);
      await folderOf(final);
      const temp = `${final}${TEMP_MARK}${randomUUID()}`;
      await (await open(temp, 'wx')).close();
      return pendingFileAt(temp, final, key);
    },
    async createPending(key): Promise<PendingObject> {
      const final = fileOf(key);
      await folderOf(final);
      const temp = `${final}${TEMP_MARK}${randomUUID()}`;
      const stream = createSteadyWriteStream(temp, { highWaterMark: WRITE_BUFFER_BYTES, syncEveryBytes: SYNC_EVERY_BYTES, queueSync: bulkSyncs });
      const file = pendingFileAt(temp, final, key);
      const closed = (): Promise<void> =>
        stream.closed
          ? Promise.resolve()
          : new Promise((resolve) => {
              stream.once('close', () => resolve());
              stream.destroy();
            });
      return {
        stream,
        async commit() {
          if (!stream.writableFinished) await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
          await closed();
          return file.commit();
        },
        async abort() {
          await closed();
          await file.abort();
        },
      };
    },
    async put(key, bytes) {
      const final = fileOf(key);
      const folder = await folderOf(final);
      const temp = `${final}${TEMP_MARK}${randomUUID()}`;
      const handle = await open(temp, 'wx');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, final);
      await folder.sync();
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
      return createReadStream(fileOf(key), { highWaterMark: WRITE_BUFFER_BYTES, ...(range ? { start: range.start, end: range.end } : {}) });
    },
    async delete(key) {
      await rm(fileOf(key), { force: true });
    },
    async close() {
      const handles = [...folders.values()];
      folders.clear();
      await Promise.allSettled(handles.map(async (handle) => (await handle).close()));
    },
    async list(prefix) {
      const folder = fileOf(prefix.replace(/\/$/, ''));
      try {
        return (await readdir(folder)).filter((name) => !name.includes(TEMP_MARK)).map((name) => `${prefix.replace(/\/$/, '')}/${name}`);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
    },
  };
}

/** Temporary files of writes a crash interrupted: never committed, so never visible. */
async function removeLeftovers(folder: string): Promise<void> {
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) await removeLeftovers(full);
    else if (entry.name.includes(TEMP_MARK)) await rm(full, { force: true });
  }
}
