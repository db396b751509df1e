// The channel for real: a Shenzhen-side gateway process (127.0.0.1, its queue on Redis) and a Hong
// Kong-side gateway process (127.0.0.3), each with its own data, registry (its side's institutions and
// people, the other gateway as its peer), policies (its jurisdiction's profile) and keys, linked
// through a TCP proxy the test controls. Transfers go both ways — allowed, refused by the sender's
// rules, refused by the receiver's — and one is cut mid-envelope and resumed once the link is back.
// Each side witnesses the other's log; a forged split view is refused. Both regulators verify their
// exports offline. Only outcomes are asserted; every wait polls with a generous bound.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createCheckpointNoteSigner, formatCheckpointNoteText } from '../../gateway/audit/checkpoint-note.js';
import { freePort, HK_HOST, SZ_HOST, SZ_ORIGIN, writeChannelSides } from '../../scripts/two-sides/channel-sides.js';
import { devFile, devIdentity, type ClientIdentity } from '../support/dev-pki.js';
import { useRedis } from '../support/redis.js';
import { call, mtlsAgent } from '../support/gateway.js';
import { spawnHetao, type HetaoProcess } from '../support/hetao-process.js';
import { anonymisedResearchManifest, CORE_GENOMICS_MANIFEST } from '../support/manifests.js';
import { researchRows } from '../support/research-csv.js';
import { runHetao } from '../support/run-cli.js';
import { tableFigures, withZeros } from '../support/console-figures.js';
import type { FlowSummary } from '../../gateway/flows/flow-counts.js';
import { createTransfer, decrypt, download, encryptionKey, jwksOf, sha256, upload } from '../support/transfers.js';

const WAIT = { timeout: 45_000, interval: 200 };

/** A TCP link that can be cut (open connections reset, new ones refused) and restored, or cut once a given number of bytes more has gone through it. */
async function link(host: string): Promise<{ port: number; target(port: number): void; cut(): void; cutAfter(bytes: number): Promise<void>; restore(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let open = true;
  let targetPort = 0;
  let budget: { left: number; reached: () => void } | undefined;
  const cut = (): void => {
    open = false;
    for (const socket of sockets) socket.resetAndDestroy();
  };
  const server: Server = createServer((client) => {
    if (!open || targetPort === 0) return void client.destroy();
    const upstream = connect({ host, port: targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('data', (chunk: Buffer) => {
      if (!budget) return;
      budget.left -= chunk.length;
      if (budget.left > 0) return;
      const { reached } = budget;
      budget = undefined;
      cut();
      reached();
    });
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as { port: number }).port,
    target: (port) => void (targetPort = port),
    cut,
    cutAfter: (bytes) => new Promise<void>((reached) => void (budget = { left: bytes, reached })),
    restore: () => void (open = true),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

let dir: string;
let channel: Awaited<ReturnType<typeof link>>;
let sz: { process: HetaoProcess; api: string; ops: string };
let hk: { process: HetaoProcess; api: string; ops: string };

async function start(env: Record<string, string>): Promise<{ process: HetaoProcess; api: string; ops: string }> {
  const child = spawnHetao('gateway', { HETAO_AUDIT_CHECKPOINT_INTERVAL_MS: '300', HETAO_PEER_DIRECTORY_INTERVAL_MS: '300', ...env });
  const listening = await child.waitForLog((line) => line.msg === 'gateway listening');
  return { process: child, api: String(listening.api), ops: String(listening.ops) };
}

type Readiness = {
  checks: {
    audit: { checkpointSize: number };
    witness: { vkey: string; peers: Record<string, { cosignedSize?: number; lastOutcome?: string }>; conflicts: unknown[] };
    peers: { directories: Record<string, { institutions?: number }> };
  };
};
const readiness = async (side: { ops: string }): Promise<Readiness> => (await (await fetch(`${side.ops}/readyz`)).json()) as Readiness;
const readyz = readiness;


beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-two-sides-'));
  channel = await link(HK_HOST);
  // Shenzhen reaches Hong Kong through the link; Hong Kong reaches Shenzhen directly.
  const szPort = await freePort(SZ_HOST);
  const sides = await writeChannelSides(dir, { hongKongFromShenzhen: `https://${HK_HOST}:${channel.port}`, shenzhenFromHongKong: `https://${SZ_HOST}:${szPort}` });
  const redis = useRedis();
  // Shenzhen's queue is on Redis (BullMQ): forwards wait there while the link is down.
  sz = await start({ ...sides.sz, HETAO_PORT: String(szPort), REDIS_URL: redis.url, HETAO_QUEUE_PREFIX: redis.uniquePrefix(), HETAO_PEER_RETRY_MS: '300' });
  hk = await start({ ...sides.hk, HETAO_PEER_RETRY_MS: '300' });
  channel.target(Number(new URL(hk.api).port));
  // Each side knows the other's institutions once it holds the other's signed directory.
  await vi.waitFor(async () => {
    expect((await readyz(sz)).checks.peers.directories['hetao-hk-gateway']?.institutions).toBeGreaterThan(0);
    expect((await readyz(hk)).checks.peers.directories['hetao-sz-gateway']?.institutions).toBeGreaterThan(0);
  }, WAIT);
}, 90_000);

afterAll(async () => {
  for (const side of [sz, hk]) {
    side?.process.child.kill('SIGTERM');
    await side?.process.exited;
  }
  await channel?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('two gateway processes on two loopback addresses, witnessing each other through a link that fails', () => {
  it('the link cut while the Shenzhen log grows: its checkpoints wait, and once restored the Hong Kong witness cosigns the newest through one consistency proof', async () => {
    const hospital = devIdentity('institutions/sz-hospital');
    const transfer = () => createTransfer(sz.api, hospital, anonymisedResearchManifest(Buffer.from(`a,b\n${Math.random()},2\n`)));
    expect((await transfer()).status).toBe(201);
    await vi.waitFor(async () => expect((await readiness(sz)).checks.witness.peers['hetao-hk-gateway']?.cosignedSize).toBeGreaterThan(0), WAIT);
    const beforeCut = (await readiness(sz)).checks.witness.peers['hetao-hk-gateway']?.cosignedSize as number;

    channel.cut();
    for (let i = 0; i < 5; i += 1) expect((await transfer()).status).toBe(201);
    await vi.waitFor(async () => {
      const checks = (await readiness(sz)).checks;
      expect(checks.witness.peers['hetao-hk-gateway']?.lastOutcome).toBe('unreachable');
      expect(checks.audit.checkpointSize).toBeGreaterThan(beforeCut);
    }, WAIT);
    expect((await readiness(sz)).checks.witness.peers['hetao-hk-gateway']?.cosignedSize).toBe(beforeCut);

    channel.restore();
    await vi.waitFor(async () => {
      const checks = (await readiness(sz)).checks;
      expect(checks.witness.peers['hetao-hk-gateway']?.cosignedSize).toBe(checks.audit.checkpointSize);
      expect(checks.witness.peers['hetao-hk-gateway']?.cosignedSize).toBeGreaterThan(beforeCut);
    }, WAIT);

    // The Shenzhen regulator verifies the export offline, with the Hong Kong witness's key.
    const regulator = devIdentity('people/regulator-wang');
    const exportFile = path.join(dir, 'sz-export.ndjson');
    const jwksFile = path.join(dir, 'sz-jwks.json');
    await writeFile(exportFile, await (await request(`${sz.api}/v1/audit/export`, { dispatcher: mtlsAgent(regulator) })).body.text());
    await writeFile(jwksFile, await (await request(`${sz.api}/.well-known/jwks.json`, { dispatcher: mtlsAgent(regulator) })).body.text());
    const vkey = (await readiness(hk)).checks.witness.vkey;
    const verified = await runHetao(['audit', 'verify', exportFile, '--jwks', jwksFile, '--witness', vkey]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/cosigned by hetao-hk-gateway\.local\/witness at tree size \d+, consistent with this export, cosignature verified/);
    // And the Shenzhen side witnesses the Hong Kong log the other way round, once that one has entries.
    expect((await createTransfer(hk.api, devIdentity('institutions/hk-uni-genomics'), anonymisedResearchManifest(Buffer.from('c,d\n3,4\n')))).status).toBe(201);
    await vi.waitFor(async () => expect((await readiness(hk)).checks.witness.peers['hetao-sz-gateway']?.cosignedSize).toBeGreaterThan(0), WAIT);
  });
});

/** The transfer as `who` sees it at `side`. */
const transferAt = async (side: { api: string }, who: ClientIdentity, id: string): Promise<Record<string, unknown>> => (await call(side.api, who, `/v1/transfers/${id}`)).body;

/** Creates and uploads a transfer at `side`; its id. */
async function send(side: { api: string }, sender: ClientIdentity, manifest: object, content: Buffer): Promise<string> {
  const created = await createTransfer(side.api, sender, manifest);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = String(created.body.id);
  const uploaded = await upload(side.api, sender, id, content);
  expect([200, 202], JSON.stringify(uploaded.body)).toContain(uploaded.status);
  return id;
}

/** The recipient at `side` downloads, decrypts and confirms it; the plaintext. */
async function receive(side: { api: string }, recipient: ClientIdentity, institution: string, id: string): Promise<Buffer> {
  const fetched = await download(side.api, recipient, id);
  expect(fetched.status).toBe(200);
  const plaintext = await decrypt(fetched.bytes, encryptionKey(institution), await jwksOf(side.api, recipient));
  const receipt = await call(side.api, recipient, `/v1/transfers/${id}/receipt`, { method: 'POST', json: { sha256: sha256(plaintext) } });
  expect(receipt.status, JSON.stringify(receipt.body)).toBe(200);
  return plaintext;
}

/** A regulator's export of `side`, verified offline with `hetao audit verify`; its entries about transfer `id`. */
async function verifiedEntries(side: { api: string }, regulator: ClientIdentity, id: string, name: string): Promise<{ type: string; details?: Record<string, unknown> }[]> {
  const exportFile = path.join(dir, `${name}-export.ndjson`);
  const jwksFile = path.join(dir, `${name}-jwks.json`);
  const exported = await (await request(`${side.api}/v1/audit/export`, { dispatcher: mtlsAgent(regulator) })).body.text();
  await writeFile(exportFile, exported);
  await writeFile(jwksFile, JSON.stringify(await jwksOf(side.api, regulator)));
  const verified = await runHetao(['audit', 'verify', exportFile, '--jwks', jwksFile]);
  expect(verified.code, verified.stderr).toBe(0);
  return exported
    .split('\n')
    .filter((line) => line.startsWith('{"entry":'))
    .map((line) => (JSON.parse(line) as { entry: { type: string; subject?: string; details?: Record<string, unknown> } }).entry)
    .filter((entry) => entry.subject === id);
}

describe('transfers across the channel, each side deciding by its own rules', () => {
  const szHospital = devIdentity('institutions/sz-hospital');
  const hkLab = devIdentity('institutions/hk-uni-genomics');
  const szInstitute = devIdentity('institutions/hetao-sz-institute');

  it('Shenzhen lab → Hong Kong lab: allowed by both sides, forwarded, decrypted by the recipient, and its receipt comes back with the Hong Kong journal proof; both regulators see the loop', async () => {
    const content = researchRows(300_000);
    const id = await send(sz, szHospital, { ...anonymisedResearchManifest(content), recipient: 'hk-uni-genomics' }, content);
    await vi.waitFor(async () => expect((await transferAt(sz, szHospital, id)).status).toBe('delivered'), WAIT);
    const atHongKong = await transferAt(hk, hkLab, id);
    expect(atHongKong).toMatchObject({ status: 'available', sender: 'sz-hospital', recipient: 'hk-uni-genomics', peer: { gateway: 'hetao-sz-gateway', direction: 'inbound' } });
    // Its own decision on the Hong Kong side, the Shenzhen decision kept beside it.
    const atShenzhen = await transferAt(sz, szHospital, id);
    expect((atHongKong.peer as { senderDecision: { decisionId: string } }).senderDecision.decisionId).toBe((atShenzhen.decision as { decisionId: string }).decisionId);
    expect((atHongKong.decision as { decisionId: string }).decisionId).not.toBe((atShenzhen.decision as { decisionId: string }).decisionId);

    expect((await receive(hk, hkLab, 'hk-uni-genomics', id)).equals(content)).toBe(true);
    await vi.waitFor(async () => expect((await transferAt(sz, szHospital, id)).status).toBe('received'), WAIT);
    const received = await transferAt(sz, szHospital, id);
    expect(received.peer).toMatchObject({ gateway: 'hetao-hk-gateway', direction: 'outbound', receiptProof: { checkpoint: expect.stringContaining('hetao-hk-gateway.local/audit\n') } });

    const szEntries = (await verifiedEntries(sz, devIdentity('people/regulator-wang'), id, 'sz')).map((entry) => entry.type);
    expect(szEntries).toEqual(expect.arrayContaining(['transfer.authorized', 'transfer.forwarded', 'transfer.received']));
    const hkEntries = await verifiedEntries(hk, devIdentity('people/regulator-ho'), id, 'hk');
    expect(hkEntries.map((entry) => entry.type)).toEqual(expect.arrayContaining(['transfer.authorized', 'transfer.envelope-received', 'transfer.downloaded', 'transfer.received']));
    // The leaf the Shenzhen side holds as proof is the Hong Kong journal's receipt entry.
    const proofLeaf = (szEntries.length > 0 ? (received.history as { event: string; detail?: { peerLeafIndex?: number } }[]) : []).find((event) => event.event === 'received')?.detail?.peerLeafIndex;
    expect(proofLeaf).toBeTypeOf('number');
    // The Shenzhen regulator's console shows the Hong Kong gateway witnessing this log.
    const overview = await (await request(`${sz.api}/console/overview`, { dispatcher: mtlsAgent(devIdentity('people/regulator-wang')) })).body.text();
    expect(overview).toMatch(/<tr><th scope="row">hetao-hk-gateway<\/th><td>\d+<\/td><td>\d{4}-\d{2}-\d{2}T[^<]+<\/td><td>(cosigned|up-to-date)<\/td><\/tr>/);
    // Either regulator joins the transfer's entries across both logs, offline.
    const loop = await runHetao(['audit', 'verify', path.join(dir, 'hk-export.ndjson'), '--jwks', path.join(dir, 'hk-jwks.json'), '--transfer', id, '--peer-export', path.join(dir, 'sz-export.ndjson'), '--peer-jwks', path.join(dir, 'sz-jwks.json')]);
    expect(loop.code, loop.stderr).toBe(0);
    expect(loop.stdout).toContain(`sending side: ${id} authorised by decision ${(atShenzhen.decision as { decisionId: string }).decisionId}`);
    // A "peer" export that is not the other side's does not join.
    const wrongPeer = await runHetao(['audit', 'verify', path.join(dir, 'sz-export.ndjson'), '--jwks', path.join(dir, 'sz-jwks.json'), '--transfer', id, '--peer-export', path.join(dir, 'sz-export.ndjson'), '--peer-jwks', path.join(dir, 'sz-jwks.json')]);
    expect(wrongPeer.code).toBe(1);
    expect(wrongPeer.stderr).toContain('transfer loop:');
    expect(loop.stdout).toMatch(new RegExp(`received: the receiving side's receipt \\(entry ${String(proofLeaf)}, leaf \\S+\\) is the one the sending side's entry \\d+ holds proof of`));
  });

  it('Hong Kong lab → Shenzhen institute: allowed both ways round, available to the Shenzhen recipient', async () => {
    const content = researchRows(100_000);
    const id = await send(hk, hkLab, anonymisedResearchManifest(content), content);
    await vi.waitFor(async () => expect((await transferAt(sz, szInstitute, id)).status).toBe('available'), WAIT);
    expect((await receive(sz, szInstitute, 'hetao-sz-institute', id)).equals(content)).toBe(true);
    await vi.waitFor(async () => expect((await transferAt(hk, hkLab, id)).status).toBe('received'), WAIT);
  });

  it("refused by the sender's rules: the Shenzhen gateway denies core genomic data without approvals, and a recipient the Hong Kong side suspended; nothing reaches Hong Kong", async () => {
    const refused = await createTransfer(sz.api, szHospital, CORE_GENOMICS_MANIFEST);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'ERR_POLICY_DENIED' });
    // A lab the Hong Kong side suspended is suspended in its signed directory: the Shenzhen side refuses it too.
    const content = Buffer.from('a,b\n1,2\n');
    const toSuspended = await createTransfer(sz.api, szHospital, { ...anonymisedResearchManifest(content), recipient: 'hk-suspended-lab' });
    expect(toSuspended.status).toBe(403);
    expect(toSuspended.body).toMatchObject({ code: 'ERR_POLICY_DENIED' });
  });

  it("refused by the receiver's rules: identified medical records the Shenzhen side allows under the GBA contract are refused by the Hong Kong side, and the sender sees refused-by-peer with its reasons", async () => {
    const content = researchRows(50_000);
    const manifest = {
      recipient: 'hk-uni-genomics',
      project: { id: 'proj-hk-sz-cancer-genomics', title: 'Joint cancer genomics' },
      purpose: 'joint-research',
      dataset: { category: 'medical-records', format: 'csv', classification: { level: 'L4' }, deidentification: 'identified', subjects: 800, humanGeneticResources: false, sizeBytes: content.length, sha256: sha256(content) },
      approvals: [{ type: 'gba-standard-contract-filing', id: 'GBA-SC-GD-2026-0101' }],
      consent: { basis: 'separate-consent', reference: 'SZFH-CONSENT-2026-017' },
      retentionDays: 365,
    };
    const id = await send(sz, szHospital, manifest, content);
    await vi.waitFor(async () => expect((await transferAt(sz, szHospital, id)).status).toBe('refused-by-peer'), WAIT);
    const refused = await transferAt(sz, szHospital, id);
    const refusal = (refused.peer as { refusal: { decisionId?: string; reasons: { ruleId?: string; code?: string }[] } }).refusal;
    expect(refusal.decisionId).toBeTypeOf('string');
    expect(refusal.reasons.length).toBeGreaterThan(0);
    expect((await call(hk.api, hkLab, `/v1/transfers/${id}`)).status).toBe(404);
    // Nothing is kept at the sending side either.
    expect((await download(sz.api, szHospital, id)).status).not.toBe(200);
    // The refusal joins across both logs: the Hong Kong decision the Shenzhen side names is a denial there.
    await verifiedEntries(sz, devIdentity('people/regulator-wang'), id, 'sz-refused');
    await verifiedEntries(hk, devIdentity('people/regulator-ho'), id, 'hk-refused');
    const loop = await runHetao(['audit', 'verify', path.join(dir, 'sz-refused-export.ndjson'), '--jwks', path.join(dir, 'sz-refused-jwks.json'), '--transfer', id, '--peer-export', path.join(dir, 'hk-refused-export.ndjson'), '--peer-jwks', path.join(dir, 'hk-refused-jwks.json')]);
    expect(loop.code, loop.stderr).toBe(0);
    expect(loop.stdout).toContain(`receiving side: refused by decision ${String(refusal.decisionId)} (policy.denied`);
    // The Shenzhen regulator's overview counts it refused by the peer, as GET /v1/flows does.
    const regulator = devIdentity('people/regulator-wang');
    const today = new Date().toISOString().slice(0, 10);
    const flows = await vi.waitFor(async () => {
      const answer = (await call(sz.api, regulator, `/v1/flows?from=${today}&to=${today}&institution=sz-hospital`)).body as unknown as FlowSummary;
      expect(answer.byDirection['CN→HK']?.['refused-by-peer']?.transfers).toBeGreaterThanOrEqual(1);
      return answer;
    }, WAIT);
    const page = await (await request(`${sz.api}/console/overview?from=${today}&to=${today}&institution=sz-hospital`, { dispatcher: mtlsAgent(regulator) })).body.text();
    expect(tableFigures(page, 'By direction')).toEqual(withZeros(flows.byDirection));
    expect(tableFigures(page, 'By data category')['medical-records']?.['refused-by-peer']?.transfers).toBe(flows.byCategory['medical-records']?.['refused-by-peer']?.transfers);
  });

  it('the link cut mid-envelope: the Hong Kong side keeps nothing of it, the transfer waits at Shenzhen, and goes through once the link is back — one copy, whole', async () => {
    const content = researchRows(24 * 1024 * 1024);
    const cut = channel.cutAfter(6 * 1024 * 1024);
    const id = await send(sz, szHospital, { ...anonymisedResearchManifest(content), recipient: 'hk-uni-genomics' }, content);
    await cut;
    await vi.waitFor(async () => expect((await transferAt(hk, hkLab, id)).status).toBe('authorized'), WAIT);
    expect((await transferAt(sz, szHospital, id)).status).toBe('available');
    expect((await download(hk.api, hkLab, id)).status).not.toBe(200);
    channel.restore();
    await vi.waitFor(async () => expect((await transferAt(sz, szHospital, id)).status).toBe('delivered'), WAIT);
    const atHongKong = await transferAt(hk, hkLab, id);
    expect(atHongKong.status).toBe('available');
    expect((atHongKong.history as { event: string }[]).filter((event) => event.event === 'upload-failed')).toHaveLength(1);
    expect((await receive(hk, hkLab, 'hk-uni-genomics', id)).equals(content)).toBe(true);
  });

  it('a forged split view of the Shenzhen log (another root for a size the Hong Kong witness cosigned) is refused and shown on /readyz', async () => {
    const forger = createCheckpointNoteSigner({ name: SZ_ORIGIN, privateKeyPem: await readFile(devFile('gateway-signing.dev-only.key.pem'), 'utf8') });
    const szGateway = { name: 'sz-gateway', cert: await readFile(devFile('gateway-client.dev-only.cert.pem'), 'utf8'), key: await readFile(devFile('gateway-client.dev-only.key.pem'), 'utf8') };
    await vi.waitFor(async () => {
      const size = (await readiness(sz)).checks.witness.peers['hetao-hk-gateway']?.cosignedSize ?? 0;
      expect(size).toBeGreaterThan(0);
      const text = formatCheckpointNoteText({ origin: SZ_ORIGIN, treeSize: size, rootHash: randomBytes(32).toString('base64') });
      const answer = await call(hk.api, szGateway, '/v1/witness/add-checkpoint', { method: 'POST', body: `old ${size}\n\n${text}\n${forger.sign(text)}`, headers: { 'content-type': 'text/plain' } });
      // A size conflict only means the real log moved on meanwhile: try again at the new size.
      expect(answer.status).toBe(422);
      expect(answer.body).toMatchObject({ code: 'ERR_WITNESS_INCONSISTENT' });
    }, WAIT);
    expect((await readiness(hk)).checks.witness.conflicts.length).toBeGreaterThan(0);
  });
});
