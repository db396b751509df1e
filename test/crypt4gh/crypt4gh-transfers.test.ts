// Transfers stored as Crypt4GH, end to end over real mTLS with the embedded gateway: a manifest
// asking for it to a recipient with a registered Crypt4GH key; the plain .c4gh file
// (`?format=crypt4gh`, ranges too) opens with the recipient's key file; the envelope form carries the
// gateway's signed binding, which detects the reordering Crypt4GH alone lets through; refusals.
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayClient } from '../../gateway/client/gateway-client.js';
import { receiveTransfer } from '../../gateway/client/receive-transfer.js';
import { createCrypt4ghDecryptStream } from '../../gateway/crypt4gh/crypt4gh-decrypt-stream.js';
import { crypt4ghHeaderLength, SEALED_SEGMENT_BYTES } from '../../gateway/crypt4gh/crypt4gh-format.js';
import { generateX25519KeyPair, parseCrypt4ghSecretKey } from '../../gateway/crypt4gh/crypt4gh-keys.js';
import { createCrypt4ghEnvelopeDecryptor } from '../../gateway/crypt4gh/decrypt-crypt4gh-envelope.js';
import { PREFIX_FIXED_BYTES } from '../../gateway/envelope/envelope-framing.js';
import { CERTS_DEV, devIdentity, zoneCaBundle } from '../support/dev-pki.js';
import { call, editRegistry, startTestGateway, type TestGateway } from '../support/gateway.js';
import { tus } from '../support/tus.js';
import { anonymisedResearchManifest } from '../support/manifests.js';
import { runHetao } from '../support/run-cli.js';
import { createTransfer, download, jwksOf, sha256, upload } from '../support/transfers.js';
import { genomicsContent, genomicsManifest } from '../support/access.js';
import { researchRows } from '../support/research-csv.js';
import { errorCodeOf } from '../support/error-code.js';

const hospital = devIdentity('institutions/sz-hospital');
const institute = devIdentity('institutions/hetao-sz-institute');

let gw: TestGateway;
let instituteKey: Buffer;
beforeAll(async () => {
  gw = await startTestGateway();
  instituteKey = await parseCrypt4ghSecretKey(readFileSync(path.join(CERTS_DEV, 'institutions/hetao-sz-institute.dev-only.c4gh.sec'), 'utf8'));
});
afterAll(async () => {
  await gw?.close();
});

async function sendAsCrypt4gh(content: Buffer): Promise<string> {
  const created = await createTransfer(gw.gateway.apiUrl, hospital, { ...anonymisedResearchManifest(content), deliveryFormat: 'crypt4gh' });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ contentFormat: 'crypt4gh' });
  const id = String(created.body.id);
  const uploaded = await upload(gw.gateway.apiUrl, hospital, id, content);
  expect(uploaded.status).toBe(200);
  expect(uploaded.body).toMatchObject({ status: 'available', content: { plaintextSha256: sha256(content) } });
  return id;
}

async function run(transform: NodeJS.ReadWriteStream, bytes: Buffer): Promise<Buffer> {
  const [out] = await Promise.all([buffer(transform as unknown as Readable), pipeline(Readable.from([bytes]), transform)]);
  return out;
}

describe('a transfer stored as Crypt4GH', () => {
  // 40 KiB is sealed on the event loop; 3 MiB in a sealing thread.
  it.each([40 * 1024, 3 * 1024 * 1024])('of %i bytes: the plain .c4gh file opens with the recipient key file, in whole and by ranges', async (size) => {
    const content = researchRows(size);
    const id = await sendAsCrypt4gh(content);
    const file = await download(gw.gateway.apiUrl, institute, id, {}, 'crypt4gh');
    expect(file.status).toBe(200);
    expect(file.headers['content-disposition']).toBe(`attachment; filename="${id}.c4gh"`);
    expect(file.bytes.subarray(0, 8).toString('latin1')).toBe('crypt4gh');
    expect((await run(createCrypt4ghDecryptStream(instituteKey), file.bytes)).equals(content)).toBe(true);
    const ranged = await download(gw.gateway.apiUrl, institute, id, { range: 'bytes=100-1099' }, 'crypt4gh');
    expect(ranged.status).toBe(206);
    expect(ranged.bytes.equals(file.bytes.subarray(100, 1100))).toBe(true);
  });

  it('uploaded with tus and resumed from its stored segments (the gateway rebuilds the upload from them): the .c4gh file opens to the whole content', async () => {
    const content = researchRows(3 * 1024 * 1024 + 999);
    const created = await createTransfer(gw.gateway.apiUrl, hospital, { ...anonymisedResearchManifest(content), deliveryFormat: 'crypt4gh' });
    const id = String(created.body.id);
    const url = `${gw.gateway.apiUrl}/v1/transfers/${id}/tus`;
    const headers = { 'tus-resumable': '1.0.0' };
    const patch = (offset: number, bytes: Buffer) => tus(hospital, url, 'PATCH', { ...headers, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset) }, bytes);
    expect((await tus(hospital, url, 'POST', { ...headers, 'upload-length': String(content.length) })).status).toBe(201);
    const first = Math.floor(content.length / 2) + 12_345;
    expect((await patch(0, content.subarray(0, first))).headers['upload-offset']).toBe(String(first));
    // The record holds what is stored durably, in whole 64 KiB segments: a PATCH from there makes the
    // gateway let go of its own pass and resume from the stored segments, as another instance would.
    const stored = (await call(gw.gateway.apiUrl, hospital, `/v1/transfers/${id}`)).body;
    expect(stored.resumable).toBeUndefined(); // the ticket and offsets are the gateway's, never shown
    const durable = Math.floor(first / 65536) * 65536;
    const resumed = await patch(durable, content.subarray(durable));
    expect(resumed.status).toBe(204);
    expect((await call(gw.gateway.apiUrl, hospital, `/v1/transfers/${id}`)).body).toMatchObject({ status: 'available', content: { plaintextSha256: sha256(content) } });
    const file = await download(gw.gateway.apiUrl, institute, id, {}, 'crypt4gh');
    expect((await run(createCrypt4ghDecryptStream(instituteKey), file.bytes)).equals(content)).toBe(true);
  });

  it('in its envelope form carries the signed binding, and a reordering Crypt4GH lets through is caught by it', async () => {
    const content = researchRows(200 * 1024);
    const id = await sendAsCrypt4gh(content);
    const envelope = await download(gw.gateway.apiUrl, institute, id);
    expect(envelope.bytes.subarray(0, 8).toString('latin1')).toBe('HETAOENV');
    const jwks = await jwksOf(gw.gateway.apiUrl, institute);
    const decryptor = createCrypt4ghEnvelopeDecryptor({ secretKey: instituteKey, jwks });
    expect((await run(decryptor, envelope.bytes)).equals(content)).toBe(true);
    expect(decryptor.binding()).toMatchObject({ transferId: id, sender: 'sz-hospital', recipient: 'hetao-sz-institute', segmentCount: 4, holders: [{ institution: 'hetao-sz-institute', role: 'recipient' }] });

    // Swap the first two data segments: each still opens, so Crypt4GH alone returns other plaintext.
    const prefixLength = PREFIX_FIXED_BYTES + envelope.bytes.readUInt32BE(9);
    const dataStart = prefixLength + (crypt4ghHeaderLength(envelope.bytes.subarray(prefixLength)) ?? 0);
    const swapped = Buffer.concat([
      envelope.bytes.subarray(0, dataStart),
      envelope.bytes.subarray(dataStart + SEALED_SEGMENT_BYTES, dataStart + 2 * SEALED_SEGMENT_BYTES),
      envelope.bytes.subarray(dataStart, dataStart + SEALED_SEGMENT_BYTES),
      envelope.bytes.subarray(dataStart + 2 * SEALED_SEGMENT_BYTES),
    ]);
    const alone = await run(createCrypt4ghDecryptStream(instituteKey), swapped.subarray(prefixLength));
    expect(alone.length).toBe(content.length);
    expect(alone.equals(content)).toBe(false);
    expect(await errorCodeOf(run(createCrypt4ghEnvelopeDecryptor({ secretKey: instituteKey, jwks }), swapped))).toBe('ERR_ENVELOPE_DIGEST');
    // A cut at a segment boundary too.
    expect(await errorCodeOf(run(createCrypt4ghEnvelopeDecryptor({ secretKey: instituteKey, jwks }), envelope.bytes.subarray(0, dataStart + SEALED_SEGMENT_BYTES)))).toBe('ERR_ENVELOPE_DIGEST');
  });

  it('hetao decrypt opens the envelope form with the Crypt4GH key file, and refuses one cut at a segment boundary, writing nothing', async () => {
    const content = researchRows(150 * 1024);
    const id = await sendAsCrypt4gh(content);
    const envelope = await download(gw.gateway.apiUrl, institute, id);
    const dir = await mkdtemp(path.join(tmpdir(), 'hetao-c4gh-cli-'));
    try {
      const jwksFile = path.join(dir, 'jwks.json');
      await writeFile(jwksFile, JSON.stringify(await jwksOf(gw.gateway.apiUrl, institute)));
      await writeFile(path.join(dir, 'in.hetao'), envelope.bytes);
      const key = path.join(CERTS_DEV, 'institutions/hetao-sz-institute.dev-only.c4gh.sec');
      const ok = await runHetao(['decrypt', path.join(dir, 'in.hetao'), '--key', key, '--jwks', jwksFile, '-o', path.join(dir, 'out.csv')]);
      expect(ok.stderr).toContain('binding checked');
      expect(ok.code).toBe(0);
      expect((await readFile(path.join(dir, 'out.csv'))).equals(content)).toBe(true);
      // The last segment dropped: every remaining segment opens, the binding does not match.
      const prefixLength = PREFIX_FIXED_BYTES + envelope.bytes.readUInt32BE(9);
      const dataStart = prefixLength + (crypt4ghHeaderLength(envelope.bytes.subarray(prefixLength)) ?? 0);
      await writeFile(path.join(dir, 'cut.hetao'), envelope.bytes.subarray(0, dataStart + 2 * SEALED_SEGMENT_BYTES));
      const cut = await runHetao(['decrypt', path.join(dir, 'cut.hetao'), '--key', key, '--jwks', jwksFile, '-o', path.join(dir, 'cut.csv')]);
      expect(cut.code).not.toBe(0);
      expect(cut.stderr).toContain('ERR_ENVELOPE_DIGEST');
      await expect(readFile(path.join(dir, 'cut.csv'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the client library fetches it with the Crypt4GH key, checks the binding, and posts the receipt as the recipient', async () => {
    const content = researchRows(70 * 1024);
    const id = await sendAsCrypt4gh(content);
    const dir = await mkdtemp(path.join(tmpdir(), 'hetao-c4gh-fetch-'));
    try {
      const client = createGatewayClient({ baseUrl: gw.gateway.apiUrl, cert: institute.cert, key: institute.key, ca: zoneCaBundle() });
      const outFile = path.join(dir, 'received.csv');
      const privateKey = readFileSync(path.join(CERTS_DEV, 'institutions/hetao-sz-institute.dev-only.c4gh.sec'), 'utf8');
      const received = await receiveTransfer(client, { id, privateKey, outFile });
      expect((await readFile(outFile)).equals(content)).toBe(true);
      expect(received).toMatchObject({ receipt: 'posted', record: { status: 'received' }, opened: { format: 'crypt4gh', transferId: id, sender: 'sz-hospital', holder: { institution: 'hetao-sz-institute', role: 'recipient' } } });
      // The envelope key of the same institution is not the key of this transfer.
      await expect(receiveTransfer(client, { id, privateKey: readFileSync(path.join(CERTS_DEV, 'institutions/hetao-sz-institute.dev-only.enc.key.pem'), 'utf8'), outFile: path.join(dir, 'other.csv') })).rejects.toMatchObject({ code: 'ERR_CRYPT4GH_KEY' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('genomics under the HGR escrow obligation, once every holder has a key, is stored as Crypt4GH with a packet for the recipient and one for the escrow holder', async () => {
    const genomicsLab = devIdentity('institutions/hk-uni-genomics');
    const hgrOffice = devIdentity('institutions/nhc-hgr-office');
    const labKey = generateX25519KeyPair();
    await editRegistry(gw.registryFile, (document) => {
      const lab = document.institutions.find((institution) => institution.id === 'hk-uni-genomics');
      if (lab) lab.crypt4ghPublicKey = labKey.publicKey.toString('base64');
    });
    await gw.gateway.reload('test');
    try {
      const content = genomicsContent(3000);
      const created = await createTransfer(gw.gateway.apiUrl, hospital, genomicsManifest(content));
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body).toMatchObject({ contentFormat: 'crypt4gh', obligations: { escrowTo: ['nhc-hgr-office'] } });
      const id = String(created.body.id);
      expect([200, 202]).toContain((await upload(gw.gateway.apiUrl, hospital, id, content)).status);
      // Queued (the HGR rule asks for full inspection): followed until the workers are done, however long a loaded machine takes.
      const client = createGatewayClient({ baseUrl: gw.gateway.apiUrl, cert: hospital.cert, key: hospital.key, ca: zoneCaBundle() });
      try {
        await client.waitForStatus(id, { until: (record) => record.status !== 'queued' && record.status !== 'processing', intervalMs: 50, timeoutMs: 120_000 });
      } finally {
        await client.close();
      }
      const hgrKey = await parseCrypt4ghSecretKey(readFileSync(path.join(CERTS_DEV, 'institutions/nhc-hgr-office.dev-only.c4gh.sec'), 'utf8'));
      for (const [identity, key] of [[genomicsLab, labKey.secretKey], [hgrOffice, hgrKey]] as const) {
        const file = await download(gw.gateway.apiUrl, identity, id, {}, 'crypt4gh');
        expect(file.status).toBe(200);
        expect((await run(createCrypt4ghDecryptStream(key), file.bytes)).equals(content)).toBe(true);
      }
      const envelope = await download(gw.gateway.apiUrl, hgrOffice, id);
      const decryptor = createCrypt4ghEnvelopeDecryptor({ secretKey: hgrKey, jwks: await jwksOf(gw.gateway.apiUrl, hgrOffice) });
      expect((await run(decryptor, envelope.bytes)).equals(content)).toBe(true);
      expect(decryptor.binding()?.holders.map(({ institution, role }) => `${role}:${institution}`)).toEqual(['recipient:hk-uni-genomics', 'escrow:nhc-hgr-office']);
    } finally {
      await editRegistry(gw.registryFile, (document) => {
        const lab = document.institutions.find((institution) => institution.id === 'hk-uni-genomics');
        if (lab) delete lab.crypt4ghPublicKey;
      });
      await gw.gateway.reload('test');
    }
  });

  it('is refused to a recipient without a Crypt4GH key, and a Hetao envelope has no Crypt4GH form', async () => {
    const content = researchRows(1000);
    const refused = await createTransfer(gw.gateway.apiUrl, hospital, { ...anonymisedResearchManifest(content), recipient: 'hk-uni-genomics', deliveryFormat: 'crypt4gh' });
    expect(refused.status).toBe(400);
    expect(refused.contentType).toMatch(/^application\/problem\+json/);
    expect(refused.body).toMatchObject({ code: 'ERR_MANIFEST_INVALID' });

    const created = await createTransfer(gw.gateway.apiUrl, hospital, anonymisedResearchManifest(content));
    expect(created.body.contentFormat).toBeUndefined();
    const id = String(created.body.id);
    expect((await upload(gw.gateway.apiUrl, hospital, id, content)).status).toBe(200);
    const asked = await download(gw.gateway.apiUrl, institute, id, {}, 'crypt4gh');
    expect(asked.status).toBe(406);
    expect(JSON.parse(asked.bytes.toString('utf8'))).toMatchObject({ code: 'ERR_TRANSFER_FORMAT_UNAVAILABLE' });
  });
});
