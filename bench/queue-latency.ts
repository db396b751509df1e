// Queue benchmark (not a test), bounded by BENCH_LARGE_COUNT × BENCH_LARGE_MIB (20 × 256 MiB):
//   1. small-transfer latency (create + 4 KiB upload, one after another) while the gateway is idle,
//      then while BENCH_LARGE_COUNT large uploads are in flight — the target: loaded p99 ≤ 3 × idle p99;
//   2. aggregate throughput of those large uploads, queued (Redis + one `hetao worker` process doing
//      the full inspection) versus inline (no Redis: every upload finishes in the upload pass).
// The gateway, the worker and the large uploads' client are child processes (node dist/…); the
// small transfers are timed from this process (undici, mTLS).
// BENCH_MODES=queued runs one mode; BENCH_IDLE_SAMPLES sets the idle phase's length.
// Diagnostics: UV_THREADPOOL_SIZE is passed on; BENCH_NODE_OPTIONS goes to the gateway's and
// worker's NODE_OPTIONS, BENCH_GATEWAY_NODE_ARGS (space-separated) before the gateway's script, e.g.
// "--cpu-prof --cpu-prof-dir=/tmp/gwprof" or "--trace-gc" with BENCH_ECHO_CHILD=1 (children's
// non-JSON output to stderr); BENCH_NO_WORKER=1 starts no worker process (queued transfers stay
// queued: shows what the worker's CPU costs the small transfers).
// Needs Redis at BENCH_REDIS_URL (default redis://127.0.0.1:6379; queued mode is skipped without it).
// Run: npm run bench (or: npx tsc -p tsconfig.bench.json && node dist/bench/queue-latency.js)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { PROJECT_ROOT } from '../gateway/config.js';
import { benchManifest, content, identity, MiB, startChild } from './support/gateway-processes.js';
import { dropQueueKeys, redisReachable } from './support/bench-redis.js';
import { reportResult } from './support/report.js';

const LARGE_COUNT = Number(process.env.BENCH_LARGE_COUNT ?? 20);
const LARGE_BYTES = Number(process.env.BENCH_LARGE_MIB ?? 256) * MiB;
// As many idle samples as loaded ones (≈ 600–700 here): this disk stalls for 50–200 ms every few
// seconds even when idle, and a p99 over a short idle phase catches those stalls only sometimes.
const IDLE_SAMPLES = Number(process.env.BENCH_IDLE_SAMPLES ?? 800);
const SMALL_BYTES = 4096;
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function json(response: Awaited<ReturnType<typeof request>>): Promise<Record<string, unknown>> {
  const body = (await response.body.json()) as Record<string, unknown>;
  if (response.statusCode >= 300) throw new Error(`answered ${response.statusCode}: ${JSON.stringify(body).slice(0, 300)}`);
  return body;
}

/** Create + upload; resolves with the record id and the seconds it took. */
async function transfer(api: string, agent: Agent, size: number): Promise<{ id: string; seconds: number; createSeconds: number; status: string }> {
  const started = performance.now();
  const created = await json(await request(`${api}/v1/transfers`, { dispatcher: agent, method: 'POST', body: JSON.stringify(benchManifest(size)), headers: { 'content-type': 'application/json' } }));
  const id = created.id as string;
  const createSeconds = (performance.now() - started) / 1000;
  const uploaded = await json(
    await request(`${api}/v1/transfers/${id}/content`, { dispatcher: agent, method: 'PUT', body: content(size), headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) } }),
  );
  return { id, seconds: (performance.now() - started) / 1000, createSeconds, status: uploaded.status as string };
}

async function waitAvailable(api: string, agent: Agent, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    for (;;) {
      const record = await json(await request(`${api}/v1/transfers/${id}`, { dispatcher: agent }));
      if (record.status === 'available') break;
      if (record.status !== 'queued' && record.status !== 'processing') throw new Error(`${id} ended ${String(record.status)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};

interface ModeResult {
  readonly mode: string;
  readonly idle: number[];
  readonly loaded: number[];
  /** The create (POST) part of each small transfer: the rest is the upload. */
  readonly idleCreate: number[];
  readonly loadedCreate: number[];
  readonly uploadSeconds: number;
  readonly availableSeconds: number;
  /** The gateway's event-loop delay over its life (prom-client's monitor): where a tail comes from. */
  readonly eventLoop: string;
}

async function eventLoopLag(ops: string): Promise<string> {
  const text = await (await fetch(`${ops}/metrics`)).text();
  const value = (name: string): string => `${(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) * 1000).toFixed(1)}`;
  return `event loop delay p50 ${value('hetao_nodejs_eventloop_lag_p50_seconds')} ms, p99 ${value('hetao_nodejs_eventloop_lag_p99_seconds')} ms, max ${value('hetao_nodejs_eventloop_lag_max_seconds')} ms`;
}

async function runMode(mode: 'inline' | 'queued', agent: Agent): Promise<ModeResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-bench-queue-'));
  const prefix = `bench-${process.pid}-${mode}`;
  const env: Record<string, string> = {
    HETAO_PORT: '0',
    HETAO_OPS_PORT: '0',
    HETAO_DATA_DIR: dir,
    HETAO_LOG_LEVEL: 'warn',
    HETAO_QUEUE_PREFIX: prefix,
    ...(process.env.HETAO_BULK_CHUNKS_PER_TURN ? { HETAO_BULK_CHUNKS_PER_TURN: process.env.HETAO_BULK_CHUNKS_PER_TURN } : {}),
    // e.g. V8 heap flags for the gateway and worker, to see what a GC setting does to the tail.
    ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}),
    ...(process.env.UV_THREADPOOL_SIZE ? { UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE } : {}),
    // Queued: small transfers stay inline, every large one is queued; inline: nothing is.
    ...(mode === 'queued' ? { REDIS_URL, HETAO_QUEUE_WORKERS: '0', HETAO_QUEUE_THRESHOLD_BYTES: String(MiB) } : { HETAO_QUEUE_THRESHOLD_BYTES: String(2 ** 50) }),
  };
  const children: ChildProcess[] = [];
  try {
    const gateway = await startChild([...(process.env.BENCH_GATEWAY_NODE_ARGS?.split(' ') ?? []), path.join(PROJECT_ROOT, 'dist/gateway/app/main.js')], { ...env, HETAO_LOG_LEVEL: 'info' }, (line) =>
      line.msg === 'gateway listening' ? `${String(line.api)} ${String(line.ops)}` : undefined,
    );
    children.push(gateway.child);
    if (mode === 'queued' && !process.env.BENCH_NO_WORKER) {
      const worker = await startChild([path.join(PROJECT_ROOT, 'dist/gateway/app/worker-main.js')], { ...env, HETAO_QUEUE_WORKERS: '2', HETAO_QUEUE_PER_RECIPIENT: '2', HETAO_LOG_LEVEL: 'info' }, (line) =>
        line.msg === 'worker running' ? 'ok' : undefined,
      );
      children.push(worker.child);
    }
    const [api = '', ops = ''] = gateway.url.split(' ');
    for (let i = 0; i < 20; i += 1) await transfer(api, agent, SMALL_BYTES); // warm-up
    const idle: number[] = [];
    const idleCreate: number[] = [];
    for (let i = 0; i < IDLE_SAMPLES; i += 1) {
      const small = await transfer(api, agent, SMALL_BYTES);
      idle.push(small.seconds);
      idleCreate.push(small.createSeconds);
    }

    // The large uploads come from another process, as they would from other lab systems: this
    // process's event loop then measures the gateway, not its own TLS work for the large streams.
    const started = performance.now();
    const large = runLoadProcess(api);
    let uploadsDone = false;
    void large.finally(() => (uploadsDone = true)).catch(() => undefined);
    const loaded: number[] = [];
    const loadedCreate: number[] = [];
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the large uploads start
    while (!uploadsDone) {
      const small = await transfer(api, agent, SMALL_BYTES);
      loaded.push(small.seconds);
      loadedCreate.push(small.createSeconds);
    }
    const ids = await large;
    const eventLoop = await eventLoopLag(ops);
    const uploadSeconds = (performance.now() - started) / 1000;
    if (!process.env.BENCH_NO_WORKER) await waitAvailable(api, agent, ids);
    const availableSeconds = (performance.now() - started) / 1000;
    return { mode, idle, loaded, idleCreate, loadedCreate, uploadSeconds, availableSeconds, eventLoop };
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 500));
    await rm(dir, { recursive: true, force: true });
    // Deleting gigabytes keeps the disk busy for a while (discard): let it finish before the next
    // mode measures its idle figures.
    execFileSync('sync');
    if (mode === 'queued') await dropQueueKeys(REDIS_URL, prefix);
  }
}

/** Runs the large uploads in a child process (this script with `--load`); resolves with their ids. */
function runLoadProcess(api: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--load', api], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(output) as string[]) : reject(new Error(`load process exited with ${code}`))));
  });
}

async function loadMain(api: string): Promise<void> {
  // These clients stand for other lab systems' machines: on this shared host they yield to the gateway.
  os.setPriority(19);
  const agent = new Agent({ connect: await identity('institutions/sz-hospital'), bodyTimeout: 0, headersTimeout: 0, connections: LARGE_COUNT });
  const uploads = await Promise.all(Array.from({ length: LARGE_COUNT }, () => transfer(api, agent, LARGE_BYTES)));
  await agent.close();
  process.stdout.write(JSON.stringify(uploads.map((upload) => upload.id)));
}

async function main(): Promise<void> {
  const agent = new Agent({ connect: await identity('institutions/sz-hospital'), bodyTimeout: 0, headersTimeout: 0 });
  const modes = (process.env.BENCH_MODES ?? 'inline,queued').split(',');
  const results: ModeResult[] = [];
  if (modes.includes('inline')) results.push(await runMode('inline', agent));
  if (!modes.includes('queued')) {
    /* not asked for */
  } else if (await redisReachable(REDIS_URL)) results.push(await runMode('queued', agent));
  else console.log(`(queued mode skipped: no Redis at ${REDIS_URL})`);
  await agent.close();

  const ms = (seconds: number): string => (seconds * 1000).toFixed(1);
  const totalMiB = (LARGE_COUNT * LARGE_BYTES) / MiB;
  console.log(`queue benchmark: ${LARGE_COUNT} uploads of ${LARGE_BYTES / MiB} MiB in flight, small transfers of ${SMALL_BYTES} B (Node ${process.version}, ${new Date().toISOString()})`);
  console.log('| mode | idle p50 ms | idle p99 ms | loaded p50 ms | loaded p99 ms | loaded p99 / idle p99 | small transfers under load | upload MiB/s | to available MiB/s |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    const ratio = percentile(r.loaded, 99) / percentile(r.idle, 99);
    console.log(
      `| ${r.mode} | ${ms(percentile(r.idle, 50))} | ${ms(percentile(r.idle, 99))} | ${ms(percentile(r.loaded, 50))} | ${ms(percentile(r.loaded, 99))} | ${ratio.toFixed(2)}× ${ratio <= 3 ? '(≤ 3×: met)' : '(> 3×: NOT met)'} | ${r.loaded.length} | ${(totalMiB / r.uploadSeconds).toFixed(0)} | ${(totalMiB / r.availableSeconds).toFixed(0)} |`,
    );
  }
  for (const r of results) {
    const ratio = percentile(r.loaded, 99) / percentile(r.idle, 99);
    reportResult({
      area: 'queue (issue 6)',
      name: `${r.mode}: small-transfer p99 with ${LARGE_COUNT} × ${LARGE_BYTES / MiB} MiB in flight`,
      value: percentile(r.loaded, 99) * 1000,
      unit: 'ms',
      baseline: { name: 'idle p99', value: percentile(r.idle, 99) * 1000 },
      target: { text: '≤ 3 × idle p99', met: ratio <= 3 },
    });
  }
  for (const r of results) {
    const split = (totals: number[], creates: number[], p: number): string =>
      `create ${ms(percentile(creates, p))} + upload ${ms(percentile(totals.map((total, i) => total - (creates[i] ?? 0)), p))}`;
    console.log(`${r.mode}: p50 idle ${split(r.idle, r.idleCreate, 50)} ms, loaded ${split(r.loaded, r.loadedCreate, 50)} ms; p99 idle ${split(r.idle, r.idleCreate, 99)}, loaded ${split(r.loaded, r.loadedCreate, 99)}`);
    console.log(`${r.mode}: gateway ${r.eventLoop}`);
  }
  const [inline, queued] = results;
  if (inline && queued) {
    reportResult({
      area: 'queue (issue 6)',
      name: 'queued: aggregate throughput to available',
      value: (LARGE_COUNT * LARGE_BYTES) / MiB / queued.availableSeconds,
      unit: 'MiB/s',
      baseline: { name: 'inline mode, same run', value: (LARGE_COUNT * LARGE_BYTES) / MiB / inline.availableSeconds },
    });
  }
  if (inline && queued) console.log(`queued vs inline, aggregate throughput to available: ${(inline.availableSeconds / queued.availableSeconds).toFixed(2)}× (baseline: inline in the same run)`);
}

if (process.argv[2] === '--load') await loadMain(process.argv[3] as string);
else await main();
