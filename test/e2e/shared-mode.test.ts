// Shared mode for real: two gateway processes and one `hetao worker` process on the machine's
// PostgreSQL (a database of this file's own), Redis (a key prefix of its own) and the run's S3 server
// (a bucket of its own); each process has a data folder of its own, so nothing passes through a
// shared disk. A lab creates, uploads and its recipient downloads through different instances; an
// instance killed (SIGKILL) mid-upload loses its lease and the transfer is uploaded again through the
// other, completing once; a resumable (tus) upload whose instance is killed mid-PATCH goes on through
// the other from what the bucket holds durably; the checkpoint leader killed, another instance signs the checkpoints; the
// regulator's export from either instance is the same and verifies, with no gap and no duplicate.
// Only outcomes are asserted: every wait polls with a generous bound, none measures speed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { CreateBucketCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DefaultHttpStack, Upload } from 'tus-js-client';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { verifyExport } from '../../gateway/audit/verify-export.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { devIdentity, zoneCaBundle } from '../support/dev-pki.js';
import { call, mtlsAgent } from '../support/gateway.js';
import { killHetaoProcesses, spawnHetao, type HetaoProcess } from '../support/hetao-process.js';
import { anonymisedResearchManifest } from '../support/manifests.js';
import { useRedis } from '../support/redis.js';
import { uniqueTestBucket } from '../support/s3.js';
import { researchRows } from '../support/research-csv.js';
import { createTransfer, decrypt, download, encryptionKey, jwksOf, sha256, upload } from '../support/transfers.js';

const hospital = devIdentity('institutions/sz-hospital');
const institute = devIdentity('institutions/hetao-sz-institute');
const regulator = devIdentity('people/regulator-wang');
/** Bounds for waits on other processes: a hang fails the test, a slow machine does not. */
const WAIT = { timeout: 45_000, interval: 200 };
const LEASE_MS = 4_000;

/** The recipient downloads the envelope through `apiUrl` and decrypts it with its own key. */
async function receive(apiUrl: string, id: string): Promise<Buffer> {
  const fetched = await download(apiUrl, institute, id);
  expect(fetched.status).toBe(200);
  return decrypt(fetched.bytes, encryptionKey('hetao-sz-institute'), await jwksOf(apiUrl, institute));
}

interface Instance {
  readonly name: string;
  readonly process: HetaoProcess;
  readonly apiUrl: string;
  readonly opsUrl: string;
}

describe('shared mode: two gateways and a worker on PostgreSQL, S3 and Redis', () => {
  const redis = useRedis();
  const s3 = uniqueTestBucket();
  const prefix = redis.uniquePrefix();
  let database: TestDatabase;
  const folders: string[] = [];
  const instances = new Map<string, Instance>();
  let env: Record<string, string>;

  const start = async (name: string, what: 'gateway' | 'worker' = 'gateway'): Promise<Instance> => {
    const dataDir = await mkdtemp(path.join(tmpdir(), `hetao-shared-${name}-`));
    folders.push(dataDir);
    const child = spawnHetao(what, { ...env, HETAO_DATA_DIR: dataDir, HETAO_INSTANCE_ID: name, ...(what === 'worker' ? { HETAO_QUEUE_WORKERS: '2' } : {}) });
    const listening = await child.waitForLog((line) => line.msg === (what === 'gateway' ? 'gateway listening' : 'worker running'));
    const instance = { name, process: child, apiUrl: String(listening.api ?? ''), opsUrl: String(listening.ops) };
    instances.set(name, instance);
    return instance;
  };
  const instance = (name: string): Instance => {
    const found = instances.get(name);
    if (!found) throw new Error(`no instance ${name}`);
    return found;
  };
  const kill = async (name: string): Promise<void> => {
    const { process: child } = instance(name);
    child.child.kill('SIGKILL');
    await child.exited;
    instances.delete(name);
  };
  const readiness = async (target: Instance): Promise<Record<string, Record<string, unknown>>> =>
    ((await (await fetch(`${target.opsUrl}/readyz`)).json()) as { checks: Record<string, Record<string, unknown>> }).checks;

  beforeAll(async () => {
    database = await createTestDatabase();
    const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: s3.credentials });
    await client.send(new CreateBucketCommand({ Bucket: s3.bucket }));
    client.destroy();
    env = {
      HETAO_DATABASE_URL: database.url,
      HETAO_S3_ENDPOINT: s3.endpoint,
      HETAO_S3_REGION: s3.region,
      HETAO_S3_BUCKET: s3.bucket,
      HETAO_S3_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      HETAO_S3_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      HETAO_S3_FORCE_PATH_STYLE: 'true',
      REDIS_URL: redis.url,
      HETAO_QUEUE_PREFIX: prefix,
      // Stages run in the worker process only.
      HETAO_QUEUE_WORKERS: '0',
      HETAO_QUEUE_THRESHOLD_BYTES: String(256 * 1024),
      HETAO_UPLOAD_LEASE_MS: String(LEASE_MS),
      // Resumable uploads note their progress every MiB, so that a kill mid-PATCH keeps most of it.
      HETAO_UPLOAD_CHECKPOINT_BYTES: String(1024 * 1024),
      HETAO_AUDIT_CHECKPOINT_INTERVAL_MS: '500',
      HETAO_SHUTDOWN_GRACE_MS: '5000',
    };
    await Promise.all([start('gateway-a'), start('gateway-b'), start('worker-1', 'worker')]);
  }, 120_000);

  afterAll(async () => {
    await killHetaoProcesses();
    const client = redis.connect();
    await redis.deleteKeys(client, prefix);
    client.disconnect();
    await database?.drop();
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });

  it('creates on one instance, uploads to the other, and the recipient downloads and confirms through the first', async () => {
    const [a, b] = [instance('gateway-a'), instance('gateway-b')];
    const content = Buffer.from(`site,score\n${'sz-3,87\n'.repeat(4000)}`);
    const created = await createTransfer(a.apiUrl, hospital, anonymisedResearchManifest(content));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const uploaded = await upload(b.apiUrl, hospital, id, content);
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(200);
    expect(uploaded.body.status).toBe('available');
    expect((await receive(a.apiUrl, id)).equals(content)).toBe(true);
    const receipt = await call(b.apiUrl, institute, `/v1/transfers/${id}/receipt`, { method: 'POST', json: { sha256: sha256(content) } });
    expect(receipt.body.status).toBe('received');
    // Both instances list it: the records are the database's, not a process's.
    for (const target of [a, b]) {
      const listed = await call(target.apiUrl, institute, '/v1/transfers?as=recipient&status=received');
      expect((listed.body.transfers as { id: string }[]).map((record) => record.id)).toContain(id);
    }
  });

  it('a large transfer queued by one instance is inspected by the worker process and downloadable from the other', async () => {
    const content = Buffer.from(`site,score\n${'hk-1,42\n'.repeat(80_000)}`);
    const created = await createTransfer(instance('gateway-b').apiUrl, hospital, anonymisedResearchManifest(content));
    const id = created.body.id as string;
    const uploaded = await upload(instance('gateway-b').apiUrl, hospital, id, content);
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(202);
    await vi.waitFor(async () => expect((await call(instance('gateway-a').apiUrl, hospital, `/v1/transfers/${id}`)).body.status).toBe('available'), WAIT);
    expect(sha256(await receive(instance('gateway-a').apiUrl, id))).toBe(sha256(content));
  });

  it('two instances racing to upload the same transfer: exactly one takes it, the other answers 409', async () => {
    const content = Buffer.from(`site,score\n${'sz-9,11\n'.repeat(2000)}`);
    const created = await createTransfer(instance('gateway-a').apiUrl, hospital, anonymisedResearchManifest(content));
    const id = created.body.id as string;
    const answers = await Promise.all([upload(instance('gateway-a').apiUrl, hospital, id, content), upload(instance('gateway-b').apiUrl, hospital, id, content)]);
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses, JSON.stringify(answers.map((answer) => answer.body))).toEqual([200, 409]);
    const record = await call(instance('gateway-b').apiUrl, hospital, `/v1/transfers/${id}`);
    expect((record.body.history as { event: string }[]).filter((entry) => entry.event === 'upload-completed')).toHaveLength(1);
  });

  it('the instance taking an upload is killed mid-stream: its lease expires, the transfer is authorized again, the retry on the other instance completes once', async () => {
    const content = Buffer.from(`site,score\n${'sz-5,64\n'.repeat(30_000)}`);
    const created = await createTransfer(instance('gateway-a').apiUrl, hospital, anonymisedResearchManifest(content));
    const id = created.body.id as string;
    const body = new PassThrough();
    const cut = upload(instance('gateway-b').apiUrl, hospital, id, body).catch((error: unknown) => error);
    body.write(content.subarray(0, 64 * 1024));
    await vi.waitFor(async () => expect((await call(instance('gateway-a').apiUrl, hospital, `/v1/transfers/${id}`)).body.status).toBe('uploading'), WAIT);
    // The lease is kept in the record but never shown: instance names are the operator's business.
    expect((await call(instance('gateway-a').apiUrl, hospital, `/v1/transfers/${id}`)).body).not.toHaveProperty('lease');
    await kill('gateway-b');
    body.destroy();
    await cut;
    // The sender retries on the instance left, as a lab system behind the load balancer would.
    let completed: Awaited<ReturnType<typeof upload>> | undefined;
    await vi.waitFor(async () => {
      const attempt = await upload(instance('gateway-a').apiUrl, hospital, id, Readable.from([content]));
      expect(attempt.status, JSON.stringify(attempt.body)).not.toBe(409);
      completed = attempt;
    }, WAIT);
    expect(completed?.status, JSON.stringify(completed?.body)).toBe(200);
    const record = await call(instance('gateway-a').apiUrl, hospital, `/v1/transfers/${id}`);
    const events = (record.body.history as { event: string }[]).map((entry) => entry.event);
    expect(events.filter((event) => event === 'upload-interrupted')).toHaveLength(1);
    expect(events.filter((event) => event === 'upload-completed')).toHaveLength(1);
    // The dead instance's multipart upload was aborted: no part of it is left in the bucket.
    const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: s3.credentials });
    const left = await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }));
    client.destroy();
    expect(left.Uploads ?? []).toEqual([]);
    expect(sha256(await receive(instance('gateway-a').apiUrl, id))).toBe(sha256(content));
    await start('gateway-b');
  });

  it('a resumable upload whose instance is killed mid-PATCH goes on through the other from what the bucket holds durably: tus-js-client sends the rest and the result is whole', async () => {
    const content = researchRows(12 * 1024 * 1024);
    const created = await createTransfer(instance('gateway-a').apiUrl, hospital, anonymisedResearchManifest(content));
    const id = created.body.id as string;
    const tusPath = `/v1/transfers/${id}/tus`;
    const tusHeaders = { 'tus-resumable': '1.0.0' };
    const head = async (target: Instance) => request(`${target.apiUrl}${tusPath}`, { dispatcher: mtlsAgent(hospital), method: 'HEAD', headers: tusHeaders });
    expect((await request(`${instance('gateway-b').apiUrl}${tusPath}`, { dispatcher: mtlsAgent(hospital), method: 'POST', headers: { ...tusHeaders, 'upload-length': String(content.length) } })).statusCode).toBe(201);
    const body = new PassThrough();
    const cut = request(`${instance('gateway-b').apiUrl}${tusPath}`, {
      dispatcher: mtlsAgent(hospital),
      method: 'PATCH',
      headers: { ...tusHeaders, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
      body,
    }).catch((error: unknown) => error);
    body.write(content.subarray(0, 8 * 1024 * 1024));
    // The other instance sees the durable progress in the record while b streams.
    await vi.waitFor(async () => expect(Number((await head(instance('gateway-a'))).headers['upload-offset'])).toBeGreaterThan(4 * 1024 * 1024), WAIT);
    // One writer at a time, whichever instance: a PATCH through a while b streams is refused.
    const durable = Number((await head(instance('gateway-a'))).headers['upload-offset']);
    const rival = await request(`${instance('gateway-a').apiUrl}${tusPath}`, {
      dispatcher: mtlsAgent(hospital),
      method: 'PATCH',
      headers: { ...tusHeaders, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(durable) },
      body: content.subarray(durable, durable + 1000),
    });
    expect(rival.statusCode).toBe(409);
    expect(await rival.body.json()).toMatchObject({ code: 'ERR_TRANSFER_CONFLICT' });
    await kill('gateway-b');
    body.destroy();
    await cut;
    const offset = Number((await head(instance('gateway-a'))).headers['upload-offset']);
    expect(offset).toBeGreaterThan(4 * 1024 * 1024);

    // The lab's tus client goes on through a: refused (409) while b's lease lasts, then taken over.
    const endpoint = `${instance('gateway-a').apiUrl}${tusPath}`;
    const progress: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const upload = new Upload(content, {
        endpoint,
        uploadUrl: endpoint,
        httpStack: new DefaultHttpStack({ cert: hospital.cert, key: hospital.key, ca: zoneCaBundle() } as never),
        retryDelays: [250, 500, 1000, 1000, 2000, 2000, 4000, 4000, 4000, 8000, 8000],
        onProgress: (bytes) => progress.push(bytes),
        onSuccess: () => resolve(),
        onError: reject,
      });
      upload.start();
    });
    expect(Math.min(...progress)).toBeGreaterThanOrEqual(offset);
    await vi.waitFor(async () => expect((await call(instance('gateway-a').apiUrl, hospital, `/v1/transfers/${id}`)).body.status).toBe('available'), WAIT);
    const record = await call(instance('gateway-a').apiUrl, hospital, `/v1/transfers/${id}`);
    const events = (record.body.history as { event: string }[]).map((entry) => entry.event);
    expect(events).toEqual(expect.arrayContaining(['upload-started', 'upload-resumed', 'queued']));
    expect(events).not.toContain('upload-interrupted');
    expect(sha256(await receive(instance('gateway-a').apiUrl, id))).toBe(sha256(content));
    // Nothing of the resumable write is left in the bucket beside the envelope.
    const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: s3.credentials });
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `envelopes/${id}` }));
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }));
    client.destroy();
    expect((listed.Contents ?? []).map((object) => object.Key).sort()).toEqual([`envelopes/${id}.body`, `envelopes/${id}.header`]);
    expect(uploads.Uploads ?? []).toEqual([]);
    await start('gateway-b');
  });

  it('the checkpoint leader is killed: another instance takes over signing checkpoints', async () => {
    const leaderOf = async (): Promise<string | undefined> => {
      for (const name of ['gateway-a', 'gateway-b']) {
        const target = instances.get(name);
        if (target && (await readiness(target)).audit?.leader === true) return name;
      }
      return undefined;
    };
    let leader: string | undefined;
    await vi.waitFor(async () => {
      leader = await leaderOf();
      expect(leader).toBeDefined();
    }, WAIT);
    const survivor = leader === 'gateway-a' ? 'gateway-b' : 'gateway-a';
    await kill(leader as string);
    await vi.waitFor(async () => expect((await readiness(instance(survivor))).audit?.leader).toBe(true), WAIT);
    // New entries get covered by a checkpoint the survivor signs on its interval.
    await call(instance(survivor).apiUrl, hospital, '/v1/whoami');
    const before = (await readiness(instance(survivor))).audit?.entries as number;
    await createTransfer(instance(survivor).apiUrl, hospital, anonymisedResearchManifest(Buffer.from('a,b\n1,2\n')));
    await vi.waitFor(async () => expect((await readiness(instance(survivor))).audit?.checkpointSize).toBeGreaterThan(before), WAIT);
    await start(leader === 'gateway-a' ? 'gateway-a' : 'gateway-b');
  });

  it("the regulator's export is the same from either instance, verifies, and has every entry once", async () => {
    const exportFrom = async (target: Instance): Promise<Buffer> => {
      const dispatcher = mtlsAgent(regulator);
      try {
        const response = await request(new URL('/v1/audit/export', target.apiUrl), { dispatcher });
        expect(response.statusCode).toBe(200);
        return Buffer.from(await response.body.arrayBuffer());
      } finally {
        await dispatcher.close();
      }
    };
    const [fromA, fromB] = [await exportFrom(instance('gateway-a')), await exportFrom(instance('gateway-b'))];
    // Everything but the header and the signed manifest, which carry the moment of each export.
    const body = (bytes: Buffer): string[] => bytes.toString('utf8').split('\n').filter(Boolean).slice(1, -1);
    expect(body(fromA)).toEqual(body(fromB));
    const entries = (bytes: Buffer): string[] => body(bytes).filter((line) => line.includes('"kind":"entry"'));
    const jwks = await jwksOf(instance('gateway-a').apiUrl, hospital);
    const verified = await verifyExport(Readable.from([fromA]), jwks as never);
    expect(verified.ok, JSON.stringify(verified)).toBe(true);
    const seqs = entries(fromA).map((line) => (JSON.parse(line) as { entry: { seq: number } }).entry.seq);
    expect(seqs).toEqual(seqs.map((_, index) => index));
  });
});
