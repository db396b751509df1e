// The transfer service without HTTP, on real files: records survive a restart, retention expiry
// deletes content and records it, the state machine refuses moves it does not allow, and every
// change is announced as one domain event that the operation waits for.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadRegistry } from '../../gateway/identity/registry.js';
import { createGatewaySigner } from '../../gateway/envelope/gateway-signer.js';
import { policyCheckContext } from '../../gateway/policy/check-policy-files.js';
import { loadPolicySet } from '../../gateway/policy/load-policy-set.js';
import { createFilesystemStore } from '../../gateway/storage/filesystem-store.js';
import { openFileRecordStore } from '../../gateway/records/file-record-store.js';
import { createTransferEvents, type TransferEvent } from '../../gateway/transfer/transfer-events.js';
import { transition } from '../../gateway/transfer/transfer-record.js';
import { createTransferService } from '../../gateway/transfer/transfer-service.js';
import { createRecordChanges } from '../../gateway/transfer/record-changes.js';
import { POLICY_DIR, REGISTRY_FILE, devFile } from '../support/dev-pki.js';
import { readFileSync } from 'node:fs';
import { PassThrough, Readable, Writable } from 'node:stream';
import type { ObjectStore } from '../../gateway/storage/object-store.js';
import { toUnavailableStorageError } from '../../gateway/storage/storage-errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-service-'));
});
const stores: ObjectStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function service(now: { value: Date }, overrides: Record<string, object> = {}, subscribers: { within?: (event: TransferEvent) => Promise<void> } = {}, wrapObjects: (objects: ObjectStore) => ObjectStore = (objects) => objects) {
  const registry = await loadRegistry(REGISTRY_FILE);
  const policies = await loadPolicySet(POLICY_DIR, policyCheckContext(registry));
  const stored = await createFilesystemStore(dir);
  stores.push(stored);
  const objects = wrapObjects(stored);
  const records = await openFileRecordStore(stored);
  const events = createTransferEvents(() => undefined);
  const emitted: TransferEvent[] = [];
  events.within(async (event) => void emitted.push(event));
  if (subscribers.within) events.within(subscribers.within);
  const changes = createRecordChanges({ records, events });
  return {
    records,
    emitted,
    changes,
    transfers: createTransferService({
      records,
      objects,
      events,
      changes,
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
    expect(await second.transfers.get(created.id, hospital)).toEqual(created);
  });

  it('expires a transfer after its retention and records it', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    const { transfers } = await service(now);
    const created = await transfers.create(hospital, manifest);
    expect(await transfers.expireDue()).toBe(0);
    now.value = new Date('2027-03-03T00:00:01Z');
    expect(await transfers.expireDue()).toBe(1);
    const expired = await transfers.get(created.id, hospital);
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

describe('domain events', () => {
  it('announces every change once, with who caused it, and a denial without a transfer', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    const { transfers, emitted } = await service(now);
    const created = await transfers.create(hospital, manifest);
    await transfers.cancel(created.id, hospital);
    await expect(transfers.create(hospital, { ...manifest, recipient: 'no-such-institute' })).rejects.toMatchObject({ code: 'ERR_POLICY_DENIED' });
    now.value = new Date('2027-03-03T00:00:01Z');
    expect(emitted.map((event) => [event.type, event.type === 'changed' ? event.change : undefined, event.actor])).toEqual([
      ['changed', 'authorized', { kind: 'institution', id: 'sz-hospital' }],
      ['changed', 'cancelled', { kind: 'institution', id: 'sz-hospital' }],
      ['refused', undefined, { kind: 'institution', id: 'sz-hospital' }],
    ]);
    const changed = emitted[1];
    expect(changed?.type === 'changed' && changed.record.status).toBe('cancelled');
  });

  it('fails the operation when a subscriber within it fails (the journal could not record it)', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    const { transfers } = await service(now, {}, { within: async () => Promise.reject(new Error('journal unavailable')) });
    await expect(transfers.create(hospital, manifest)).rejects.toThrow('journal unavailable');
  });

  it('tells `after` subscribers once the operation is done, and a failing one fails nothing', async () => {
    const events = createTransferEvents((error) => failures.push(error));
    const failures: unknown[] = [];
    const order: string[] = [];
    events.within(async () => void order.push('within'));
    events.after(async () => {
      order.push('after');
      throw new Error('subscriber broke');
    });
    const emitting = events.emit({ type: 'refused', decision: {} as never, manifest: {} as never, actor: { kind: 'gateway', id: 'gateway' } });
    await emitting;
    expect(order).toEqual(['within']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['within', 'after']);
    expect(failures).toEqual([expect.objectContaining({ message: 'subscriber broke' })]);
  });
});

describe('a stop', () => {
  it('waits for an operation in flight to save and announce its last change (`settled`)', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    const { transfers, emitted } = await service(now);
    const created = await transfers.create(hospital, manifest);
    const source = new PassThrough();
    const uploading = transfers.upload(created.id, hospital, source).catch((error: unknown) => error);
    source.write(Buffer.alloc(4));
    await expect.poll(async () => (await transfers.get(created.id, hospital)).status).toBe('uploading');
    let settled = false;
    const stopping = transfers.settled().then(() => (settled = true));
    // Several turns of the event loop later, the upload still holds it (no clock involved).
    for (let turn = 0; turn < 20; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    source.destroy(new Error('connection cut by the stop'));
    await stopping;
    expect(emitted.at(-1)).toMatchObject({ type: 'changed', change: 'upload-failed', record: { status: 'authorized' } });
    expect(await uploading).toMatchObject({ code: 'ERR_REQUEST_INVALID' });
  });
});

describe('closing the record changes before the journal closes (transfer/record-changes.ts)', () => {
  it('a change being saved finishes with its announcement; a change after the close is refused before it is saved, left to the next start', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    let release: () => void = () => undefined;
    let holding = false;
    const { transfers, emitted, records, changes } = await service(now, {}, {
      within: async () => {
        if (!holding) return;
        await new Promise<void>((resolve) => (release = resolve));
      },
    });
    const created = await transfers.create(hospital, manifest);
    const second = await transfers.create(hospital, manifest);
    // A change saved and being announced (its journal entry being written) when the stop comes.
    holding = true;
    const cancelling = transfers.cancel(created.id, hospital);
    await expect.poll(() => (records.get(created.id) as Promise<{ status: string } | undefined>).then((record) => record?.status)).toBe('cancelled');
    let closed = false;
    const closing = changes.close().then(() => (closed = true));
    for (let turn = 0; turn < 20; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    holding = false;
    release();
    await closing;
    expect((await cancelling).status).toBe('cancelled');
    expect(emitted.at(-1)).toMatchObject({ type: 'changed', change: 'cancelled' });

    // After the close no change is saved: the record stays as it was, and nothing unannounced is on disk.
    await expect(transfers.cancel(second.id, hospital)).rejects.toMatchObject({ code: 'ERR_SERVICE_UNAVAILABLE' });
    expect(((await records.get(second.id)) as { status: string }).status).toBe('authorized');
  });
});

describe('uploads that cannot or did not finish', () => {
  it('a store that dies at the commit (its abort and deletes failing too) still leaves the transfer authorized, the upload failing with the store error', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    const { transfers } = await service(now, {}, {}, (objects) => {
      const dead = () => Promise.reject(toUnavailableStorageError('ECONNREFUSED', { path: 'bucket', operation: 'write' }, undefined, new Error('connect ECONNREFUSED')));
      return {
        ...objects,
        createPending: async (key: string) => {
          const pending = await objects.createPending(key);
          return { stream: pending.stream, commit: dead, abort: dead };
        },
        put: dead,
        delete: dead,
      };
    });
    const created = await transfers.create(hospital, manifest);
    const content = Buffer.from('a,b\n1,2\n3\n'); // the manifest's 10 bytes
    await expect(transfers.upload(created.id, hospital, Readable.from([content]))).rejects.toMatchObject({ code: 'ERR_STORAGE_UNAVAILABLE' });
    const after = await transfers.get(created.id, hospital);
    expect([after.status, after.history.at(-1)?.event]).toEqual(['authorized', 'upload-failed']);
  });

  it('a store that dies mid-stream (its abort failing too) still leaves the transfer authorized', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    const deadError = () => toUnavailableStorageError('ECONNRESET', { path: 'bucket', operation: 'write' }, undefined, new Error('socket hang up'));
    const { transfers } = await service(now, {}, {}, (objects) => ({
      ...objects,
      createPending: async () => ({
        stream: new Writable({ write: (_chunk, _encoding, callback) => callback(deadError()) }),
        commit: () => Promise.reject(deadError()),
        abort: () => Promise.reject(deadError()),
      }),
    }));
    const created = await transfers.create(hospital, manifest);
    await expect(transfers.upload(created.id, hospital, Readable.from([Buffer.from('a,b\n1,2\n3\n')]))).rejects.toMatchObject({ code: 'ERR_STORAGE_UNAVAILABLE' });
    const after = await transfers.get(created.id, hospital);
    expect([after.status, after.history.at(-1)?.event]).toEqual(['authorized', 'upload-failed']);
  });

  it('refuses an upload to a recipient suspended since the decision, leaving the transfer authorized', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    const created = await (await service(now)).transfers.create(hospital, manifest);
    const { transfers } = await service(now, { 'hetao-sz-institute': { status: 'suspended' } });
    await expect(transfers.upload(created.id, hospital, Readable.from([Buffer.alloc(10)]))).rejects.toMatchObject({ code: 'ERR_TRANSFER_STATE' });
    expect((await transfers.get(created.id, hospital)).status).toBe('authorized');
  });

  it('resets uploads interrupted by a stop to authorized at start-up', async () => {
    const now = { value: new Date('2027-03-01T00:00:00Z') };
    const first = await service(now);
    const created = await first.transfers.create(hospital, manifest);
    await first.records.save(transition(created, 'uploading', { at: now.value, event: 'upload-started', by: 'sz-hospital' }));
    const second = await service(now);
    expect(await second.transfers.recoverInterruptedUploads()).toBe(1);
    expect(await second.transfers.get(created.id, hospital)).toMatchObject({ status: 'authorized', history: expect.arrayContaining([expect.objectContaining({ event: 'upload-interrupted' })]) });
  });
});
