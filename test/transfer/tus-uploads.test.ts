// Resumable uploads with the real tus-js-client (Node, over mutual TLS) against the embedded gateway:
// an upload cut halfway resumes from the gateway's offset and completes, the result decrypts to the
// original; the gateway restarted in the middle of a PATCH, the upload goes on from what it stored
// durably (no plaintext of it on disk); and the protocol's refusals (wrong offset, a second PATCH at
// once, no Tus-Resumable), termination and expiry, each with nothing kept.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { DefaultHttpStack, Upload, type UploadOptions } from 'tus-js-client';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { devIdentity, zoneCaBundle, type ClientIdentity } from '../support/dev-pki.js';
import { call, mtlsAgent, startTestGateway, type TestGateway } from '../support/gateway.js';
import { anonymisedResearchManifest } from '../support/manifests.js';
import { createTransfer, decrypt, download, encryptionKey, jwksOf } from '../support/transfers.js';
import { researchRows } from '../support/research-csv.js';
import { tus } from '../support/tus.js';

const hospital = devIdentity('institutions/sz-hospital');
const institute = devIdentity('institutions/hetao-sz-institute');

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});


/** Every file under `folder`, at any depth. */
async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

async function newTransfer(gateway: TestGateway, content: Buffer): Promise<string> {
  const created = await createTransfer(gateway.gateway.apiUrl, hospital, anonymisedResearchManifest(content));
  expect(created.status).toBe(201);
  return String(created.body.id);
}

const tusOptions = (identity: ClientIdentity, endpoint: string, extra: Partial<UploadOptions>): UploadOptions => ({
  endpoint,
  httpStack: new DefaultHttpStack({ cert: identity.cert, key: identity.key, ca: zoneCaBundle() } as never),
  retryDelays: [],
  ...extra,
});

describe('tus uploads with tus-js-client', () => {
  it('an upload cut at half resumes from the gateway offset, completes, and decrypts to the original', async () => {
    const content = researchRows(3 * 1024 * 1024);
    const created = await createTransfer(gw.gateway.apiUrl, hospital, anonymisedResearchManifest(content));
    const id = String(created.body.id);
    // The creation answer names the tus URL: the client needs nothing else.
    expect(created.body.resumableUpload).toEqual({ protocol: 'tus', version: '1.0.0', href: `/v1/transfers/${id}/tus`, sizeBytes: content.length });
    const endpoint = `${gw.gateway.apiUrl}${String((created.body.resumableUpload as { href: string }).href)}`;
    const tusHeaders = { 'tus-resumable': '1.0.0' };
    expect((await tus(hospital, endpoint, 'POST', { ...tusHeaders, 'upload-length': String(content.length) })).status).toBe(201);
    // One PATCH that streams half the file, then its connection is cut.
    const body = new PassThrough();
    const cutter = new AbortController();
    const patching = request(endpoint, {
      dispatcher: mtlsAgent(hospital),
      method: 'PATCH',
      headers: { ...tusHeaders, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
      body,
      signal: cutter.signal,
    }).catch((error: unknown) => error);
    const half = Math.floor(content.length / 2);
    body.write(content.subarray(0, half));
    for (let i = 0; i < 3000 && Number((await tus(hospital, endpoint, 'HEAD', tusHeaders)).headers['upload-offset']) < half; i += 1) await sleep(20);
    cutter.abort();
    await patching;
    const head = await tus(hospital, endpoint, 'HEAD', tusHeaders);
    expect(head.status).toBe(200);
    const offset = Number(head.headers['upload-offset']);
    expect(offset).toBe(half);
    expect(head.headers['upload-length']).toBe(String(content.length));

    // Resumed: tus-js-client asks HEAD for the offset and sends only the rest.
    const resentFrom: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const resumed = new Upload(content, tusOptions(hospital, endpoint, { uploadUrl: endpoint, chunkSize: 256 * 1024, onProgress: (sent) => resentFrom.push(sent), onSuccess: () => resolve(), onError: reject }));
      resumed.start();
    });
    expect(Math.min(...resentFrom)).toBeGreaterThanOrEqual(offset);

    const record = await call(gw.gateway.apiUrl, hospital, `/v1/transfers/${id}`);
    expect(record.body).toMatchObject({ status: 'available', content: { plaintextSize: content.length } });
    const envelope = await download(gw.gateway.apiUrl, institute, id);
    expect((await decrypt(envelope.bytes, encryptionKey('hetao-sz-institute'), await jwksOf(gw.gateway.apiUrl, institute))).equals(content)).toBe(true);
    expect((await tus(hospital, endpoint, 'HEAD', { 'tus-resumable': '1.0.0' })).status).toBe(404);
  });
});

describe('tus uploads across a gateway restart', () => {
  it('the gateway restarted in the middle of a PATCH: tus-js-client resumes from what it stored durably, and the result decrypts to the original', { timeout: 120_000 }, async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hetao-tus-restart-'));
    // Checkpoints every MiB; the stop cuts the PATCH that is still streaming once 80 % of its grace is over.
    const env = { HETAO_DATA_DIR: dataDir, HETAO_UPLOAD_CHECKPOINT_BYTES: String(1024 * 1024), HETAO_SHUTDOWN_GRACE_MS: '4000' };
    const first = await startTestGateway(env);
    let second: TestGateway | undefined;
    try {
      const content = researchRows(6 * 1024 * 1024);
      const id = await newTransfer(first, content);
      const path1 = `/v1/transfers/${id}/tus`;
      const tusHeaders = { 'tus-resumable': '1.0.0' };
      expect((await tus(hospital, `${first.gateway.apiUrl}${path1}`, 'POST', { ...tusHeaders, 'upload-length': String(content.length) })).status).toBe(201);
      const body = new PassThrough();
      const patching = request(`${first.gateway.apiUrl}${path1}`, {
        dispatcher: mtlsAgent(hospital),
        method: 'PATCH',
        headers: { ...tusHeaders, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
        body,
      }).catch((error: unknown) => error);
      const sent = Math.floor(content.length * 0.6);
      body.write(content.subarray(0, sent));
      for (let i = 0; i < 3000 && Number((await tus(hospital, `${first.gateway.apiUrl}${path1}`, 'HEAD', tusHeaders)).headers['upload-offset']) < sent; i += 1) await sleep(20);
      await first.stop();
      await patching;
      // What arrived is stored sealed: no plaintext of it is anywhere in the data folder, not even the
      // segment that was not complete when the PATCH was cut.
      const marker = content.subarray(sent - 100, sent - 36);
      for (const file of await filesUnder(dataDir)) expect((await readFile(file)).includes(marker), file).toBe(false);

      second = await startTestGateway(env);
      const endpoint = `${second.gateway.apiUrl}${path1}`;
      const head = await tus(hospital, endpoint, 'HEAD', tusHeaders);
      expect(head.status).toBe(200);
      const offset = Number(head.headers['upload-offset']);
      // Stored durably in whole segments: the cut PATCH paused the upload (at most a segment short of
      // what was sent) or, on a machine too loaded for that within the grace, the last checkpoint.
      expect(offset).toBeGreaterThan(1024 * 1024);
      expect(offset).toBeLessThanOrEqual(sent);
      const progress: number[] = [];
      await new Promise<void>((resolve, reject) => {
        const resumed = new Upload(content, tusOptions(hospital, endpoint, { uploadUrl: endpoint, onProgress: (bytes) => progress.push(bytes), onSuccess: () => resolve(), onError: reject }));
        resumed.start();
      });
      expect(Math.min(...progress)).toBeGreaterThanOrEqual(offset);
      const record = await call(second.gateway.apiUrl, hospital, `/v1/transfers/${id}`);
      expect(record.body).toMatchObject({ status: 'available', content: { plaintextSize: content.length } });
      const history = (record.body.history as { event: string }[]).map((entry) => entry.event);
      expect(history).toEqual(expect.arrayContaining(['upload-started', 'upload-paused', 'upload-resumed', 'upload-completed']));
      const envelope = await download(second.gateway.apiUrl, institute, id);
      expect((await decrypt(envelope.bytes, encryptionKey('hetao-sz-institute'), await jwksOf(second.gateway.apiUrl, institute))).equals(content)).toBe(true);
      // Nothing of the upload is left beside the envelope, and no plaintext was written to the data folder.
      const envelopes = await readdir(path.join(dataDir, 'envelopes'));
      expect(envelopes.filter((name) => name.startsWith(id)).every((name) => /\.(body|header|processing|c4gh)$/.test(name))).toBe(true);
    } finally {
      await first.stop().catch(() => undefined);
      await second?.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('tus protocol refusals, termination and expiry', () => {
  it('OPTIONS tells the version and extensions; a request without Tus-Resumable is refused with 412', async () => {
    const id = await newTransfer(gw, researchRows(1000));
    const url = `${gw.gateway.apiUrl}/v1/transfers/${id}/tus`;
    const options = await tus(hospital, url, 'OPTIONS', {});
    expect(options.status).toBe(204);
    expect(options.headers).toMatchObject({ 'tus-version': '1.0.0', 'tus-resumable': '1.0.0', 'tus-extension': 'creation,termination,expiration' });
    const refused = await tus(hospital, url, 'POST', { 'upload-length': '1000' });
    expect(refused.status).toBe(412);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.body).toMatchObject({ code: 'ERR_TUS_VERSION_UNSUPPORTED' });
  });

  it('a wrong offset is 409 with the right one; a length other than the declared size is refused', async () => {
    const content = researchRows(300 * 1024);
    const id = await newTransfer(gw, content);
    const url = `${gw.gateway.apiUrl}/v1/transfers/${id}/tus`;
    const tusHeaders = { 'tus-resumable': '1.0.0' };
    expect((await tus(hospital, url, 'POST', { ...tusHeaders, 'upload-length': String(content.length + 1) })).body).toMatchObject({ code: 'ERR_TRANSFER_SIZE_MISMATCH' });
    expect((await tus(hospital, url, 'POST', { ...tusHeaders, 'upload-length': String(content.length) })).status).toBe(201);
    const patch = { ...tusHeaders, 'content-type': 'application/offset+octet-stream' };
    const first = await tus(hospital, url, 'PATCH', { ...patch, 'upload-offset': '0' }, content.subarray(0, 1000));
    expect(first.status).toBe(204);
    expect(first.headers['upload-offset']).toBe('1000');
    const wrong = await tus(hospital, url, 'PATCH', { ...patch, 'upload-offset': '500' }, content.subarray(500, 1000));
    expect(wrong.status).toBe(409);
    expect(wrong.body).toMatchObject({ code: 'ERR_UPLOAD_OFFSET_MISMATCH', offset: 1000 });
    // The offset stored durably (in whole segments: here none yet) is a valid one too: a client that
    // heard it from another instance goes on from there, and this gateway lets go of what it held.
    const fromStored = await tus(hospital, url, 'PATCH', { ...patch, 'upload-offset': '0' }, content.subarray(0, 1000));
    expect(fromStored.status).toBe(204);
    expect(fromStored.headers['upload-offset']).toBe('1000');
    const created = await tus(hospital, url, 'PATCH', { ...patch, 'upload-offset': '1000' }, content.subarray(1000));
    expect(created.status).toBe(204);

    expect((await call(gw.gateway.apiUrl, hospital, `/v1/transfers/${id}`)).body).toMatchObject({ status: 'available' });
  });

  /** A transfer with a tus upload created for `size` bytes of research rows. */
  const createdUpload = async (size: number) => {
    const content = researchRows(size);
    const id = await newTransfer(gw, content);
    const url = `${gw.gateway.apiUrl}/v1/transfers/${id}/tus`;
    const tusHeaders = { 'tus-resumable': '1.0.0' };
    await tus(hospital, url, 'POST', { ...tusHeaders, 'upload-length': String(content.length) });
    return { content, id, url, tusHeaders, patch: { ...tusHeaders, 'content-type': 'application/offset+octet-stream' } };
  };

  // A client learns its connection died long before the gateway does. When it comes back while the
  // PATCH it gave up on still streams here, that PATCH is stopped where it is, what it took is kept,
  // and the new request goes on from there (as tusd does), instead of a refusal or a moving offset.
  it('a HEAD while a PATCH of the same upload still streams stops that PATCH and answers where it stopped', async () => {
    const { content, id, url, tusHeaders, patch } = await createdUpload(300 * 1024);
    const abandonedBody = new PassThrough();
    let abandoned: unknown;
    void tus(hospital, url, 'PATCH', { ...patch, 'upload-offset': '0' }, abandonedBody).then(
      (answer) => (abandoned = answer),
      (error: unknown) => (abandoned = error),
    );
    abandonedBody.write(content.subarray(0, 100_000));
    let offset = 0;
    await vi.waitFor(
      async () => {
        offset = Number((await tus(hospital, url, 'HEAD', tusHeaders)).headers['upload-offset']);
        expect(abandoned).toBeDefined();
      },
      { timeout: 20_000, interval: 20 },
    );
    // The abandoned request's connection was closed under it; nothing it had sent was lost or doubled.
    expect(abandoned).toBeInstanceOf(Error);
    expect(offset).toBeGreaterThanOrEqual(0);
    expect(offset).toBeLessThanOrEqual(100_000);
    const rest = await tus(hospital, url, 'PATCH', { ...patch, 'upload-offset': String(offset) }, content.subarray(offset));
    expect(rest.status).toBe(204);
    expect((await call(gw.gateway.apiUrl, hospital, `/v1/transfers/${id}`)).body).toMatchObject({ status: 'available' });
  });

  it('a PATCH while another of the same upload still streams stops it and continues from where it stopped, never refused as a conflict', async () => {
    const { content, id, url, patch } = await createdUpload(300 * 1024);
    const patchesSeen = (): number => gw.logs.filter((line) => (line.req as { method?: string } | undefined)?.method === 'PATCH').length;
    const before = patchesSeen();
    const abandonedBody = new PassThrough();
    const abandoned = tus(hospital, url, 'PATCH', { ...patch, 'upload-offset': '0' }, abandonedBody).catch((error: unknown) => error);
    abandonedBody.write(content.subarray(0, 100_000));
    await vi.waitFor(() => expect(patchesSeen()).toBeGreaterThan(before), { timeout: 20_000, interval: 10 });
    // The sender is back, from where it last knew the gateway stood: either the gateway took none of
    // the abandoned bytes and this goes on, or it names the offset where the abandoned PATCH stopped.
    let answer = await tus(hospital, url, 'PATCH', { ...patch, 'upload-offset': '0' }, content);
    if (answer.status === 409) {
      expect(answer.body).toMatchObject({ code: 'ERR_UPLOAD_OFFSET_MISMATCH' });
      const offset = Number(answer.body.offset);
      expect(offset).toBeGreaterThan(0);
      expect(offset).toBeLessThanOrEqual(100_000);
      answer = await tus(hospital, url, 'PATCH', { ...patch, 'upload-offset': String(offset) }, content.subarray(offset));
    }
    expect(answer.status).toBe(204);
    expect(await abandoned).toBeInstanceOf(Error);
    expect((await call(gw.gateway.apiUrl, hospital, `/v1/transfers/${id}`)).body).toMatchObject({ status: 'available' });
  });

  it('termination keeps nothing and the transfer can be uploaded again', async () => {
    const content = researchRows(200 * 1024);
    const id = await newTransfer(gw, content);
    const url = `${gw.gateway.apiUrl}/v1/transfers/${id}/tus`;
    const tusHeaders = { 'tus-resumable': '1.0.0' };
    await tus(hospital, url, 'POST', { ...tusHeaders, 'upload-length': String(content.length) });
    await tus(hospital, url, 'PATCH', { ...tusHeaders, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' }, content.subarray(0, 100_000));
    expect((await tus(hospital, url, 'DELETE', tusHeaders)).status).toBe(204);
    expect((await tus(hospital, url, 'HEAD', tusHeaders)).status).toBe(404);
    expect((await call(gw.gateway.apiUrl, hospital, `/v1/transfers/${id}`)).body).toMatchObject({ status: 'authorized' });
    const envelopes = await readdir(`${gw.config.dataDir}/envelopes`).catch(() => [] as string[]);
    expect(envelopes.filter((name) => name.startsWith(id))).toEqual([]);
  });

  it('an upload that receives nothing for the idle timeout expires: nothing kept, the transfer authorized again', async () => {
    // A short lease: the sweep that removes expired uploads runs every half of it.
    const quick = await startTestGateway({ HETAO_UPLOAD_IDLE_TIMEOUT_MS: '500', HETAO_UPLOAD_LEASE_MS: '1000' });
    try {
      const content = researchRows(200 * 1024);
      const id = await newTransfer(quick, content);
      const url = `${quick.gateway.apiUrl}/v1/transfers/${id}/tus`;
      const tusHeaders = { 'tus-resumable': '1.0.0' };
      const created = await tus(hospital, url, 'POST', { ...tusHeaders, 'upload-length': String(content.length) });
      expect(Date.parse(String(created.headers['upload-expires']))).toBeGreaterThan(Date.now() - 1000);
      await tus(hospital, url, 'PATCH', { ...tusHeaders, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' }, content.subarray(0, 100_000));
      let status = 200;
      for (let i = 0; i < 100 && status !== 404; i += 1) {
        await sleep(100);
        status = (await tus(hospital, url, 'HEAD', tusHeaders)).status;
      }
      expect(status).toBe(404);
      let record: Record<string, unknown> = {};
      for (let i = 0; i < 400 && record.status !== 'authorized'; i += 1) {
        record = (await call(quick.gateway.apiUrl, hospital, `/v1/transfers/${id}`)).body;
        if (record.status !== 'authorized') await sleep(50);
      }
      expect(record.status).toBe('authorized');
      const envelopes = await readdir(`${quick.config.dataDir}/envelopes`).catch(() => [] as string[]);
      expect(envelopes.filter((name) => name.startsWith(id))).toEqual([]);
    } finally {
      await quick.close();
    }
  });
});
