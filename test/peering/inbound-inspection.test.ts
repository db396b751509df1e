// The receiving side inspects a forwarded transfer by its own rules. One in-process gateway runs as
// the Hong Kong side, on the Hong Kong policy folder (the dev policies without the mainland HGR file)
// plus one Hong Kong rule of this test's that lets anonymised research data in from the Shenzhen zone
// only with full inspection; this test plays the Shenzhen gateway (test/support/shenzhen-peer.ts).
// The offer carries the data key wrapped to the Hong Kong processing key, as the Shenzhen gateway
// re-wraps it to the peer's registered encryption key; the Hong Kong worker opens the stored envelope
// with it, inspects every byte, and deletes it. Checked through the recipient's view of the record,
// its download, and the gateway's own object store (the filesystem store it runs on, held here).
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openFilesystemStore } from '../../gateway/app/object-stores.js';
import type { KeyHolder } from '../../gateway/envelope/wrap-data-key.js';
import type { PeerGateway } from '../../gateway/identity/registry.js';
import { signForwardRecord } from '../../gateway/peering/forward-record.js';
import type { PolicySet } from '../../gateway/policy/load-policy-set.js';
import type { ObjectStore } from '../../gateway/storage/object-store.js';
import { processingWrapKey } from '../../gateway/transfer/envelope-objects.js';
import { csvWithLeakedIds, LEAKED_IDS } from '../../scripts/demo/sample-data.js';
import { hongKongSideFile } from '../../scripts/two-sides/channel-sides.js';
import { devIdentity, POLICY_DIR } from '../support/dev-pki.js';
import { call } from '../support/gateway.js';
import { researchRows } from '../support/research-csv.js';
import { devRegistry, loadShenzhenPolicies, offerTo, putEnvelopeTo, shenzhenSigner, shenzhenTransfer, startHongKongSide, type HongKongSide, type ShenzhenTransfer } from '../support/shenzhen-peer.js';
import { decrypt, download, encryptionKey, jwksOf, sha256 } from '../support/transfers.js';

const WAIT = { timeout: 30_000, interval: 50 };
const hkLab = devIdentity('institutions/hk-uni-genomics');

/** A Hong Kong rule of this test: anonymised research data from the Shenzhen zone to the Hong Kong zone comes in only inspected in full. */
const INSPECTING_RULE = `# yaml-language-server: $schema=../schemas/policy.schema.json
version: 1
jurisdiction: HK
description: >-
  Test only: anonymised research data arriving from the Shenzhen side of the zone is inspected in
  full by the Hong Kong side before its recipient can have it.
rules:
  - id: test-inbound-anonymised-from-shenzhen-inspected
    description: >-
      Anonymised, non-genomic research data from an institution in the Shenzhen zone to one in the
      Hong Kong zone may come in; the gateway inspects it in full, the recipient acknowledges receipt.
    basis: test fixture (no legal basis)
    when:
      all:
        - { fact: direction, equals: CN→HK }
        - { fact: sender.zone, equals: hetao-sz }
        - { fact: recipient.zone, equals: hetao-hk }
        - { fact: manifest.dataset.deidentification, equals: anonymised }
        - { fact: manifest.dataset.category, notEquals: genomics }
        - { fact: manifest.dataset.humanGeneticResources, equals: false }
    effect: allow
    obligations:
      recipientReceipt: true
      fullInspection: true
`;

/** The Hong Kong side's processing key, public, as its registry entry at the Shenzhen side states it (`encryptionKey`). */
const { kty, crv, x, y } = createPublicKey(createPrivateKey(readFileSync(hongKongSideFile('gateway-processing.dev-only.key.pem'), 'utf8'))).export({ format: 'jwk' });
/** As the Shenzhen gateway re-wraps the data key for its peer (peering/forward-transfer.ts). */
const hongKongProcessing: KeyHolder = { institution: 'gateway:hetao-hk-gateway', role: 'processing', jwk: { kty, crv, x, y } };

let policyDir: string;
let side: HongKongSide;
let objects: ObjectStore | undefined;
let shenzhenPolicies: PolicySet;

beforeAll(async () => {
  // The Hong Kong side's folder (scripts/two-sides/channel-sides.ts): no mainland HGR file; plus the inspecting rule.
  policyDir = await mkdtemp(path.join(tmpdir(), 'hetao-hk-policies-'));
  for (const file of await readdir(POLICY_DIR)) if (file.endsWith('.policy.yaml') && file !== '30-hgr.policy.yaml') await copyFile(path.join(POLICY_DIR, file), path.join(policyDir, file));
  await writeFile(path.join(policyDir, '95-test-inbound-inspection.policy.yaml'), INSPECTING_RULE);
  shenzhenPolicies = await loadShenzhenPolicies();
  side = await startHongKongSide(
    { HETAO_POLICY_DIR: policyDir },
    {
      openObjectStore: async (config, options) => {
        const store = await openFilesystemStore(config, options);
        objects ??= store;
        return store;
      },
    },
  );
});

afterAll(async () => {
  await side?.close();
  if (policyDir) await rm(policyDir, { recursive: true, force: true });
});

const apiUrl = (): string => side.hk.gateway.apiUrl;
const store = (): ObjectStore => {
  if (!objects) throw new Error('the gateway opened no object store');
  return objects;
};

type RecordView = {
  status: string;
  obligations: { fullInspection: boolean };
  pendingStages?: string[];
  inspection?: { full?: Record<string, unknown> };
  history: { event: string; detail?: Record<string, unknown> }[];
};

/** The transfer as its recipient at the Hong Kong side sees it. */
async function recordAtHongKong(id: string): Promise<{ status: number; record: RecordView }> {
  const answer = await call(apiUrl(), hkLab, `/v1/transfers/${id}`);
  return { status: answer.status, record: answer.body as unknown as RecordView };
}

const eventsOf = (record: RecordView, event: string) => record.history.filter((entry) => entry.event === event);

/** Polls until the record reaches `status`. */
async function settlesAs(id: string, status: string): Promise<RecordView> {
  return vi.waitFor(async () => {
    const { record } = await recordAtHongKong(id);
    expect(record.status).toBe(status);
    return record;
  }, WAIT);
}

/** Offers with the wrap to the Hong Kong processing key and sends the envelope: accepted, stored, queued for inspection here. */
async function forwardedForInspection(transfer: ShenzhenTransfer): Promise<void> {
  expect(transfer.processingWrap).toMatchObject({ institution: 'gateway:hetao-hk-gateway', role: 'processing' });
  const offered = await offerTo(apiUrl(), { forward: await signForwardRecord(transfer.forward, shenzhenSigner), ...(transfer.processingWrap ? { processingWrap: transfer.processingWrap } : {}) });
  expect(offered.status, JSON.stringify(offered.body)).toBe(201);
  expect(offered.body).toMatchObject({ transferId: transfer.id, status: 'authorized' });
  // This side's own decision asks for full inspection, so the wrap is kept, as sent.
  const { record } = await recordAtHongKong(transfer.id);
  expect(record.obligations.fullInspection).toBe(true);
  const kept = await store().get(processingWrapKey(transfer.id));
  expect(kept && JSON.parse(kept.toString('utf8'))).toEqual(transfer.processingWrap);

  const sent = await putEnvelopeTo(apiUrl(), transfer.id, transfer.envelope);
  expect(sent.status, JSON.stringify(sent.body)).toBe(200);
  expect(sent.body).toMatchObject({ transferId: transfer.id, status: 'queued', envelopeSha256: sha256(transfer.envelope), duplicate: false });
}

describe('a transfer forwarded to a side whose rules inspect it in full', () => {
  it('the wrap is made to the processing key the Shenzhen side holds for this peer', () => {
    const registered = (devRegistry.gateways.get('hetao-hk-gateway') as PeerGateway).encryptionKey;
    expect(registered).toMatchObject({ kty, crv, x, y });
  });

  it('clean anonymised CSV: queued, inspected by the worker with the wrap, available with its report, the wrap deleted; the recipient decrypts the original', async () => {
    const transfer = await shenzhenTransfer(shenzhenPolicies, { plaintext: researchRows(200_000), processingHolder: hongKongProcessing });
    await forwardedForInspection(transfer);

    const record = await settlesAs(transfer.id, 'available');
    expect(record.inspection?.full).toMatchObject({ outcome: 'pass', reasons: [], sampled: false, detectedFormat: 'csv', bytesSeen: transfer.plaintext.length });
    expect(eventsOf(record, 'queued')).toHaveLength(1);
    expect(eventsOf(record, 'processing-completed')).toHaveLength(1);
    expect(eventsOf(record, 'envelope-received')).toHaveLength(0);
    expect(record.pendingStages ?? []).toEqual([]);
    expect(await store().stat(processingWrapKey(transfer.id))).toBeUndefined();

    const fetched = await download(apiUrl(), hkLab, transfer.id);
    expect(fetched.status).toBe(200);
    expect(fetched.bytes.equals(transfer.envelope)).toBe(true);
    expect((await decrypt(fetched.bytes, encryptionKey('hk-uni-genomics'), await jwksOf(apiUrl(), hkLab))).equals(transfer.plaintext)).toBe(true);
  });

  it('"anonymised" CSV carrying mainland identity numbers: quarantined by the inspection here, the wrap deleted, nothing to download', async () => {
    const plaintext = csvWithLeakedIds(300);
    for (const id of LEAKED_IDS) expect(plaintext.includes(id)).toBe(true);
    const transfer = await shenzhenTransfer(shenzhenPolicies, { plaintext, processingHolder: hongKongProcessing });
    await forwardedForInspection(transfer);

    const record = await settlesAs(transfer.id, 'quarantined');
    expect(record.inspection?.full).toMatchObject({ outcome: 'quarantine', sampled: false, bytesSeen: plaintext.length });
    expect(record.inspection?.full?.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'mainland-id', count: LEAKED_IDS.length })]));
    expect(eventsOf(record, 'quarantined')).toEqual([expect.objectContaining({ detail: expect.objectContaining({ stage: 'inspect', reasons: [expect.stringMatching(/mainland/)] }) })]);
    // The report names kinds, counts and offsets, never the content.
    for (const id of LEAKED_IDS) expect(JSON.stringify(record)).not.toContain(id);
    expect(await store().stat(processingWrapKey(transfer.id))).toBeUndefined();
    expect((await download(apiUrl(), hkLab, transfer.id)).status).toBe(409);
  });

  it('an offer without the processing wrap is refused (422 ERR_PEER_PROCESSING_WRAP_MISSING): nothing recorded; offered again with the wrap it is accepted', async () => {
    const transfer = await shenzhenTransfer(shenzhenPolicies, { processingHolder: hongKongProcessing });
    const forward = await signForwardRecord(transfer.forward, shenzhenSigner);
    const bare = await offerTo(apiUrl(), { forward });
    // This side's rules inspect it and it was not given the means: it must not end up available uninspected.
    expect(bare.status, JSON.stringify(bare.body)).toBe(422);
    expect(bare.body).toMatchObject({ code: 'ERR_PEER_PROCESSING_WRAP_MISSING' });
    expect((await recordAtHongKong(transfer.id)).status).toBe(404);
    expect(await store().stat(processingWrapKey(transfer.id))).toBeUndefined();

    // The refusal kept nothing: the same transfer with its wrap goes the inspected way.
    await forwardedForInspection(transfer);
    const record = await settlesAs(transfer.id, 'available');
    expect(record.inspection?.full).toMatchObject({ outcome: 'pass', sampled: false });
  });
});
