// The audit journal port's contract: what every AuditJournal (gateway/audit/create-audit-journal.ts)
// does, run by test/ports/audit-journal.test.ts against each implementation. Appends get consecutive
// seqs and the leaf hash of the entry's canonical bytes, and are durable across a reopen; a checkpoint
// signs the current tree; inclusion and consistency proofs verify with verify-proof.ts against signed
// roots; a transfer's entries are found by subject; exports stream the selected entries and verify
// offline; a closed journal refuses appends with a clear error.
import { Readable } from 'node:stream';
import canonicalize from 'canonicalize';
import type { JSONWebKeySet } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../gateway/audit/audit-entry.js';
import { createCheckpointKeys, verifyCheckpointJws, type SignedCheckpoint } from '../../gateway/audit/checkpoint.js';
import type { AppendResult, AuditJournal } from '../../gateway/audit/create-audit-journal.js';
import type { AuditExportQuery } from '../../gateway/audit/export-range.js';
import { decodeHash, encodeHash, hashLeaf } from '../../gateway/audit/merkle-hash.js';
import { verifyExport, type ExportVerification } from '../../gateway/audit/verify-export.js';
import { verifyConsistency, verifyInclusion } from '../../gateway/audit/verify-proof.js';
import { collect, fakeClock, linesOf, transferEvent } from '../audit/support.js';

export interface AuditJournalUnderTest {
  /** An empty journal whose entries and checkpoints take their time from the clock given to open. */
  readonly journal: AuditJournal;
  /** The public keys its checkpoints and exports are signed with. */
  readonly jwks: JSONWebKeySet;
  /** Closes the journal given and opens another on the same entries (as after a restart). */
  reopen(journal: AuditJournal): Promise<AuditJournal>;
  /** Removes what the journals left behind (called once the last one is closed). */
  cleanup(): Promise<void>;
}

const hash = (base64: string): Buffer => {
  const bytes = decodeHash(base64);
  if (!bytes) throw new Error(`${base64} is not a base64 hash`);
  return bytes;
};

async function inclusionHolds(journal: AuditJournal, seq: number, checkpoint: Pick<SignedCheckpoint, 'treeSize' | 'rootHash'>): Promise<boolean> {
  const proof = await journal.proveInclusion(seq, checkpoint.treeSize);
  return verifyInclusion({ leafIndex: proof.leafIndex, treeSize: proof.treeSize, leafHash: hash(proof.leafHash), proof: proof.proof.map(hash), rootHash: hash(checkpoint.rootHash) });
}

async function consistencyHolds(journal: AuditJournal, from: Pick<SignedCheckpoint, 'treeSize' | 'rootHash'>, to: Pick<SignedCheckpoint, 'treeSize' | 'rootHash'>): Promise<boolean> {
  const proof = await journal.proveConsistency(from.treeSize, to.treeSize);
  return verifyConsistency({ fromSize: proof.fromSize, toSize: proof.toSize, fromRoot: hash(from.rootHash), toRoot: hash(to.rootHash), proof: proof.proof.map(hash) });
}

/** Appends events `first … first + count - 1` at once; the results in the order asked. */
const appendEvents = (journal: AuditJournal, count: number, first = 0): Promise<AppendResult[]> =>
  Promise.all(Array.from({ length: count }, (_, i) => journal.append(transferEvent(first + i))));

export function describeAuditJournalContract(name: string, open: (options: { clock: () => Date }) => Promise<AuditJournalUnderTest>): void {
  describe(`${name}: the audit journal contract`, () => {
    let harness: AuditJournalUnderTest;
    let journal: AuditJournal;
    let time: ReturnType<typeof fakeClock>;
    beforeEach(async () => {
      time = fakeClock();
      harness = await open({ clock: time.clock });
      journal = harness.journal;
    });
    afterEach(async () => {
      await journal.close();
      await harness.cleanup();
    });

    const exported = async (query?: AuditExportQuery): Promise<{ lines: string[]; entries: AuditEntry[] }> => {
      const lines = linesOf(await collect(journal.exportRange(query)));
      const entries = lines.map((line) => JSON.parse(line) as { kind: string; entry?: AuditEntry }).flatMap((line) => (line.kind === 'entry' && line.entry ? [line.entry] : []));
      return { lines, entries };
    };
    const verified = (lines: string[]): Promise<ExportVerification> => verifyExport(Readable.from([Buffer.from(`${lines.join('\n')}\n`)]), harness.jwks);

    describe('appending', () => {
      it('gives consecutive seqs from 0, to concurrent appends too, and the leaf hash of each entry’s canonical bytes', async () => {
        const first = await journal.append(transferEvent(0));
        const concurrent = await appendEvents(journal, 24, 1);
        const last = await journal.append(transferEvent(25));
        const results = [first, ...concurrent, last];
        expect(first.seq).toBe(0);
        expect(last.seq).toBe(25);
        expect(results.map((result) => result.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 26 }, (_, i) => i));
        const { entries } = await exported();
        expect(entries.map((entry) => entry.seq)).toEqual(Array.from({ length: 26 }, (_, i) => i));
        for (const result of results) {
          const entry = entries[result.seq] as AuditEntry;
          expect(result.leafHash).toBe(encodeHash(hashLeaf(Buffer.from(canonicalize(entry) as string))));
        }
        expect(new Set(results.map((result) => result.leafHash)).size).toBe(26);
      });

      it('keeps the event as given, with its seq and the clock’s time', async () => {
        await journal.append(transferEvent(0));
        time.advance(90_000);
        const { seq } = await journal.append(transferEvent(5));
        const { entries } = await exported();
        const { type, actor, subject, hashes, details } = transferEvent(5);
        expect(entries[seq]).toEqual({ seq: 1, time: '2025-03-01T08:01:30.000Z', type, actor, subject, hashes, details });
        expect(entries[0]?.time).toBe('2025-03-01T08:00:00.000Z');
      });

      it('refuses an event it cannot keep (over the entry size), without using up a seq', async () => {
        await expect(journal.append({ ...transferEvent(0), details: { text: 'x'.repeat(10_000) } })).rejects.toMatchObject({ code: 'ERR_AUDIT_EVENT_INVALID' });
        expect((await journal.append(transferEvent(1))).seq).toBe(0);
      });

      it('is durable across close and reopen: same entries, same root, the next seq follows', async () => {
        const before = await appendEvents(journal, 10);
        const checkpoint = await journal.checkpoint();
        if (!checkpoint) throw new Error('no checkpoint after 10 appends');
        const { entries: entriesBefore } = await exported();
        journal = await harness.reopen(journal);
        expect(journal.status()).toMatchObject({ state: 'ok', size: 10, checkpoint: { treeSize: 10, rootHash: checkpoint.rootHash } });
        expect((await journal.latestCheckpoint())?.rootHash).toBe(checkpoint.rootHash);
        for (const result of before) expect((await journal.proveInclusion(result.seq, 10)).leafHash).toBe(result.leafHash);
        expect(await inclusionHolds(journal, 3, checkpoint)).toBe(true);
        expect((await journal.append(transferEvent(10))).seq).toBe(10);
        expect(await journal.entriesFor('tr-2')).toEqual([8, 9, 10]);
        expect((await exported()).entries.slice(0, 10)).toEqual(entriesBefore);
      });

      it('close waits for appends in flight: each one resolved is there after a reopen', async () => {
        const appending = appendEvents(journal, 20);
        await journal.close();
        expect((await appending).map((result) => result.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
        journal = await harness.reopen(journal);
        expect(journal.status().size).toBe(20);
      });
    });

    describe('checkpoints and proofs', () => {
      it('a checkpoint signs the current tree; none before the first entry; no new one until the tree grows', async () => {
        expect(await journal.checkpoint()).toBeUndefined();
        await appendEvents(journal, 7);
        time.advance(1000);
        const first = await journal.checkpoint();
        if (!first) throw new Error('no checkpoint after 7 appends');
        expect(first).toMatchObject({ treeSize: 7, time: '2025-03-01T08:00:01.000Z' });
        const body = await verifyCheckpointJws(first.jws, createCheckpointKeys(harness.jwks));
        expect(body).toEqual({ origin: first.origin, treeSize: 7, rootHash: first.rootHash, time: first.time });
        expect(await journal.latestCheckpoint()).toEqual(first);
        expect(journal.status().checkpoint).toEqual({ treeSize: 7, rootHash: first.rootHash, time: first.time });
        expect(await journal.checkpoint()).toEqual(first);
        await journal.append(transferEvent(7));
        const second = await journal.checkpoint();
        expect(second?.treeSize).toBe(8);
        expect(second?.rootHash).not.toBe(first.rootHash);
      });

      it('proves every entry’s inclusion, and one tree a prefix of the next, against signed roots', async () => {
        await appendEvents(journal, 13);
        const small = await journal.checkpoint();
        await appendEvents(journal, 21, 13);
        const large = await journal.checkpoint();
        if (!small || !large) throw new Error('no checkpoints');
        for (let seq = 0; seq < 13; seq += 1) expect(await inclusionHolds(journal, seq, small)).toBe(true);
        for (let seq = 0; seq < 34; seq += 1) expect(await inclusionHolds(journal, seq, large)).toBe(true);
        expect(await inclusionHolds(journal, 5, { treeSize: 13, rootHash: large.rootHash })).toBe(false); // another tree's root
        expect(await consistencyHolds(journal, small, large)).toBe(true);
        expect(await consistencyHolds(journal, { treeSize: 13, rootHash: large.rootHash }, large)).toBe(false);
      });

      it('refuses proofs outside the tree', async () => {
        await appendEvents(journal, 5);
        const refused = expect.objectContaining({ code: 'ERR_AUDIT_RANGE_INVALID' });
        await expect(journal.proveInclusion(5, 5)).rejects.toThrow(refused);
        await expect(journal.proveInclusion(0, 6)).rejects.toThrow(refused);
        await expect(journal.proveInclusion(-1, 5)).rejects.toThrow(refused);
        await expect(journal.proveConsistency(4, 3)).rejects.toThrow(refused);
        await expect(journal.proveConsistency(2, 6)).rejects.toThrow(refused);
      });
    });

    describe('reading', () => {
      it('finds a transfer’s entries by subject, in seq order', async () => {
        await appendEvents(journal, 12);
        expect(await journal.entriesFor('tr-1')).toEqual([4, 5, 6, 7]);
        expect(await journal.entriesFor('tr-2')).toEqual([8, 9, 10, 11]);
        expect(await journal.entriesFor('tr-unknown')).toEqual([]);
      });

      it('exports every entry, signing a checkpoint for those not yet covered; the export verifies offline', async () => {
        await appendEvents(journal, 9);
        await journal.checkpoint();
        await appendEvents(journal, 4, 9);
        const { lines, entries } = await exported();
        expect(entries.map((entry) => entry.seq)).toEqual(Array.from({ length: 13 }, (_, i) => i));
        expect((await journal.latestCheckpoint())?.treeSize).toBe(13);
        expect(await verified(lines)).toMatchObject({ ok: true, entries: 13, lastCheckpoint: { treeSize: 13 } });
        const tampered = lines.map((line, i) => (i === 3 ? line.replace('"hk-uni-genomics"', '"hk-uni-genomicx"') : line)); // entry 1's actor
        expect(tampered[3]).not.toBe(lines[3]);
        expect((await verified(tampered)).ok).toBe(false);
      });

      it('exports a selection: seq range, time range, a predicate; each verifies', async () => {
        await appendEvents(journal, 5); // 08:00
        time.advance(60_000);
        await appendEvents(journal, 5, 5); // 08:01
        time.advance(60_000);
        await appendEvents(journal, 5, 10); // 08:02
        const seqs = (entries: AuditEntry[]): number[] => entries.map((entry) => entry.seq);
        const cases: [AuditExportQuery, number[]][] = [
          [{ fromSeq: 3, toSeq: 7 }, [3, 4, 5, 6, 7]],
          [{ fromSeq: 12 }, [12, 13, 14]],
          [{ fromTime: '2025-03-01T08:01:00.000Z', toTime: new Date('2025-03-01T08:02:00.000Z') }, [5, 6, 7, 8, 9]],
          [{ filter: (entry) => entry.actor.id === 'hk-uni-genomics' }, [1, 4, 7, 10, 13]],
          [{ fromSeq: 4, toTime: '2025-03-01T08:01:00.000Z' }, [4]],
        ];
        for (const [query, expected] of cases) {
          const { lines, entries } = await exported(query);
          expect(seqs(entries)).toEqual(expected);
          expect(await verified(lines)).toMatchObject({ ok: true, entries: expected.length });
        }
      });

      it('refuses an export of an impossible range before streaming anything', async () => {
        await appendEvents(journal, 3);
        expect(() => journal.exportRange({ fromSeq: 2, toSeq: 1 })).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_RANGE_INVALID' }));
        expect(() => journal.exportRange({ fromTime: 'yesterday' })).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_RANGE_INVALID' }));
      });

      it('reports its state, size and latest checkpoint', async () => {
        expect(journal.status()).toMatchObject({ state: 'ok', size: 0 });
        expect(journal.status().checkpoint).toBeUndefined();
        await appendEvents(journal, 4);
        const checkpoint = await journal.checkpoint();
        expect(journal.status()).toMatchObject({ state: 'ok', size: 4, checkpoint: { treeSize: 4, rootHash: checkpoint?.rootHash } });
      });
    });

    describe('closing', () => {
      it('refuses appends once closed, with a clear error; closing twice is harmless', async () => {
        await appendEvents(journal, 2);
        await journal.close();
        await journal.close();
        expect(journal.status().state).toBe('closed');
        await expect(journal.append(transferEvent(2))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE', message: expect.stringMatching(/closed/) });
      });

      it('signs a final checkpoint over what it holds when it closes', async () => {
        await appendEvents(journal, 6);
        await journal.close();
        expect((await journal.latestCheckpoint())?.treeSize).toBe(6);
        journal = await harness.reopen(journal);
        expect(journal.status().checkpoint?.treeSize).toBe(6);
      });
    });
  });
}
