// Two gateways, one on each side of the channel, each witnessing the other's audit log over mutual
// TLS (C2SP tlog-witness): each one's checkpoints come back cosigned by the other, growth is accepted
// only with a consistency proof, and a forged second checkpoint for a size already cosigned (a split
// view) is refused, counted, journaled as an alert and shown on /readyz. Real gateways, real TLS, real
// files; only outcomes are asserted, every wait polls with a generous bound.
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { JSONWebKeySet } from 'jose';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse, stringify } from 'yaml';
import { verifyExport } from '../../gateway/audit/verify-export.js';
import { parseVerifierKey, verifyCosignature } from '../../gateway/witness/cosignature.js';
import { devFile, devIdentity, zoneCaBundle } from '../support/dev-pki.js';
import { call, mtlsAgent, startTestGateway, type TestGateway } from '../support/gateway.js';
import { anonymisedResearchManifest } from '../support/manifests.js';
import { HK_WITNESS, hongKongSideEnv, hongKongSideFile, shenzhenPeerEntry, SZ_ORIGIN } from '../../scripts/two-sides/channel-sides.js';
import { createTransfer } from '../support/transfers.js';

const WAIT = { timeout: 30_000, interval: 100 };

let sz: TestGateway;
let hk: TestGateway;

type RegistryDoc = { gateways?: Record<string, unknown>[] };
async function editRegistry(gateway: TestGateway, edit: (doc: RegistryDoc) => void): Promise<void> {
  const doc = parse(await readFile(gateway.registryFile, 'utf8')) as RegistryDoc;
  edit(doc);
  await writeFile(gateway.registryFile, stringify(doc));
  await gateway.gateway.reload('test');
}

const readiness = async (gateway: TestGateway) => (await (await fetch(`${gateway.gateway.opsUrl}/readyz`)).json()) as { checks: { peers: { directories: Record<string, { revision?: string; institutions?: number; inactive?: string[]; lastError?: string }> }; witness: { vkey: string; peers: Record<string, { cosignedSize?: number; lastOutcome?: string }>; conflicts: { kind: string; origin: string }[] } } };

beforeAll(async () => {
  const fast = { HETAO_AUDIT_CHECKPOINT_INTERVAL_MS: '200', HETAO_PEER_DIRECTORY_INTERVAL_MS: '200' };
  sz = await startTestGateway(fast);
  hk = await startTestGateway({ ...fast, ...hongKongSideEnv() });
  // Each side's registry names the other gateway, where it listens in this run.
  await editRegistry(sz, (doc) => {
    const peer = doc.gateways?.find((gateway) => gateway.id === 'hetao-hk-gateway');
    if (peer) peer.apiUrl = hk.gateway.apiUrl;
  });
  const shenzhen = await shenzhenPeerEntry(sz.gateway.apiUrl);
  await editRegistry(hk, (doc) => {
    doc.gateways = [shenzhen];
  });
});

/** A checkpoint note signed with the Shenzhen log's own dev key, as only that log (or a thief of its key) can. */
async function szSignedNote(size: number, rootHash: string): Promise<string> {
  const text = `${SZ_ORIGIN}\n${size}\n${rootHash}\n`;
  const key = createPrivateKey(await readFile(devFile('gateway-signing.dev-only.key.pem'), 'utf8'));
  const raw = Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x as string, 'base64url');
  const keyId = createHash('sha256').update(SZ_ORIGIN).update(Buffer.from([0x0a, 0x01])).update(raw).digest().subarray(0, 4);
  return `${text}\n— ${SZ_ORIGIN} ${Buffer.concat([keyId, sign(null, Buffer.from(text), key)]).toString('base64')}\n`;
}

/** The size `gateway`'s witness cosigned last for the log `origin` (its witness state file). */
async function witnessedBy(gateway: TestGateway, origin: string): Promise<number> {
  const file = path.join(gateway.config.dataDir, 'witness', `${createHash('sha256').update(origin).digest('hex')}.json`);
  return (JSON.parse(await readFile(file, 'utf8')) as { treeSize: number }).treeSize;
}

/** POSTs an add-checkpoint body to the Hong Kong side's witness as the Shenzhen gateway. */
async function submitAsShenzhen(body: string): Promise<{ status: number; contentType: string; text: string }> {
  const szClient = devIdentity('gateway-client');
  const agent = new Agent({ connect: { cert: szClient.cert, key: szClient.key, ca: zoneCaBundle() } });
  try {
    const answer = await request(`${hk.gateway.apiUrl}/v1/witness/add-checkpoint`, { dispatcher: agent, method: 'POST', body });
    return { status: answer.statusCode, contentType: String(answer.headers['content-type']), text: await answer.body.text() };
  } finally {
    await agent.close();
  }
}

afterAll(async () => {
  await Promise.allSettled([sz?.close(), hk?.close()]);
});

describe('two gateways witnessing each other', () => {
  it('each side’s checkpoints come back cosigned by the other, and the cosignature verifies with the other’s key', async () => {
    // Activity on both sides: their journals grow, their checkpoints follow.
    const hospital = devIdentity('institutions/sz-hospital');
    for (const gateway of [sz, hk]) expect((await createTransfer(gateway.gateway.apiUrl, hospital, anonymisedResearchManifest(Buffer.from('a,b\n1,2\n')))).status).toBe(201);
    await vi.waitFor(async () => {
      expect((await readiness(sz)).checks.witness.peers['hetao-hk-gateway']).toMatchObject({ lastOutcome: expect.stringMatching(/cosigned|up-to-date/), cosignedSize: expect.any(Number) });
      expect((await readiness(hk)).checks.witness.peers['hetao-sz-gateway']).toMatchObject({ lastOutcome: expect.stringMatching(/cosigned|up-to-date/), cosignedSize: expect.any(Number) });
    }, WAIT);
    // What the Shenzhen side keeps: its checkpoint note with the Hong Kong witness's cosignature,
    // which verifies with the Hong Kong gateway's public key.
    const kept = JSON.parse(
      await readFile(path.join(sz.config.dataDir, 'witness', `${createHash('sha256').update('cosigned-by:hetao-hk-gateway').digest('hex')}.json`), 'utf8'),
    ) as { checkpoint: string };
    const [text, signatures] = kept.checkpoint.split('\n\n') as [string, string];
    const cosignature = signatures.split('\n').find((line) => line.startsWith(`— ${HK_WITNESS} `));
    expect(cosignature).toBeDefined();
    const hkKey = createPublicKey(createPrivateKey(await readFile(hongKongSideFile('gateway-signing.dev-only.key.pem'), 'utf8')));
    expect(verifyCosignature(cosignature as string, `${text}\n`, { name: HK_WITNESS, publicKey: hkKey })).toMatchObject({ time: expect.any(Number) });
    // A regulator's export of the Shenzhen log carries the Hong Kong witness's cosignature and verifies
    // offline with the Shenzhen JWKS and the Hong Kong witness's vkey; a changed cosignature does not.
    const regulator = devIdentity('people/regulator-wang');
    const vkey = (await readiness(hk)).checks.witness.vkey;
    const witnessKey = parseVerifierKey(vkey);
    if (typeof witnessKey === 'string') throw new Error(witnessKey);
    const jwks = (await (await request(`${sz.gateway.apiUrl}/.well-known/jwks.json`, { dispatcher: mtlsAgent(regulator) })).body.json()) as JSONWebKeySet;
    const exported = await (await request(`${sz.gateway.apiUrl}/v1/audit/export`, { dispatcher: mtlsAgent(regulator) })).body.text();
    const verified = await verifyExport(Readable.from([Buffer.from(exported)]), jwks, { witnesses: [witnessKey] });
    expect(verified).toMatchObject({ ok: true, cosignatures: [expect.objectContaining({ witness: HK_WITNESS, verified: true })] });
    const tampered = exported.replace(new RegExp(`(— ${HK_WITNESS.replace(/[./]/g, '\\$&')} )(.)`), (_all, head: string, first: string) => `${head}${first === 'A' ? 'B' : 'A'}`);
    expect(tampered).not.toBe(exported);
    expect((await verifyExport(Readable.from([Buffer.from(tampered)]), jwks, { witnesses: [witnessKey] })).firstError?.reason).toMatch(/no cosignature of hetao-hk-gateway\.local\/witness .* verifies/);
    // Growth goes on being cosigned: more activity, a larger size cosigned.
    const before = (await readiness(sz)).checks.witness.peers['hetao-hk-gateway']?.cosignedSize ?? 0;
    expect((await createTransfer(sz.gateway.apiUrl, hospital, anonymisedResearchManifest(Buffer.from('c,d\n3,4\n')))).status).toBe(201);
    await vi.waitFor(async () => expect((await readiness(sz)).checks.witness.peers['hetao-hk-gateway']?.cosignedSize).toBeGreaterThan(before), WAIT);
  });

  it('refuses a forged checkpoint for a size it already cosigned (a split view): 422, counted, journaled, on /readyz', async () => {
    // The size the Hong Kong witness cosigned last for the Shenzhen log, as its own state holds it.
    const witnessed = await witnessedBy(hk, SZ_ORIGIN);
    expect(witnessed).toBeGreaterThan(0);
    // A second tree of the same size, signed with the Shenzhen log's own key: what a log showing two
    // regulators two histories would have to produce.
    const forgedRoot = createHash('sha256').update(`a forged history of ${witnessed} entries`).digest('base64');
    const answer = await submitAsShenzhen(`old ${witnessed}\n\n${await szSignedNote(witnessed, forgedRoot)}`);
    expect(answer.status).toBe(422);
    expect(JSON.parse(answer.text)).toMatchObject({ code: 'ERR_WITNESS_INCONSISTENT' });
    const checks = (await readiness(hk)).checks.witness;
    expect(checks.conflicts).toContainEqual(expect.objectContaining({ origin: SZ_ORIGIN, kind: 'split-view' }));
    const metrics = await (await fetch(`${hk.gateway.opsUrl}/metrics`)).text();
    expect(metrics).toMatch(/hetao_witness_conflicts_total\{origin="hetao-gateway\.local\/audit",kind="split-view"\} 1/);
    const regulator = devIdentity('people/regulator-wang');
    await vi.waitFor(async () => {
      const exported = await request(`${hk.gateway.apiUrl}/v1/audit/export`, { dispatcher: mtlsAgent(regulator) });
      expect(await exported.body.text()).toContain('"type":"witness.conflict"');
    }, WAIT);
  });

  it('answers a stale size with 409 and the size it cosigned, as text/x.tlog.size; refuses anyone but a peer gateway', async () => {
    const witnessed = await witnessedBy(hk, SZ_ORIGIN);
    const answer = await submitAsShenzhen(`old 0\n\n${await szSignedNote(witnessed + 1000, createHash('sha256').update('later').digest('base64'))}`);
    expect(answer.status).toBe(409);
    expect(answer.contentType).toMatch(/^text\/x\.tlog\.size/);
    expect(Number(answer.text.trim())).toBeGreaterThanOrEqual(witnessed);
    const lab = await call(hk.gateway.apiUrl, devIdentity('institutions/sz-hospital'), '/v1/witness/add-checkpoint', { method: 'POST', body: 'old 0\n\n' });
    expect(lab.status).toBe(403);
    expect(lab.body).toMatchObject({ code: 'ERR_IDENTITY_ROLE_FORBIDDEN' });
  });
});

describe('each side’s signed directory', () => {
  it('reaches the other side verified, and a suspension on one side reaches the other with the next revision', async () => {
    const hkRevision = async () => (await call(hk.gateway.apiUrl, devIdentity('people/officer-chan'), '/v1/whoami')).body.registryRevision as string;
    await vi.waitFor(async () => expect((await readiness(sz)).checks.peers.directories['hetao-hk-gateway']).toMatchObject({ revision: await hkRevision(), institutions: expect.any(Number), inactive: ['hk-suspended-lab'] }), WAIT);
    await editRegistry(hk, (doc) => {
      const institutions = (doc as unknown as { institutions: Record<string, unknown>[] }).institutions;
      (institutions.find((institution) => institution.id === 'hk-ctc') as Record<string, unknown>).status = 'suspended';
    });
    const revision = await hkRevision();
    await vi.waitFor(async () => expect((await readiness(sz)).checks.peers.directories['hetao-hk-gateway']).toMatchObject({ revision, inactive: expect.arrayContaining(['hk-ctc', 'hk-suspended-lab']) }), WAIT);
  });

  it('is given to a peer gateway only', async () => {
    const lab = await call(hk.gateway.apiUrl, devIdentity('institutions/sz-hospital'), '/v1/peering/directory');
    expect(lab.status).toBe(403);
    expect(lab.body).toMatchObject({ code: 'ERR_IDENTITY_ROLE_FORBIDDEN' });
  });
});
