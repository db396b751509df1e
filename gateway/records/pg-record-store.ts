// Transfer records in PostgreSQL, for shared mode: several gateway instances (and the workers, as
// readers) on one `transfers` table (database/migrations/0001-transfer-records.ts). Which of two
// racing changes wins is decided by the database, not by a lock in one process: every save is one
// conditional statement on the row's revision. The `record` column holds the whole record as stored
// (revision and lease included), so a read is that column alone; the other columns are copies of the
// fields that lists and sweeps filter and order on, written by the same statement. A lease renewal
// moves both the `lease_expires_at` column and the lease in `record`, in one statement.
// Lists and sweeps are keyset queries on the table's indexes: no OFFSET, no count, no whole-table sort;
// a list can only be read in order from its party's index (list_key, in the migration).
// The US persons a pair carried is one aggregate over the pair's index (migration 0003); a pair's lock
// is a PostgreSQL advisory lock, so it holds across instances, taken by one work of this process at a
// time (the others for the pair wait here, not on pool connections).
import type { Database } from '../database/database.js';
import { GatewayError } from '../errors.js';
import { US_PERSON_CATEGORIES, type UsPersonCategory } from '../policy/manifest.js';
import type { RecordSelection, RecordStore } from '../transfer/record-store.js';
import type { TransferRecord } from '../transfer/transfer-record.js';
import { oneAtATimePerKey } from '../serial/one-at-a-time.js';

export interface PgRecordStoreOptions {
  /** Records a sweep reads per query (default 500): a sweep never holds more, nor a connection between batches. */
  readonly selectBatch?: number;
  /**
   * Pair locks (withPairLock) this store holds at once (default 4). Each holds a pool connection while
   * its work runs queries on others: keep it below the pool size, or works wait for connections that
   * only they would give back.
   */
  readonly pairLocks?: number;
}

const COLUMNS = 'sender, recipient, status, created_at, updated_at, retention_until, decision_id, pending_stages, revision, lease_holder, lease_expires_at, record';

/** $2…$13 of an insert or update: the record's query columns, its revision and the record itself. */
function columnValues(record: TransferRecord): unknown[] {
  return [
    record.sender,
    record.recipient,
    record.status,
    record.createdAt,
    record.updatedAt,
    record.retentionUntil,
    record.decision.decisionId,
    (record.pendingStages?.length ?? 0) > 0,
    record.revision,
    record.lease?.holder ?? null,
    record.lease?.expiresAt ?? null,
    JSON.stringify(record),
  ];
}

const INSERT = `INSERT INTO transfers (id, ${COLUMNS})
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb)
  ON CONFLICT (id) DO NOTHING`;

const UPDATE = `UPDATE transfers SET (${COLUMNS}) = ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb)
  WHERE id = $1 AND revision = $14`;

// $3 and $4 carry the same instant: once as a timestamp for the column, once as the text kept in the record.
const RENEW_LEASE = `UPDATE transfers SET lease_expires_at = $3, record = jsonb_set(record, '{lease,expiresAt}', to_jsonb($4::text))
  WHERE id = $1 AND status = 'uploading' AND lease_holder = $2`;

/**
 * Sums each category's US persons over the pair's transfers since an instant, from the
 * transfers_pair_created index (0003); a category a manifest does not count adds nothing.
 */
const US_PERSONS_CARRIED = `SELECT ${US_PERSON_CATEGORIES.map((category) => `coalesce(sum((record->'manifest'->'us'->'personCounts'->>'${category}')::bigint), 0) AS "${category}"`).join(', ')}
  FROM transfers WHERE sender = $1 AND recipient = $2 AND created_at >= $3::timestamptz AND status NOT IN ('cancelled', 'failed')`;

/**
 * The first key of the pair locks' advisory locks ('hetp', hetao pair), the second being hashtext of the
 * pair: no other lock of the gateway has it (the journal's are 'heta' + n; migrations', one int8 key).
 */
const PAIR_LOCK_SPACE = 0x68657470;

/** Runs at most `limit` of the works given at once; the others start in call order as those end. */
function atMost(limit: number): <T>(work: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (work) => {
    if (running < limit) running += 1;
    else await new Promise<void>((resolve) => waiting.push(resolve)); // the slot is handed over as it is
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running -= 1;
    }
  };
}

/** The WHERE conditions of a sweep's selection, with their values numbered from $1. */
function selectionFilter(selection: RecordSelection): { conditions: string[]; values: unknown[] } {
  const conditions: string[] = [];
  const values: unknown[] = [];
  const value = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  if (selection.statuses) conditions.push(`status = ANY(${value(selection.statuses)}::text[])`);
  if (selection.retentionEndsBy !== undefined) conditions.push(`retention_until <= ${value(selection.retentionEndsBy)}`);
  if (selection.withPendingStages) conditions.push('pending_stages');
  if (selection.leaseExpiredBy !== undefined) {
    conditions.push(`status = 'uploading' AND (lease_expires_at IS NULL OR lease_expires_at <= ${value(selection.leaseExpiredBy)})`);
  }
  return { conditions, values };
}

/**
 * A RecordStore on `database` (also a RecordReader for workers). The pool is the caller's: `close`
 * leaves it open, since the journal and the upload leases share it.
 * Every method rejects with GatewayError ERR_DATABASE_UNAVAILABLE when the database does not answer.
 */
export function openPgRecordStore(database: Database, options: PgRecordStoreOptions = {}): RecordStore {
  const batch = options.selectBatch ?? 500;
  const onePairAtATime = oneAtATimePerKey();
  const lockSlot = atMost(options.pairLocks ?? 4);

  return {
    async get(id) {
      const { rows } = await database.query<{ record: TransferRecord }>('SELECT record FROM transfers WHERE id = $1', [id]);
      return rows[0]?.record;
    },

    /** @throws GatewayError ERR_TRANSFER_CONFLICT (see RecordStore.save), ERR_DATABASE_UNAVAILABLE */
    async save(record) {
      const read = record.revision;
      const stored: TransferRecord = { ...record, revision: (read ?? 0) + 1 };
      const result = read === undefined ? await database.query(INSERT, [stored.id, ...columnValues(stored)]) : await database.query(UPDATE, [stored.id, ...columnValues(stored), read]);
      if (result.rowCount !== 1) {
        throw read === undefined
          ? new GatewayError('ERR_TRANSFER_CONFLICT', `transfer ${record.id} exists already`, { id: record.id })
          : new GatewayError('ERR_TRANSFER_CONFLICT', `transfer ${record.id} was changed by another request (or does not exist)`, { id: record.id, revision: read });
      }
      return stored;
    },

    async renewLease(id, holder, expiresAt) {
      const result = await database.query(RENEW_LEASE, [id, holder, expiresAt, expiresAt]);
      return result.rowCount === 1;
    },

    async list({ party, as, status, after, limit }) {
      const side = as === 'recipient' ? 'recipient' : 'sender';
      const values: unknown[] = [party];
      const conditions = [`${side} = $1`];
      if (status !== undefined) conditions.push(`status = $${values.push(status)}`);
      // list_key is the id, carried only by the party indexes (see the migration): the one ordered path.
      if (after !== undefined) conditions.push(`list_key < $${values.push(after)}`);
      // One more than a page tells whether another page follows, without counting.
      const { rows } = await database.query<{ record: TransferRecord }>(
        `SELECT record FROM transfers WHERE ${conditions.join(' AND ')} ORDER BY list_key DESC LIMIT $${values.push(limit + 1)}`,
        values,
      );
      const records = rows.slice(0, limit).map((row) => row.record);
      return { records, next: rows.length > limit ? records.at(-1)?.id : undefined };
    },

    async *select(selection) {
      const { conditions, values } = selectionFilter(selection);
      const where = conditions.length > 0 ? `${conditions.join(' AND ')} AND ` : '';
      const text = `SELECT record FROM transfers WHERE ${where}id > $${values.length + 1} ORDER BY id LIMIT $${values.length + 2}`;
      // Keyset batches, each a query of its own: records the sweep saves meanwhile are seen as they
      // are then, and none is visited twice (ids only grow past the last one visited).
      let last = '';
      for (;;) {
        const { rows } = await database.query<{ record: TransferRecord }>(text, [...values, last, batch]);
        for (const row of rows) yield row.record;
        const final = rows.at(-1);
        if (rows.length < batch || !final) return;
        last = final.record.id;
      }
    },

    async usPersonsCarried(sender, recipient, since) {
      if (Number.isNaN(Date.parse(since))) throw new RangeError(`not an ISO 8601 instant: ${since}`);
      const { rows } = await database.query<Record<UsPersonCategory, string>>(US_PERSONS_CARRIED, [sender, recipient, since]);
      const [sums] = rows;
      // Sums of bigint are numeric: node-postgres hands them over as strings.
      return Object.fromEntries(US_PERSON_CATEGORIES.map((category) => [category, Number(sums?.[category] ?? 0)])) as Record<UsPersonCategory, number>;
    },

    withPairLock(sender, recipient, work) {
      // JSON keeps the pair unambiguous whatever characters the two names hold.
      const pair = JSON.stringify([sender, recipient]);
      return onePairAtATime(pair, () => lockSlot(() => database.withAdvisoryLock(PAIR_LOCK_SPACE, pair, work)));
    },

    async close() {
      // Nothing of its own to release: the pool belongs to the process (see above).
    },
  };
}
