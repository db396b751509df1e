// Transfer records on the object store (one JSON object per transfer, written atomically) with an
// in-memory index for lookups and lists. The files are the truth; the index is rebuilt from them at
// start-up, so nothing depends on Redis or on the process staying up.
import type { ObjectStore } from '../storage/object-store.js';
import { isStorageError } from '../storage/storage-errors.js';
import type { TransferRecord, TransferStatus } from './transfer-record.js';

export interface RecordQuery {
  readonly party: string;
  readonly as: 'sender' | 'recipient';
  readonly status?: TransferStatus;
  /** Id of the last record of the previous page. */
  readonly after?: string;
  readonly limit: number;
}

export interface RecordStore {
  get(id: string): TransferRecord | undefined;
  save(record: TransferRecord): Promise<void>;
  /** Newest first (ids are time-ordered). */
  list(query: RecordQuery): { records: TransferRecord[]; next: string | undefined };
  all(): Iterable<TransferRecord>;
}

const recordKey = (id: string): string => `records/${id}.json`;

/** A record read from the store itself, not from an index: what a worker process sees. */
export async function readRecord(store: ObjectStore, id: string): Promise<TransferRecord | undefined> {
  const bytes = await store.get(recordKey(id));
  return bytes ? (JSON.parse(bytes.toString('utf8')) as TransferRecord) : undefined;
}

export async function createRecordStore(store: ObjectStore): Promise<RecordStore> {
  const index = new Map<string, TransferRecord>();
  for (const key of await store.list('records')) {
    const bytes = await store.get(key);
    if (!bytes) continue;
    const record = JSON.parse(bytes.toString('utf8')) as TransferRecord;
    index.set(record.id, record);
  }
  return {
    get: (id) => index.get(id),
    async save(record) {
      try {
        await store.put(recordKey(record.id), Buffer.from(JSON.stringify(record)));
      } catch (error) {
        // A failed upload goes back to `authorized` even when the disk cannot take the record now:
        // the record on disk still says `uploading`, which start-up recovery turns into `authorized`
        // (recoverInterruptedUploads), so the index shows what a restart would, and the sender can
        // upload again once there is space without waiting for one.
        if (isStorageError(error) && record.status === 'authorized' && index.get(record.id)?.status === 'uploading') index.set(record.id, record);
        throw error;
      }
      index.set(record.id, record);
    },
    list({ party, as, status, after, limit }) {
      const matching = [...index.values()]
        .filter((record) => record[as] === party && (status === undefined || record.status === status))
        .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
      const rest = after === undefined ? matching : matching.filter((record) => record.id < after);
      const page = rest.slice(0, limit);
      return { records: page, next: rest.length > limit ? page.at(-1)?.id : undefined };
    },
    all: () => index.values(),
  };
}
