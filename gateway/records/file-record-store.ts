// Transfer records on the object store: one JSON object per transfer (written atomically by the
// store), with an in-memory index for lookups, lists and sweeps. The objects are the truth; the index
// is rebuilt from them at open, so nothing depends on Redis or on the process staying up. One process
// (the gateway) writes them — which is why the revision check against the index is enough here; a
// `hetao worker` reads them with `openFileRecordReader`, and why a pair's lock (withPairLock) is a
// queue in this process.
import { GatewayError } from '../errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { isStorageError } from '../storage/storage-errors.js';
import { US_PERSON_CATEGORIES, type UsPersonCategory } from '../policy/manifest.js';
import type { RecordReader, RecordSelection, RecordStore } from '../transfer/record-store.js';
import type { TransferRecord } from '../transfer/transfer-record.js';
import { oneAtATimePerKey } from '../serial/one-at-a-time.js';

const recordKey = (id: string): string => `records/${id}.json`;

/** Records written before revisions existed were saved at least once: they read as revision 1. */
const parse = (bytes: Buffer): TransferRecord => {
  const record = JSON.parse(bytes.toString('utf8')) as TransferRecord;
  return record.revision === undefined ? { ...record, revision: 1 } : record;
};

/** Newest first: ids are time-ordered. */
const newestFirst = (a: TransferRecord, b: TransferRecord): number => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

function matches(record: TransferRecord, selection: RecordSelection): boolean {
  if (selection.statuses && !selection.statuses.includes(record.status)) return false;
  if (selection.retentionEndsBy !== undefined && record.retentionUntil > selection.retentionEndsBy) return false;
  if (selection.withPendingStages && (record.pendingStages?.length ?? 0) === 0) return false;
  if (selection.leaseExpiredBy !== undefined) {
    if (record.status !== 'uploading') return false;
    if (record.lease && Date.parse(record.lease.expiresAt) > Date.parse(selection.leaseExpiredBy)) return false;
  }
  return true;
}

/** The transfers that carried nothing for sure: their US persons do not count (RecordStore.usPersonsCarried). */
const CARRIED_NOTHING: readonly TransferRecord['status'][] = ['cancelled', 'failed'];

/** manifest.us.personCounts, which the Manifest type may not declare (records saved before it existed have none). */
const personCountsOf = (record: TransferRecord): Partial<Record<UsPersonCategory, unknown>> | undefined =>
  (record.manifest as { us?: { personCounts?: Partial<Record<UsPersonCategory, unknown>> } }).us?.personCounts;

/** Reads each record from the store itself, not from an index: what another process sees. */
export function openFileRecordReader(objects: ObjectStore): RecordReader {
  return {
    async get(id) {
      const bytes = await objects.get(recordKey(id));
      return bytes ? parse(bytes) : undefined;
    },
  };
}

export async function openFileRecordStore(objects: ObjectStore): Promise<RecordStore> {
  const index = new Map<string, TransferRecord>();
  for (const key of await objects.list('records')) {
    const bytes = await objects.get(key);
    if (!bytes) continue;
    const record = parse(bytes);
    index.set(record.id, record);
  }
  /** Saves of one record write one after another, so the revision checked is the one written over. */
  const oneAtATime = oneAtATimePerKey();
  /** Works for one sender→recipient pair (withPairLock) run one after another too. */
  const onePairAtATime = oneAtATimePerKey();

  /** @throws GatewayError ERR_TRANSFER_CONFLICT unless `record` names the revision the index holds. */
  const checkRevision = (record: TransferRecord): number => {
    const current = index.get(record.id);
    if (record.revision === undefined) {
      if (current) throw new GatewayError('ERR_TRANSFER_CONFLICT', `transfer ${record.id} exists already`, { id: record.id });
      return 1;
    }
    if (current?.revision !== record.revision) {
      throw new GatewayError('ERR_TRANSFER_CONFLICT', `transfer ${record.id} was changed by another request (or does not exist)`, { id: record.id, revision: record.revision });
    }
    return record.revision + 1;
  };

  const write = async (record: TransferRecord): Promise<void> => {
    await objects.put(recordKey(record.id), Buffer.from(JSON.stringify(record)));
    index.set(record.id, record);
  };

  return {
    async get(id) {
      return index.get(id);
    },
    save(record) {
      return oneAtATime(record.id, async () => {
        const stored = { ...record, revision: checkRevision(record) };
        try {
          await write(stored);
        } catch (error) {
          // A failed upload goes back to `authorized` even when the disk cannot take the record now:
          // the record on disk still says `uploading`, which start-up recovery turns into `authorized`
          // (recoverInterruptedUploads), so the index shows what a restart would, and the sender can
          // upload again once there is space without waiting for one.
          if (isStorageError(error) && stored.status === 'authorized' && index.get(stored.id)?.status === 'uploading') index.set(stored.id, stored);
          throw error;
        }
        return stored;
      });
    },
    renewLease(id, holder, expiresAt) {
      return oneAtATime(id, async () => {
        const current = index.get(id);
        if (current?.status !== 'uploading' || current.lease?.holder !== holder) return false;
        await write({ ...current, lease: { holder, expiresAt } });
        return true;
      });
    },
    async list({ party, as, status, after, limit }) {
      const matching = [...index.values()]
        .filter((record) => record[as] === party && (status === undefined || record.status === status) && (after === undefined || record.id < after))
        .sort(newestFirst);
      const page = matching.slice(0, limit);
      return { records: page, next: matching.length > limit ? page.at(-1)?.id : undefined };
    },
    async *select(selection) {
      // A snapshot: the sweep may save the records it visits.
      const selected = [...index.values()].filter((record) => matches(record, selection)).sort((a, b) => newestFirst(b, a));
      yield* selected;
    },
    async usPersonsCarried(sender, recipient, since) {
      const from = Date.parse(since);
      if (Number.isNaN(from)) throw new RangeError(`not an ISO 8601 instant: ${since}`);
      const carried = Object.fromEntries(US_PERSON_CATEGORIES.map((category) => [category, 0])) as Record<UsPersonCategory, number>;
      for (const record of index.values()) {
        if (record.sender !== sender || record.recipient !== recipient || CARRIED_NOTHING.includes(record.status) || Date.parse(record.createdAt) < from) continue;
        const counts = personCountsOf(record);
        if (!counts) continue;
        for (const category of US_PERSON_CATEGORIES) {
          const count = counts[category];
          if (typeof count === 'number' && Number.isFinite(count)) carried[category] += count;
        }
      }
      return carried;
    },
    withPairLock(sender, recipient, work) {
      // JSON keeps the pair unambiguous whatever characters the two names hold.
      return onePairAtATime(JSON.stringify([sender, recipient]), work);
    },
    async close() {
      index.clear();
    },
  };
}
