// The transfer pipeline end to end over real mTLS: decide, stream up, inspect, encrypt, store,
// download (with Range), decrypt with the recipient's key, confirm receipt; and every way it fails.
// The uploads and downloads run on two object stores: the filesystem store the gateway is configured
// with, and the test-only memory store handed to composeGateway (what adding a store takes).
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ObjectStore } from '../../gateway/storage/object-store.js';
import { devIdentity, type ClientIdentity } from '../support/dev-pki.js';
import { call, startTestGateway, type TestGateway } from '../support/gateway.js';
import { createMemoryObjectStore } from '../support/memory-object-store.js';
import { createTransfer, decrypt, download, encryptionKey, jwksOf, sha256, upload } from '../support/transfers.js';

/** On the filesystem store: every test. */
let gw: TestGateway;
/** On the memory store: the upload and download tests again. */
let onMemory: TestGateway;
const memoryStore: ObjectStore = createMemoryObjectStore();
beforeAll(async () => {
  [gw, onMemory] = await Promise.all([startTestGateway(), startTestGateway({}, { openObjectStore: async () => memoryStore })]);
});
afterAll(async () => {
  await Promise.all([gw?.close(), onMemory?.close()]);
});

const hospital = devIdentity('institutions/sz-hospital');
const genomicsLab = devIdentity('institutions/hk-uni-genomics');
const trialCentre = devIdentity('institutions/hk-ctc');
const institute = devIdentity('institutions/hetao-sz-institute');
const hgrOffice = devIdentity('institutions/nhc-hgr-office');
const regulator = devIdentity('people/regulator-wang');

const MARKER = 'PLAINTEXT-MARKER-7f3a9c';

/** Waits for a queued transfer's worker stage to make it available. */
async function availableSoon(apiUrl: string, id: string, sender: ClientIdentity = hospital): Promise<void> {
  await vi.waitFor(async () => expect((await call(apiUrl, sender, `/v1/transfers/${id}`)).body.status).toBe('available'), { timeout: 10_000, interval: 50 });
}

function vcf(samples: number, rows: number): Buffer {
  const names = Array.from({ length: samples }, (_, i) => `S${i + 1}`);
  const lines = ['##fileformat=VCFv4.2', `##comment=${MARKER}`, ['#CHROM', 'POS', 'ID', 'REF', 'ALT', 'QUAL', 'FILTER', 'INFO', 'FORMAT', ...names].join('\t')];
  for (let i = 0; i < rows; i += 1) lines.push(['chr1', String(10_000 + i), '.', 'A', 'G', '50', 'PASS', '.', 'GT', ...names.map(() => '0/1')].join('\t'));
  return Buffer.from(`${lines.join('\n')}\n`);
}

function csv(rows: number, extra = ''): Buffer {
  const lines = [`site,age_band,score,note`];
  for (let i = 0; i < rows; i += 1) lines.push(`site-${i % 7},${20 + (i % 50)},${(i * 37) % 100},${i === 3 ? MARKER : 'ok'}${i === 5 ? extra : ''}`);
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** A mainland resident identity number with a valid ISO 7064 MOD 11-2 check digit. */
function mainlandId(body17: string): string {
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...body17].reduce((acc, digit, i) => acc + Number(digit) * (weights[i] ?? 0), 0);
  return body17 + '10X98765432'[sum % 11];
}

const project = { id: 'proj-hk-sz-cancer-genomics', title: 'Joint cancer genomics' };

function manifestFor(content: Buffer, overrides: { recipient: string; dataset: Record<string, unknown>; [key: string]: unknown }) {
  return {
    project,
    purpose: 'joint-research',
    approvals: [],
    consent: { basis: 'separate-consent' },
    retentionDays: 365,
    ...overrides,
    dataset: { classification: { level: 'L3' }, humanGeneticResources: false, sizeBytes: content.length, sha256: sha256(content), ...overrides.dataset },
  };
}

const CATEGORIES = [
  {
    name: 'genomics (HGR, escrowed to the regulator)',
    sender: hospital,
    content: vcf(3, 2000),
    manifest: (content: Buffer) =>
      manifestFor(content, {
        recipient: 'hk-uni-genomics',
        approvals: [
          { type: 'hgr-filing', id: 'HGR-BF-2026-0345' },
          { type: 'gba-standard-contract-filing', id: 'GBA-SC-GD-2026-0101' },
        ],
        dataset: { category: 'genomics', format: 'vcf', genomicScope: 'exome', deidentification: 'pseudonymised', subjects: 320, humanGeneticResources: true },
      }),
    recipient: genomicsLab,
  },
  {
    name: 'medical records',
    sender: hospital,
    content: csv(3000),
    manifest: (content: Buffer) =>
      manifestFor(content, {
        recipient: 'hk-uni-genomics',
        approvals: [{ type: 'gba-standard-contract-filing', id: 'GBA-SC-GD-2026-0101' }],
        dataset: { category: 'medical-records', format: 'csv', classification: { level: 'L4' }, deidentification: 'identified', subjects: 800 },
      }),
    recipient: genomicsLab,
  },
  {
    name: 'clinical-trial data',
    sender: trialCentre,
    content: csv(500),
    manifest: (content: Buffer) =>
      manifestFor(content, {
        recipient: 'hk-uni-genomics',
        project: { id: 'proj-gba-oncology-trial', title: 'GBA oncology trial' },
        purpose: 'clinical-trial',
        approvals: [{ type: 'clinical-trial-filing', id: 'CT-FIL-2026-0007' }],
        dataset: { category: 'clinical-trial', format: 'csv', deidentification: 'pseudonymised', subjects: 60 },
      }),
    recipient: genomicsLab,
  },
  {
    name: 'other research data (anonymised)',
    sender: hospital,
    content: csv(20_000),
    manifest: (content: Buffer) =>
      manifestFor(content, {
        recipient: 'hetao-sz-institute',
        consent: { basis: 'not-personal-information' },
        dataset: { category: 'research-other', format: 'csv', classification: { level: 'L2' }, deidentification: 'anonymised', subjects: 2000 },
      }),
    recipient: institute,
  },
];

/** An anonymised CSV transfer between two Shenzhen Park institutions, created and ready for upload. */
async function anonymisedTransfer(apiUrl: string, content: Buffer, declared: Record<string, unknown> = {}): Promise<string> {
  const manifest = manifestFor(content, {
    recipient: 'hetao-sz-institute',
    consent: { basis: 'not-personal-information' },
    dataset: { category: 'research-other', format: 'csv', classification: { level: 'L2' }, deidentification: 'anonymised', subjects: 2000, ...declared },
  });
  const created = await createTransfer(apiUrl, hospital, manifest);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body.id as string;
}

/** The files of a transfer's envelope in the filesystem gateway's data folder (temporary ones included). */
async function envelopeFiles(id: string): Promise<string[]> {
  return (await readdir(path.join(gw.config.dataDir, 'envelopes')).catch(() => [])).filter((name) => name.includes(id));
}

/** The gateway each store runs in, and the envelope objects of a transfer it holds. */
const STORES = [
  { name: 'filesystem store', gateway: (): TestGateway => gw, envelopeObjects: envelopeFiles },
  { name: 'memory store', gateway: (): TestGateway => onMemory, envelopeObjects: async (id: string) => (await memoryStore.list('envelopes')).filter((key) => key.includes(id)) },
];

describe.each(STORES)('uploads and downloads on the $name', ({ gateway, envelopeObjects }) => {
  const api = (): string => gateway().gateway.apiUrl;

  describe.each(CATEGORIES)('round trip: $name', ({ sender, content, manifest, recipient }) => {
    it('is decided, uploaded, downloaded, decrypted by the recipient and confirmed', async () => {
      const created = await createTransfer(api(), sender, manifest(content));
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const id = created.body.id as string;
      expect(created.body).toMatchObject({ status: 'authorized', upload: { method: 'PUT', href: `/v1/transfers/${id}/content` } });

      const uploaded = await upload(api(), sender, id, content);
      // Obligations asking for full inspection send the transfer down the queued path (inline here: no Redis).
      const queued = created.body.obligations && (created.body.obligations as { fullInspection?: boolean }).fullInspection === true;
      expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(queued ? 202 : 200);
      expect(uploaded.body).toMatchObject({ status: queued ? 'queued' : 'available', content: { plaintextSize: content.length, plaintextSha256: sha256(content) } });
      if (queued) await availableSoon(api(), id, sender);

      const envelope = await download(api(), recipient, id);
      expect(envelope.status).toBe(200);
      expect(envelope.headers['content-type']).toBe('application/vnd.hetao.envelope');
      const plaintext = await decrypt(envelope.bytes, encryptionKey(recipient.name.split('/')[1] as string), await jwksOf(api(), recipient));
      expect(plaintext.equals(content)).toBe(true);

      const receipt = await call(api(), recipient, `/v1/transfers/${id}/receipt`, { method: 'POST', json: { sha256: sha256(plaintext) } });
      expect(receipt.body).toMatchObject({ status: 'received' });
      const record = await call(api(), sender, `/v1/transfers/${id}`);
      expect((record.body.history as { status: string }[]).map((h) => h.status)).toEqual(
        queued ? ['authorized', 'uploading', 'queued', 'processing', 'available', 'received'] : ['authorized', 'uploading', 'available', 'received'],
      );
    });
  });

  // Small uploads are sealed on the event loop, large ones (over 1 MiB) in a sealing thread.
  describe.each([
    ['small', 2000],
    ['large, sealed in a thread', 150_000],
  ])('upload failures keep nothing (%s)', (_size, rows) => {
    it.each([
      ['fewer bytes than declared', (c: Buffer) => c.subarray(0, c.length - 1), 'ERR_TRANSFER_SIZE_MISMATCH'],
      ['more bytes than declared', (c: Buffer) => Buffer.concat([c, Buffer.from('x')]), 'ERR_TRANSFER_SIZE_MISMATCH'],
      ['bytes that do not match the declared SHA-256', (c: Buffer) => Buffer.from(c.toString().replace('site-1', 'site-9')), 'ERR_TRANSFER_DIGEST_MISMATCH'],
    ])('%s → 422, nothing stored, the transfer can be uploaded again', async (_label, mutate, code) => {
      const content = csv(rows);
      const id = await anonymisedTransfer(api(), content);
      const result = await upload(api(), hospital, id, mutate(content));
      expect(result.status).toBe(422);
      expect(result.body.code).toBe(code);
      expect(await envelopeObjects(id)).toEqual([]);
      const record = await call(api(), hospital, `/v1/transfers/${id}`);
      expect(record.body.status).toBe('authorized');
      expect((await upload(api(), hospital, id, content)).body.status).toBe('available');
      expect(await envelopeObjects(id)).toHaveLength(2); // header and body, in the store under test
    });

    it('leaves nothing visible when the connection is cut mid-upload', async () => {
      const content = csv(rows);
      const id = await anonymisedTransfer(api(), content);
      const body = new PassThrough();
      const pending = upload(api(), hospital, id, body).catch((error: unknown) => error);
      body.write(content.subarray(0, content.length >> 1));
      await vi.waitFor(async () => expect((await call(api(), hospital, `/v1/transfers/${id}`)).body.status).toBe('uploading'), { timeout: 5000, interval: 20 });
      body.destroy(new Error('cable cut'));
      await pending;
      await vi.waitFor(async () => expect((await call(api(), hospital, `/v1/transfers/${id}`)).body.status).toBe('authorized'), { timeout: 5000, interval: 20 });
      expect(await envelopeObjects(id)).toEqual([]);
      expect((await download(api(), devIdentity('institutions/hetao-sz-institute'), id)).status).toBe(409);
    });
  });

  describe('download', () => {
    it('resumes with Range', async () => {
      const content = csv(30_000);
      const id = await anonymisedTransfer(api(), content);
      await upload(api(), hospital, id, content);
      const whole = await download(api(), institute, id);
      const cut = 100_000;
      const rest = await download(api(), institute, id, { range: `bytes=${cut}-` });
      expect(rest.status).toBe(206);
      expect(rest.headers['content-range']).toBe(`bytes ${cut}-${whole.bytes.length - 1}/${whole.bytes.length}`);
      expect(Buffer.concat([whole.bytes.subarray(0, cut), rest.bytes]).equals(whole.bytes)).toBe(true);
      const header = await download(api(), institute, id, { range: 'bytes=0-7' });
      expect(header.bytes.toString()).toBe('HETAOENV');
      expect((await download(api(), institute, id, { range: `bytes=${whole.bytes.length + 5}-` })).status).toBe(416);
    });
  });
});

describe('policy', () => {
  it('answers a denied manifest with 403, the decision id and every reason with its rule id', async () => {
    const content = csv(10);
    const result = await createTransfer(gw.gateway.apiUrl, hospital, manifestFor(content, { recipient: 'hk-uni-genomics', dataset: { category: 'medical-records', format: 'csv', deidentification: 'identified', subjects: 800, classification: { level: 'L4', core: true } } }));
    expect(result.status).toBe(403);
    expect(result.body).toMatchObject({ code: 'ERR_POLICY_DENIED', decisionId: expect.any(String), policyRevision: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(result.body.reasons).toContainEqual(expect.objectContaining({ ruleId: 'core-data-deny', code: 'rule-denied' }));
  });

  it('refuses an unregistered recipient', async () => {
    const result = await createTransfer(gw.gateway.apiUrl, hospital, manifestFor(csv(1), { recipient: 'nobody-lab', dataset: { category: 'research-other', format: 'csv', deidentification: 'anonymised', subjects: 1 } }));
    expect(result.status).toBe(403);
    expect(result.body.reasons).toContainEqual(expect.objectContaining({ code: 'recipient-not-registered' }));
  });

  it('answers an invalid manifest with 400 and every problem', async () => {
    const result = await createTransfer(gw.gateway.apiUrl, hospital, { recipient: 'hk-uni-genomics' });
    expect(result.status).toBe(400);
    expect(result.body.code).toBe('ERR_MANIFEST_INVALID');
  });
});

describe('access', () => {
  it('gives a third institution 403 on record and download', async () => {
    const content = csv(100);
    const id = await anonymisedTransfer(gw.gateway.apiUrl, content);
    await upload(gw.gateway.apiUrl, hospital, id, content);
    expect((await download(gw.gateway.apiUrl, trialCentre, id)).status).toBe(403);
    expect((await call(gw.gateway.apiUrl, trialCentre, `/v1/transfers/${id}`)).status).toBe(403);
  });

  it('lets a regulator read the record but not download without an escrow obligation', async () => {
    const content = csv(100);
    const id = await anonymisedTransfer(gw.gateway.apiUrl, content);
    await upload(gw.gateway.apiUrl, hospital, id, content);
    expect((await call(gw.gateway.apiUrl, regulator, `/v1/transfers/${id}`)).status).toBe(200);
    expect((await download(gw.gateway.apiUrl, hgrOffice, id)).status).toBe(403);
  });

  it('lets the escrow holder decrypt when the obligation applies', async () => {
    const genomics = CATEGORIES[0];
    if (!genomics) throw new Error('no genomics case');
    const created = await createTransfer(gw.gateway.apiUrl, hospital, genomics.manifest(genomics.content));
    const id = created.body.id as string;
    expect(created.body.obligations).toMatchObject({ escrowTo: ['nhc-hgr-office'] });
    expect((await upload(gw.gateway.apiUrl, hospital, id, genomics.content)).status).toBe(202);
    await availableSoon(gw.gateway.apiUrl, id);
    const envelope = await download(gw.gateway.apiUrl, hgrOffice, id);
    expect(envelope.status).toBe(200);
    const plaintext = await decrypt(envelope.bytes, encryptionKey('nhc-hgr-office'), await jwksOf(gw.gateway.apiUrl, hgrOffice));
    expect(plaintext.equals(genomics.content)).toBe(true);
    // A key that holds no wrapped copy cannot open it.
    await expect(decrypt(envelope.bytes, encryptionKey('hk-ctc'), await jwksOf(gw.gateway.apiUrl, hgrOffice))).rejects.toMatchObject({ code: 'ERR_ENVELOPE_NOT_RECIPIENT' });
  });
});

describe('receipt and cancel', () => {
  it('records a receipt with the wrong digest as failed and keeps the transfer available', async () => {
    const content = csv(100);
    const id = await anonymisedTransfer(gw.gateway.apiUrl, content);
    await upload(gw.gateway.apiUrl, hospital, id, content);
    const wrong = await call(gw.gateway.apiUrl, institute, `/v1/transfers/${id}/receipt`, { method: 'POST', json: { sha256: '0'.repeat(64) } });
    expect(wrong.status).toBe(422);
    expect(wrong.body.code).toBe('ERR_TRANSFER_RECEIPT_MISMATCH');
    const record = await call(gw.gateway.apiUrl, hospital, `/v1/transfers/${id}`);
    expect(record.body).toMatchObject({ status: 'available', receipts: [expect.objectContaining({ matches: false })] });
  });

  it('lets the sender cancel before receipt, deleting the content', async () => {
    const content = csv(100);
    const id = await anonymisedTransfer(gw.gateway.apiUrl, content);
    await upload(gw.gateway.apiUrl, hospital, id, content);
    expect(await envelopeFiles(id)).toHaveLength(2);
    const cancelled = await call(gw.gateway.apiUrl, hospital, `/v1/transfers/${id}`, { method: 'DELETE' });
    expect(cancelled.body.status).toBe('cancelled');
    expect(await envelopeFiles(id)).toEqual([]);
    expect((await download(gw.gateway.apiUrl, institute, id)).status).toBe(409);
  });
});

describe('inspection', () => {
  it('quarantines identity numbers in data declared anonymised: the recipient never sees it, the sender is told why', async () => {
    const content = csv(2000, ` ${mainlandId('11010519491231002')}`);
    const id = await anonymisedTransfer(gw.gateway.apiUrl, content);
    const result = await upload(gw.gateway.apiUrl, hospital, id, content);
    expect(result.body.status).toBe('quarantined');
    expect(JSON.stringify(result.body.inspection)).toMatch(/identit/i);
    expect(JSON.stringify(result.body)).not.toContain(mainlandId('11010519491231002'));
    expect((await download(gw.gateway.apiUrl, institute, id)).status).toBe(409);
  });
});

describe('list', () => {
  it('pages the sender and recipient views', async () => {
    const sent = await call(gw.gateway.apiUrl, hospital, '/v1/transfers?as=sender&limit=2');
    expect((sent.body.transfers as unknown[]).length).toBe(2);
    const next = await call(gw.gateway.apiUrl, hospital, `/v1/transfers?as=sender&limit=2&after=${sent.body.next as string}`);
    expect((next.body.transfers as { id: string }[])[0]?.id).not.toBe((sent.body.transfers as { id: string }[])[0]?.id);
    const received = await call(gw.gateway.apiUrl, institute, '/v1/transfers?as=recipient&status=available');
    expect((received.body.transfers as { recipient: string; status: string }[]).every((t) => t.recipient === 'hetao-sz-institute' && t.status === 'available')).toBe(true);
  });
});

describe('secrets', () => {
  it('never writes a plaintext byte to disk or to the log', async () => {
    async function* files(dir: string): AsyncGenerator<string> {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) yield* files(full);
        else yield full;
      }
    }
    let scanned = 0;
    for await (const file of files(gw.config.dataDir)) {
      if ((await stat(file)).size === 0) continue;
      expect((await readFile(file)).includes(MARKER), file).toBe(false);
      scanned += 1;
    }
    expect(scanned).toBeGreaterThan(10);
    expect(gw.rawLogs()).not.toContain(MARKER);
  });
});
