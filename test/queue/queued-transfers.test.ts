// The queued path end to end over real mTLS: large or heavy transfers answer 202 `queued`, a worker
// inspects the stored envelope in full and (when the recipient registered an endpoint) pushes it
// over mTLS; Redis holds no truth — stopped, flushed or with a worker killed mid-job, nothing
// accepted is lost and every recipient gets its envelope once.
import { spawn, type ChildProcess } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../gateway/ops/logger.js';
import { composeWorker } from '../../gateway/app/compose-worker.js';
import { devIdentity, zoneCaBundle } from '../support/dev-pki.js';
import { call, editRegistry, startTestGateway, type TestGateway } from '../support/gateway.js';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { startPushEndpoint, type PushBehaviour, type PushEndpoint } from '../support/push-endpoint.js';
import { useRedis } from '../support/redis.js';
import { nodeArgsFor } from '../support/run-cli.js';
import { createTransfer, decrypt, download, encryptionKey, jwksOf, sha256, upload } from '../support/transfers.js';
import { anonymisedResearchManifest } from '../support/manifests.js';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { createCrypt4ghDecryptStream } from '../../gateway/crypt4gh/crypt4gh-decrypt-stream.js';
import { parseCrypt4ghSecretKey } from '../../gateway/crypt4gh/crypt4gh-keys.js';
import { CERTS_DEV } from '../support/dev-pki.js';

const redis = useRedis();
const hospital = devIdentity('institutions/sz-hospital');
const institute = devIdentity('institutions/hetao-sz-institute');
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** An anonymised research CSV of about `bytes` bytes; `inject` goes in at byte offset `at`. */
function researchCsv(bytes: number, inject?: { at: number; text: string }): Buffer {
  const row = 'site-3,40-49,87,ok\n';
  const body = Buffer.alloc(bytes);
  const header = 'site,age_band,score,note\n';
  body.write(header);
  for (let offset = header.length; offset + row.length <= bytes; offset += row.length) body.write(row, offset);
  body.fill('\n', bytes - ((bytes - header.length) % row.length));
  if (inject) body.write(`site-3,40-49,87,${inject.text}\n`, inject.at - (inject.at % row.length) + header.length);
  return body;
}

const manifestOf = anonymisedResearchManifest;

async function gatewayWith(env: Record<string, string>): Promise<TestGateway> {
  const gw = await startTestGateway({ HETAO_QUEUE_THRESHOLD_BYTES: String(64 * 1024), HETAO_QUEUE_BACKOFF_MS: '100', HETAO_QUEUE_RECONCILE_MS: '300', ...env });
  cleanups.push(() => gw.close());
  return gw;
}

async function send(gw: TestGateway, content: Buffer): Promise<{ id: string; status: number; body: Record<string, unknown>; headers: Record<string, unknown> }> {
  const created = await createTransfer(gw.gateway.apiUrl, hospital, manifestOf(content));
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.id as string;
  const uploaded = await upload(gw.gateway.apiUrl, hospital, id, content);
  return { id, status: uploaded.status, body: uploaded.body, headers: uploaded.headers };
}

async function recordOf(gw: TestGateway, id: string): Promise<Record<string, unknown>> {
  return (await call(gw.gateway.apiUrl, hospital, `/v1/transfers/${id}`)).body;
}

/** The gateway's log lines about stages, to explain a failure. */
const stageLogs = (gw: TestGateway): string =>
  JSON.stringify(gw.logs.filter((line) => typeof line.msg === 'string' && /stage|queue/.test(line.msg)).map(({ msg, stage, reason }) => ({ msg, stage, reason })));

async function waitForStatus(gw: TestGateway, id: string, status: string, timeout = 15_000): Promise<Record<string, unknown>> {
  let record: Record<string, unknown> = {};
  await vi.waitFor(
    async () => {
      record = await recordOf(gw, id);
      expect(record.status, `${JSON.stringify(record.history)} ${stageLogs(gw)}`).toBe(status);
    },
    { timeout, interval: 50 },
  );
  return record;
}

async function expectDecryptsTo(gw: TestGateway, id: string, content: Buffer): Promise<Buffer> {
  const envelope = await download(gw.gateway.apiUrl, institute, id);
  expect(envelope.status).toBe(200);
  const plaintext = await decrypt(envelope.bytes, encryptionKey('hetao-sz-institute'), await jwksOf(gw.gateway.apiUrl, institute));
  expect(plaintext.equals(content)).toBe(true);
  return envelope.bytes;
}

const events = (record: Record<string, unknown>): string[] => (record.history as { event: string }[]).map((entry) => entry.event);

async function metric(gw: TestGateway, name: string): Promise<number> {
  const text = await (await fetch(`${gw.gateway.opsUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

async function withPushEndpoint(gw: TestGateway, behaviours: PushBehaviour[]): Promise<PushEndpoint> {
  const endpoint = await startPushEndpoint('hetao-sz-institute', behaviours);
  cleanups.push(() => endpoint.close());
  await editRegistry(gw.registryFile, (document) => {
    const institution = document.institutions.find((entry) => entry.id === 'hetao-sz-institute');
    if (institution) institution.pushEndpoint = endpoint.url;
  });
  await gw.gateway.reload('test');
  return endpoint;
}

/** `hetao worker` as a child process from source, sharing the gateway's configuration. */
function spawnWorker(gw: TestGateway, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [...nodeArgsFor('cli/main'), 'worker'], {
    env: {
      PATH: process.env.PATH,
      HETAO_DATA_DIR: gw.config.dataDir,
      HETAO_REGISTRY_FILE: gw.registryFile,
      HETAO_OPS_PORT: '0',
      HETAO_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  });
  return child;
}

describe.each([
  ['inline (no Redis)', () => ({})],
  ['BullMQ on Redis', () => ({ REDIS_URL: redis.url, HETAO_QUEUE_PREFIX: redis.uniquePrefix() })],
] as const)('queued path, %s', (_name, env) => {
  it('answers 202 queued, inspects the stored envelope in full in a worker, then makes it available', async () => {
    const gw = await gatewayWith(env());
    const content = researchCsv(200 * 1024);
    const sent = await send(gw, content);
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    expect(sent.body).toMatchObject({ status: 'queued', pendingStages: ['inspect'] });
    expect(sent.headers.location).toBe(`/v1/transfers/${sent.id}`);

    const record = await waitForStatus(gw, sent.id, 'available');
    expect(events(record)).toEqual(['authorized', 'upload-started', 'queued', 'processing-started', 'processing-completed']);
    expect(record).toMatchObject({ pendingStages: [], inspection: { sampled: false, full: { outcome: 'pass', sampled: false } } });
    // The processing wrap is gone once the stage is done: only the recipient can open the envelope now.
    await expect(access(path.join(gw.config.dataDir, 'envelopes', `${sent.id}.processing`))).rejects.toThrow();
    await expectDecryptsTo(gw, sent.id, content);
    const receipt = await call(gw.gateway.apiUrl, institute, `/v1/transfers/${sent.id}/receipt`, { method: 'POST', json: { sha256: sha256(content) } });
    expect(receipt.body.status).toBe('received');

    const audit = await call(gw.gateway.apiUrl, devIdentity('institutions/sz-hospital'), `/v1/audit/proof/${sent.id}`);
    expect(audit.status).toBe(200);
    expect(gw.rawLogs()).not.toContain('site-3,40-49');
  });

  it('a queued transfer stored as Crypt4GH is inspected in full in its pass (no processing wrap), then available as a .c4gh file', async () => {
    const gw = await gatewayWith(env());
    const content = researchCsv(200 * 1024);
    const created = await createTransfer(gw.gateway.apiUrl, hospital, { ...manifestOf(content), deliveryFormat: 'crypt4gh' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const uploaded = await upload(gw.gateway.apiUrl, hospital, id, content);
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(202);
    expect(uploaded.body).toMatchObject({ status: 'queued', contentFormat: 'crypt4gh', inspection: { mode: 'full', sampled: false } });
    await waitForStatus(gw, id, 'available');
    await expect(access(path.join(gw.config.dataDir, 'envelopes', `${id}.processing`))).rejects.toThrow();
    const file = await download(gw.gateway.apiUrl, institute, id, {}, 'crypt4gh');
    const key = await parseCrypt4ghSecretKey(await readFile(path.join(CERTS_DEV, 'institutions/hetao-sz-institute.dev-only.c4gh.sec'), 'utf8'));
    const decryptor = createCrypt4ghDecryptStream(key);
    const [plaintext] = await Promise.all([buffer(decryptor), pipeline(Readable.from([file.bytes]), decryptor)]);
    expect(plaintext.equals(content)).toBe(true);
  });

  it('a large queued upload is inspected in full in its upload pass: what sampling would miss is quarantined at once', async () => {
    const gw = await gatewayWith({ ...env(), HETAO_QUEUE_THRESHOLD_BYTES: String(1024 * 1024) });
    // Sampling scans the first 16 MiB and then one 64 KiB window per MiB: 200 KiB past 16 MiB it would not see.
    const content = researchCsv(17 * 1024 * 1024, { at: 16 * 1024 * 1024 + 200 * 1024, text: '11010519491231002X' });
    const sent = await send(gw, content);
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body).toMatchObject({ status: 'quarantined', inspection: { mode: 'full', sampled: false, outcome: 'quarantine' } });
    expect(JSON.stringify(sent.body.inspection)).toContain('mainland');
    expect((await download(gw.gateway.apiUrl, institute, sent.id)).status).toBe(409);
  });

  it('a large queued upload that passes its in-pass inspection: the inspect stage judges that report, no processing key wrap is made, no second pass', async () => {
    const gw = await gatewayWith({ ...env(), HETAO_QUEUE_THRESHOLD_BYTES: String(1024 * 1024) });
    const content = researchCsv(3 * 1024 * 1024);
    const sent = await send(gw, content);
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    expect(sent.body).toMatchObject({ status: 'queued', pendingStages: ['inspect'], inspection: { mode: 'full', sampled: false } });
    await expect(access(path.join(gw.config.dataDir, 'envelopes', `${sent.id}.processing`))).rejects.toThrow();
    const record = await waitForStatus(gw, sent.id, 'available');
    expect(events(record)).toEqual(['authorized', 'upload-started', 'queued', 'processing-started', 'processing-completed']);
    expect(record).toMatchObject({ pendingStages: [], inspection: { mode: 'full', full: { mode: 'full', outcome: 'pass' } } });
    await expectDecryptsTo(gw, sent.id, content);
  });
});

describe('queued path with push delivery', () => {
  it('pushes to the recipient endpoint over mTLS, retrying after it failed twice, and records its acknowledgement', async () => {
    const gw = await gatewayWith({ REDIS_URL: redis.url, HETAO_QUEUE_PREFIX: redis.uniquePrefix() });
    const endpoint = await withPushEndpoint(gw, [{ status: 503 }, { status: 502 }, 'accept']);
    // Small, but the recipient has an endpoint: heavy work, so queued.
    const content = researchCsv(8 * 1024);
    const sent = await send(gw, content);
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    expect(sent.body).toMatchObject({ status: 'queued', pendingStages: ['inspect', 'deliver'] });

    const record = await waitForStatus(gw, sent.id, 'delivered', 20_000);
    // Exactly three requests: an endpoint that answers and closes as soon as it has every byte is a
    // success, not a premature close to retry (that retry was a bug: it pushed a duplicate).
    expect(endpoint.requests.map((request) => request.outcome), stageLogs(gw)).toEqual(['status 503', 'status 502', 'stored']);
    const envelope = await expectDecryptsTo(gw, sent.id, content);
    expect(record.delivery).toMatchObject({ endpoint: endpoint.url, envelopeSha256: sha256(envelope), duplicate: false });
    expect(endpoint.stored.get(sent.id)).toMatchObject({ sha256: sha256(envelope), bytes: envelope.length });
    expect(endpoint.stored.get(sent.id)?.clientSubject).toContain('Hetao Research Data Gateway');
    expect(await metric(gw, 'hetao_stage_retries_total{stage="deliver"}')).toBe(2);
    // Pull keeps working after a push.
    const receipt = await call(gw.gateway.apiUrl, institute, `/v1/transfers/${sent.id}/receipt`, { method: 'POST', json: { sha256: sha256(content) } });
    expect(receipt.body.status).toBe('received');
  });

  it('a push the endpoint refuses for good (400) is recorded on the transfer, in the audit journal and in the metrics; pull still works', async () => {
    const gw = await gatewayWith({ REDIS_URL: redis.url, HETAO_QUEUE_PREFIX: redis.uniquePrefix() });
    const endpoint = await withPushEndpoint(gw, [{ status: 400 }]);
    const content = researchCsv(8 * 1024);
    const sent = await send(gw, content);
    expect(sent.status).toBe(202);
    await vi.waitFor(async () => expect(events(await recordOf(gw, sent.id))).toContain('delivery-failed'), { timeout: 15_000, interval: 50 });
    const record = await recordOf(gw, sent.id);
    expect(record).toMatchObject({ status: 'available', pendingStages: [] });
    expect(JSON.stringify(record.history)).toContain('HTTP 400');
    expect(endpoint.requests).toHaveLength(1); // permanent: not retried
    expect(await metric(gw, 'hetao_stage_failures_total{stage="deliver"}')).toBe(1);
    const journal = await readFile(path.join(gw.config.dataDir, 'audit', 'journal.ndjson'), 'utf8');
    const entry = journal
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { type: string; subject?: string })
      .find((candidate) => candidate.type === 'transfer.delivery-failed' && candidate.subject === sent.id);
    expect(entry).toBeDefined();
    await expectDecryptsTo(gw, sent.id, content);
  });

  it('a worker process killed mid-push (kill -9): the job is retried by another worker and the recipient stores it exactly once', async () => {
    const prefix = redis.uniquePrefix();
    const queueEnv = { REDIS_URL: redis.url, HETAO_QUEUE_PREFIX: prefix, HETAO_QUEUE_LOCK_MS: '3000', HETAO_QUEUE_BACKOFF_MS: '100' };
    const gw = await gatewayWith({ ...queueEnv, HETAO_QUEUE_WORKERS: '0' });
    const endpoint = await withPushEndpoint(gw, ['stall', 'accept']);
    const first = spawnWorker(gw, queueEnv);
    const content = researchCsv(256 * 1024);
    const sent = await send(gw, content);
    expect(sent.status).toBe(202);

    await endpoint.stalled();
    const killed = new Promise((resolve) => first.once('exit', (_code, signal) => resolve(signal)));
    first.kill('SIGKILL');
    expect(await killed).toBe('SIGKILL');
    expect((await recordOf(gw, sent.id)).status).toBe('available');

    spawnWorker(gw, queueEnv);
    // A generous bound: a new process, the lock's expiry and two stalled-job checks on a loaded 2-core machine.
    const record = await waitForStatus(gw, sent.id, 'delivered', 90_000);
    expect(endpoint.requests.map((request) => request.outcome)).toEqual(['stalled', 'stored']);
    expect(endpoint.stored.size).toBe(1);
    expect(events(record).filter((event) => event === 'delivered')).toHaveLength(1);
  }, 150_000);
});

/** PUT …/content with its headers only (the body is held back) and the gateway's answer to that. */
function answerToHeadersOnly(gw: TestGateway, id: string, size: number): Promise<{ status: number; headers: Record<string, unknown>; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const url = new URL(`/v1/transfers/${id}/content`, gw.gateway.apiUrl);
    const request = httpsRequest(url, {
      method: 'PUT',
      ca: zoneCaBundle(),
      cert: hospital.cert,
      key: hospital.key,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    });
    request.on('response', (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      response.on('end', () => {
        request.destroy();
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: JSON.parse(text) as Record<string, unknown> });
      });
    });
    request.on('error', reject);
    request.flushHeaders();
  });
}

describe('Redis outages', () => {
  let privateRedis: PrivateRedis;

  it('Redis stopped: a large upload gets 503 with Retry-After before any byte is read, a small one is still served; back up, the large one goes through', async () => {
    privateRedis = await startPrivateRedis();
    cleanups.push(() => privateRedis.stop());
    const gw = await gatewayWith({ REDIS_URL: privateRedis.url });
    await privateRedis.stop();
    await vi.waitFor(async () => expect(((await (await fetch(`${gw.gateway.opsUrl}/readyz`)).json()) as { checks: { queue: { redis: string } } }).checks.queue.redis).toBe('unreachable'), {
      timeout: 5000,
    });

    const large = researchCsv(128 * 1024);
    const created = await createTransfer(gw.gateway.apiUrl, hospital, manifestOf(large));
    const id = created.body.id as string;
    // No byte of the body is ever sent: the answer must come before the gateway reads any of it.
    const refused = await answerToHeadersOnly(gw, id, large.length);
    expect(refused.status).toBe(503);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.body).toMatchObject({ code: 'ERR_QUEUE_UNAVAILABLE', retryAfterSeconds: 30 });
    expect(refused.headers['retry-after']).toBe('30');
    expect((await recordOf(gw, id)).status).toBe('authorized');

    const small = researchCsv(4 * 1024);
    const served = await send(gw, small);
    expect(served.status).toBe(200);
    expect(served.body.status).toBe('available');

    await privateRedis.start();
    await vi.waitFor(async () => expect((await upload(gw.gateway.apiUrl, hospital, id, large)).status).toBe(202), { timeout: 10_000, interval: 200 });
    await waitForStatus(gw, id, 'available');
  }, 60_000);

  it('Redis dies during an upload: the transfer is accepted (queued) and finishes once Redis is back', async () => {
    privateRedis = await startPrivateRedis();
    cleanups.push(() => privateRedis.stop());
    const gw = await gatewayWith({ REDIS_URL: privateRedis.url });
    const content = researchCsv(256 * 1024);
    const created = await createTransfer(gw.gateway.apiUrl, hospital, manifestOf(content));
    const id = created.body.id as string;
    const body = new PassThrough();
    const uploading = upload(gw.gateway.apiUrl, hospital, id, body);
    body.write(content.subarray(0, 1024));
    await vi.waitFor(async () => expect((await recordOf(gw, id)).status).toBe('uploading'));
    await privateRedis.stop();
    body.end(content.subarray(1024));
    const answered = await uploading;
    expect(answered.status).toBe(202);
    await sleep(500);
    expect((await recordOf(gw, id)).status).toBe('queued');

    await privateRedis.start();
    await waitForStatus(gw, id, 'available', 20_000);
    await expectDecryptsTo(gw, id, content);
  }, 60_000);

  it('FLUSHALL mid-flight: the lost job is re-enqueued from the records and the transfer completes', async () => {
    privateRedis = await startPrivateRedis();
    cleanups.push(() => privateRedis.stop());
    const gw = await gatewayWith({ REDIS_URL: privateRedis.url, HETAO_QUEUE_WORKERS: '0' });
    const content = researchCsv(128 * 1024);
    const sent = await send(gw, content);
    expect(sent.status).toBe(202);
    const client = new Redis(privateRedis.url);
    cleanups.push(() => client.quit());
    await vi.waitFor(async () => expect(await client.keys('hetao:hetao-inspect:*')).not.toEqual([]));
    await client.flushall();

    // Workers come up only now (as `hetao worker` would, in this process): the job they need was flushed.
    const worker = await composeWorker({ ...gw.config, queue: { ...gw.config.queue, workers: 2 } }, createLogger({ level: 'silent' }));
    cleanups.push(() => worker.close());
    await waitForStatus(gw, sent.id, 'available', 20_000);
    expect(await metric(gw, 'hetao_stage_reenqueued_total{stage="inspect"}')).toBeGreaterThanOrEqual(1);
    await expectDecryptsTo(gw, sent.id, content);
  }, 60_000);
});
