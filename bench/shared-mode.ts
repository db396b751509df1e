// Shared-mode benchmark (not a test), bounded in time: gateway processes on a fresh PostgreSQL
// database (the machine's, BENCH_DATABASE_URL) and a local S3 server process
// (scripts/s3-server.mjs), everything on this one machine:
//   1. small transfers per second (create + 4 KiB upload, BENCH_CLIENTS concurrent lab clients for
//      BENCH_SECONDS) through one shared-mode instance, then through two instances (the clients
//      alternate between them), beside the embedded gateway (files, one process) in the same run;
//   2. the time from SIGKILL of the instance signing the checkpoints to the other one signing them;
//   3. one BENCH_UPLOAD_GIB GiB upload through one gateway to the S3 store, beside the same upload to
//      the filesystem store (embedded), MiB/s and the gateway's peak RSS.
// Two instances on a 2-core machine share its cores with PostgreSQL and the S3 server: the ratio
// says what a second instance adds here, not on separate machines.
// Run: npx tsc -p tsconfig.bench.json && node dist/bench/shared-mode.js
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import { PROJECT_ROOT } from '../gateway/config.js';
import { openDatabase } from '../gateway/database/database.js';
import { migrateDatabase } from '../gateway/database/migrate.js';
import { createBenchDatabase } from './support/bench-database.js';
import { benchManifest, content, identity, MiB, samplePeakRss, startChild } from './support/gateway-processes.js';
import { reportResult } from './support/report.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 16);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const UPLOAD_BYTES = Math.round(Number(process.env.BENCH_UPLOAD_GIB ?? 1) * 1024) * MiB;
const SMALL_BYTES = 4096;
/** The instances' checkpoint interval: a surviving instance tries to take the leader lock once per interval. */
const LEADER_INTERVAL_MS = Number(process.env.BENCH_CHECKPOINT_INTERVAL_MS ?? 1000);
const BUCKET = 'hetao-bench';

const children: ChildProcess[] = [];
const folders: string[] = [];

async function folder(name: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `hetao-bench-${name}-`));
  folders.push(dir);
  return dir;
}

async function startS3(): Promise<string> {
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'scripts/s3-server.mjs'), '--dir', await folder('s3'), '--bucket', BUCKET], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) => resolve((JSON.parse(line) as { endpoint: string }).endpoint));
    child.once('exit', (code) => reject(new Error(`the S3 server exited (${String(code)})`)));
  });
}

async function startGateway(env: Record<string, string>): Promise<{ child: ChildProcess; url: string; ops: string }> {
  const started = await startChild(
    [path.join(PROJECT_ROOT, 'dist/gateway/app/main.js')],
    { HETAO_PORT: '0', HETAO_OPS_PORT: '0', HETAO_DATA_DIR: await folder('data'), HETAO_LOG_LEVEL: 'info', HETAO_QUEUE_THRESHOLD_BYTES: String(2 ** 50), ...env },
    (line) => (line.msg === 'gateway listening' ? JSON.stringify({ api: line.api, ops: line.ops }) : undefined),
  );
  children.push(started.child);
  const { api, ops } = JSON.parse(started.url) as { api: string; ops: string };
  return { child: started.child, url: api, ops };
}

const leads = async (ops: string): Promise<boolean> => ((await (await fetch(`${ops}/readyz`)).json()) as { checks: { audit: { leader?: boolean } } }).checks.audit.leader === true;

/**
 * Kills (SIGKILL) whichever of the two instances signs the checkpoints and times how long the other
 * takes to take the leader lock over (polled every 20 ms; bounded by 30 s).
 */
async function leaderTakeover(instances: readonly { child: ChildProcess; ops: string }[]): Promise<{ ms: number; survivor: number }> {
  let leader = -1;
  for (const bound = performance.now() + 30_000; leader < 0 && performance.now() < bound; await new Promise((resolve) => setTimeout(resolve, 20))) {
    for (const [index, instance] of instances.entries()) if (await leads(instance.ops)) leader = index;
  }
  if (leader < 0) throw new Error('no instance leads the checkpoints');
  const survivor = 1 - leader;
  const gone = new Promise((resolve) => instances[leader]?.child.once('exit', resolve));
  const killed = performance.now();
  instances[leader]?.child.kill('SIGKILL');
  await gone;
  for (const bound = performance.now() + 30_000; performance.now() < bound; await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (await leads(instances[survivor]?.ops as string)) return { ms: performance.now() - killed, survivor };
  }
  throw new Error('no instance took the checkpoints over within 30 s');
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await gone;
}

async function json(response: Awaited<ReturnType<typeof request>>): Promise<Record<string, unknown>> {
  const body = (await response.body.json()) as Record<string, unknown>;
  if (response.statusCode >= 300) throw new Error(`answered ${response.statusCode}: ${JSON.stringify(body).slice(0, 300)}`);
  return body;
}

/** A transfer of `size` bytes created through `api`; its id. */
async function createTransfer(api: string, agent: Agent, size: number): Promise<string> {
  const created = await json(await request(`${api}/v1/transfers`, { dispatcher: agent, method: 'POST', body: JSON.stringify(benchManifest(size)), headers: { 'content-type': 'application/json' } }));
  return String(created.id);
}

/** Uploads `size` generated bytes as transfer `id`'s content; resolves once the gateway answered 2xx. */
async function uploadContent(api: string, agent: Agent, id: string, size: number): Promise<void> {
  await json(
    await request(`${api}/v1/transfers/${id}/content`, {
      dispatcher: agent,
      method: 'PUT',
      body: content(size),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    }),
  );
}

/** CLIENTS lab clients, each doing create + 4 KiB upload one after another on `urls` in turn, for SECONDS. */
async function smallTransfersPerSecond(urls: readonly string[], agent: Agent): Promise<number> {
  const deadline = performance.now() + SECONDS * 1000;
  let done = 0;
  let next = 0;
  const client = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const api = urls[next++ % urls.length] as string;
      await uploadContent(api, agent, await createTransfer(api, agent, SMALL_BYTES), SMALL_BYTES);
      done += 1;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, client));
  return done / ((performance.now() - started) / 1000);
}

async function timedUpload(api: string, agent: Agent, pid: number): Promise<{ mibPerSecond: number; rss: number }> {
  const id = await createTransfer(api, agent, UPLOAD_BYTES);
  const rss = samplePeakRss(pid);
  const started = performance.now();
  await uploadContent(api, agent, id, UPLOAD_BYTES);
  const seconds = (performance.now() - started) / 1000;
  return { mibPerSecond: UPLOAD_BYTES / MiB / seconds, rss: rss.stop() };
}

async function main(): Promise<void> {
  const benchDatabase = await createBenchDatabase();
  const url = new URL(benchDatabase.url);
  const agent = new Agent({ connect: await identity('institutions/sz-hospital'), connections: CLIENTS * 2, bodyTimeout: 0, headersTimeout: 0 });
  try {
    const database = openDatabase({ url: url.toString(), poolSize: 1 });
    await migrateDatabase(database);
    const settings = await database.query<{ name: string; setting: string }>("SELECT name, setting FROM pg_settings WHERE name IN ('synchronous_commit', 'fsync', 'wal_sync_method', 'commit_delay')");
    await database.close();
    const s3 = await startS3();
    const shared = {
      HETAO_DATABASE_URL: url.toString(),
      HETAO_S3_ENDPOINT: s3,
      HETAO_S3_BUCKET: BUCKET,
      HETAO_S3_ACCESS_KEY_ID: 'S3RVER',
      HETAO_S3_SECRET_ACCESS_KEY: 'S3RVER',
      HETAO_S3_FORCE_PATH_STYLE: 'true',
      HETAO_AUDIT_CHECKPOINT_INTERVAL_MS: String(LEADER_INTERVAL_MS),
    };

    const embedded = await startGateway({});
    const embeddedRate = await smallTransfersPerSecond([embedded.url], agent);
    await stop(embedded.child);
    const one = await startGateway({ ...shared, HETAO_INSTANCE_ID: 'bench-a' });
    const oneRate = await smallTransfersPerSecond([one.url], agent);
    const two = await startGateway({ ...shared, HETAO_INSTANCE_ID: 'bench-b' });
    const twoRate = await smallTransfersPerSecond([one.url, two.url], agent);
    const takeover = await leaderTakeover([one, two]);
    const left = takeover.survivor === 0 ? one : two;

    const toS3 = await timedUpload(left.url, agent, left.child.pid as number);
    await stop(left.child);
    const files = await startGateway({});
    const toFiles = await timedUpload(files.url, agent, files.child.pid as number);
    await stop(files.child);

    console.log(`shared mode on one machine (Node ${process.version}, ${new Date().toISOString()}); PostgreSQL: ${settings.rows.map((row) => `${row.name}=${row.setting}`).join(', ')}`);
    console.log(`small transfers (create + ${SMALL_BYTES} B upload), ${CLIENTS} clients, ${SECONDS} s each:`);
    console.log(`  embedded, one process:        ${embeddedRate.toFixed(0)} transfers/s`);
    console.log(`  shared, one instance:         ${oneRate.toFixed(0)} transfers/s`);
    console.log(`  shared, two instances:        ${twoRate.toFixed(0)} transfers/s (${(twoRate / oneRate).toFixed(2)}× one)`);
    console.log(`checkpoint leader killed (SIGKILL): the other instance signs within ${takeover.ms.toFixed(0)} ms (interval ${LEADER_INTERVAL_MS} ms)`);
    console.log(`${UPLOAD_BYTES / MiB} MiB upload through one gateway:`);
    console.log(`  to S3 (local s3rver):         ${toS3.mibPerSecond.toFixed(0)} MiB/s, gateway peak RSS ${(toS3.rss / MiB).toFixed(0)} MiB`);
    console.log(`  to the filesystem (embedded): ${toFiles.mibPerSecond.toFixed(0)} MiB/s, gateway peak RSS ${(toFiles.rss / MiB).toFixed(0)} MiB`);
    reportResult({ area: 'shared mode (14)', name: 'small transfers/s, two instances', value: twoRate, unit: 'transfers/s', baseline: { name: 'one instance', value: oneRate } });
    reportResult({ area: 'shared mode (14)', name: 'small transfers/s, one shared instance', value: oneRate, unit: 'transfers/s', baseline: { name: 'embedded gateway', value: embeddedRate } });
    reportResult({ area: 'shared mode (14)', name: `checkpoint leader takeover after SIGKILL (interval ${LEADER_INTERVAL_MS} ms)`, value: takeover.ms, unit: 'ms' });
    reportResult({ area: 'shared mode (14)', name: `${UPLOAD_BYTES / MiB} MiB upload to S3 (local s3rver)`, value: toS3.mibPerSecond, unit: 'MiB/s', baseline: { name: 'to the filesystem', value: toFiles.mibPerSecond } });
  } finally {
    await agent.close();
    for (const child of children) await stop(child).catch(() => undefined);
    await benchDatabase.drop();
    for (const dir of folders) await rm(dir, { recursive: true, force: true });
  }
}

await main();
