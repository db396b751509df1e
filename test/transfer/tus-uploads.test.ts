// Resumable uploads with the real tus-js-client (Node, over mutual TLS) against the embedded gateway:
// an upload cut halfway resumes from the gateway's offset and completes, the result decrypts to the
// original; and the protocol's refusals (wrong offset, a second PATCH at once, no Tus-Resumable),
// termination and expiry, each with nothing kept.
import { readdir } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { DefaultHttpStack, Upload, type UploadOptions } from 'tus-js-client';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devIdentity, zoneCaBundle, type ClientIdentity } from '../support/dev-pki.js';
import { call, mtlsAgent, startTestGateway, type TestGateway } from '../support/gateway.js';
import { anonymisedResearchManifest } from '../support/manifests.js';
import { createTransfer, decrypt, download, encryptionKey, jwksOf } from '../support/transfers.js';
import { researchRows } from '../support/research-csv.js';

const hospital = devIdentity('institutions/sz-hospital');
const institute = devIdentity('institutions/hetao-sz-institute');

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});


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

/** A raw tus request over mTLS. */
async function tus(identity: ClientIdentity, url: string, method: 'HEAD' | 'PATCH' | 'POST' | 'DELETE' | 'OPTIONS', headers: Record<string, string>, body?: Buffer | PassThrough) {
  const response = await request(url, { dispatcher: mtlsAgent(identity), method, headers, ...(body ? { body } : {}) });
  const text = method === 'HEAD' ? '' : await response.body.text();
  return { status: response.statusCode, headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

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

  it('a wrong offset is 409 with the right one; a second PATCH while one writes is 409; a length other than the declared size is refused', async () => {
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
    const wrong = await tus(hospital, url, 'PATCH', { ...patch, 'upload-offset': '0' }, content.subarray(0, 1000));
    expect(wrong.status).toBe(409);
    expect(wrong.body).toMatchObject({ code: 'ERR_UPLOAD_OFFSET_MISMATCH', offset: 1000 });

    const slow = new PassThrough();
    const writing = tus(hospital, url, 'PATCH', { ...patch, 'upload-offset': '1000' }, slow);
    slow.write(content.subarray(1000, 2000));
    for (let i = 0; i < 100 && (await tus(hospital, url, 'HEAD', tusHeaders)).headers['upload-offset'] !== '2000'; i += 1) await sleep(20);
    const second = await tus(hospital, url, 'PATCH', { ...patch, 'upload-offset': '2000' }, content.subarray(2000, 3000));
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ code: 'ERR_TRANSFER_CONFLICT' });
    slow.end(content.subarray(2000));
    expect((await writing).status).toBe(204);
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
    const quick = await startTestGateway({ HETAO_UPLOAD_IDLE_TIMEOUT_MS: '500' });
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
      for (let i = 0; i < 50 && record.status !== 'authorized'; i += 1) {
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
