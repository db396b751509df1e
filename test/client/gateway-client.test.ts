// The lab-side client library against a real gateway over real mutual TLS: send, wait, download,
// decrypt, confirm; problem answers as GatewayClientError; progress; nothing written unverified.
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClientError, GatewayRequestError, TransferNotDownloadableError, WaitTimeoutError } from '../../gateway/client/gateway-client-error.js';
import { createGatewayClient, type GatewayClient } from '../../gateway/client/gateway-client.js';
import { receiveTransfer } from '../../gateway/client/receive-transfer.js';
import { sendFile } from '../../gateway/client/send-file.js';
import { isSettled, type TransferView } from '../../gateway/client/transfer-view.js';
import { devIdentity, zoneCaBundle, type ClientIdentity } from '../support/dev-pki.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { encryptionKey, sha256 } from '../support/transfers.js';

let gw: TestGateway;
let dir: string;
let lab: GatewayClient;
let hospital: GatewayClient;

const clientFor = (identity: ClientIdentity): GatewayClient =>
  createGatewayClient({ baseUrl: gw.gateway.apiUrl, cert: identity.cert, key: identity.key, ca: zoneCaBundle() });

beforeAll(async () => {
  gw = await startTestGateway();
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-client-'));
  lab = clientFor(devIdentity('institutions/hk-uni-genomics'));
  hospital = clientFor(devIdentity('institutions/sz-hospital'));
});
afterAll(async () => {
  await lab?.close();
  await hospital?.close();
  await gw?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A VCF with `samples` sample columns and `rows` variant lines. */
function vcf(samples: number, rows: number): Buffer {
  const names = Array.from({ length: samples }, (_, i) => `S${i + 1}`);
  const lines = ['##fileformat=VCFv4.2', ['#CHROM', 'POS', 'ID', 'REF', 'ALT', 'QUAL', 'FILTER', 'INFO', 'FORMAT', ...names].join('\t')];
  for (let i = 0; i < rows; i += 1) lines.push(['chr2', String(20_000 + i), '.', 'C', 'T', '60', 'PASS', '.', 'GT', ...names.map((_, j) => ((i + j) % 3 === 0 ? '0/1' : '0/0'))].join('\t'));
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** HK genomics lab → Shenzhen hospital, pseudonymised exome VCF for joint research: allowed by 60-hk-to-mainland. */
function hkGenomicsToShenzhen(content: Buffer, dataset: Record<string, unknown> = {}) {
  return {
    recipient: 'sz-hospital',
    project: { id: 'proj-hk-sz-cancer-genomics', title: 'Joint cancer genomics' },
    purpose: 'joint-research',
    dataset: {
      category: 'genomics',
      format: 'vcf',
      genomicScope: 'exome',
      classification: { level: 'L3' },
      deidentification: 'pseudonymised',
      subjects: 150,
      humanGeneticResources: false,
      sizeBytes: content.length,
      sha256: sha256(content),
      ...dataset,
    },
    approvals: [],
    consent: { basis: 'broad-research-consent' },
    retentionDays: 365,
  };
}

/** Waits out the queued path (202) if the gateway took it; inline uploads are settled already. */
async function settled(client: GatewayClient, record: TransferView): Promise<TransferView> {
  if (isSettled(record.status)) return record;
  return client.waitForStatus(record.id, { until: (r) => isSettled(r.status), intervalMs: 100, timeoutMs: 15_000 });
}

describe('send and fetch through the library', () => {
  it('round-trips the bytes, reports upload progress up to the full size and records the receipt', async () => {
    const content = vcf(20, 30_000);
    const file = path.join(dir, 'cohort.vcf');
    await writeFile(file, content);
    // A manifest written for an older file: send fills in this file's size and digest.
    const stale = hkGenomicsToShenzhen(Buffer.from('an older export'));

    const progress: number[] = [];
    let replaced: string[] = [];
    const sent = await sendFile(lab, {
      file,
      manifest: stale,
      onManifest: (completed) => (replaced = completed.replaced.map((r) => r.field)),
      onUploadProgress: (done, total) => {
        expect(total).toBe(content.length);
        progress.push(done);
      },
    });
    expect(sent).toMatchObject({ sha256: sha256(content), sizeBytes: content.length, created: { status: 'authorized', recipient: 'sz-hospital' } });
    expect(sent.created.manifest.dataset).toMatchObject({ sizeBytes: content.length, sha256: sha256(content) });
    expect(replaced).toEqual(['dataset.sizeBytes', 'dataset.sha256']);
    // 200 (inline) or 202 (handed to the workers): both are a successful upload.
    expect(['available', 'queued', 'processing']).toContain(sent.record.status);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toBe(content.length);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect((await settled(lab, sent.record)).status).toBe('available');

    const outFile = path.join(dir, 'received.vcf');
    const envelopeProgress: number[] = [];
    const received = await receiveTransfer(hospital, {
      id: sent.created.id,
      privateKey: encryptionKey('sz-hospital'),
      outFile,
      onProgress: (done) => envelopeProgress.push(done),
    });
    expect((await readFile(outFile)).equals(content)).toBe(true);
    expect(received).toMatchObject({ sha256: sha256(content), sizeBytes: content.length, receipt: 'posted', record: { status: 'received' } });
    expect(received.opened.holder).toMatchObject({ role: 'recipient', institution: 'sz-hospital' });
    expect(envelopeProgress.at(-1)).toBe(received.envelopeBytes);
    await expect(access(`${outFile}.partial`)).rejects.toThrow();

    const seenBySender = await lab.getTransfer(sent.created.id);
    expect(seenBySender.status).toBe('received');
    expect(seenBySender.receipts).toMatchObject([{ by: 'sz-hospital', sha256: sha256(content), matches: true }]);

    const again = await receiveTransfer(hospital, { id: sent.created.id, privateKey: encryptionKey('sz-hospital'), outFile });
    expect(again.receipt).toBe('already-received');

    const asRecipient = await hospital.listTransfers({ as: 'recipient', status: 'received' });
    expect(asRecipient.transfers.map((t) => t.id)).toContain(sent.created.id);
    const asSender = await lab.listTransfers({ as: 'sender', limit: 1 });
    expect(asSender.transfers).toHaveLength(1);
  });

  it('uploads from an async iterable and downloads the envelope as a stream of the announced size', async () => {
    const content = vcf(4, 5000);
    const created = await lab.createTransfer(hkGenomicsToShenzhen(content));
    async function* pieces() {
      for (let offset = 0; offset < content.length; offset += 10_000) yield content.subarray(offset, offset + 10_000);
    }
    let lastReported = 0;
    const uploaded = await lab.uploadContent(created.id, pieces(), content.length, (done) => (lastReported = done));
    expect(lastReported).toBe(content.length);
    const record = await settled(lab, uploaded);
    expect(record).toMatchObject({ status: 'available', content: { plaintextSha256: sha256(content) } });

    const download = await hospital.downloadEnvelope(created.id);
    const chunks: Buffer[] = [];
    for await (const chunk of download.stream) chunks.push(chunk as Buffer);
    expect(download.size).toBe(record.content?.envelopeSize);
    expect(Buffer.concat(chunks).length).toBe(download.size);
  });
});

describe('problems as GatewayClientError', () => {
  it('surfaces a policy denial with its decision, policy revision and every reason with its rule id', async () => {
    const content = vcf(3, 10);
    const error = await lab.createTransfer(hkGenomicsToShenzhen(content, { deidentification: 'identified' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayClientError);
    const denial = error as GatewayClientError;
    expect(denial).toMatchObject({ status: 403, code: 'ERR_POLICY_DENIED', title: 'Transfer denied by policy', isPolicyDenial: true });
    expect(denial.detail).toMatch(/denied by policy/);
    expect(denial.decisionId).toEqual(expect.stringMatching(/\S{8,}/));
    expect(denial.policyRevision).toMatch(/^[0-9a-f]{64}$/);
    expect(denial.reasons).toEqual([expect.objectContaining({ ruleId: 'hk-to-mainland-without-consent-deny', code: 'rule-denied', message: expect.any(String) })]);
    expect(denial.requestId).toBeTruthy();
  });

  it('carries the code and extension members of other problems', async () => {
    const invalid = (await lab.createTransfer({ recipient: 'sz-hospital' }).catch((e: unknown) => e)) as GatewayClientError;
    expect(invalid).toMatchObject({ status: 400, code: 'ERR_MANIFEST_INVALID' });
    expect(invalid.extensions.problems).toEqual(expect.arrayContaining([expect.objectContaining({ path: '/project' })]));

    const missing = (await lab.getTransfer('tr-000000000-0000000000000000').catch((e: unknown) => e)) as GatewayClientError;
    expect(missing).toMatchObject({ status: 404, code: 'ERR_TRANSFER_NOT_FOUND' });

    const content = vcf(2, 10);
    const created = await lab.createTransfer(hkGenomicsToShenzhen(content));
    await lab.uploadContent(created.id, Readable.from([content]), content.length);
    const twice = (await lab.uploadContent(created.id, Readable.from([content]), content.length).catch((e: unknown) => e)) as GatewayClientError;
    expect(twice).toMatchObject({ status: 409, code: 'ERR_TRANSFER_STATE' });
    const notHolder = (await lab.downloadEnvelope(created.id).catch((e: unknown) => e)) as GatewayClientError;
    expect(notHolder).toMatchObject({ status: 403, code: 'ERR_TRANSFER_FORBIDDEN' });
  });
});

describe('what the client refuses', () => {
  it('writes nothing when the key opens no wrapped key or the header does not verify', async () => {
    const content = vcf(2, 100);
    const created = await lab.createTransfer(hkGenomicsToShenzhen(content));
    await settled(lab, await lab.uploadContent(created.id, Readable.from([content]), content.length));
    const outFile = path.join(dir, 'wrong-key.vcf');
    await expect(receiveTransfer(hospital, { id: created.id, privateKey: encryptionKey('hk-ctc'), outFile })).rejects.toMatchObject({ code: 'ERR_ENVELOPE_NOT_RECIPIENT' });
    await expect(access(outFile)).rejects.toThrow();
    await expect(access(`${outFile}.partial`)).rejects.toThrow();
    // A pinned JWKS without the gateway's key: the header does not verify, nothing is decrypted.
    await expect(receiveTransfer(hospital, { id: created.id, privateKey: encryptionKey('sz-hospital'), outFile, jwks: { keys: [] } })).rejects.toMatchObject({ code: 'ERR_ENVELOPE_SIGNATURE' });
    await expect(access(outFile)).rejects.toThrow();
    expect((await hospital.getTransfer(created.id)).status).toBe('available');
  });

  it('does not download a quarantined transfer', async () => {
    const content = vcf(3, 100);
    const created = await lab.createTransfer(hkGenomicsToShenzhen(content, { subjects: 2 }));
    const record = await settled(lab, await lab.uploadContent(created.id, Readable.from([content]), content.length));
    expect(record.status).toBe('quarantined');
    const error = await receiveTransfer(hospital, { id: created.id, privateKey: encryptionKey('sz-hospital'), outFile: path.join(dir, 'q.vcf') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransferNotDownloadableError);
  });

  it('gives up waiting with the last record seen', async () => {
    const created = await lab.createTransfer(hkGenomicsToShenzhen(vcf(1, 1)));
    const error = (await lab.waitForStatus(created.id, { until: () => false, intervalMs: 50, timeoutMs: 200 }).catch((e: unknown) => e)) as WaitTimeoutError;
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error.last).toMatchObject({ id: created.id, status: 'authorized' });
  });

  it('reports a gateway that cannot be reached as a GatewayRequestError', async () => {
    const identity = devIdentity('institutions/hk-uni-genomics');
    const nowhere = createGatewayClient({ baseUrl: 'https://127.0.0.1:1', cert: identity.cert, key: identity.key, ca: zoneCaBundle() });
    try {
      await expect(nowhere.jwks()).rejects.toBeInstanceOf(GatewayRequestError);
    } finally {
      await nowhere.close();
    }
  });
});
