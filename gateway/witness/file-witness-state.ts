// The witness state of one process in a folder: one JSON file per origin, named by the hex SHA-256 of
// the origin (an origin is a URL, with slashes). Each store is a durable put — temporary file, fsync,
// rename, fsync of the folder (durable/) — so a crash leaves the old checkpoint or the new one, never
// half of one. Compare-and-store is atomic because this process is the folder's only writer and runs
// the stores of one origin one after another: another process on the same folder would break that,
// which is what the PostgreSQL state is for.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { readJsonFile } from '../durable/read-json-file.js';
import { createDurableFiles } from '../durable/durable-files.js';
import { GatewayError } from '../errors.js';
import { namingStorageErrors, type StorageErrorObserver } from '../storage/storage-errors.js';
import { createThreadPool, type ThreadPool } from '../threads/thread-pool.js';
import type { CompareAndStoreOutcome, WitnessedCheckpoint, WitnessState } from './witness-state.js';
import { oneAtATimePerKey } from '../serial/one-at-a-time.js';

export interface FileWitnessStateOptions {
  /** The folder of the state's files (created if missing); no other process may write in it. */
  readonly dir: string;
  /** The process's pool, for the durable puts; without it the state runs a one-thread pool of its own. */
  readonly threads?: ThreadPool<'io'>;
  /** Told of each full or failing disk (the log and the metrics). */
  readonly observe?: StorageErrorObserver;
}

const TEMPORARY = '.tmp';

const fileNameOf = (origin: string): string => `${createHash('sha256').update(origin, 'utf8').digest('hex')}.json`;

function isWitnessedCheckpoint(value: unknown, origin: string): value is WitnessedCheckpoint {
  const record = value as Partial<Record<keyof WitnessedCheckpoint, unknown>> | null;
  return (
    typeof record === 'object' &&
    record !== null &&
    record.origin === origin &&
    Number.isSafeInteger(record.treeSize) &&
    (record.treeSize as number) >= 0 &&
    typeof record.rootHash === 'string' &&
    typeof record.checkpoint === 'string' &&
    typeof record.cosignedAt === 'string'
  );
}

/**
 * Opens the witness state in `options.dir`, removing the temporary files a crash may have left there.
 * Its methods reject with GatewayError `ERR_STORAGE_FULL` / `ERR_STORAGE_UNAVAILABLE` on a full or
 * failing disk, `ERR_INTERNAL` for a file that is not a checkpoint record of its origin, and
 * `ERR_SERVICE_UNAVAILABLE` once closed.
 */
export async function openFileWitnessState(options: FileWitnessStateOptions): Promise<WitnessState> {
  const { dir, observe } = options;
  await namingStorageErrors({ path: dir, operation: 'mkdir' }, observe, () => mkdir(dir, { recursive: true }));
  for (const name of await readdir(dir)) {
    if (name.endsWith(TEMPORARY)) await rm(path.join(dir, name), { force: true });
  }
  const threads = options.threads ?? createThreadPool({ lanes: { io: { threads: 1 } } });
  const files = createDurableFiles(threads);
  const oneAtATime = oneAtATimePerKey();
  const inFlight = new Set<Promise<unknown>>();
  let closed = false;

  const refuseIfClosed = (): void => {
    if (closed) throw new GatewayError('ERR_SERVICE_UNAVAILABLE', 'the witness state is closed');
  };

  const read = async (origin: string): Promise<WitnessedCheckpoint | undefined> => {
    const file = path.join(dir, fileNameOf(origin));
    const read = await readJsonFile(file);
    if (!read.found) return undefined;
    const record = read.value;
    if (!isWitnessedCheckpoint(record, origin)) throw new GatewayError('ERR_INTERNAL', `the witness state file ${file} is not a checkpoint record of ${JSON.stringify(origin)}`);
    return record;
  };

  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    void work.catch(() => undefined).finally(() => inFlight.delete(work));
    return work;
  };

  return {
    async get(origin) {
      refuseIfClosed();
      return read(origin);
    },
    async compareAndStore(origin, expectedSize, next) {
      refuseIfClosed();
      if (next.origin !== origin) throw new GatewayError('ERR_INTERNAL', `a checkpoint of ${JSON.stringify(next.origin)} cannot be stored as ${JSON.stringify(origin)}'s`);
      const final = path.join(dir, fileNameOf(origin));
      return track(
        oneAtATime(origin, async (): Promise<CompareAndStoreOutcome> => {
          const currentSize = (await read(origin))?.treeSize ?? 0;
          if (currentSize !== expectedSize) return { stored: false, currentSize };
          const record: WitnessedCheckpoint = { origin, treeSize: next.treeSize, rootHash: next.rootHash, checkpoint: next.checkpoint, cosignedAt: next.cosignedAt };
          const temp = `${final}.${randomUUID()}${TEMPORARY}`;
          try {
            await namingStorageErrors({ path: final, operation: 'put' }, observe, () => files.put(temp, final, Buffer.from(`${JSON.stringify(record)}\n`, 'utf8')));
          } catch (error) {
            await rm(temp, { force: true }).catch(() => undefined);
            throw error;
          }
          return { stored: true };
        }),
      );
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...inFlight]);
      if (threads !== options.threads) await threads.close();
    },
  };
}
