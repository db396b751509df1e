// Shared audit journal benchmark (not a test), bounded in time (~30 s): durable appends/s of the
// PostgreSQL journal with BENCH_CONCURRENCY (64) appenders spread over two instances — two child
// processes, each with its own journal and pool, half the appenders each — beside the file journal
// with the same number of appenders in the same run (its group commit on this machine's disk), and
// one PostgreSQL instance alone with all the appenders. The server's durability settings are
// printed and synchronous_commit must be on. A fresh database is created on BENCH_DATABASE_URL
// (default postgres://postgres@127.0.0.1:5432/postgres) and dropped after; at the end a new journal
// opens the log (the start-up check of every entry) and the seqs are checked contiguous. Where the
// time goes: commits and their mean batch, and CPU per append of the gateway processes and (when
// PostgreSQL runs on this machine) of the server's processes.
// Run: npx tsc -p tsconfig.bench.json && node dist/bench/journal-appends-pg.js
import { createBenchDatabase, withAdmin } from './support/bench-database.js';
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { AuditEvent } from '../gateway/audit/audit-entry.js';
import { createAuditJournal, type AuditJournal } from '../gateway/audit/create-audit-journal.js';
import { openPgAuditJournal } from '../gateway/audit/pg-audit-journal.js';
import { PROJECT_ROOT } from '../gateway/config.js';
import { openDatabase } from '../gateway/database/database.js';
import { migrateDatabase } from '../gateway/database/migrate.js';
import { createGatewaySigner } from '../gateway/envelope/gateway-signer.js';
import { reportResult } from './support/report.js';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const SECONDS = Number(process.env.BENCH_APPEND_SECONDS ?? 5);
const SETTINGS = ['synchronous_commit', 'fsync', 'wal_sync_method', 'commit_delay', 'commit_siblings', 'full_page_writes', 'shared_buffers', 'wal_buffers', 'max_wal_size'];
const TARGET = 20_000;

const signer = createGatewaySigner(readFileSync(path.join(PROJECT_ROOT, 'certs-dev/gateway-signing.dev-only.key.pem'), 'utf8'));
const seconds = (started: bigint): number => Number(process.hrtime.bigint() - started) / 1e9;

/** The event shape of bench/audit-journal.ts (a transfer state change with two digests), made before any timing. */
function makeEvent(i: number): AuditEvent {
  const hex = (n: number): string => (n % 16).toString(16).repeat(64);
  return {
    type: 'transfer.state-changed',
    actor: { kind: 'institution', id: i % 2 === 0 ? 'sz-hospital' : 'hk-uni-genomics' },
    subject: `tr-${Math.floor(i / 5)}`,
    hashes: { manifest: hex(i), plaintext: hex(i + 7) },
    details: { from: 'uploading', to: 'available', category: 'genomic', direction: 'sz-to-hk', decisionId: `dec-${i}` },
  };
}
const EVENTS = Array.from({ length: 16_384 }, (_, i) => makeEvent(i));

interface AppendRun {
  readonly count: number;
  readonly seconds: number;
  readonly flushes: number;
  readonly largestBatch: number;
  /** CPU time of the appending process(es) over the run (user + system), µs. */
  readonly cpuMicros: number;
}

/** `appenders` loops appending for `forSeconds`. */
async function appendFor(journal: AuditJournal, appenders: number, forSeconds: number): Promise<AppendRun> {
  let count = 0;
  let next = 0;
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: appenders }, async () => {
      while (seconds(started) < forSeconds) {
        await journal.append(EVENTS[next++ % EVENTS.length] as AuditEvent);
        count += 1;
      }
    }),
  );
  const { flushes, largestBatch } = journal.status().commits;
  const used = process.cpuUsage(cpu);
  return { count, seconds: seconds(started), flushes, largestBatch, cpuMicros: used.user + used.system };
}

/**
 * CPU ticks (user + system, 1/100 s) the server processes serving `database` and the WAL writer have
 * used so far, read from /proc: only when PostgreSQL runs on this machine and /proc shows its
 * processes (else undefined).
 */
async function serverTicks(admin: pg.Client, database: string): Promise<Map<number, number> | undefined> {
  const { rows } = await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 OR backend_type = 'walwriter'", [database]);
  const ticks = new Map<number, number>();
  try {
    for (const { pid } of rows) {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      ticks.set(pid, Number(fields[11]) + Number(fields[12]));
    }
  } catch {
    return undefined;
  }
  return ticks;
}

// ---- child: one gateway instance's journal on its own pool --------------------------------------

interface ChildRequest {
  readonly url: string;
  readonly appenders: number;
  readonly seconds: number;
}

async function runChild(): Promise<void> {
  process.once('disconnect', () => process.exit(1)); // the parent is gone
  const request = await new Promise<ChildRequest>((resolve) => process.once('message', (message) => resolve(message as ChildRequest)));
  const database = openDatabase({ url: request.url, poolSize: 6 });
  const journal = await openPgAuditJournal({ database, signer, checkpointIntervalMs: 0 });
  const session = await database.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
  process.send?.({ ready: true, synchronousCommit: session.rows[0]?.synchronous_commit });
  await new Promise((resolve) => process.once('message', resolve)); // go
  const run = await appendFor(journal, request.appenders, request.seconds);
  process.send?.({ run });
  await new Promise((resolve) => process.once('message', resolve)); // stop: the parent has read the server's CPU
  await journal.close();
  await database.close();
  process.disconnect();
}

/**
 * Starts `instances` child journals, starts them appending together, and sums what they did, with the
 * server's CPU over the same time (the children keep their connections until it is read).
 */
async function runInstances(url: string, instances: number, appendersEach: number): Promise<AppendRun & { synchronousCommit: string[]; serverCpuMicros: number | undefined }> {
  const name = new URL(url).pathname.slice(1);
  const self = fileURLToPath(import.meta.url);
  const children: ChildProcess[] = Array.from({ length: instances }, () => fork(self, ['child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const next = (child: ChildProcess): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      child.once('message', (message) => resolve(message as Record<string, unknown>));
      child.once('exit', (code) => reject(new Error(`a child journal exited with ${code}`)));
    });
  const ready = children.map(next);
  for (const child of children) child.send({ url, appenders: appendersEach, seconds: SECONDS } satisfies ChildRequest);
  const readies = await Promise.all(ready);
  const before = await withAdmin((admin) => serverTicks(admin, name));
  const done = children.map(next);
  for (const child of children) child.send({ go: true });
  const runs = (await Promise.all(done)).map((message) => message.run as AppendRun);
  const after = await withAdmin((admin) => serverTicks(admin, name));
  const exited = children.map((child) => new Promise((resolve) => child.once('exit', resolve)));
  for (const child of children) child.send({ stop: true });
  await Promise.all(exited);
  let serverCpuMicros: number | undefined;
  if (before && after) serverCpuMicros = [...after].reduce((sum, [pid, ticks]) => sum + (ticks - (before.get(pid) ?? ticks)), 0) * 10_000;
  return {
    count: runs.reduce((sum, run) => sum + run.count, 0),
    seconds: Math.max(...runs.map((run) => run.seconds)),
    flushes: runs.reduce((sum, run) => sum + run.flushes, 0),
    largestBatch: Math.max(...runs.map((run) => run.largestBatch)),
    cpuMicros: runs.reduce((sum, run) => sum + run.cpuMicros, 0),
    synchronousCommit: readies.map((message) => String(message.synchronousCommit)),
    serverCpuMicros,
  };
}

// ---- parent ------------------------------------------------------------------------------------


async function main(): Promise<void> {
  const benchDatabase = await createBenchDatabase();
  const url = new URL(benchDatabase.url);
  const dir = await mkdtemp(path.join(process.env.BENCH_DIR ?? tmpdir(), 'hetao-bench-pg-'));
  try {
    const settings = await withAdmin((client) => client.query<{ name: string; setting: string; unit: string | null }>('SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1) ORDER BY name', [SETTINGS]));
    const version = await withAdmin((client) => client.query<{ server_version: string }>('SHOW server_version'));
    const database = openDatabase({ url: url.toString(), poolSize: 2 });
    await migrateDatabase(database);

    // Baseline: the file journal, all appenders in this process, on BENCH_DIR's disk.
    const fileJournal = await createAuditJournal({ dir: path.join(dir, 'journal'), signer, checkpointIntervalMs: 0 });
    const file = await appendFor(fileJournal, CONCURRENCY, SECONDS);
    await fileJournal.close();

    const alone = await runInstances(url.toString(), 1, CONCURRENCY);
    const shared = await runInstances(url.toString(), 2, CONCURRENCY / 2);
    if ([...alone.synchronousCommit, ...shared.synchronousCommit].some((value) => value !== 'on')) throw new Error(`synchronous_commit is not on in the journals' sessions: ${[...alone.synchronousCommit, ...shared.synchronousCommit].join(', ')}`);

    // The log they made: contiguous, and the start-up check of all of it.
    const { rows } = await database.query<{ count: string; max: string }>('SELECT count(*), max(seq) FROM audit_entries');
    const total = Number(rows[0]?.count);
    if (total !== alone.count + shared.count || Number(rows[0]?.max) !== total - 1) throw new Error(`the log has ${total} entries up to seq ${rows[0]?.max}; the instances appended ${alone.count + shared.count}`);
    let started = process.hrtime.bigint();
    const reopened = await openPgAuditJournal({ database, signer, checkpointIntervalMs: 0 });
    const openSeconds = seconds(started);
    if (reopened.status().state !== 'ok' || reopened.status().size !== total) throw new Error(`reopen: ${JSON.stringify(reopened.status())}`);
    started = process.hrtime.bigint();
    await reopened.close(); // signs the checkpoint over everything
    const checkpointSeconds = seconds(started);
    const databaseBytes = await database.query<{ bytes: string }>("SELECT pg_database_size(current_database()) AS bytes");
    await database.close();

    const rate = (run: AppendRun): number => run.count / run.seconds;
    const perAppend = (micros: number | undefined, run: AppendRun): string => (micros === undefined ? '?' : (micros / run.count).toFixed(0));
    const batch = (run: AppendRun & { serverCpuMicros?: number | undefined }): string =>
      `${run.flushes} commits, mean batch ${(run.count / run.flushes).toFixed(1)}, largest ${run.largestBatch}; CPU µs/append: gateway ${perAppend(run.cpuMicros, run)}${'serverCpuMicros' in run ? `, server ${perAppend(run.serverCpuMicros, run)}` : ''}`;
    const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(10);
    const sharedRate = rate(shared);
    console.log(`shared audit journal in PostgreSQL ${version.rows[0]?.server_version}, Node ${process.version} ${process.arch}, ${CONCURRENCY} appenders, ${SECONDS} s per run (${new Date().toISOString()})`);
    console.log(`server settings: ${settings.rows.map((row) => `${row.name}=${row.setting}${row.unit ? ` ${row.unit}` : ''}`).join(', ')}`);
    const table: [string, number, string][] = [
      [`PostgreSQL, 2 instances (processes) × ${CONCURRENCY / 2} appenders (durable appends/s)`, sharedRate, batch(shared)],
      [`PostgreSQL, 1 instance × ${CONCURRENCY} appenders`, rate(alone), batch(alone)],
      [`  baseline: file journal, ${CONCURRENCY} appenders, group commit in ${dir}`, rate(file), `${batch(file)}; PostgreSQL 2 instances = ${(sharedRate / rate(file)).toFixed(2)}×`],
      [`start-up check of the ${total} entries (entries/s)`, total / openSeconds, `${openSeconds.toFixed(2)} s`],
      ['checkpoint over all of them at close (ms)', checkpointSeconds * 1000, ''],
    ];
    for (const [label, value, note] of table) console.log(`${label.padEnd(84)} ${fmt(value)}  ${note}`);
    console.log(`database size after the runs: ${(Number(databaseBytes.rows[0]?.bytes) / 2 ** 20).toFixed(0)} MiB`);
    reportResult({
      area: 'audit, shared (issue 14)',
      name: `durable appends/s in PostgreSQL, 2 instances × ${CONCURRENCY / 2} appenders`,
      value: sharedRate,
      unit: '/s',
      baseline: { name: `file journal, ${CONCURRENCY} appenders`, value: rate(file) },
      target: { text: `≥ ${TARGET.toLocaleString('en-US')}/s`, met: sharedRate >= TARGET },
    });
    console.log(`target: ≥ ${TARGET} durable appends/s over two instances (${sharedRate >= TARGET ? 'met' : 'NOT met'})`);
  } finally {
    await benchDatabase.drop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'child') await runChild();
else await main();
