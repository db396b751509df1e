// Shared mode when a back-end fails, over real mTLS: a gateway on PostgreSQL through a TCP relay this
// test cuts (the database gone from the network) and on an S3 server process this test kills.
// Database down: every call that needs it is 503 ERR_DATABASE_UNAVAILABLE with Retry-After and
// problem+json, /readyz names the database, nothing is half-written, and the gateway serves again
// once it is back. Object store down mid-upload: the upload fails (503 ERR_STORAGE_UNAVAILABLE), the
// transfer is `authorized` again, and the upload succeeds once the store is back.
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { devIdentity } from '../support/dev-pki.js';
import { call, startTestGateway, type TestGateway } from '../support/gateway.js';
import { anonymisedResearchManifest } from '../support/manifests.js';
import { multipartUploadsIn, testS3Client, uniqueTestBucket, type TestS3Location } from '../support/s3.js';
import { startS3ServerProcess } from '../support/s3-server-process.js';
import { createTransfer, upload } from '../support/transfers.js';

const hospital = devIdentity('institutions/sz-hospital');
const WAIT = { timeout: 30_000, interval: 100 };

/** A TCP relay to PostgreSQL that can be cut (open connections reset, new ones refused) and restored. */
async function startRelay(targetPort: number): Promise<{ port: number; cut(): void; restore(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    cut() {
      open = false;
      for (const socket of sockets) socket.resetAndDestroy();
    },
    restore() {
      open = true;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function sharedGateway(databaseUrl: string, s3: TestS3Location, extra: Record<string, string> = {}): Promise<TestGateway> {
  const gateway = await startTestGateway({
    HETAO_DATABASE_URL: databaseUrl,
    HETAO_DATABASE_CONNECT_TIMEOUT_MS: '2000',
    HETAO_S3_ENDPOINT: s3.endpoint,
    HETAO_S3_BUCKET: s3.bucket,
    HETAO_S3_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    HETAO_S3_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    HETAO_S3_FORCE_PATH_STYLE: 'true',
    HETAO_S3_REQUEST_TIMEOUT_MS: '3000',
    ...extra,
  });
  cleanups.push(() => gateway.close());
  return gateway;
}

async function newBucket(s3: TestS3Location): Promise<void> {
  const client = testS3Client(s3);
  await client.send(new CreateBucketCommand({ Bucket: s3.bucket }));
  client.destroy();
}

async function readiness(gateway: TestGateway): Promise<{ status: number; checks: Record<string, { ok: boolean }> }> {
  const response = await fetch(`${gateway.gateway.opsUrl}/readyz`);
  return { status: response.status, checks: ((await response.json()) as { checks: Record<string, { ok: boolean }> }).checks };
}

describe('shared mode when a back-end fails', () => {
  it('refuses to start on a database not migrated (ERR_DATABASE_SCHEMA), and leaves nothing open', async () => {
    const database = await createTestDatabase({ migrate: false });
    cleanups.push(() => database.drop());
    const s3 = uniqueTestBucket();
    await expect(sharedGateway(database.url, s3)).rejects.toMatchObject({ code: 'ERR_DATABASE_SCHEMA', message: expect.stringMatching(/hetao db migrate/) });
    // Nothing was written: the schema check comes before any table is touched.
    const pool = database.open({ poolSize: 1 });
    const { rows } = await pool.query<{ count: string }>("SELECT count(*) AS count FROM information_schema.tables WHERE table_schema = 'public'");
    expect(Number(rows[0]?.count)).toBe(0);
    // The refused start closed its pool: no gateway connection to the database is left.
    const left = await pool.query<{ count: string }>("SELECT count(*) AS count FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'hetao-gateway' AND pid <> pg_backend_pid()");
    expect(Number(left.rows[0]?.count)).toBe(0);
  });

  it('database unreachable: 503 ERR_DATABASE_UNAVAILABLE with Retry-After, /readyz names it, nothing half-written, served again once it is back', async () => {
    const database: TestDatabase = await createTestDatabase();
    cleanups.push(() => database.drop());
    const relay = await startRelay(Number(new URL(database.url).port || 5432));
    cleanups.push(() => relay.close());
    const relayed = new URL(database.url);
    relayed.port = String(relay.port);
    const s3 = uniqueTestBucket();
    await newBucket(s3);
    const gateway = await sharedGateway(relayed.toString(), s3);
    const content = Buffer.from('id,value\n1,2\n');
    const before = await createTransfer(gateway.gateway.apiUrl, hospital, anonymisedResearchManifest(content));
    expect(before.status).toBe(201);

    relay.cut();
    const refused = await createTransfer(gateway.gateway.apiUrl, hospital, anonymisedResearchManifest(content));
    expect(refused.status).toBe(503);
    expect(refused.contentType).toMatch(/^application\/problem\+json/);
    expect(refused.body.code).toBe('ERR_DATABASE_UNAVAILABLE');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    const read = await call(gateway.gateway.apiUrl, hospital, `/v1/transfers/${before.body.id as string}`);
    expect([read.status, read.body.code]).toEqual([503, 'ERR_DATABASE_UNAVAILABLE']);
    const ready = await readiness(gateway);
    expect(ready.status).toBe(503);
    expect(ready.checks.database?.ok).toBe(false);
    expect(ready.checks.objectStore?.ok).toBe(true);

    relay.restore();
    await vi.waitFor(async () => expect((await readiness(gateway)).status).toBe(200), WAIT);
    const after = await createTransfer(gateway.gateway.apiUrl, hospital, anonymisedResearchManifest(content));
    expect(after.status, JSON.stringify(after.body)).toBe(201);
    // Exactly the two accepted transfers, each with the one journal entry of its creation.
    const pool = database.open({ poolSize: 1 });
    const { rows } = await pool.query<{ id: string }>('SELECT id FROM transfers ORDER BY id');
    expect(rows.map((row) => row.id)).toEqual([before.body.id, after.body.id]);
    const journaled = await pool.query<{ subject: string }>("SELECT subject FROM audit_entries WHERE subject LIKE 'tr-%' ORDER BY seq");
    expect(journaled.rows.map((row) => row.subject)).toEqual([before.body.id, after.body.id]);
    const seqs = await pool.query<{ count: string; max: string }>('SELECT count(*) AS count, max(seq) AS max FROM audit_entries');
    expect(Number(seqs.rows[0]?.max) + 1).toBe(Number(seqs.rows[0]?.count));
  });

  it('object store killed mid-upload: the upload fails cleanly (503 ERR_STORAGE_UNAVAILABLE), the transfer is authorized again, and uploads once the store is back', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const folder = await mkdtemp(path.join(tmpdir(), 'hetao-s3-down-'));
    cleanups.push(() => rm(folder, { recursive: true, force: true }));
    let server = await startS3ServerProcess({ dir: folder });
    cleanups.push(() => server.kill());
    const s3 = uniqueTestBucket(server.endpoint);
    await newBucket(s3);
    const gateway = await sharedGateway(database.url, s3, { HETAO_S3_PART_SIZE_BYTES: String(5 * 1024 * 1024) });
    const content = Buffer.from(`site,score\n${'sz-7,12\n'.repeat(3_000_000)}`);
    const created = await createTransfer(gateway.gateway.apiUrl, hospital, anonymisedResearchManifest(content));
    const id = created.body.id as string;
    const body = new PassThrough();
    const answer = upload(gateway.gateway.apiUrl, hospital, id, body);
    // Enough for the first parts to go to the store, then the store dies with the upload in flight.
    body.write(content.subarray(0, 12 * 1024 * 1024));
    await vi.waitFor(async () => expect((await multipartUploadsIn(s3)).length).toBe(1), WAIT);
    await server.kill();
    body.end(content.subarray(12 * 1024 * 1024));
    const failed = await answer;
    expect(failed.status, JSON.stringify(failed.body)).toBe(503);
    expect(failed.body.code).toBe('ERR_STORAGE_UNAVAILABLE');
    const record = await call(gateway.gateway.apiUrl, hospital, `/v1/transfers/${id}`);
    expect(record.body.status).toBe('authorized');
    expect((record.body.history as { event: string }[]).at(-1)?.event).toBe('upload-failed');
    expect((await readiness(gateway)).checks.objectStore?.ok).toBe(false);

    server = await startS3ServerProcess({ dir: folder, port: server.port });
    await vi.waitFor(async () => expect((await readiness(gateway)).checks.objectStore?.ok).toBe(true), WAIT);
    const retried = await upload(gateway.gateway.apiUrl, hospital, id, content);
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body.status).toBe('available');
    // The failed attempt's parts, which the dead store could not be told to drop, went with the retry.
    expect(await multipartUploadsIn(s3)).toEqual([]);
  });
});
