// The transfer service without HTTP, on real files: records survive a restart, retention expiry
// deletes content and records it, and the state machine refuses moves it does not allow.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadRegistry } from '../../gateway/identity/registry.js';
import { createGatewaySigner } from '../../gateway/envelope/gateway-signer.js';
import { policyCheckContext } from '../../gateway/policy/check-policy-files.js';
import { loadPolicySet } from '../../gateway/policy/load-policy-set.js';
import { createFilesystemStore } from '../../gateway/storage/filesystem-store.js';
import { createRecordStore } from '../../gateway/transfer/record-store.js';
import { transition } from '../../gateway/transfer/transfer-record.js';
import { createTransferService } from '../../gateway/transfer/transfer-service.js';
import { POLICY_DIR, REGISTRY_FILE, devFile } from '../support/dev-pki.js';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { ObjectStore } from '../../gateway/storage/object-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-service-'));
});
const stores: ObjectStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function service(now: { value: Date }, overrides: Record<string, object> = {}) {
  const registry = await loadRegistry(REGISTRY_FILE);
  const policies = await loadPolicySet(POLICY_DIR, policyCheckContext(registry));
  const objects = await createFilesystemStore(dir);
  stores.push(objects);
  const records = await createRecordStore(objects);
  return {
    records,
    transfers: createTransferService({
      records,
      objects,
      signer: createGatewaySigner(readFileSync(devFile('gateway-signing.dev-only.key.pem'), 'utf8')),
      policies: () => policies,
      lookupInstitution: (id) => {
        const institution = registry.institutions.get(id);
        return institution && overrides[id] ? { ...institution, ...overrides[id] } : institution;
      },
      clock: () => now.value,
      uploadIdleTimeoutMs: 5000,
    }),
  };
}

const hospital = { id: 'sz-hospital', role: 'institution' as const, institution: 'sz-hospital' };
const manifest = {
  recipient: 'hetao-sz-institute',
  project: { id: 'proj-hk-sz-cancer-genomics', title: 'Joint cancer genomics' },
  purpose: 'joint-research',
  dataset: { category: 'research-other', format: 'csv', classification: { level: 'L2' }, deidentification: 'anonymised', subjects: 10, humanGeneticResources: false, sizeBytes: 10 },
  approvals: [],
  consent: { basis: 'not-personal-information' },
  retentionDays: 2,
};

describe('transfer service', () => {
  it('keeps records across a restart (the files are the truth, not Redis or memory)', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    const first = await service(now);
    const created = await first.transfers.create(hospital, manifest);
    const second = await service(now);
    expect(second.transfers.get(created.id, hospital)).toEqual(created);
  });

  it('expires a transfer after its retention and records it', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    const { transfers } = await service(now);
    const created = await transfers.create(hospital, manifest);
    expect(await transfers.expireDue()).toBe(0);
    now.value = new Date('2027-03-03T00:00:01Z');
    expect(await transfers.expireDue()).toBe(1);
    const expired = transfers.get(created.id, hospital);
    expect(expired.status).toBe('expired');
    expect(expired.history.at(-1)).toMatchObject({ event: 'retention-expired', by: 'gateway' });
  });

  it('refuses moves the state machine does not allow', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    const { transfers } = await service(now);
    const created = await transfers.create(hospital, manifest);
    expect(() => transition(created, 'received', { at: now.value, event: 'x', by: 'y' })).toThrow(expect.objectContaining({ code: 'ERR_TRANSFER_STATE' }));
    await transfers.cancel(created.id, hospital);
    await expect(transfers.cancel(created.id, hospital)).rejects.toMatchObject({ code: 'ERR_TRANSFER_STATE' });
  });
});

describe('uploads that cannot or did not finish', () => {
  it('refuses an upload to a recipient suspended since the decision, leaving the transfer authorized', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    const created = await (await service(now)).transfers.create(hospital, manifest);
    const { transfers } = await service(now, { 'hetao-sz-institute': { status: 'suspended' } });
    await expect(transfers.upload(created.id, hospital, Readable.from([Buffer.alloc(10)]))).rejects.toMatchObject({ code: 'ERR_TRANSFER_STATE' });
    expect(transfers.get(created.id, hospital).status).toBe('authorized');
  });

  it('resets uploads interrupted by a stop to authorized at start-up', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    const first = await service(now);
    const created = await first.transfers.create(hospital, manifest);
    await first.records.save(transition(created, 'uploading', { at: now.value, event: 'upload-started', by: 'sz-hospital' }));
    const second = await service(now);
    expect(await second.transfers.recoverInterruptedUploads()).toBe(1);
    expect(second.transfers.get(created.id, hospital)).toMatchObject({ status: 'authorized', history: expect.arrayContaining([expect.objectContaining({ event: 'upload-interrupted' })]) });
  });
});
