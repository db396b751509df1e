// Stopping for real: the gateway process and `hetao worker` receive SIGTERM while Redis (a private
// redis-server this test starts and kills) is unreachable, or while a job hangs on a recipient that
// stopped reading, with uploads and jobs in flight. Every shutdown step is bounded by
// HETAO_SHUTDOWN_GRACE_MS: the process exits, 1 when a step had to be abandoned (the log names it),
// and a second SIGTERM exits at once with 143. Only outcomes are asserted; the 20 s bounds are the
// tests' own timeouts (the grace is 1 s), never a measure of speed.
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBullmqStageQueue } from '../../gateway/queue/bullmq-stage-queue.js';
import { createInlineStageQueue, type StageQueue } from '../../gateway/queue/stage-queue.js';
import { REGISTRY_FILE, devIdentity } from '../support/dev-pki.js';
import { call, editRegistry, startTestGateway, type TestGateway } from '../support/gateway.js';
import { killHetaoProcesses, spawnHetao, type HetaoProcess, type LogLine } from '../support/hetao-process.js';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { startPushEndpoint, type PushEndpoint } from '../support/push-endpoint.js';
import { createTransfer, upload } from '../support/transfers.js';
import { anonymisedResearchManifest } from '../support/manifests.js';

const hospital = devIdentity('institutions/sz-hospital');
/** Far above the 1 s grace: a process still running by then hangs. */
const EXIT_BOUND_MS = 20_000;
const QUEUE_THRESHOLD = String(64 * 1024);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await killHetaoProcesses();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function privateRedis(): Promise<PrivateRedis> {
  const redis = await startPrivateRedis();
  cleanups.push(() => redis.stop());
  return redis;
}

async function scratchFolder(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-stop-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function researchCsv(bytes: number): Buffer {
  const header = 'site,age_band,score,note\n';
  const row = 'site-3,40-49,87,ok\n';
  return Buffer.from((header + row.repeat(Math.ceil(bytes / row.length))).slice(0, bytes - 1) + '\n');
}

const manifestOf = anonymisedResearchManifest;

/** An upload whose first KiB is sent and whose rest is held back: in flight until the stop cuts it. */
async function uploadInFlight(apiUrl: string, content: Buffer): Promise<{ id: string; settled: Promise<unknown> }> {
  const created = await createTransfer(apiUrl, hospital, manifestOf(content));
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.id as string;
  const body = new PassThrough();
  const settled = upload(apiUrl, hospital, id, body).catch((error: unknown) => error);
  body.write(content.subarray(0, 1024));
  await vi.waitFor(async () => expect((await call(apiUrl, hospital, `/v1/transfers/${id}`)).body.status).toBe('uploading'), { timeout: 10_000, interval: 50 });
  return { id, settled };
}

async function redisState(opsUrl: string): Promise<string> {
  const readiness = (await (await fetch(`${opsUrl}/readyz`)).json()) as { checks: { queue: { redis?: string } } };
  return readiness.checks.queue.redis ?? 'none';
}

const abandonedSteps = (logs: readonly LogLine[]): unknown[] => logs.filter((line) => line.msg === 'shutdown step abandoned').map((line) => line.step);
const lineSaying = (logs: readonly LogLine[], msg: string): LogLine | undefined => logs.find((line) => line.msg === msg);

/**
 * Every change of every record on disk has its one journal entry: per transfer, as many history
 * entries as `transfer.*` entries in the journal (downloads change nothing and are not counted).
 */
async function changesWithoutTheirEntry(dataDir: string): Promise<Record<string, { history: number; journaled: number }>> {
  const journaled = new Map<string, number>();
  for (const line of (await readFile(path.join(dataDir, 'audit', 'journal.ndjson'), 'utf8')).split('\n').filter(Boolean)) {
    const entry = JSON.parse(line) as { type: string; subject?: string };
    if (entry.subject && entry.type.startsWith('transfer.') && entry.type !== 'transfer.downloaded') journaled.set(entry.subject, (journaled.get(entry.subject) ?? 0) + 1);
  }
  const mismatched: Record<string, { history: number; journaled: number }> = {};
  for (const name of await readdir(path.join(dataDir, 'records'))) {
    const record = JSON.parse(await readFile(path.join(dataDir, 'records', name), 'utf8')) as { id: string; history: unknown[] };
    const counts = { history: record.history.length, journaled: journaled.get(record.id) ?? 0 };
    if (counts.history !== counts.journaled) mismatched[record.id] = counts;
  }
  return mismatched;
}

describe('gateway process stopped while Redis is unreachable', () => {
  async function gatewayWithUploadsInFlight(graceMs: number): Promise<{ gateway: HetaoProcess; redis: PrivateRedis; uploads: Promise<unknown>[]; dataDir: string }> {
    const redis = await privateRedis();
    const dir = await scratchFolder();
    const registryFile = path.join(dir, 'registry.yaml');
    await copyFile(REGISTRY_FILE, registryFile);
    const gateway = spawnHetao(
      'gateway',
      {
        REDIS_URL: redis.url,
        HETAO_DATA_DIR: path.join(dir, 'data'),
        HETAO_REGISTRY_FILE: registryFile,
        HETAO_QUEUE_THRESHOLD_BYTES: QUEUE_THRESHOLD,
        HETAO_SHUTDOWN_GRACE_MS: String(graceMs),
      },
      dir,
    );
    const listening = await gateway.waitForLog((line) => line.msg === 'gateway listening');
    const apiUrl = listening.api as string;
    // One upload for the queued path (above the threshold) and one small one, both mid-body.
    const uploads = [await uploadInFlight(apiUrl, researchCsv(256 * 1024)), await uploadInFlight(apiUrl, researchCsv(8 * 1024))].map((inFlight) => inFlight.settled);
    await redis.stop();
    await vi.waitFor(async () => expect(await redisState(listening.ops as string)).toBe('unreachable'), { timeout: 10_000, interval: 100 });
    return { gateway, redis, uploads, dataDir: path.join(dir, 'data') };
  }

  it('SIGTERM exits 1 within the grace, abandoning the queue close (named in the log) and cutting the uploads in flight', async () => {
    // 3 s: the final share (10 %) must hold a cut upload's last change and its journal append on a
    // loaded runner; at 1 s (100 ms) a busy CI machine ran out of it twice.
    const { gateway, uploads, dataDir } = await gatewayWithUploadsInFlight(3000);
    gateway.child.kill('SIGTERM');

    expect(await gateway.exitWithin(EXIT_BOUND_MS), JSON.stringify(gateway.logs.map((line) => line.msg))).toBe(1);
    expect(gateway.logs.some((line) => line.msg === 'gateway shutting down: letting in-flight work finish')).toBe(true);
    expect(gateway.logs.some((line) => line.msg === 'grace period over: closing remaining connections')).toBe(true);
    expect(abandonedSteps(gateway.logs)).toContain('queue');
    expect(lineSaying(gateway.logs, 'gateway stopped with steps left unfinished')).toMatchObject({ abandoned: expect.arrayContaining(['queue']) });
    // The clients are not left hanging either: their connections were closed.
    await Promise.all(uploads);
    // The uploads cut at the deadline went back to `authorized`, and the journal says so before it closed.
    // When it fails, the gateway's own account of the stop says which steps ran out of time.
    expect(await changesWithoutTheirEntry(dataDir), JSON.stringify(gateway.logs.filter((line) => String(line.msg).includes('shutdown') || String(line.msg).includes('stopped')))).toEqual({});
  }, 90_000);

  it('a second SIGTERM exits at once (143) while the first stop still waits', async () => {
    // A grace far beyond the test's bound: only the second signal can end the process in time.
    const { gateway } = await gatewayWithUploadsInFlight(600_000);
    gateway.child.kill('SIGTERM');
    await gateway.waitForLog((line) => line.msg === 'gateway shutting down: letting in-flight work finish');
    gateway.child.kill('SIGTERM');

    expect(await gateway.exitWithin(EXIT_BOUND_MS)).toBe(143);
    expect(lineSaying(gateway.logs, 'gateway: second signal, exiting at once')).toMatchObject({ signal: 'SIGTERM' });
    expect(lineSaying(gateway.logs, 'gateway stopped with steps left unfinished')).toBeUndefined();
  }, 90_000);
});

describe('stage queue close with a deadline', () => {
  const stuck = { inspect: () => new Promise<void>(() => undefined), deliver: async () => undefined, forward: async () => undefined };
  const closedAtDeadline = async (queue: StageQueue): Promise<void> => {
    const deadline = new AbortController();
    const closing = queue.close(deadline.signal);
    deadline.abort(new Error('deadline passed'));
    await expect(closing).rejects.toThrow('deadline passed');
  };

  it('BullMQ, Redis unreachable: close gives up when the deadline aborts (Worker and QueueEvents close would wait forever)', async () => {
    const redis = await privateRedis();
    const queue = createBullmqStageQueue({ url: redis.url, prefix: 'stop-test' });
    await queue.observe({});
    queue.startWorkers(stuck, 1);
    await redis.stop();
    await vi.waitFor(() => expect(queue.isAvailable()).toBe(false), { timeout: 10_000, interval: 50 });
    await closedAtDeadline(queue);
  });

  it('inline: close gives up on a stage that never ends when the deadline aborts', async () => {
    const queue = createInlineStageQueue();
    queue.startWorkers(stuck, 1);
    await queue.enqueue('tr-000000001-aaaaaaaaaaaaaaaa', 'inspect');
    await closedAtDeadline(queue);
  });
});

describe('inline queue (no Redis)', () => {
  it('a stage stuck on a push that stopped reading: close() abandons the queue step at the deadline and names it', async () => {
    const gw = await startTestGateway({ HETAO_QUEUE_THRESHOLD_BYTES: QUEUE_THRESHOLD, HETAO_SHUTDOWN_GRACE_MS: '1000' });
    cleanups.push(() => gw.close());
    const endpoint = await startPushEndpoint('hetao-sz-institute', ['stall']);
    cleanups.push(() => endpoint.close());
    await editRegistry(gw.registryFile, (document) => {
      const institution = document.institutions.find((entry) => entry.id === 'hetao-sz-institute');
      if (institution) institution.pushEndpoint = endpoint.url;
    });
    await gw.gateway.reload('test');
    const content = researchCsv(8 * 1024);
    const created = await createTransfer(gw.gateway.apiUrl, hospital, manifestOf(content));
    expect((await upload(gw.gateway.apiUrl, hospital, created.body.id as string, content)).status).toBe(202);
    await endpoint.stalled();

    // The push would wait for its own 60 s timeout; the stop does not.
    const outcome = await gw.gateway.close();
    expect(outcome.abandoned).toContain('queue');
    expect(abandonedSteps(gw.logs)).toContain('queue');
  });
});

describe('`hetao worker` stopped with a job in flight', () => {
  interface Setup {
    readonly gw: TestGateway;
    readonly redis: PrivateRedis;
    readonly endpoint: PushEndpoint;
    readonly queueEnv: Record<string, string>;
    readonly transferId: string;
  }

  /** A gateway (in this process, no workers of its own) whose only worker process is stuck pushing to a recipient that stopped reading. */
  async function workerStuckOnPush(graceMs: number): Promise<Setup & { worker: HetaoProcess }> {
    const redis = await privateRedis();
    const queueEnv = { REDIS_URL: redis.url, HETAO_QUEUE_LOCK_MS: '5000', HETAO_QUEUE_BACKOFF_MS: '100', HETAO_QUEUE_THRESHOLD_BYTES: QUEUE_THRESHOLD };
    const gw = await startTestGateway({ ...queueEnv, HETAO_QUEUE_WORKERS: '0', HETAO_QUEUE_RECONCILE_MS: '300', HETAO_SHUTDOWN_GRACE_MS: '1000' });
    cleanups.push(() => gw.close());
    const endpoint = await startPushEndpoint('hetao-sz-institute', ['stall', 'accept']);
    cleanups.push(() => endpoint.close());
    await editRegistry(gw.registryFile, (document) => {
      const institution = document.institutions.find((entry) => entry.id === 'hetao-sz-institute');
      if (institution) institution.pushEndpoint = endpoint.url;
    });
    await gw.gateway.reload('test');
    const worker = spawnWorker(gw, { ...queueEnv, HETAO_SHUTDOWN_GRACE_MS: String(graceMs) });
    await worker.waitForLog((line) => line.msg === 'worker running');

    const content = researchCsv(128 * 1024);
    const created = await createTransfer(gw.gateway.apiUrl, hospital, manifestOf(content));
    const transferId = created.body.id as string;
    expect((await upload(gw.gateway.apiUrl, hospital, transferId, content)).status).toBe(202);
    await endpoint.stalled();
    return { gw, redis, endpoint, queueEnv, transferId, worker };
  }

  function spawnWorker(gw: TestGateway, env: Record<string, string>): HetaoProcess {
    return spawnHetao('worker', { HETAO_DATA_DIR: gw.config.dataDir, HETAO_REGISTRY_FILE: gw.registryFile, ...env });
  }

  it('Redis unreachable: SIGTERM exits 1 within the grace, the queue close abandoned and named in the log', async () => {
    const { worker, redis } = await workerStuckOnPush(1000);
    await redis.stop();
    worker.child.kill('SIGTERM');

    expect(await worker.exitWithin(EXIT_BOUND_MS), JSON.stringify(worker.logs.map((line) => line.msg))).toBe(1);
    expect(abandonedSteps(worker.logs)).toContain('queue');
    expect(lineSaying(worker.logs, 'worker stopped with steps left unfinished')).toMatchObject({ abandoned: expect.arrayContaining(['queue']) });
  }, 90_000);

  it('Redis up, the job hangs on its push: SIGTERM exits 1 within the grace, and another worker delivers the job handed back', async () => {
    const { worker, gw, endpoint, queueEnv, transferId } = await workerStuckOnPush(1000);
    worker.child.kill('SIGTERM');

    expect(await worker.exitWithin(EXIT_BOUND_MS), JSON.stringify(worker.logs.map((line) => line.msg))).toBe(1);
    expect(abandonedSteps(worker.logs)).toContain('queue');

    // Nothing was lost: the job's lock runs out and the next worker pushes it.
    const next = spawnWorker(gw, queueEnv);
    await next.waitForLog((line) => line.msg === 'worker running');
    // A generous bound: on a loaded 2-core machine the lock expiry, the stalled-job check and a new process take a while.
    await vi.waitFor(async () => expect((await call(gw.gateway.apiUrl, hospital, `/v1/transfers/${transferId}`)).body.status).toBe('delivered'), { timeout: 90_000, interval: 200 });
    expect(endpoint.requests.map((request) => request.outcome)).toEqual(['stalled', 'stored']);
  }, 180_000);

  it('a second SIGTERM exits at once (143) while the first stop waits for the job', async () => {
    const { worker } = await workerStuckOnPush(600_000);
    worker.child.kill('SIGTERM');
    await worker.waitForLog((line) => line.msg === 'worker shutting down: letting in-flight work finish');
    worker.child.kill('SIGTERM');

    expect(await worker.exitWithin(EXIT_BOUND_MS)).toBe(143);
    expect(lineSaying(worker.logs, 'worker: second signal, exiting at once')).toMatchObject({ signal: 'SIGTERM' });
    expect(lineSaying(worker.logs, 'worker stopped with steps left unfinished')).toBeUndefined();
  }, 90_000);
});
