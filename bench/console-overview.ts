// Console overview latency (issue 19; not a test), bounded in time (~2 min): GET /console/overview
// of a real gateway process, as a regulator (certs-dev/people/regulator-wang) over mutual TLS, on one
// keep-alive connection, from the maintained flow aggregates (gateway/flows/):
//   1. embedded: BENCH_EMBEDDED_TRANSFERS (100 000) transfers' increments over the 365 days ending
//      today, written to `<data dir>/flows/flows.ndjson` before the gateway starts (it sums them in
//      memory at start);
//   2. shared mode: a PostgreSQL database of its own (the machine's, BENCH_DATABASE_URL; created,
//      migrated, dropped at the end) whose `flow_counts` holds the aggregate rows of
//      BENCH_SHARED_TRANSFERS (1 000 000) transfers, loaded with COPY, then ANALYZE; a gateway in
//      shared mode on it and a local S3 server (scripts/s3-server.mjs), as bench/shared-mode.ts.
// The transfers: 40 sender→recipient pairs of the dev registry's institutions (policies/registry.yaml,
// not the operators' offices; direction from their jurisdictions, as the decision computes it), each
// pair mostly (90 %) one data category, weekends quieter, outcomes as they are counted
// (gateway/flows/count-flows.ts): denied, or allowed and then received, quarantined or refused by the
// peer (or nothing yet). The same seed gives the same data.
// Per mode, three cases: (a) the default period (the last 7 days), (b) the whole year per day, (c) the
// whole year per week for the busiest institution; each up to BENCH_REQUESTS (200) requests or
// BENCH_CASE_SECONDS (12) s (at least 20) after a warm-up, p50/p95, interleaved with the baseline on
// the same connection: an authenticated request that does nothing (GET /v1/whoami). The first answer
// of each case is checked against the seeded totals. Then where the time goes, in this process with
// the gateway's own code on the same data: the flow query (the file store's filter / the SQL and pg's
// row parsing) and the page's tallies and HTML (console/overview-page.ts).
// Targets (issue 19): p95 < 300 ms in shared mode at 1 000 000 transfers, < 1 s embedded at 100 000.
// Run: npx tsc -p tsconfig.bench.json && node dist/bench/console-overview.js
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { Agent, request } from 'undici';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../gateway/config.js';
import { overviewPage, type OverviewFilter } from '../gateway/console/overview-page.js';
import { openDatabase, type Database } from '../gateway/database/database.js';
import { migrateDatabase } from '../gateway/database/migrate.js';
import { openFileFlowCounts } from '../gateway/flows/file-flow-counts.js';
import { FLOW_OUTCOMES, keyString, type FlowCount, type FlowCounts, type FlowKey } from '../gateway/flows/flow-counts.js';
import { openPgFlowCounts } from '../gateway/flows/pg-flow-counts.js';
import { directionOf } from '../gateway/policy/decision-input.js';
import { createBenchDatabase } from './support/bench-database.js';
import { identity, startChild } from './support/gateway-processes.js';
import { reportResult } from './support/report.js';
import { seededRandom, weightedPicker } from './support/transfer-record-rows.js';

const EMBEDDED_TRANSFERS = Number(process.env.BENCH_EMBEDDED_TRANSFERS ?? 100_000);
const SHARED_TRANSFERS = Number(process.env.BENCH_SHARED_TRANSFERS ?? 1_000_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 200);
const CASE_SECONDS = Number(process.env.BENCH_CASE_SECONDS ?? 12);
/** In-process timings of the query and the page, per case (after one warm-up; at least 3, at most 4 s). */
const PARTS_RUNS = Number(process.env.BENCH_PARTS_RUNS ?? 10);
const WARMUP = 5;
/** A case stops at REQUESTS or after CASE_SECONDS, but not before this many. */
const MIN_REQUESTS = 20;
const DAYS = 365;
const PAIRS = 40;
const SEED = 19;
const DAY_MS = 86_400_000;
const BUCKET = 'hetao-bench';
const TARGETS = { embedded: { ms: 1000, text: 'p95 < 1 s embedded at 100,000 transfers' }, shared: { ms: 300, text: 'p95 < 300 ms shared at 1,000,000 transfers' } } as const;

const CATEGORIES = ['genomics', 'medical-records', 'clinical-trial', 'research-other'] as const;

type Increment = FlowKey & { readonly bytes: number };

interface Party {
  readonly id: string;
  readonly jurisdiction: string;
  readonly zone: string;
}

const children: ChildProcess[] = [];
const folders: string[] = [];

function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)] ?? Number.NaN;
}

const median = (samples: readonly number[]): number => percentile(samples, 0.5);
const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

async function folder(name: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `hetao-bench-${name}-`));
  folders.push(dir);
  return dir;
}

/**
 * PAIRS sender→recipient pairs of the dev registry's institutions (not the two operators' offices; at
 * least one side in the zone), busiest first: a pair's share of the transfers falls as 1/rank.
 */
async function traffic(): Promise<{ pairs: { sender: Party; recipient: Party }[]; weights: number[] }> {
  const registry = parse(await readFile(path.join(PROJECT_ROOT, 'policies/registry.yaml'), 'utf8')) as { institutions: Party[] };
  const parties = registry.institutions.filter((party) => !party.id.endsWith('-operator'));
  const random = seededRandom(SEED);
  const candidates = parties.flatMap((sender) => parties.filter((recipient) => recipient.id !== sender.id && (sender.zone !== 'outside' || recipient.zone !== 'outside')).map((recipient) => ({ sender, recipient, order: random() })));
  const pairs = candidates.sort((a, b) => a.order - b.order).slice(0, PAIRS);
  return { pairs, weights: pairs.map((_, rank) => 1 / (rank + 1)) };
}

/**
 * The increments of `count` transfers over the DAYS days ending `today` (a weekend day a quarter of a
 * working day), oldest first, as the gateway counts them (count-flows.ts): 8 % denied; the rest
 * allowed, and of those 85 % later received, 5 % quarantined, 3 % refused by the peer, 7 % nothing
 * more yet (counted the same day, for simplicity).
 */
async function* increments(count: number, today: string): AsyncGenerator<Increment> {
  const { pairs, weights } = await traffic();
  const random = seededRandom(SEED + count);
  const pair = weightedPicker(
    pairs.map((p, index) => ({
      sender: p.sender.id,
      recipient: p.recipient.id,
      direction: directionOf(p.sender.jurisdiction, p.recipient.jurisdiction),
      // Each pair mostly exchanges one kind of data.
      category: weightedPicker([...CATEGORIES.slice(index % 4), ...CATEGORIES.slice(0, index % 4)], [90, 8, 1.5, 0.5]),
    })),
    weights,
  );
  const first = Date.parse(`${today}T00:00:00Z`) - (DAYS - 1) * DAY_MS;
  const days = Array.from({ length: DAYS }, (_, index) => first + index * DAY_MS);
  const dayWeights = days.map((ms) => ([0, 6].includes(new Date(ms).getUTCDay()) ? 0.25 : 1));
  const total = dayWeights.reduce((sum, weight) => sum + weight, 0);
  let dayIndex = 0;
  let dayEnds = (dayWeights[0] as number) / total;
  let day = dayOf(first);
  for (let n = 0; n < count; n += 1) {
    while (n / count >= dayEnds && dayIndex < DAYS - 1) {
      dayIndex += 1;
      dayEnds += (dayWeights[dayIndex] as number) / total;
      day = dayOf(days[dayIndex] as number);
    }
    const { sender, recipient, direction, category } = pair(random);
    const key = { day, category: category(random), direction, sender, recipient };
    // Declared sizes: 1 MiB to 4 GiB, log-uniform.
    const bytes = Math.round(2 ** (20 + random() * 12));
    if (random() < 0.08) {
      yield { ...key, outcome: 'denied', bytes };
      continue;
    }
    yield { ...key, outcome: 'allowed', bytes };
    const then = random();
    if (then < 0.85) yield { ...key, outcome: 'received', bytes };
    else if (then < 0.9) yield { ...key, outcome: 'quarantined', bytes };
    else if (then < 0.93) yield { ...key, outcome: 'refused-by-peer', bytes };
  }
}

/** Sums increments into the aggregate rows, as either store keeps them. */
function aggregator(): { add(increment: Increment): void; rows(): FlowCount[] } {
  const rows = new Map<string, { key: FlowKey; transfers: number; bytes: number }>();
  return {
    add(increment) {
      const id = keyString(increment);
      const row = rows.get(id);
      if (row) {
        row.transfers += 1;
        row.bytes += increment.bytes;
      } else rows.set(id, { key: increment, transfers: 1, bytes: increment.bytes });
    },
    rows: () => [...rows.values()].map(({ key, transfers, bytes }) => ({ day: key.day, category: key.category, direction: key.direction, outcome: key.outcome, sender: key.sender, recipient: key.recipient, transfers, bytes })),
  };
}

async function aggregate(count: number, today: string): Promise<FlowCount[]> {
  const sums = aggregator();
  for await (const increment of increments(count, today)) sums.add(increment);
  return sums.rows();
}

/** Writes the increments file of an embedded gateway's data folder (before it starts), lines as the file store appends them; returns the aggregate rows. */
async function seedFlowsFile(dataDir: string, count: number, today: string): Promise<FlowCount[]> {
  await mkdir(path.join(dataDir, 'flows'), { recursive: true });
  const file = path.join(dataDir, 'flows', 'flows.ndjson');
  const sums = aggregator();
  async function* lines(): AsyncGenerator<string> {
    let chunk = '';
    for await (const increment of increments(count, today)) {
      sums.add(increment);
      const { day, category, direction, outcome, sender, recipient, bytes } = increment;
      chunk += `${JSON.stringify({ day, category, direction, outcome, sender, recipient, bytes })}\n`;
      if (chunk.length > 1 << 20) {
        yield chunk;
        chunk = '';
      }
    }
    if (chunk) yield chunk;
  }
  await pipeline(Readable.from(lines()), createWriteStream(file));
  const rows = sums.rows();
  console.log(`  ${path.relative(dataDir, file)}: ${((await stat(file)).size / 2 ** 20).toFixed(1)} MiB, ${rows.reduce((sum, row) => sum + row.transfers, 0).toLocaleString('en')} increments, ${rows.length.toLocaleString('en')} distinct rows`);
  return rows;
}

/** Loads the aggregate rows into `flow_counts` with COPY (FREEZE, as vacuum would leave them), then ANALYZE. */
async function seedFlowTable(database: Database, rows: readonly FlowCount[]): Promise<void> {
  const client = await database.connect();
  try {
    await client.query('BEGIN');
    await client.query('TRUNCATE flow_counts');
    async function* lines(): AsyncGenerator<string> {
      let chunk = '';
      for (const row of rows) {
        chunk += `${row.day}\t${row.category}\t${row.direction}\t${row.outcome}\t${row.sender}\t${row.recipient}\t${row.transfers}\t${row.bytes}\n`;
        if (chunk.length > 1 << 20) {
          yield chunk;
          chunk = '';
        }
      }
      if (chunk) yield chunk;
    }
    await pipeline(Readable.from(lines()), client.query(copyFrom('COPY flow_counts (day, category, direction, outcome, sender, recipient, transfers, bytes) FROM STDIN WITH (FREEZE)')));
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  await database.query('ANALYZE flow_counts');
  const { rows: sizes } = await database.query<{ rows: string; heap: string; index: string }>(
    "SELECT (SELECT count(*) FROM flow_counts)::text AS rows, pg_size_pretty(pg_relation_size('flow_counts')) AS heap, pg_size_pretty(pg_indexes_size('flow_counts')) AS index",
  );
  console.log(`  flow_counts: ${Number(sizes[0]?.rows).toLocaleString('en')} rows, heap ${sizes[0]?.heap}, primary key ${sizes[0]?.index}`);
}

interface Case {
  readonly name: string;
  /** The query string sent (empty: the page's defaults). */
  readonly query: string;
  /** What the gateway makes of it. */
  readonly filter: OverviewFilter;
}

function cases(today: string, institution: string): Case[] {
  const back = (days: number): string => dayOf(Date.parse(`${today}T00:00:00Z`) - days * DAY_MS);
  return [
    { name: '(a) default: last 7 days, per day', query: '', filter: { from: back(6), to: today, bucket: 'day' } },
    { name: '(b) whole year, per day', query: `?from=${back(DAYS - 1)}&to=${today}`, filter: { from: back(DAYS - 1), to: today, bucket: 'day' } },
    {
      name: `(c) whole year, per week, institution ${institution}`,
      query: `?from=${back(DAYS - 1)}&to=${today}&bucket=week&institution=${encodeURIComponent(institution)}`,
      filter: { from: back(DAYS - 1), to: today, bucket: 'week', institution },
    },
  ];
}

/** The rows of a case's period (and institution), as both stores select them. */
const selected = (rows: readonly FlowCount[], filter: OverviewFilter): FlowCount[] =>
  rows.filter((row) => row.day >= filter.from && row.day <= filter.to && (filter.institution === undefined || row.sender === filter.institution || row.recipient === filter.institution));

/** Checks the page's first table (by category) sums to the seeded transfers per outcome. */
function checkTotals(page: string, rows: readonly FlowCount[], filter: OverviewFilter, name: string): void {
  const expected = new Map<string, number>(FLOW_OUTCOMES.map((outcome) => [outcome, 0]));
  for (const row of selected(rows, filter)) expected.set(row.outcome, (expected.get(row.outcome) ?? 0) + row.transfers);
  const first = page.slice(page.indexOf('<table>'), page.indexOf('</table>'));
  const shown = new Map<string, number>(FLOW_OUTCOMES.map((outcome) => [outcome, 0]));
  for (const [, outcome, value] of first.matchAll(/<td data-outcome="([a-z-]+)" data-transfers="(\d+)">/g)) shown.set(outcome as string, (shown.get(outcome as string) ?? 0) + Number(value));
  for (const outcome of FLOW_OUTCOMES) {
    if (shown.get(outcome) !== expected.get(outcome)) throw new Error(`${name}: the page shows ${shown.get(outcome)} ${outcome}, the seed has ${expected.get(outcome)}`);
  }
}

interface CaseResult {
  readonly name: string;
  readonly rows: number;
  readonly pageBytes: number;
  readonly overview: number[];
  readonly whoami: number[];
  /** In this process: the store's query and the page (tallies and HTML), ms each run. */
  readonly queryMs: number[];
  readonly renderMs: number[];
}

/** The cases against a gateway at `url`, interleaved with whoami; then the parts in this process on `flows`. */
async function measure(url: string, agent: Agent, seeded: readonly FlowCount[], today: string, institution: string, flows: FlowCounts): Promise<CaseResult[]> {
  const timed = async (pathAndQuery: string): Promise<{ ms: number; body: string }> => {
    const started = performance.now();
    const answer = await request(`${url}${pathAndQuery}`, { dispatcher: agent });
    const body = await answer.body.text();
    const ms = performance.now() - started;
    if (answer.statusCode !== 200) throw new Error(`${pathAndQuery} answered ${answer.statusCode}: ${body.slice(0, 300)}`);
    return { ms, body };
  };
  const viewer = { id: 'regulator-wang', name: 'bench', role: 'regulator' };
  const results: CaseResult[] = [];
  for (const one of cases(today, institution)) {
    const first = await timed(`/console/overview${one.query}`);
    checkTotals(first.body, seeded, one.filter, one.name);
    for (let i = 1, bound = performance.now() + 3000; i < WARMUP && performance.now() < bound; i += 1) {
      await timed(`/console/overview${one.query}`);
      await timed('/v1/whoami');
    }
    const overview: number[] = [];
    const whoami: number[] = [];
    const deadline = performance.now() + CASE_SECONDS * 1000;
    while (overview.length < REQUESTS && (overview.length < MIN_REQUESTS || performance.now() < deadline)) {
      overview.push((await timed(`/console/overview${one.query}`)).ms);
      whoami.push((await timed('/v1/whoami')).ms);
    }
    const queryMs: number[] = [];
    const renderMs: number[] = [];
    for (let i = 0, bound = performance.now() + 4000; i <= PARTS_RUNS && (i <= 3 || performance.now() < bound); i += 1) {
      const queried = performance.now();
      const summary = await flows.summary(one.filter);
      const rendered = performance.now();
      overviewPage(viewer, one.filter, summary);
      const done = performance.now();
      if (i > 0) {
        queryMs.push(rendered - queried);
        renderMs.push(done - rendered);
      }
    }
    results.push({ name: one.name, rows: selected(seeded, one.filter).length, pageBytes: Buffer.byteLength(first.body), overview, whoami, queryMs, renderMs });
  }
  return results;
}

function print(mode: 'embedded' | 'shared', transfers: number, results: readonly CaseResult[]): void {
  const target = TARGETS[mode];
  console.log(`\n${mode === 'shared' ? 'shared mode (PostgreSQL flow_counts)' : 'embedded (flows file)'}, ${transfers.toLocaleString('en')} transfers over ${DAYS} days (Node ${process.version}); target ${target.text}:`);
  console.log('| case | rows read | page | requests | overview p50 ms | overview p95 ms | target | whoami p50 ms | whoami p95 ms | in process: query p50 ms | page (tallies + HTML) p50 ms |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    const p95 = percentile(r.overview, 0.95);
    console.log(
      `| ${r.name} | ${r.rows.toLocaleString('en')} | ${(r.pageBytes / 1024).toFixed(0)} KiB | ${r.overview.length} | ${median(r.overview).toFixed(1)} | ${p95.toFixed(1)} | < ${target.ms} ms: ${p95 < target.ms ? 'met' : 'NOT MET'} | ${median(r.whoami).toFixed(2)} | ${percentile(r.whoami, 0.95).toFixed(2)} | ${median(r.queryMs).toFixed(1)} | ${median(r.renderMs).toFixed(1)} |`,
    );
  }
}

function report(mode: 'embedded' | 'shared', transfers: number, results: readonly CaseResult[]): void {
  const target = TARGETS[mode];
  for (const r of results) {
    const p95 = percentile(r.overview, 0.95);
    reportResult({
      area: 'console (issue 19)',
      name: `overview ${mode === 'shared' ? 'shared mode' : 'embedded'}, ${transfers.toLocaleString('en')} transfers, ${r.name}, p95`,
      value: p95,
      unit: 'ms',
      baseline: { name: 'GET /v1/whoami on the same connection, p95', value: percentile(r.whoami, 0.95) },
      target: { text: target.text, met: p95 < target.ms },
    });
  }
}

/** The institution in most transfers (as sender or recipient): the case (c) filter. */
function busiest(rows: readonly FlowCount[]): string {
  const counts = new Map<string, number>();
  for (const row of rows) for (const id of [row.sender, row.recipient]) counts.set(id, (counts.get(id) ?? 0) + row.transfers);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'sz-hospital';
}

async function startS3(): Promise<string> {
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'scripts/s3-server.mjs'), '--dir', await folder('s3'), '--bucket', BUCKET], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) => resolve((JSON.parse(line) as { endpoint: string }).endpoint));
    child.once('exit', (code) => reject(new Error(`the S3 server exited (${String(code)})`)));
  });
}

async function startGateway(dataDir: string, env: Record<string, string>): Promise<{ child: ChildProcess; url: string; startMs: number }> {
  const started = performance.now();
  const { child, url } = await startChild(
    [path.join(PROJECT_ROOT, 'dist/gateway/app/main.js')],
    { HETAO_PORT: '0', HETAO_OPS_PORT: '0', HETAO_DATA_DIR: dataDir, HETAO_LOG_LEVEL: 'info', ...env },
    (line) => (line.msg === 'gateway listening' ? String(line.api) : undefined),
  );
  children.push(child);
  return { child, url, startMs: performance.now() - started };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await gone;
}

async function main(): Promise<void> {
  const today = dayOf(Date.now());
  const agent = new Agent({ connect: await identity('people/regulator-wang'), connections: 1 });
  const benchDatabase = await createBenchDatabase();
  try {
    // 1. Embedded.
    console.log(`embedded: seeding ${EMBEDDED_TRANSFERS.toLocaleString('en')} transfers ending ${today}`);
    const dataDir = await folder('console-data');
    const fileRows = await seedFlowsFile(dataDir, EMBEDDED_TRANSFERS, today);
    const pairs = new Set(fileRows.map((row) => `${row.sender}→${row.recipient}`)).size;
    console.log(`  ${pairs} sender→recipient pairs; directions ${[...new Set(fileRows.map((row) => row.direction))].sort().join(', ')}`);
    const embedded = await startGateway(dataDir, {});
    console.log(`  gateway started (flows file summed at start) in ${embedded.startMs.toFixed(0)} ms`);
    // The file store of this process: a copy, so that the gateway's own file is left alone.
    const fileCopy = await folder('console-flows');
    await copyFile(path.join(dataDir, 'flows', 'flows.ndjson'), path.join(fileCopy, 'flows.ndjson'));
    const fileFlows = await openFileFlowCounts(fileCopy);
    const fileResults = await measure(embedded.url, agent, fileRows, today, busiest(fileRows), fileFlows);
    await fileFlows.close();
    await stop(embedded.child);
    print('embedded', EMBEDDED_TRANSFERS, fileResults);

    // 2. Shared mode.
    console.log(`\nshared mode: seeding the aggregate rows of ${SHARED_TRANSFERS.toLocaleString('en')} transfers ending ${today} into ${benchDatabase.name}`);
    const seeding = performance.now();
    const sharedRows = await aggregate(SHARED_TRANSFERS, today);
    const database = openDatabase({ url: benchDatabase.url, poolSize: 2 });
    try {
      await migrateDatabase(database);
      await seedFlowTable(database, sharedRows);
      console.log(`  seeded in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);
      const s3 = await startS3();
      const shared = await startGateway(await folder('console-shared'), {
        HETAO_DATABASE_URL: benchDatabase.url,
        HETAO_S3_ENDPOINT: s3,
        HETAO_S3_BUCKET: BUCKET,
        HETAO_S3_ACCESS_KEY_ID: 'S3RVER',
        HETAO_S3_SECRET_ACCESS_KEY: 'S3RVER',
        HETAO_S3_FORCE_PATH_STYLE: 'true',
      });
      const sharedResults = await measure(shared.url, agent, sharedRows, today, busiest(sharedRows), openPgFlowCounts(database));
      await stop(shared.child);
      print('shared', SHARED_TRANSFERS, sharedResults);
      const year = cases(today, busiest(sharedRows))[1]?.filter as OverviewFilter;
      const { rows: plan } = await database.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, BUFFERS) SELECT to_char(day, 'YYYY-MM-DD') AS day, category, direction, outcome, sender, recipient, transfers, bytes FROM flow_counts
         WHERE day BETWEEN $1 AND $2 AND ($3::text IS NULL OR sender = $3 OR recipient = $3)`,
        [year.from, year.to, null],
      );
      console.log(`\nthe whole year's query in PostgreSQL (EXPLAIN ANALYZE; pg's parsing of the rows in Node is not in it):\n${plan.map((row) => `  ${row['QUERY PLAN']}`).join('\n')}`);
      report('embedded', EMBEDDED_TRANSFERS, fileResults);
      report('shared', SHARED_TRANSFERS, sharedResults);
    } finally {
      await database.close();
    }
  } finally {
    await agent.close();
    for (const child of children) await stop(child).catch(() => undefined);
    await benchDatabase.drop();
    for (const dir of folders) await rm(dir, { recursive: true, force: true });
  }
}

await main();
