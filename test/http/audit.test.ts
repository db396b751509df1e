// The audit journal as the gateway's users see it: every step of a transfer, every denied decision
// and every refused caller is in the journal; parties get inclusion proofs of their transfer's
// entries; the regulator's export verifies offline with nothing but the gateway's JWKS.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyExport } from '../../gateway/audit/verify-export.js';
import { PROJECT_ROOT } from '../../gateway/config.js';
import { devIdentity } from '../support/dev-pki.js';
import { call, mtlsAgent, startTestGateway, type TestGateway } from '../support/gateway.js';
import { createTransfer, sha256, upload } from '../support/transfers.js';
import { request } from 'undici';

let gw: TestGateway;
let transferId: string;
const hospital = devIdentity('institutions/sz-hospital');
const institute = devIdentity('institutions/hetao-sz-institute');
const trialCentre = devIdentity('institutions/hk-ctc');
const regulator = devIdentity('people/regulator-wang');
const content = Buffer.from('site,score\nA,1\nB,2\n');
const manifest = {
  recipient: 'hetao-sz-institute',
  project: { id: 'proj-hk-sz-cancer-genomics', title: 'Joint cancer genomics' },
  purpose: 'joint-research',
  dataset: { category: 'research-other', format: 'csv', classification: { level: 'L2' }, deidentification: 'anonymised', subjects: 2, humanGeneticResources: false, sizeBytes: content.length },
  approvals: [],
  consent: { basis: 'not-personal-information' },
  retentionDays: 30,
};

beforeAll(async () => {
  gw = await startTestGateway();
  transferId = (await createTransfer(gw.gateway.apiUrl, hospital, manifest)).body.id as string;
  await upload(gw.gateway.apiUrl, hospital, transferId, content);
  await call(gw.gateway.apiUrl, institute, `/v1/transfers/${transferId}/receipt`, { method: 'POST', json: { sha256: sha256(content) } });
  await createTransfer(gw.gateway.apiUrl, hospital, { ...manifest, dataset: { ...manifest.dataset, classification: { level: 'L2', core: true } } });
  await call(gw.gateway.apiUrl, devIdentity('negative/unregistered'), '/v1/whoami');
});
afterAll(async () => {
  await gw?.close();
});

/** RFC 9162 §2.1.3.2, written here independently of gateway/audit. */
function rootFromProof(leafIndex: number, treeSize: number, leafHash: Buffer, proof: Buffer[]): Buffer | undefined {
  const node = (left: Buffer, right: Buffer) => createHash('sha256').update(Buffer.from([1])).update(left).update(right).digest();
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = node(p, r);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn >> 1, sn >> 1];
    } else r = node(r, p);
    [fn, sn] = [fn >> 1, sn >> 1];
  }
  return sn === 0 ? r : undefined;
}

async function exportAs(identity: ReturnType<typeof devIdentity>, query = ''): Promise<{ status: number; text: string; contentType: string }> {
  const dispatcher = mtlsAgent(identity);
  try {
    const response = await request(new URL(`/v1/audit/export${query}`, gw.gateway.apiUrl), { dispatcher });
    return { status: response.statusCode, text: await response.body.text(), contentType: String(response.headers['content-type']) };
  } finally {
    await dispatcher.close();
  }
}

describe('audit journal', () => {
  it('gives the sender inclusion proofs of every entry of its transfer, checked independently', async () => {
    const result = await call(gw.gateway.apiUrl, hospital, `/v1/audit/proof/${transferId}`);
    expect(result.status).toBe(200);
    const { checkpoint, proofs } = result.body as { checkpoint: { treeSize: number; rootHash: string }; proofs: { leafIndex: number; treeSize: number; leafHash: string; proof: string[] }[] };
    expect(proofs.length).toBe(4); // authorized, upload-started, upload-completed, received
    for (const proof of proofs) {
      const root = rootFromProof(proof.leafIndex, proof.treeSize, Buffer.from(proof.leafHash, 'base64'), proof.proof.map((p) => Buffer.from(p, 'base64')));
      expect(root?.toString('base64')).toBe(checkpoint.rootHash);
    }
  });

  it('refuses proofs to an institution that is not a party', async () => {
    expect((await call(gw.gateway.apiUrl, trialCentre, `/v1/audit/proof/${transferId}`)).status).toBe(403);
  });

  it('streams the regulator an export that verifies offline with only the JWKS, and records every kind of event', async () => {
    const exported = await exportAs(regulator);
    expect(exported.status).toBe(200);
    const jwks = (await call(gw.gateway.apiUrl, regulator, '/.well-known/jwks.json')).body;
    const verification = await verifyExport(Readable.from([Buffer.from(exported.text)]), jwks as never);
    expect(verification.firstError).toBeUndefined();
    expect(verification.ok).toBe(true);
    const types = exported.text.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { entry?: { type: string } }).entry?.type).filter(Boolean);
    expect(types).toEqual(expect.arrayContaining(['transfer.authorized', 'transfer.upload-started', 'transfer.upload-completed', 'transfer.received', 'policy.denied', 'access.refused']));
    expect(exported.text).not.toContain('site,score');
  });

  it('keeps a filtered export verifiable', async () => {
    const exported = await exportAs(regulator, '?category=research-other&institution=sz-hospital');
    const jwks = (await call(gw.gateway.apiUrl, regulator, '/.well-known/jwks.json')).body;
    const verification = await verifyExport(Readable.from([Buffer.from(exported.text)]), jwks as never);
    expect(verification.ok).toBe(true);
    expect(exported.text).not.toContain('"access.refused"');
  });

  it('renders CSV for spreadsheets', async () => {
    const exported = await exportAs(regulator, '?format=csv');
    expect(exported.contentType).toMatch(/^text\/csv/);
    expect(exported.text.split('\r\n')[0]).toMatch(/^seq,time,type,/);
  });

  it('is for regulators only', async () => {
    expect((await exportAs(hospital)).status).toBe(403);
  });

  it('proves that a later checkpoint extends an earlier one', async () => {
    const result = await call(gw.gateway.apiUrl, regulator, '/v1/audit/consistency?from=2&to=5');
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ fromSize: 2, toSize: 5, proof: expect.any(Array) });
  });
});

describe("the README's plain-JOSE check of an export", () => {
  it('runs as written and finds the signed digest right (and a tampered export wrong)', async () => {
    const readme = await readFile(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
    const snippet = /```sh[^\n]*\n(node --input-type=module -e "[\s\S]*?\n")\n```/.exec(readme)?.[1];
    expect(snippet, 'the snippet is in the README').toBeDefined();
    // Inside the project, so that `import 'jose'` resolves as it does for a reader with `npm ci` done.
    const dir = await mkdtemp(path.join(PROJECT_ROOT, '.test-readme-'));
    try {
      const exported = await exportAs(regulator);
      await writeFile(path.join(dir, 'export.ndjson'), exported.text);
      await writeFile(path.join(dir, 'gateway-jwks.json'), JSON.stringify((await call(gw.gateway.apiUrl, regulator, '/.well-known/jwks.json')).body));
      const run = (): Promise<string> =>
        new Promise((resolve, reject) => execFile('sh', ['-c', snippet as string], { cwd: dir }, (error, stdout) => (error ? reject(error) : resolve(stdout))));
      expect(await run()).toMatch(/^hetao-audit-export\+jws \d+ entries, digest ok\n$/);
      await writeFile(path.join(dir, 'export.ndjson'), exported.text.replace('"sz-hospital"', '"sz-hospitaX"'));
      expect(await run()).toContain('DIGEST MISMATCH');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
