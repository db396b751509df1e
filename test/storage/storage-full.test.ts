// A full disk, for real: the gateway's data folder is a small tmpfs (mounted here; these machines run
// tests as root, and a machine where the mount fails fails this file rather than skipping it). Full
// disks during uploads (sealed in a thread, on the event loop, small ones written at commit) and on
// record writes answer 507 ERR_STORAGE_FULL (a read-only one 503 ERR_STORAGE_UNAVAILABLE), are logged at error level with the path and errno and
// counted in hetao_storage_errors_total; nothing half-written is kept, the transfer is `authorized`
// again, the journal still verifies, and once space is freed the same upload succeeds.
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { verifyExport } from '../../gateway/audit/verify-export.js';
import { devIdentity } from '../support/dev-pki.js';
import { call, mtlsAgent, startTestGateway, type TestGateway } from '../support/gateway.js';
import { mountTmpfs, type Tmpfs } from '../support/tmpfs.js';
import { createTransfer, upload } from '../support/transfers.js';
import { anonymisedResearchManifest } from '../support/manifests.js';

const hospital = devIdentity('institutions/sz-hospital');
const regulator = devIdentity('people/regulator-wang');
const MIB = 1024 * 1024;
/** Size of the tmpfs: room for the journal, records and one upload, not for a large second one. */
const TMPFS_BYTES = 24 * MIB;

function csv(bytes: number): Buffer {
  const line = 'site-3,42,87,ok\n';
  const text = Buffer.from(`site,age_band,score,note\n${line.repeat(Math.ceil(bytes / line.length))}`).subarray(0, bytes - 1);
  return Buffer.concat([text, Buffer.from('\n')]);
}

const manifestFor = anonymisedResearchManifest;

async function metricsText(gw: TestGateway): Promise<string> {
  return (await fetch(`${gw.gateway.opsUrl}/metrics`)).text();
}

/** hetao_storage_errors_total for one errno, summed over operations. */
function storageErrorsCounted(metrics: string, errno: string): number {
  return metrics
    .split('\n')
    .filter((text) => text.startsWith('hetao_storage_errors_total{') && text.includes(`code="${errno}"`))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

async function verifyJournal(gw: TestGateway): Promise<void> {
  const dispatcher = mtlsAgent(regulator);
  try {
    const response = await request(new URL('/v1/audit/export', gw.gateway.apiUrl), { dispatcher });
    expect(response.statusCode).toBe(200);
    const jwks = (await call(gw.gateway.apiUrl, regulator, '/.well-known/jwks.json')).body as { keys: object[] };
    const verification = await verifyExport(Readable.from([Buffer.from(await response.body.arrayBuffer())]), jwks as never);
    expect(verification.firstError).toBeUndefined();
    expect(verification.ok).toBe(true);
  } finally {
    await dispatcher.close();
  }
}

/** Envelope files (committed or temporary) of a transfer. */
async function envelopeFiles(dataDir: string, id: string): Promise<string[]> {
  return (await readdir(path.join(dataDir, 'envelopes')).catch(() => [])).filter((name) => name.includes(id));
}

describe.each([
  ['sealing threads', '2'],
  ['sealing on the event loop', '0'],
])('a full disk (%s)', (_label, sealingThreads) => {
  let tmpfs: Tmpfs | undefined;
  let mountPoint = '';
  let gw: TestGateway | undefined;

  beforeAll(async () => {
    // No skip: a machine that cannot mount the tmpfs cannot run this test, and says so by failing.
    tmpfs = await mountTmpfs(TMPFS_BYTES);
    mountPoint = tmpfs.dir;
    gw = await startTestGateway({ HETAO_DATA_DIR: mountPoint, HETAO_SEALING_THREADS: sealingThreads });
  });
  afterEach(async () => {
    await tmpfs?.writable();
    await tmpfs?.empty();
  });
  afterAll(async () => {
    try {
      await gw?.close();
    } finally {
      await tmpfs?.unmount();
    }
  });

  const expectStorageFull = async (response: { status: number; contentType: string | undefined; body: Record<string, unknown> }, countedBefore: number) => {
    const running = gw as TestGateway;
    expect(response.status, JSON.stringify(response.body)).toBe(507);
    expect(response.contentType).toMatch(/^application\/problem\+json/);
    expect(response.body).toMatchObject({ code: 'ERR_STORAGE_FULL', status: 507 });
    expect(JSON.stringify(response.body)).not.toContain(mountPoint);
    const logged = running.logs.filter((line) => line.errno === 'ENOSPC' && line.level === 50);
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.every((line) => typeof line.path === 'string' && line.path.startsWith(mountPoint))).toBe(true);
    expect(storageErrorsCounted(await metricsText(running), 'ENOSPC')).toBeGreaterThan(countedBefore);
  };

  const uploadOnFullDisk = async (size: number, leave: number) => {
    const running = gw as TestGateway;
    const content = csv(size);
    const created = await createTransfer(running.gateway.apiUrl, hospital, manifestFor(content));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const before = storageErrorsCounted(await metricsText(running), 'ENOSPC');
    const logsBefore = running.logs.length;
    await tmpfs?.fill(leave);

    const refused = await upload(running.gateway.apiUrl, hospital, id, content);
    await expectStorageFull(refused, before);
    // The envelope body is what did not fit: the log names its file.
    const logged = running.logs.slice(logsBefore).filter((line) => line.errno === 'ENOSPC' && line.level === 50);
    expect(logged.map((line) => line.path)).toContainEqual(expect.stringContaining(path.join(mountPoint, 'envelopes', `${id}.body`)));
    const after = await call(running.gateway.apiUrl, hospital, `/v1/transfers/${id}`);
    expect(after.body.status).toBe('authorized');
    expect(await envelopeFiles(mountPoint, id)).toEqual([]);

    await tmpfs?.empty();
    const retried = await upload(running.gateway.apiUrl, hospital, id, content);
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body.status).toBe('available');
    expect(retried.body.content).toMatchObject({ plaintextSha256: createHash('sha256').update(content).digest('hex') });
    await verifyJournal(running);
  };

  it('a large upload bigger than the free space → 507 ERR_STORAGE_FULL; the same upload succeeds once there is space', async () => {
    await uploadOnFullDisk(12 * MIB, 4 * MIB);
  });

  it('a tus PATCH whose upload pass fails on the full disk is answered 507, not 204; the upload is over and nothing kept', async () => {
    const running = gw as TestGateway;
    const content = csv(12 * MIB);
    const created = await createTransfer(running.gateway.apiUrl, hospital, manifestFor(content));
    const id = created.body.id as string;
    const before = storageErrorsCounted(await metricsText(running), 'ENOSPC');
    const url = `${running.gateway.apiUrl}/v1/transfers/${id}/tus`;
    const tusHeaders = { 'tus-resumable': '1.0.0' };
    const post = await request(url, { dispatcher: mtlsAgent(hospital), method: 'POST', headers: { ...tusHeaders, 'upload-length': String(content.length) } });
    await post.body.dump();
    expect(post.statusCode).toBe(201);
    await tmpfs?.fill(4 * MIB);
    const patch = await request(url, { dispatcher: mtlsAgent(hospital), method: 'PATCH', headers: { ...tusHeaders, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' }, body: content });
    const body = (await patch.body.json()) as Record<string, unknown>;
    await expectStorageFull({ status: patch.statusCode, contentType: String(patch.headers['content-type']), body }, before);
    const head = await request(url, { dispatcher: mtlsAgent(hospital), method: 'HEAD', headers: tusHeaders });
    await head.body.dump();
    expect(head.statusCode).toBe(404);
    expect((await call(running.gateway.apiUrl, hospital, `/v1/transfers/${id}`)).body.status).toBe('authorized');
    expect(await envelopeFiles(mountPoint, id)).toEqual([]);
  });

  it('a small upload (written whole at commit) on a nearly full disk → 507; then it succeeds', async () => {
    await uploadOnFullDisk(512 * 1024, 64 * 1024);
  });

  it('an upload failing while its record cannot be written either → 507; the transfer is authorized again and the same upload succeeds later', async () => {
    const running = gw as TestGateway;
    const content = csv(8 * MIB);
    const created = await createTransfer(running.gateway.apiUrl, hospital, manifestFor(content));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const before = storageErrorsCounted(await metricsText(running), 'ENOSPC');
    const body = new PassThrough();
    const pending = upload(running.gateway.apiUrl, hospital, id, body);
    body.write(content.subarray(0, 512 * 1024));
    await vi.waitFor(async () => expect((await call(running.gateway.apiUrl, hospital, `/v1/transfers/${id}`)).body.status).toBe('uploading'), { timeout: 10_000, interval: 20 });
    // The body cannot be written, and once it is deleted the record still cannot go back to `authorized` on disk.
    await tmpfs?.readOnly(path.join(mountPoint, 'records'));
    await tmpfs?.fill(0);
    body.end(content.subarray(512 * 1024));
    await expectStorageFull(await pending, before);
    expect((await call(running.gateway.apiUrl, hospital, `/v1/transfers/${id}`)).body.status).toBe('authorized');
    expect(await envelopeFiles(mountPoint, id)).toEqual([]);

    await tmpfs?.writable();
    await tmpfs?.empty();
    const retried = await upload(running.gateway.apiUrl, hospital, id, content);
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body.status).toBe('available');
    await verifyJournal(running);
  });

  it('a record write on a full disk (POST /v1/transfers) → 507, not 500; then it is accepted', async () => {
    const running = gw as TestGateway;
    const content = csv(4096);
    const before = storageErrorsCounted(await metricsText(running), 'ENOSPC');
    const logsBefore = running.logs.length;
    await tmpfs?.fill(0);
    const refused = await createTransfer(running.gateway.apiUrl, hospital, manifestFor(content));
    await expectStorageFull(refused, before);
    const logged = running.logs.slice(logsBefore).filter((line) => line.errno === 'ENOSPC' && line.level === 50);
    expect(logged.map((line) => line.path)).toContainEqual(expect.stringContaining(path.join(mountPoint, 'records', 'tr-')));

    await tmpfs?.empty();
    const created = await createTransfer(running.gateway.apiUrl, hospital, manifestFor(content));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await verifyJournal(running);
  });

  it('a read-only records folder (EROFS) → 503 ERR_STORAGE_UNAVAILABLE, logged and counted; writable again, accepted', async () => {
    const running = gw as TestGateway;
    const content = csv(4096);
    const before = storageErrorsCounted(await metricsText(running), 'EROFS');
    const logsBefore = running.logs.length;
    await tmpfs?.readOnly(path.join(mountPoint, 'records'));
    const refused = await createTransfer(running.gateway.apiUrl, hospital, manifestFor(content));
    expect(refused.status, JSON.stringify(refused.body)).toBe(503);
    expect(refused.body).toMatchObject({ code: 'ERR_STORAGE_UNAVAILABLE', errno: 'EROFS' });
    expect(JSON.stringify(refused.body)).not.toContain(mountPoint);
    const logged = running.logs.slice(logsBefore).filter((line) => line.errno === 'EROFS' && line.level === 50);
    expect(logged.map((line) => line.path)).toContainEqual(expect.stringContaining(path.join(mountPoint, 'records', 'tr-')));
    expect(storageErrorsCounted(await metricsText(running), 'EROFS')).toBeGreaterThan(before);

    await tmpfs?.writable();
    const created = await createTransfer(running.gateway.apiUrl, hospital, manifestFor(content));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  });
});
