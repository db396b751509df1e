// Transfer list benchmark (not a test) of the shared-mode record store, bounded in time (~2-3 min):
//   1. seeds BENCH_RECORDS (1 000 000) records into a fresh PostgreSQL database with COPY (the real
//      record shape per status, BENCH_INSTITUTIONS (200) institutions of very different sizes, statuses
//      as a gateway that has run for a while has them: bench/support/transfer-record-rows.ts), builds
//      the migration's indexes after the load (the same definitions, read back from the database), ANALYZE;
//   2. measures p50/p99 of `list` as a lab system pages through it: one party's side, one status,
//      newest first, 50 per page, following the keyset cursor up to 5 pages, BENCH_QUERIES (2 000)
//      queries after a warm-up, parties picked by their share of the traffic; shows the plans of two of
//      them (EXPLAIN ANALYZE: an index scan, no sort) and the round-trip floor (`SELECT 1`);
//   3. the same query shape on the file record store (its in-memory scan) at BENCH_FILE_RECORDS
//      (100 000) records, in this run, for comparison.
// Target (issue 14): p99 < 20 ms at 1M records. The database is dropped afterwards, also on failure.
// PostgreSQL: BENCH_DATABASE_URL (a maintenance URL where it may create databases; default
// postgres://postgres@127.0.0.1:5432/postgres).
// Run: npx tsc -p tsconfig.bench.json && node dist/bench/record-list.js
import { createBenchDatabase } from './support/bench-database.js';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { openDatabase, type Database } from '../gateway/database/database.js';
import { migrateDatabase } from '../gateway/database/migrate.js';
import { openFileRecordStore } from '../gateway/records/file-record-store.js';
import { openPgRecordStore } from '../gateway/records/pg-record-store.js';
import type { ObjectStore } from '../gateway/storage/object-store.js';
import type { RecordQuery, RecordStore } from '../gateway/transfer/record-store.js';
import type { TransferStatus } from '../gateway/transfer/transfer-record.js';
import { explainList, isOrderedIndexScan, surveyPlans } from './support/list-plans.js';
import { reportResult } from './support/report.js';
import { institutions, recordRows, seededRandom, weightedPicker, type RecordRow } from './support/transfer-record-rows.js';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const FILE_RECORDS = Number(process.env.BENCH_FILE_RECORDS ?? 100_000);
const INSTITUTIONS = Number(process.env.BENCH_INSTITUTIONS ?? 200);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 2_000);
const FILE_QUERIES = Number(process.env.BENCH_FILE_QUERIES ?? 500);
const WARMUP = 200;
const PAGE = 50;
const PAGES_PER_SESSION = 5;
const SEED = 14;
const TARGET_P99_MS = 20;
/** Statuses a lab system filters its list by: the common ones and the rare ones. */
const LISTED_STATUSES: readonly TransferStatus[] = ['available', 'received', 'authorized', 'expired', 'quarantined', 'delivered'];

const ms = (started: bigint): number => Number(process.hrtime.bigint() - started) / 1e6;
const seconds = (started: bigint): string => (ms(started) / 1000).toFixed(1);

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}


/** One COPY text-format line; the JSON holds no tab or newline, so only backslashes need doubling. */
function copyLine(row: RecordRow): string {
  const lease = row.lease ? `${row.lease.holder}\t${row.lease.expiresAt}` : '\\N\t\\N';
  return `${row.id}\t${row.sender}\t${row.recipient}\t${row.status}\t${row.createdAt}\t${row.updatedAt}\t${row.retentionUntil}\t${row.decisionId}\t${row.pendingStages ? 't' : 'f'}\t1\t${lease}\t${row.json.replaceAll('\\', '\\\\')}\n`;
}

async function* copyChunks(count: number): AsyncGenerator<string> {
  let chunk = '';
  for (const row of recordRows(count, { institutions: INSTITUTIONS, seed: SEED })) {
    chunk += copyLine(row);
    if (chunk.length > 1 << 20) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/** Loads the rows, then builds the migration's secondary indexes (faster than growing them row by row). */
async function seed(database: Database): Promise<void> {
  const { rows: indexes } = await database.query<{ indexname: string; indexdef: string }>(
    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'transfers' AND indexname <> 'transfers_pkey'",
  );
  for (const index of indexes) await database.query(`DROP INDEX ${index.indexname}`);
  const loading = process.hrtime.bigint();
  const client = await database.connect();
  try {
    await client.query('BEGIN');
    // FREEZE: rows loaded into a table emptied in the same transaction are written frozen, as
    // vacuum would leave them; the reads measured later set no hint bits.
    await client.query('TRUNCATE transfers');
    const copy = client.query(
      copyFrom(
        'COPY transfers (id, sender, recipient, status, created_at, updated_at, retention_until, decision_id, pending_stages, revision, lease_holder, lease_expires_at, record) FROM STDIN WITH (FREEZE)',
      ),
    );
    await pipeline(Readable.from(copyChunks(RECORDS)), copy);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  console.log(`  COPY of ${RECORDS.toLocaleString('en')} records: ${seconds(loading)} s`);
  const indexing = process.hrtime.bigint();
  // Two at a time: one per core of a small machine.
  const queue = [...indexes];
  await Promise.all(
    [0, 1].map(async () => {
      for (let index = queue.shift(); index; index = queue.shift()) {
        await database.transaction(async (tx) => {
          await tx.query("SET LOCAL maintenance_work_mem = '256MB'");
          await tx.query(index.indexdef);
        });
      }
    }),
  );
  console.log(`  ${indexes.length} secondary indexes built: ${seconds(indexing)} s`);
  const analyzing = process.hrtime.bigint();
  await database.query('ANALYZE transfers');
  console.log(`  ANALYZE: ${seconds(analyzing)} s`);
}

async function printServer(database: Database): Promise<void> {
  const { rows } = await database.query<{ name: string; setting: string; unit: string | null }>(
    `SELECT name, setting, unit FROM pg_settings WHERE name IN ('server_version', 'shared_buffers', 'effective_cache_size', 'work_mem',
       'random_page_cost', 'seq_page_cost', 'effective_io_concurrency', 'jit', 'max_parallel_workers_per_gather', 'default_statistics_target') ORDER BY name`,
  );
  console.log(`  server: ${rows.map((row) => `${row.name}=${row.setting}${row.unit ? ` (${row.unit})` : ''}`).join(', ')}`);
  const { rows: sizes } = await database.query<{ heap: string; toast: string; indexes: string; rows: string }>(
    `SELECT pg_size_pretty(pg_relation_size('transfers')) AS heap,
            pg_size_pretty(pg_table_size('transfers') - pg_relation_size('transfers')) AS toast,
            pg_size_pretty(pg_indexes_size('transfers')) AS indexes,
            (SELECT count(*) FROM transfers)::text AS rows`,
  );
  const size = sizes[0];
  if (size) console.log(`  table: ${Number(size.rows).toLocaleString('en')} rows, heap ${size.heap}, TOAST and maps ${size.toast}, indexes ${size.indexes}`);
}

/** A lab system's sessions: a party (by its share of traffic), a side, a status, then its pages by cursor. */
function* sessions(seed: number): Generator<Omit<RecordQuery, 'after' | 'limit'>> {
  const random = seededRandom(seed);
  const { names, weights } = institutions(INSTITUTIONS);
  const party = weightedPicker(names, weights);
  const status = weightedPicker(LISTED_STATUSES, LISTED_STATUSES.map(() => 1));
  for (;;) yield { party: party(random), as: random() < 0.5 ? 'sender' : 'recipient', status: status(random) };
}

interface Latencies {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly queries: number;
  readonly meanRows: number;
}

/** `count` list queries (after `warmup` unmeasured ones), each session following its cursor up to PAGES_PER_SESSION pages. */
async function measureLists(store: RecordStore, count: number, warmup: number): Promise<Latencies> {
  const samples: number[] = [];
  let rows = 0;
  let done = 0;
  for (const session of sessions(SEED + 1)) {
    let after: string | undefined;
    for (let page = 0; page < PAGES_PER_SESSION; page += 1) {
      const started = process.hrtime.bigint();
      const result = await store.list({ ...session, limit: PAGE, ...(after === undefined ? {} : { after }) });
      const elapsed = ms(started);
      done += 1;
      if (done > warmup) {
        samples.push(elapsed);
        rows += result.records.length;
      }
      if (samples.length >= count) {
        samples.sort((a, b) => a - b);
        return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), max: samples.at(-1) ?? Number.NaN, queries: samples.length, meanRows: rows / samples.length };
      }
      after = result.next;
      if (after === undefined) break;
    }
  }
  throw new Error('unreachable: sessions never end');
}

async function roundTripFloor(database: Database): Promise<{ p50: number; p99: number }> {
  const samples: number[] = [];
  for (let i = 0; i < 600; i += 1) {
    const started = process.hrtime.bigint();
    await database.query('SELECT 1');
    if (i >= 100) samples.push(ms(started));
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) };
}

/**
 * Records held in memory, as the file record store reads them at open (`list`, `get`): its in-memory
 * index is what is measured, not its objects. The bench calls nothing else of the store.
 */
function memoryObjects(records: Iterable<RecordRow>): ObjectStore {
  const objects = new Map<string, Buffer>();
  for (const row of records) objects.set(`records/${row.id}.json`, Buffer.from(row.json));
  const reads: Pick<ObjectStore, 'get' | 'list' | 'close'> = {
    async get(key) {
      return objects.get(key);
    },
    async list(prefix) {
      return [...objects.keys()].filter((key) => key.startsWith(`${prefix}/`));
    },
    async close() {
      objects.clear();
    },
  };
  return reads as ObjectStore;
}

const row = (name: string, l: Latencies): string =>
  `| ${name} | ${l.queries.toLocaleString('en')} | ${l.meanRows.toFixed(1)} | ${l.p50.toFixed(2)} | ${l.p99.toFixed(2)} | ${l.max.toFixed(2)} |`;

async function main(): Promise<void> {
  const began = process.hrtime.bigint();
  const benchDatabase = await createBenchDatabase();
  const { name } = benchDatabase;
  const url = new URL(benchDatabase.url);
  console.log(`record list bench: ${RECORDS.toLocaleString('en')} records in database ${name} on ${url.host}; the file record store with ${FILE_RECORDS.toLocaleString('en')}`);
  // The file record store's open (parsing its records: node's work) runs while PostgreSQL loads
  // (the server's work): the bench takes about a minute less. Its lists are measured after, alone.
  const objects = memoryObjects(recordRows(FILE_RECORDS, { institutions: INSTITUTIONS, seed: SEED }));
  const opening = process.hrtime.bigint();
  const fileStoreOpened = openFileRecordStore(objects).then((store) => {
    console.log(`  file record store over ${FILE_RECORDS.toLocaleString('en')} records opened in ${seconds(opening)} s (during the load)`);
    return store;
  });
  fileStoreOpened.catch(() => undefined); // awaited below; a failure of the PostgreSQL part comes first
  const database = openDatabase({ url: url.toString(), poolSize: 4, statementTimeoutMs: 0 });
  let pgLists: Latencies;
  let offIndex: number;
  try {
    await migrateDatabase(database);
    await seed(database);
    await printServer(database);
    const floor = await roundTripFloor(database);
    console.log(`  round trip (SELECT 1): p50 ${floor.p50.toFixed(2)} ms, p99 ${floor.p99.toFixed(2)} ms`);
    await fileStoreOpened; // nothing else runs while lists are measured
    const measuring = process.hrtime.bigint();
    pgLists = await measureLists(openPgRecordStore(database), QUERIES, WARMUP);
    console.log(`  ${pgLists.queries} list queries measured in ${seconds(measuring)} s`);
    ({ other: offIndex } = await surveyPlans(database, institutions(INSTITUTIONS).names, LISTED_STATUSES, PAGE));
    const biggest = institutions(INSTITUTIONS).names[0] as string;
    const small = institutions(INSTITUTIONS).names[INSTITUTIONS - 1] as string;
    const firstPage = await openPgRecordStore(database).list({ party: biggest, as: 'recipient', status: 'received', limit: PAGE });
    for (const [label, query] of [
      [`the biggest party (${biggest}), received, second page`, { party: biggest, as: 'recipient', status: 'received', limit: PAGE, ...(firstPage.next ? { after: firstPage.next } : {}) }],
      [`the biggest party (${biggest}), expired (all older than the newest 90 days)`, { party: biggest, as: 'recipient', status: 'expired', limit: PAGE }],
      [`the smallest party (${small}), quarantined`, { party: small, as: 'sender', status: 'quarantined', limit: PAGE }],
    ] as const) {
      const plan = await explainList(database, query, 'analyze');
      console.log(`\n  plan of a list of ${label}: ${isOrderedIndexScan(plan) ? 'index scan in id order, no sort' : 'NOT AN ORDERED INDEX SCAN'}`);
      console.log(plan.replace(/^/gm, '    '));
    }
  } finally {
    await database.close();
    await benchDatabase.drop();
    console.log(`\n  database ${name} dropped`);
  }

  const fileStore = await fileStoreOpened;
  const fileLists = await measureLists(fileStore, FILE_QUERIES, 20);
  await fileStore.close();
  await objects.close();

  console.log(`\n| store | queries | rows per page (mean) | p50 ms | p99 ms | max ms |`);
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  console.log(row(`PostgreSQL, ${RECORDS.toLocaleString('en')} records`, pgLists));
  console.log(row(`file record store (in-memory scan), ${FILE_RECORDS.toLocaleString('en')} records`, fileLists));
  console.log(`\ntotal ${seconds(began)} s`);
  const baseline = { name: `file record store scan at ${FILE_RECORDS.toLocaleString('en')} records`, value: fileLists.p99 };
  reportResult({
    area: 'shared mode (14)',
    name: `list p99, 50 per page by cursor, ${RECORDS.toLocaleString('en')} records in PostgreSQL`,
    value: pgLists.p99,
    unit: 'ms',
    baseline,
    target: { text: `p99 < ${TARGET_P99_MS} ms, every list plan from a party index`, met: pgLists.p99 < TARGET_P99_MS && offIndex === 0 },
  });
  reportResult({ area: 'shared mode (14)', name: `list p50, ${RECORDS.toLocaleString('en')} records in PostgreSQL`, value: pgLists.p50, unit: 'ms', baseline: { ...baseline, value: fileLists.p50 } });
}

await main();
