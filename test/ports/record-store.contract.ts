// The transfer records port's contract: what every RecordStore (gateway/transfer/record-store.ts)
// does, run by test/ports/record-store.test.ts against each implementation. Records are saved whole
// and durably (a store opened again, and a reader in another process, see them); each save is
// conditional on the revision it names, so of two changes racing from one revision exactly one wins
// and the other is ERR_TRANSFER_CONFLICT; an upload lease is renewed by its holder only; a list is a
// query the store answers — one party's side, a status, newest first, a keyset cursor that neither
// repeats nor skips a record while new ones arrive; a sweep selects by statuses, retention, pending
// stages and expired leases, oldest first, and may save what it visits. It sums the US persons a
// sender→recipient pair carried since an instant (but cancelled and failed transfers), and runs the
// works for one pair one at a time while other pairs' run meanwhile.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseManifest } from '../../gateway/policy/manifest.js';
import { US_PERSON_CATEGORIES, type UsPersonCategory, type UsPersonCounts } from '../../gateway/policy/manifest.js';
import type { RecordReader, RecordStore } from '../../gateway/transfer/record-store.js';
import type { TransferRecord, TransferStatus } from '../../gateway/transfer/transfer-record.js';
import { newTransferId } from '../../gateway/transfer/transfer-service.js';
import { GatewayError } from '../../gateway/errors.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { anonymisedResearchManifest } from '../support/manifests.js';

export interface RecordStoreUnderTest {
  /** A store with no records in it. */
  readonly store: RecordStore;
  /** A reader on the same records, opened as another process (a `hetao worker`) would. */
  openReader(): Promise<RecordReader>;
  /** Closes the store given and opens another on the same records (as after a restart). */
  reopen(store: RecordStore): Promise<RecordStore>;
  /** Closes what the harness opened besides the stores and removes what they left behind. */
  cleanup(): Promise<void>;
}

const DAY_MS = 86_400_000;
const START = Date.parse('2025-03-01T08:00:00.000Z');
const MANIFEST = parseManifest(anonymisedResearchManifest(Buffer.from('id,value\n1,2\n')));

/** A valid record as the transfer service makes it, created `minute` minutes after START. */
export function transferRecord(
  minute: number,
  fields: { sender?: string; recipient?: string; status?: TransferStatus; retentionDays?: number; pendingStages?: TransferRecord['pendingStages']; lease?: TransferRecord['lease'] } = {},
): TransferRecord {
  const created = new Date(START + minute * 60_000);
  const sender = fields.sender ?? 'sz-hospital';
  const recipient = fields.recipient ?? 'hetao-sz-institute';
  const at = created.toISOString();
  const obligations = { requireApprovals: [], escrowTo: [], recipientReceipt: true, fullInspection: false, noOnwardTransfer: false };
  return {
    id: newTransferId(created),
    status: fields.status ?? 'authorized',
    sender,
    recipient,
    createdAt: at,
    updatedAt: at,
    retentionUntil: new Date(created.getTime() + (fields.retentionDays ?? 30) * DAY_MS).toISOString(),
    manifest: { ...MANIFEST, recipient },
    manifestSha256: 'a'.repeat(64),
    decision: {
      decisionId: `dec-${minute}`,
      time: at,
      effect: 'allow',
      policyRevision: 'sha256:test',
      input: {
        sender,
        recipient,
        direction: 'within-sz',
        manifestSha256: 'a'.repeat(64),
        project: MANIFEST.project.id,
        purpose: MANIFEST.purpose,
        category: MANIFEST.dataset.category,
        level: MANIFEST.dataset.classification.level,
        deidentification: MANIFEST.dataset.deidentification,
        subjects: MANIFEST.dataset.subjects,
        humanGeneticResources: false,
        sizeBytes: MANIFEST.dataset.sizeBytes,
      },
      matchedRules: ['allow-anonymised-research'],
      reasons: [],
      obligations,
      evalMicros: 12,
    },
    obligations,
    receipts: [],
    ...(fields.pendingStages ? { pendingStages: fields.pendingStages } : {}),
    ...(fields.lease ? { lease: fields.lease } : {}),
    history: [{ at, status: 'authorized', event: 'authorized', by: sender }],
  };
}

/** The record moved to `status` a minute later, as a transition would leave it. */
function moved(record: TransferRecord, status: TransferStatus, patch: Partial<TransferRecord> = {}): TransferRecord {
  const at = new Date(Date.parse(record.updatedAt) + 60_000).toISOString();
  return { ...record, ...patch, status, updatedAt: at, history: [...record.history, { at, status: record.status, event: `to-${status}`, by: 'gateway' }] };
}

const idsOf = (records: readonly TransferRecord[]): string[] => records.map((record) => record.id);

/** `record` with a manifest that counts its US persons (manifest.us.personCounts, 28 CFR 202.205). */
export function carrying(record: TransferRecord, personCounts: Partial<Record<UsPersonCategory, number>>): TransferRecord {
  return { ...record, manifest: { ...record.manifest, us: { personCounts } } as TransferRecord['manifest'] };
}

/** US persons per category: those given, every other category at 0. */
export function usPersons(given: Partial<Record<UsPersonCategory, number>> = {}): UsPersonCounts {
  return { ...(Object.fromEntries(US_PERSON_CATEGORIES.map((category) => [category, 0])) as Record<UsPersonCategory, number>), ...given };
}

/** A work that logs `name in` as it starts and `name out` as it ends, 20 ms later, and resolves to `name`. */
export function loggedWork(log: string[], name: string): () => Promise<string> {
  return async () => {
    log.push(`${name} in`);
    await sleep(20);
    log.push(`${name} out`);
    return name;
  };
}

/** Whether the works of a log (loggedWork) ran one at a time: each one's `out` right after its `in`. */
export function oneAfterAnother(log: readonly string[]): boolean {
  return log.length % 2 === 0 && log.every((entry, i) => (i % 2 === 0 ? entry.endsWith(' in') : entry === `${log[i - 1]?.slice(0, -' in'.length)} out`));
}

/** Resolves as `promise` does, or fails with `failure` if it has not settled within `ms`. */
export async function within<T>(ms: number, promise: Promise<T>, failure: string): Promise<T> {
  const timeout = new AbortController();
  try {
    return await Promise.race([promise, sleep(ms, undefined, { signal: timeout.signal }).then(() => Promise.reject(new Error(failure)))]);
  } finally {
    timeout.abort();
  }
}

/** `record` as a store holds it after its `revision`-th save. */
const atRevision = (record: TransferRecord, revision: number): TransferRecord => ({ ...record, revision });

/** Resolves to the error `work` rejects with (fails if it resolves). */
async function refusal(work: Promise<unknown>): Promise<GatewayError> {
  const outcome = await work.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a refusal, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(GatewayError);
  return outcome.error as GatewayError;
}

async function collect(selection: AsyncIterable<TransferRecord>): Promise<TransferRecord[]> {
  const records: TransferRecord[] = [];
  for await (const record of selection) records.push(record);
  return records;
}

export function describeRecordStoreContract(name: string, open: () => Promise<RecordStoreUnderTest>): void {
  describe(`${name}: the record store contract`, () => {
    let harness: RecordStoreUnderTest;
    let store: RecordStore;
    beforeEach(async () => {
      harness = await open();
      store = harness.store;
    });
    afterEach(async () => {
      await store.close();
      await harness.cleanup();
    });

    /** Saves new records; resolves to them as stored (revision 1), in order. */
    const saveAll = (records: readonly TransferRecord[]): Promise<TransferRecord[]> => Promise.all(records.map((record) => store.save(record)));

    describe('get and save', () => {
      it('gets what was saved, as the save resolved to it; an unknown id is undefined', async () => {
        const record = transferRecord(1);
        const saved = await store.save(record);
        expect(saved).toEqual(atRevision(record, 1));
        expect(await store.get(record.id)).toEqual(saved);
        expect(await store.get(transferRecord(2).id)).toBeUndefined();
      });

      it('a save replaces the record as a whole', async () => {
        const record = await store.save(transferRecord(1, { pendingStages: ['inspect'] }));
        const { pendingStages: _done, ...withoutStages } = moved(record, 'uploading');
        const replaced = await store.save(withoutStages);
        expect(replaced).toEqual(atRevision(withoutStages, 2));
        expect(await store.get(record.id)).toEqual(replaced);
        const page = await store.list({ party: 'sz-hospital', as: 'sender', limit: 10 });
        expect(page.records).toEqual([replaced]);
      });

      it('keeps records across a reopen: get, list and select see them, revisions included', async () => {
        const [first, second] = (await saveAll([transferRecord(1, { status: 'available' }), transferRecord(2, { status: 'queued', pendingStages: ['inspect'] })])) as [TransferRecord, TransferRecord];
        const received = await store.save(moved(first, 'received'));
        store = await harness.reopen(store);
        expect(await store.get(first.id)).toEqual(received);
        expect(await store.get(second.id)).toEqual(second);
        expect(idsOf((await store.list({ party: 'sz-hospital', as: 'sender', limit: 10 })).records)).toEqual([second.id, first.id]);
        expect(idsOf(await collect(store.select({ withPendingStages: true })))).toEqual([second.id]);
        const third = await store.save(transferRecord(3)); // and it goes on saving
        expect(await store.get(third.id)).toEqual(third);
        // The revision check holds across the reopen: a save from before it is stale.
        expect((await refusal(store.save(moved(first, 'expired')))).code).toBe('ERR_TRANSFER_CONFLICT');
        expect(await store.save(moved(received, 'expired'))).toMatchObject({ status: 'expired', revision: 3 });
      });

      it('a reader in another process sees what the store saved, replacements included', async () => {
        const reader = await harness.openReader();
        const record = transferRecord(1, { status: 'queued', pendingStages: ['inspect', 'deliver'] });
        expect(await reader.get(record.id)).toBeUndefined();
        const saved = await store.save(record);
        expect(await reader.get(record.id)).toEqual(saved);
        const processing = await store.save(moved(saved, 'processing', { pendingStages: ['deliver'] }));
        expect(await reader.get(record.id)).toEqual(processing);
      });
    });

    describe('revisions: one change wins', () => {
      it('counts the saves of a record: 1 when created, one more with each save', async () => {
        let record = await store.save(transferRecord(1));
        expect(record.revision).toBe(1);
        for (const [status, revision] of [['uploading', 2], ['available', 3], ['received', 4]] as const) {
          record = await store.save(moved(record, status));
          expect(record.revision).toBe(revision);
          expect(await store.get(record.id)).toEqual(record);
        }
      });

      it('refuses to create a record whose id exists, and keeps the stored one', async () => {
        const first = await store.save(transferRecord(1));
        const again = { ...transferRecord(1, { status: 'cancelled' }), id: first.id };
        const error = await refusal(store.save(again));
        expect(error.code).toBe('ERR_TRANSFER_CONFLICT');
        expect(error.status).toBe(409);
        expect(await store.get(first.id)).toEqual(first);
      });

      it('refuses a save from a stale revision, or of a revision never stored, changing nothing (lists included)', async () => {
        const created = await store.save(transferRecord(1, { status: 'uploading' }));
        const available = await store.save(moved(created, 'available'));
        expect((await refusal(store.save(moved(created, 'authorized')))).code).toBe('ERR_TRANSFER_CONFLICT');
        expect((await refusal(store.save({ ...moved(available, 'received'), revision: 7 }))).code).toBe('ERR_TRANSFER_CONFLICT');
        const absent = { ...transferRecord(2), revision: 1 };
        expect((await refusal(store.save(absent))).code).toBe('ERR_TRANSFER_CONFLICT');
        expect(await store.get(absent.id)).toBeUndefined();
        expect(await store.get(created.id)).toEqual(available);
        expect((await store.list({ party: 'sz-hospital', as: 'sender', status: 'authorized', limit: 10 })).records).toEqual([]);
        expect((await store.list({ party: 'sz-hospital', as: 'sender', limit: 10 })).records).toEqual([available]);
      });

      it('of concurrent saves from the same revision exactly one wins; the others are ERR_TRANSFER_CONFLICT and the stored record is the winner\'s', async () => {
        const created = await store.save(transferRecord(1, { status: 'authorized' }));
        const attempts = (['uploading', 'cancelled', 'expired', 'uploading', 'cancelled'] as const).map((status, i) =>
          moved(created, status, { lease: { holder: `instance-${i}`, expiresAt: '2025-03-01T09:00:00.000Z' } }),
        );
        const outcomes = await Promise.allSettled(attempts.map((attempt) => store.save(attempt)));
        const won = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
        const lost = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(attempts.length - 1);
        for (const error of lost) expect(error).toMatchObject({ code: 'ERR_TRANSFER_CONFLICT' });
        expect(won[0]?.revision).toBe(2);
        expect(await store.get(created.id)).toEqual(won[0]);
        const winner = attempts[outcomes.findIndex((outcome) => outcome.status === 'fulfilled')];
        expect(won[0]).toEqual(atRevision(winner as TransferRecord, 2));
      });

      it('of concurrent creates of one id exactly one wins', async () => {
        const record = transferRecord(1);
        const outcomes = await Promise.allSettled([0, 1, 2, 3].map((i) => store.save({ ...record, recipient: `recipient-${i}` })));
        expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
        for (const outcome of outcomes) if (outcome.status === 'rejected') expect(outcome.reason).toMatchObject({ code: 'ERR_TRANSFER_CONFLICT' });
        const winner = outcomes.find((outcome) => outcome.status === 'fulfilled');
        expect(await store.get(record.id)).toEqual(winner?.status === 'fulfilled' ? winner.value : undefined);
      });
    });

    describe('upload leases', () => {
      const minute = (n: number): string => new Date(START + n * 60_000).toISOString();
      const lease = (holder: string, expiresAtMinute: number): NonNullable<TransferRecord['lease']> => ({ holder, expiresAt: minute(expiresAtMinute) });

      it('its holder renews it: the expiry moves, the revision stays, and a save from that revision still goes through', async () => {
        const created = await store.save(transferRecord(1));
        const uploading = await store.save(moved(created, 'uploading', { lease: lease('gateway-a', 10) }));
        expect(await store.renewLease(uploading.id, 'gateway-a', lease('gateway-a', 20).expiresAt)).toBe(true);
        const renewed = await store.get(uploading.id);
        expect(renewed).toEqual({ ...uploading, lease: lease('gateway-a', 20) });
        const reader = await harness.openReader();
        expect(await reader.get(uploading.id)).toEqual(renewed);
        const available = await store.save(moved(renewed as TransferRecord, 'available', { lease: undefined }));
        expect(available.revision).toBe(3);
      });

      it('another holder, a record not uploading, one without a lease or no record at all: false, nothing changes', async () => {
        const created = await store.save(transferRecord(1));
        const uploading = await store.save(moved(created, 'uploading', { lease: lease('gateway-a', 10) }));
        expect(await store.renewLease(uploading.id, 'gateway-b', lease('gateway-b', 20).expiresAt)).toBe(false);
        expect(await store.get(uploading.id)).toEqual(uploading);
        const authorized = await store.save(moved(uploading, 'authorized')); // the lease kept, but no upload runs
        expect(await store.renewLease(authorized.id, 'gateway-a', lease('gateway-a', 20).expiresAt)).toBe(false);
        expect(await store.get(authorized.id)).toEqual(authorized);
        const unleased = await store.save(transferRecord(2, { status: 'uploading' }));
        expect(await store.renewLease(unleased.id, 'gateway-a', lease('gateway-a', 20).expiresAt)).toBe(false);
        expect(await store.get(unleased.id)).toEqual(unleased);
        expect(await store.renewLease(transferRecord(3).id, 'gateway-a', lease('gateway-a', 20).expiresAt)).toBe(false);
        expect(await store.get(transferRecord(3).id)).toBeUndefined();
      });

      it('select the uploads whose lease expired by an instant (inclusive) or that have none, oldest first', async () => {
        const records = await saveAll([
          transferRecord(1, { status: 'uploading', lease: lease('gateway-a', 59) }),
          transferRecord(2, { status: 'uploading', lease: lease('gateway-b', 60) }),
          transferRecord(3, { status: 'uploading', lease: lease('gateway-a', 61) }),
          transferRecord(4, { status: 'uploading' }),
          transferRecord(5, { status: 'authorized', lease: lease('gateway-a', 1) }),
          transferRecord(6, { status: 'available' }),
        ]);
        const [expired, expiringNow, live, unleased] = records as [TransferRecord, TransferRecord, TransferRecord, TransferRecord];
        const by = minute(60);
        expect(idsOf(await collect(store.select({ leaseExpiredBy: by })))).toEqual(idsOf([expired, expiringNow, unleased]));
        // A renewal takes an upload out of the selection; another filter still applies.
        expect(await store.renewLease(expiringNow.id, 'gateway-b', lease('gateway-b', 70).expiresAt)).toBe(true);
        expect(idsOf(await collect(store.select({ leaseExpiredBy: by })))).toEqual(idsOf([expired, unleased]));
        expect(idsOf(await collect(store.select({ leaseExpiredBy: minute(80) })))).toEqual(idsOf([expired, expiringNow, live, unleased]));
        expect(idsOf(await collect(store.select({ leaseExpiredBy: by, withPendingStages: true })))).toEqual([]);
      });
    });

    describe('lists', () => {
      it("list one party's side of its transfers, newest first, optionally of one status", async () => {
        const sent = [
          transferRecord(1, { sender: 'sz-hospital', recipient: 'hk-uni-genomics', status: 'available' }),
          transferRecord(2, { sender: 'sz-hospital', recipient: 'hetao-sz-institute', status: 'authorized' }),
          transferRecord(3, { sender: 'sz-hospital', recipient: 'hk-uni-genomics', status: 'available' }),
        ];
        const received = [transferRecord(4, { sender: 'hk-uni-genomics', recipient: 'sz-hospital', status: 'available' })];
        const unrelated = [transferRecord(5, { sender: 'hk-ctc', recipient: 'hk-uni-genomics', status: 'available' })];
        await saveAll([...unrelated, ...received, ...sent]);
        const list = (query: Omit<Parameters<RecordStore['list']>[0], 'limit'>) => store.list({ ...query, limit: 10 });
        const stored = await Promise.all([...sent, ...received].map(async (record) => store.get(record.id)));
        expect(await list({ party: 'sz-hospital', as: 'sender' })).toEqual({ records: stored.slice(0, 3).reverse(), next: undefined });
        expect(await list({ party: 'sz-hospital', as: 'recipient' })).toEqual({ records: stored.slice(3), next: undefined });
        expect(idsOf((await list({ party: 'sz-hospital', as: 'sender', status: 'available' })).records)).toEqual([sent[2]?.id, sent[0]?.id]);
        expect(idsOf((await list({ party: 'hk-uni-genomics', as: 'recipient' })).records)).toEqual(idsOf([unrelated[0], sent[2], sent[0]] as TransferRecord[]));
        expect(await list({ party: 'sz-hospital', as: 'sender', status: 'expired' })).toEqual({ records: [], next: undefined });
        expect(await list({ party: 'nobody', as: 'sender' })).toEqual({ records: [], next: undefined });
      });

      it('a status filter sees the status a save left, not an earlier one', async () => {
        const record = await store.save(transferRecord(1, { status: 'uploading' }));
        await store.save(moved(record, 'available'));
        expect((await store.list({ party: 'sz-hospital', as: 'sender', status: 'uploading', limit: 10 })).records).toEqual([]);
        expect(idsOf((await store.list({ party: 'sz-hospital', as: 'sender', status: 'available', limit: 10 })).records)).toEqual([record.id]);
      });

      it('page through 250 records, 7 at a time, by keyset cursor: no duplicate, no gap, no cursor on the last page', async () => {
        const mine = Array.from({ length: 250 }, (_, i) => transferRecord(i, { status: i % 3 === 0 ? 'available' : 'received' }));
        const others = Array.from({ length: 40 }, (_, i) => transferRecord(1000 + i, { sender: 'hk-ctc' }));
        await saveAll([...mine, ...others]);
        const pages: TransferRecord[][] = [];
        let after: string | undefined;
        do {
          const page = await store.list({ party: 'sz-hospital', as: 'sender', limit: 7, ...(after === undefined ? {} : { after }) });
          pages.push(page.records);
          if (page.next !== undefined) expect(page.next).toBe(page.records.at(-1)?.id);
          after = page.next;
        } while (after !== undefined && pages.length <= 40);
        expect(pages).toHaveLength(36); // 35 full pages and 5 on the last
        expect(pages.slice(0, 35).every((page) => page.length === 7)).toBe(true);
        expect(pages.at(-1)).toHaveLength(5);
        expect(idsOf(pages.flat())).toEqual(idsOf([...mine].reverse()));
      });

      it('page a status filter by cursor too', async () => {
        const mine = Array.from({ length: 30 }, (_, i) => transferRecord(i, { status: i % 3 === 0 ? 'available' : 'received' }));
        await saveAll(mine);
        const available = idsOf(mine.filter((record) => record.status === 'available').reverse());
        const first = await store.list({ party: 'sz-hospital', as: 'sender', status: 'available', limit: 4 });
        const second = await store.list({ party: 'sz-hospital', as: 'sender', status: 'available', limit: 4, after: first.next as string });
        const third = await store.list({ party: 'sz-hospital', as: 'sender', status: 'available', limit: 4, after: second.next as string });
        expect([idsOf(first.records), idsOf(second.records), idsOf(third.records)]).toEqual([available.slice(0, 4), available.slice(4, 8), available.slice(8)]);
        expect(third.next).toBeUndefined();
      });

      it('a last page that is exactly full has no cursor: no empty page follows', async () => {
        const mine = Array.from({ length: 14 }, (_, i) => transferRecord(i));
        await saveAll(mine);
        const first = await store.list({ party: 'sz-hospital', as: 'sender', limit: 7 });
        expect(first.next).toBeDefined();
        const second = await store.list({ party: 'sz-hospital', as: 'sender', limit: 7, after: first.next as string });
        expect(second.records).toHaveLength(7);
        expect(second.next).toBeUndefined();
      });

      it('the cursor is a position, not an offset: records saved while paging neither repeat nor shift a page', async () => {
        const mine = await saveAll(Array.from({ length: 20 }, (_, i) => transferRecord(i)));
        const first = await store.list({ party: 'sz-hospital', as: 'sender', limit: 6 });
        await saveAll(Array.from({ length: 5 }, (_, i) => transferRecord(100 + i))); // newer than every page
        await store.save(moved(mine[0] as TransferRecord, 'uploading')); // a replacement keeps its place
        const rest: TransferRecord[] = [];
        let after = first.next;
        while (after !== undefined) {
          const page = await store.list({ party: 'sz-hospital', as: 'sender', limit: 6, after });
          rest.push(...page.records);
          after = page.next;
        }
        expect(idsOf([...first.records, ...rest])).toEqual(idsOf([...mine].reverse()));
      });
    });

    describe('sweeps', () => {
      const fixture = () => ({
        authorizedOld: transferRecord(1, { status: 'authorized', retentionDays: 1 }),
        queued: transferRecord(2, { status: 'queued', pendingStages: ['inspect'] }),
        availableOld: transferRecord(3, { status: 'available', retentionDays: 2 }),
        delivering: transferRecord(4, { status: 'available', pendingStages: ['deliver'], retentionDays: 30 }),
        stagesDone: transferRecord(5, { status: 'available', pendingStages: [], retentionDays: 3 }),
        received: transferRecord(6, { status: 'received', retentionDays: 90 }),
      });
      type Fixture = ReturnType<typeof fixture>;
      const selected = async (selection: Parameters<RecordStore['select']>[0]): Promise<string[]> => idsOf(await collect(store.select(selection)));
      const named = (records: Fixture, ...names: (keyof Fixture)[]): string[] => names.map((name) => records[name].id);

      it('select by statuses, oldest first', async () => {
        const records = fixture();
        await saveAll(Object.values(records));
        expect(await selected({ statuses: ['available', 'queued'] })).toEqual(named(records, 'queued', 'availableOld', 'delivering', 'stagesDone'));
        expect(await selected({ statuses: ['received'] })).toEqual(named(records, 'received'));
        expect(await selected({ statuses: ['expired'] })).toEqual([]);
        expect(await selected({})).toEqual(named(records, 'authorizedOld', 'queued', 'availableOld', 'delivering', 'stagesDone', 'received'));
      });

      it('select by the end of retention, inclusive', async () => {
        const records = fixture();
        await saveAll(Object.values(records));
        expect(await selected({ retentionEndsBy: records.availableOld.retentionUntil })).toEqual(named(records, 'authorizedOld', 'availableOld'));
        const justBefore = new Date(Date.parse(records.availableOld.retentionUntil) - 1).toISOString();
        expect(await selected({ retentionEndsBy: justBefore })).toEqual(named(records, 'authorizedOld'));
        expect(await selected({ retentionEndsBy: '2025-01-01T00:00:00.000Z' })).toEqual([]);
      });

      it('select the records with stages still to run (an empty list is none)', async () => {
        const records = fixture();
        await saveAll(Object.values(records));
        expect(await selected({ withPendingStages: true })).toEqual(named(records, 'queued', 'delivering'));
      });

      it('every given filter applies', async () => {
        const records = fixture();
        await saveAll(Object.values(records));
        const byRetention = records.stagesDone.retentionUntil;
        expect(await selected({ statuses: ['available'], retentionEndsBy: byRetention })).toEqual(named(records, 'availableOld', 'stagesDone'));
        expect(await selected({ statuses: ['available'], withPendingStages: true })).toEqual(named(records, 'delivering'));
        expect(await selected({ statuses: ['available', 'authorized'], retentionEndsBy: byRetention, withPendingStages: true })).toEqual([]);
      });

      it('a sweep may save what it visits, and new records, while it iterates: each selected record is visited once', async () => {
        const queued = Array.from({ length: 30 }, (_, i) => transferRecord(i, { status: 'queued', pendingStages: ['inspect'] }));
        await saveAll(queued);
        const visited: string[] = [];
        for await (const record of store.select({ statuses: ['queued'], withPendingStages: true })) {
          visited.push(record.id);
          // Stops matching as it is saved, as a recovery sweep moves each record on.
          await store.save(moved(record, 'processing', { pendingStages: [] }));
          if (visited.length % 10 === 0) await store.save(transferRecord(500 + visited.length, { status: 'queued', pendingStages: ['inspect'] }));
        }
        expect(visited.slice(0, 30)).toEqual(idsOf(queued));
        expect(new Set(visited).size).toBe(visited.length);
        expect(visited.length).toBeLessThanOrEqual(33); // records saved during the sweep may or may not be visited
        for (const record of queued) expect((await store.get(record.id))?.status).toBe('processing');
      });
    });

    describe('US persons carried by a pair', () => {
      const pair = { sender: 'sz-hospital', recipient: 'hk-uni-genomics' } as const;
      const minute = (n: number): string => new Date(START + n * 60_000).toISOString();
      const carried = (since: string): Promise<UsPersonCounts> => store.usPersonsCarried(pair.sender, pair.recipient, since);
      const aThousandEach = Object.fromEntries(US_PERSON_CATEGORIES.map((category) => [category, 1000]));

      it("sums each category over the pair's transfers created since an instant (inclusive), but cancelled and failed ones", async () => {
        await saveAll([
          carrying(transferRecord(100, pair), { genomic: 120, health: 120 }),
          carrying(transferRecord(150, { ...pair, status: 'available' }), { genomic: 30, biometric: 5, identifiers: 2 }),
          carrying(transferRecord(200, { ...pair, status: 'received' }), { genomic: 0, otherOmic: 7, geolocation: 1, financial: 4 }),
          carrying(transferRecord(210, { ...pair, status: 'expired' }), { health: 3 }),
          transferRecord(250, pair), // a manifest without `us`
          { ...transferRecord(260, pair), manifest: { ...transferRecord(260, pair).manifest, us: {} } as TransferRecord['manifest'] }, // `us` without counts
          // None of these counts: created before the instant, another sender, another recipient, the
          // reverse direction, cancelled, failed.
          carrying(transferRecord(99, pair), aThousandEach),
          carrying(transferRecord(120, { ...pair, sender: 'hk-ctc' }), aThousandEach),
          carrying(transferRecord(121, { ...pair, recipient: 'hk-ctc' }), aThousandEach),
          carrying(transferRecord(122, { sender: pair.recipient, recipient: pair.sender }), aThousandEach),
          carrying(transferRecord(123, { ...pair, status: 'cancelled' }), aThousandEach),
          carrying(transferRecord(124, { ...pair, status: 'failed' }), aThousandEach),
        ]);
        const sinceMinute100 = usPersons({ genomic: 150, otherOmic: 7, biometric: 5, geolocation: 1, health: 123, financial: 4, identifiers: 2 });
        expect(await carried(minute(100))).toEqual(sinceMinute100);
        expect(await carried('2025-03-01T17:40:00.000+08:00')).toEqual(sinceMinute100); // the same instant, another offset
        expect(await carried(new Date(Date.parse(minute(100)) + 1).toISOString())).toEqual(usPersons({ genomic: 30, otherOmic: 7, biometric: 5, geolocation: 1, health: 3, financial: 4, identifiers: 2 }));
        expect(await carried(minute(99))).toEqual(usPersons({ genomic: 1150, health: 1123, otherOmic: 1007, biometric: 1005, geolocation: 1001, financial: 1004, identifiers: 1002 }));
      });

      it('a record counts once whatever its revision, and no more once it is cancelled or failed', async () => {
        const created = await store.save(carrying(transferRecord(1, pair), { genomic: 10 }));
        const uploading = await store.save(moved(created, 'uploading'));
        const other = await store.save(carrying(transferRecord(2, { ...pair, status: 'uploading' }), { genomic: 5, health: 3 }));
        const available = await store.save(moved(uploading, 'available'));
        expect(await carried(minute(0))).toEqual(usPersons({ genomic: 15, health: 3 }));
        await store.save(moved(available, 'cancelled'));
        expect(await carried(minute(0))).toEqual(usPersons({ genomic: 5, health: 3 }));
        await store.save(moved(other, 'failed'));
        expect(await carried(minute(0))).toEqual(usPersons());
      });

      it('nothing carried: every category present, at 0', async () => {
        const none = await carried(minute(0));
        expect(none).toEqual(usPersons());
        expect(Object.keys(none).sort()).toEqual([...US_PERSON_CATEGORIES].sort());
        await saveAll([carrying(transferRecord(1, pair), { genomic: 10 }), transferRecord(200, pair), carrying(transferRecord(201, { ...pair, status: 'cancelled' }), { genomic: 10 })]);
        expect(await carried(minute(2))).toEqual(usPersons());
        expect(await store.usPersonsCarried('nobody', pair.recipient, minute(0))).toEqual(usPersons());
      });

      it('a store opened again sums the same', async () => {
        await saveAll([carrying(transferRecord(1, pair), { genomic: 10, financial: 2 }), carrying(transferRecord(2, pair), { genomic: 5 })]);
        store = await harness.reopen(store);
        expect(await carried(minute(0))).toEqual(usPersons({ genomic: 15, financial: 2 }));
      });
    });

    describe('pair locks', () => {
      const pair = { sender: 'sz-hospital', recipient: 'hk-uni-genomics' } as const;
      const locked = <T>(work: () => Promise<T>): Promise<T> => store.withPairLock(pair.sender, pair.recipient, work);

      it("the works for one pair never overlap, and each resolves to its own work's value", async () => {
        const log: string[] = [];
        const outcomes = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((name) => locked(loggedWork(log, name))));
        expect(outcomes).toEqual(['a', 'b', 'c', 'd', 'e']);
        expect(log).toHaveLength(10);
        expect(oneAfterAnother(log), log.join(', ')).toBe(true);
      });

      it('the works for other pairs (another recipient, another sender, the reverse direction) run meanwhile', async () => {
        let release = (): void => undefined;
        const held = new Promise<void>((resolve) => (release = resolve));
        const log: string[] = [];
        const holding = locked(async () => {
          log.push('held');
          await held;
          log.push('released');
        });
        try {
          const others = [
            [pair.sender, 'hk-ctc'],
            ['hk-ctc', pair.recipient],
            [pair.recipient, pair.sender],
          ].map(([sender, recipient]) => store.withPairLock(sender as string, recipient as string, async () => `${sender}→${recipient}`));
          expect(await within(10_000, Promise.all(others), 'the works for other pairs waited for the held pair')).toEqual([
            'sz-hospital→hk-ctc',
            'hk-ctc→hk-uni-genomics',
            'hk-uni-genomics→sz-hospital',
          ]);
          expect(log).not.toContain('released');
        } finally {
          release();
        }
        await holding;
        expect(log).toEqual(['held', 'released']);
      });

      it("a work that rejects passes its error out as it is, and the pair's next works still run", async () => {
        const refused = new Error('refused by the work');
        const log: string[] = [];
        const failing = locked(async () => {
          log.push('failing in');
          await sleep(20);
          log.push('failing out');
          throw refused;
        });
        const next = locked(loggedWork(log, 'next'));
        await expect(failing).rejects.toBe(refused);
        expect(await next).toBe('next');
        expect(await locked(loggedWork(log, 'after'))).toBe('after');
        expect(oneAfterAnother(log), log.join(', ')).toBe(true);
        expect(log).toHaveLength(6);
      });

      it('decisions that read the sum and save their record under the lock each see every record saved before', async () => {
        const since = new Date(START).toISOString();
        const decide = (i: number): Promise<number> =>
          locked(async () => {
            const { genomic } = await store.usPersonsCarried(pair.sender, pair.recipient, since);
            await sleep(5);
            await store.save(carrying(transferRecord(10 + i, pair), { genomic: 100 }));
            return genomic;
          });
        const seen = await Promise.all([0, 1, 2, 3, 4, 5].map(decide));
        expect([...seen].sort((a, b) => a - b)).toEqual([0, 100, 200, 300, 400, 500]);
        expect(await store.usPersonsCarried(pair.sender, pair.recipient, since)).toEqual(usPersons({ genomic: 600 }));
      });
    });
  });
}
