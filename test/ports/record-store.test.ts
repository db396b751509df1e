// The record store contract on each implementation: the file record store (records as objects of a
// filesystem store in a fresh temporary folder, reopened from that folder, read by a worker's reader
// on a store of its own) and the PostgreSQL one (a fresh database per harness, reopened as a new store
// on a new pool, read by a store on a pool of its own). Then what only shared mode has: two instances
// racing on one record, two instances taking turns under one pair's lock, the list and sum queries'
// plans, and a database that does not answer.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../gateway/database/database.js';
import { openFileRecordReader, openFileRecordStore } from '../../gateway/records/file-record-store.js';
import { openPgRecordStore } from '../../gateway/records/pg-record-store.js';
import { createFilesystemStore } from '../../gateway/storage/filesystem-store.js';
import type { ObjectStore } from '../../gateway/storage/object-store.js';
import type { TransferRecord } from '../../gateway/transfer/transfer-record.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { carrying, describeRecordStoreContract, loggedWork, oneAfterAnother, transferRecord, usPersons, within } from './record-store.contract.js';

describeRecordStoreContract('file record store', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'hetao-records-contract-'));
  let objects = await createFilesystemStore(root);
  const readers: ObjectStore[] = [];
  return {
    store: await openFileRecordStore(objects),
    async openReader() {
      // A worker opens the data folder beside the gateway, and never removes its temporary files.
      const theirs = await createFilesystemStore(root, { removeLeftovers: false });
      readers.push(theirs);
      return openFileRecordReader(theirs);
    },
    async reopen(store) {
      await store.close();
      await objects.close();
      objects = await createFilesystemStore(root);
      return openFileRecordStore(objects);
    },
    async cleanup() {
      for (const reader of readers) await reader.close();
      await objects.close();
      await rm(root, { recursive: true, force: true });
    },
  };
});

// Sweeps read 7 records per query here, so the contract's sweeps cross batch boundaries.
const SELECT_BATCH = 7;

/**
 * One database for the whole contract run, emptied before each test: creating a database per test
 * cost more than the tests themselves on a loaded machine.
 */
let contractDatabase: Promise<TestDatabase> | undefined;
afterAll(async () => {
  await (await contractDatabase)?.drop();
});

describeRecordStoreContract('PostgreSQL record store', async () => {
  contractDatabase ??= createTestDatabase();
  const database = await contractDatabase;
  const pools: Database[] = [];
  const pool = (poolSize?: number): Database => {
    const opened = openDatabase({ url: database.url, ...(poolSize ? { poolSize } : {}) });
    pools.push(opened);
    return opened;
  };
  await pool(1).query('TRUNCATE transfers');
  return {
    store: openPgRecordStore(pool(), { selectBatch: SELECT_BATCH }),
    async openReader() {
      return openPgRecordStore(pool(2));
    },
    async reopen(store) {
      await store.close();
      return openPgRecordStore(pool(), { selectBatch: SELECT_BATCH });
    },
    cleanup: async () => {
      await Promise.all(pools.map((opened) => opened.close()));
    },
  };
});

/** A minute after `record`, moved to `status`. */
function moved(record: TransferRecord, status: TransferRecord['status'], holder?: string): TransferRecord {
  const at = new Date(Date.parse(record.updatedAt) + 60_000).toISOString();
  return { ...record, status, updatedAt: at, ...(holder ? { lease: { holder, expiresAt: at } } : {}), history: [...record.history, { at, status: record.status, event: `to-${status}`, by: holder ?? 'gateway' }] };
}

describe('PostgreSQL record store in shared mode', () => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await createTestDatabase();
  });
  afterEach(async () => {
    await database.drop();
  });

  it('two instances (two pools) racing on one record from the revision each read: exactly one wins, every round', async () => {
    const a = openPgRecordStore(database.open({ poolSize: 4 }));
    const b = openPgRecordStore(database.open({ poolSize: 4 }));
    for (let round = 0; round < 25; round += 1) {
      const created = await a.save(transferRecord(round, { status: 'authorized' }));
      const [readByA, readByB] = (await Promise.all([a.get(created.id), b.get(created.id)])) as [TransferRecord, TransferRecord];
      const outcomes = await Promise.allSettled([a.save(moved(readByA, 'uploading', 'gateway-a')), b.save(moved(readByB, 'uploading', 'gateway-b'))]);
      const won = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
      expect(won).toHaveLength(1);
      const lost = outcomes.find((outcome) => outcome.status === 'rejected');
      expect(lost?.status === 'rejected' ? lost.reason : undefined).toMatchObject({ code: 'ERR_TRANSFER_CONFLICT', status: 409 });
      // Both instances see the winner's record, lease included.
      expect(await a.get(created.id)).toEqual(won[0]);
      expect(await b.get(created.id)).toEqual(won[0]);
      expect(won[0]?.revision).toBe(2);
    }
  });

  it('two instances (two pools) take turns under one pair lock: an advisory lock in the database, not a lock in one process', async () => {
    const a = openPgRecordStore(database.open());
    const b = openPgRecordStore(database.open());
    const log: string[] = [];
    const stores = [a, b, a, b, b, a];
    await Promise.all(stores.map((store, i) => store.withPairLock('sz-hospital', 'hk-uni-genomics', loggedWork(log, `${i}`))));
    expect(log).toHaveLength(12);
    expect(oneAfterAnother(log), log.join(', ')).toBe(true);
    // Decisions on both instances, each reading the pair's sum and saving its record under the lock.
    const since = '2025-03-01T00:00:00.000Z';
    const seen = await Promise.all(
      [a, b, a, b, a, b, a, b].map((store, i) =>
        store.withPairLock('sz-hospital', 'hk-uni-genomics', async () => {
          const { genomic } = await store.usPersonsCarried('sz-hospital', 'hk-uni-genomics', since);
          await store.save(carrying(transferRecord(i, { recipient: 'hk-uni-genomics' }), { genomic: 10 }));
          return genomic;
        }),
      ),
    );
    expect([...seen].sort((x, y) => x - y)).toEqual([0, 10, 20, 30, 40, 50, 60, 70]);
    expect(await b.usPersonsCarried('sz-hospital', 'hk-uni-genomics', since)).toEqual(usPersons({ genomic: 80 }));
  });

  it("one instance holding a pair's lock holds up no other pair on another instance, and a work that rejects lets the lock and its connection go", async () => {
    const poolA = database.open({ poolSize: 2 });
    const a = openPgRecordStore(poolA);
    const b = openPgRecordStore(database.open({ poolSize: 2 }));
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const holding = a.withPairLock('sz-hospital', 'hk-uni-genomics', () => held);
    try {
      await within(10_000, b.withPairLock('sz-hospital', 'hk-ctc', async () => undefined), 'another pair waited for the held one');
      await within(10_000, b.withPairLock('hk-uni-genomics', 'sz-hospital', async () => undefined), 'the reverse direction waited for the held pair');
    } finally {
      release();
    }
    await holding;
    const refused = new Error('refused by the work');
    for (let round = 0; round < 5; round += 1) {
      await expect(a.withPairLock('sz-hospital', 'hk-uni-genomics', () => Promise.reject(refused))).rejects.toBe(refused);
      expect(await within(10_000, b.withPairLock('sz-hospital', 'hk-uni-genomics', async () => round), "the other instance waited for a rejected work's lock")).toBe(round);
    }
    // Every lock's connection went back to its pool of two, unlocked: nothing leaked, nothing waits.
    expect(poolA.stats().waiting).toBe(0);
    const { rows } = await poolA.query<{ held: string }>("SELECT count(*) AS held FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())");
    expect(Number(rows[0]?.held)).toBe(0);
  });

  it('the sum of US persons a pair carried is read from the pair index', async () => {
    const pool = database.open();
    const statements: { text: string; values: readonly unknown[] }[] = [];
    const recording: Database = { ...pool, query: (text, values) => (statements.push({ text, values: values ?? [] }), pool.query(text, values)) };
    const store = openPgRecordStore(recording);
    for (let i = 0; i < 20; i += 1) await store.save(carrying(transferRecord(i, { recipient: i % 2 === 0 ? 'hk-uni-genomics' : 'hk-ctc' }), { genomic: i }));
    // Another 200 institutions' transfers, as in shared mode: the pair is one among hundreds.
    await pool.query(`INSERT INTO transfers (id, sender, recipient, status, created_at, updated_at, retention_until, decision_id, revision, record)
      SELECT 'tr-' || md5(n::text), 'other-' || n % 200, 'other-' || (n + 1) % 200, 'received', now(), now(), now(), 'dec-' || n, 1, '{}'::jsonb
      FROM generate_series(1, 20000) AS n`);
    await pool.query('ANALYZE transfers');
    statements.length = 0;
    expect(await store.usPersonsCarried('sz-hospital', 'hk-uni-genomics', '2025-03-01T08:05:00.000Z')).toEqual(usPersons({ genomic: 6 + 8 + 10 + 12 + 14 + 16 + 18 }));
    const [statement] = statements;
    if (!statement) throw new Error('the sum sent no statement');
    const plan = await pool.transaction(async (client) => {
      await client.query('SET LOCAL enable_seqscan = off');
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${statement.text}`, statement.values as unknown[]);
      return rows.map((row) => row['QUERY PLAN']).join('\n');
    });
    expect(plan, plan).toMatch(/Index Cond: \(\(sender = .*\) AND \(recipient = .*\) AND \(created_at >= .*\)\)/);
    expect(plan, plan).toMatch(/using transfers_pair_created on transfers/);
  });

  it('lists are index scans in id order: no sort of the matching rows, whichever side, status and cursor', async () => {
    const pool = database.open();
    const statements: { text: string; values: readonly unknown[] }[] = [];
    // Records the statements the store sends, to ask the planner about exactly those.
    const recording: Database = { ...pool, query: (text, values) => (statements.push({ text, values: values ?? [] }), pool.query(text, values)) };
    const store = openPgRecordStore(recording);
    const parties = ['sz-hospital', 'hk-uni-genomics', 'hk-ctc', 'hetao-sz-institute'];
    const statuses = ['authorized', 'available', 'received', 'expired'] as const;
    for (let i = 0; i < 400; i += 1) {
      await store.save(transferRecord(i, { sender: parties[i % 4], recipient: parties[(i + 1) % 4], status: statuses[i % 4] }));
    }
    // Another 200 institutions' transfers, so each party above has the share of one among 204 (as in
    // shared mode), not a quarter of the table, which walking the primary key would serve as well.
    await pool.query(`INSERT INTO transfers (id, sender, recipient, status, created_at, updated_at, retention_until, decision_id, revision, record)
      SELECT 'tr-' || md5(n::text), 'other-' || n % 200, 'other-' || (n + 1) % 200, 'received', now(), now(), now(), 'dec-' || n, 1, '{}'::jsonb
      FROM generate_series(1, 20000) AS n`);
    await pool.query('ANALYZE transfers');
    const first = await store.list({ party: 'sz-hospital', as: 'sender', status: 'available', limit: 5 });
    const queries = [
      { party: 'sz-hospital', as: 'sender', limit: 5 },
      { party: 'sz-hospital', as: 'sender', status: 'available', limit: 5 },
      { party: 'hk-ctc', as: 'recipient', status: 'received', limit: 5, after: first.next },
      { party: 'hk-ctc', as: 'recipient', limit: 5, after: first.next },
    ] as const;
    for (const query of queries) {
      statements.length = 0;
      await store.list(query);
      const [statement] = statements;
      if (!statement) throw new Error('the list sent no statement');
      // A table this small is cheaper to scan whole; forbid that, and see which index serves the order.
      const plan = await pool.transaction(async (client) => {
        await client.query('SET LOCAL enable_seqscan = off');
        await client.query('SET LOCAL enable_bitmapscan = off');
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${statement.text}`, statement.values as unknown[]);
        return rows.map((row) => row['QUERY PLAN']).join('\n');
      });
      expect(plan, plan).toMatch(new RegExp(`Index Scan using transfers_${query.as}_${'status' in query ? 'status_' : ''}list on transfers`));
      expect(plan, plan).not.toMatch(/Sort/);
    }
  });

  it('a database that does not answer: every operation is ERR_DATABASE_UNAVAILABLE (503, with Retry-After)', async () => {
    const down = openDatabase({ url: 'postgres://postgres@127.0.0.1:1/hetao', connectTimeoutMs: 2_000, retryAfterSeconds: 7 });
    try {
      const store = openPgRecordStore(down);
      const record = transferRecord(1);
      const unavailable = { code: 'ERR_DATABASE_UNAVAILABLE', status: 503, details: { retryAfterSeconds: 7 } };
      await expect(store.get(record.id)).rejects.toMatchObject(unavailable);
      await expect(store.save(record)).rejects.toMatchObject(unavailable);
      await expect(store.save({ ...record, revision: 1 })).rejects.toMatchObject(unavailable);
      await expect(store.renewLease(record.id, 'gateway-a', record.createdAt)).rejects.toMatchObject(unavailable);
      await expect(store.list({ party: 'sz-hospital', as: 'sender', limit: 5 })).rejects.toMatchObject(unavailable);
      await expect(store.usPersonsCarried('sz-hospital', 'hk-uni-genomics', record.createdAt)).rejects.toMatchObject(unavailable);
      let ran = false;
      await expect(store.withPairLock('sz-hospital', 'hk-uni-genomics', async () => (ran = true))).rejects.toMatchObject(unavailable);
      expect(ran).toBe(false);
      await expect((async () => {
        for await (const _ of store.select({ statuses: ['uploading'] })) return;
      })()).rejects.toMatchObject(unavailable);
    } finally {
      await down.close();
    }
  });
});
