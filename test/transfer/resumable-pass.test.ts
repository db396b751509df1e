// The resumable pass on the transfer service without HTTP, on real files, with the clock in the
// test's hands: what a checkpoint saves keeps the upload the streaming instance's (a fresh lease,
// never the expiry the pass last saved, which would let the lease sweep take a live upload), and a
// pass resumed after its first one was let go rebuilds the upload from the stored segments.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JWK } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createGatewaySigner } from '../../gateway/envelope/gateway-signer.js';
import { loadRegistry } from '../../gateway/identity/registry.js';
import { policyCheckContext } from '../../gateway/policy/check-policy-files.js';
import { loadPolicySet } from '../../gateway/policy/load-policy-set.js';
import { openFileRecordStore } from '../../gateway/records/file-record-store.js';
import type { ObjectStore } from '../../gateway/storage/object-store.js';
import { createFilesystemStore } from '../../gateway/storage/filesystem-store.js';
import { createTransferEvents } from '../../gateway/transfer/transfer-events.js';
import { createTransferService } from '../../gateway/transfer/transfer-service.js';
import { POLICY_DIR, REGISTRY_FILE, devFile } from '../support/dev-pki.js';
import { anonymisedResearchManifest } from '../support/manifests.js';
import { researchRows } from '../support/research-csv.js';

const hospital = { id: 'sz-hospital', role: 'institution' as const, institution: 'sz-hospital' };
const LEASE_MS = 30_000;

let dir: string;
const stores: ObjectStore[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-resumable-pass-'));
});
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function service(now: { value: Date }) {
  const registry = await loadRegistry(REGISTRY_FILE);
  const policies = await loadPolicySet(POLICY_DIR, policyCheckContext(registry));
  const objects = await createFilesystemStore(dir);
  stores.push(objects);
  const records = await openFileRecordStore(objects);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const transfers = createTransferService({
    records,
    objects,
    events: createTransferEvents(() => undefined),
    signer: createGatewaySigner(readFileSync(devFile('gateway-signing.dev-only.key.pem'), 'utf8')),
    policies: () => policies,
    lookupInstitution: (id) => registry.institutions.get(id),
    clock: () => now.value,
    uploadIdleTimeoutMs: 60_000,
    processingPublicJwk: createPublicKey(privateKey).export({ format: 'jwk' }) as JWK,
    processingPrivateKey: privateKey,
    uploadCheckpointBytes: 64 * 1024,
    uploadLease: { holder: 'instance-1', durationMs: LEASE_MS, renew: (id, holder, expiresAt) => records.renewLease(id, holder, expiresAt) },
  });
  return { records, transfers };
}

describe('the resumable pass', () => {
  it('a checkpoint saves a fresh lease: the sweep leaves a live upload alone however long it streams', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    const { records, transfers } = await service(now);
    const content = researchRows(600_000);
    const { id } = await transfers.create(hospital, anonymisedResearchManifest(content));
    const pass = await transfers.startResumable(id, hospital);
    // Longer than the lease has passed; the bytes that come now are checkpointed.
    now.value = new Date(now.value.getTime() + 2 * LEASE_MS);
    await pass.write(content.subarray(0, 300_000));
    await vi.waitFor(async () => expect((await records.get(id))?.resumable?.plaintextBytes ?? 0).toBeGreaterThan(0), { timeout: 30_000, interval: 20 });
    expect(await transfers.recoverExpiredUploads()).toBe(0);
    const record = await records.get(id);
    expect(record?.lease?.holder).toBe('instance-1');
    expect(record?.history.map((entry) => entry.event)).not.toContain('upload-paused');
    await pass.write(content.subarray(300_000));
    pass.end();
    expect((await pass.done).status).toBe('available');
  });

  it('paused, let go and resumed by a new pass: the upload is rebuilt from its stored segments and completes with the declared SHA-256', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    const { records, transfers } = await service(now);
    const content = researchRows(3 * 1024 * 1024 + 4321);
    const { id } = await transfers.create(hospital, anonymisedResearchManifest(content));
    const first = await transfers.startResumable(id, hospital);
    await first.write(content.subarray(0, 2 * 1024 * 1024 + 777));
    const durable = await first.pause('cut');
    // Whole segments, short of what came in by at most a segment (and the one held for the final flag).
    expect(durable % 65536).toBe(0);
    expect(durable).toBeGreaterThan(2 * 1024 * 1024 + 777 - 2 * 65536);
    await first.release();
    expect((await records.get(id))?.resumable?.plaintextBytes).toBe(durable);

    const second = await transfers.startResumable(id, hospital);
    expect(second.offset).toBe(durable);
    await second.write(content.subarray(durable));
    second.end();
    const finished = await second.done;
    expect(finished).toMatchObject({ status: 'available', content: { plaintextSize: content.length } });
    expect(finished.history.map((entry) => entry.event)).toEqual(expect.arrayContaining(['upload-started', 'upload-paused', 'upload-resumed', 'upload-completed']));
    expect(finished.resumable).toBeUndefined();
  });
});
