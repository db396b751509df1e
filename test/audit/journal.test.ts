// The journal on real files: durable group-committed appends, checkpoints, proofs, key rotation, and
// the start-up check — a torn last line is recovered, every other kind of tampering makes the
// journal refuse to append.
import { createPrivateKey } from 'node:crypto';
import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import canonicalize from 'canonicalize';
import { CompactSign, decodeProtectedHeader } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_TYP, createCheckpointKeys, verifyCheckpointJws } from '../../gateway/audit/checkpoint.js';
import { createCheckpointNoteSigner, verifyCheckpointNote } from '../../gateway/audit/checkpoint-note.js';
import type { AuditJournal } from '../../gateway/audit/create-audit-journal.js';
import { decodeHash } from '../../gateway/audit/merkle-hash.js';
import { verifyConsistency, verifyInclusion } from '../../gateway/audit/verify-proof.js';
import { createGatewaySigner } from '../../gateway/envelope/gateway-signer.js';
import { createThreadPool } from '../../gateway/threads/thread-pool.js';
import { createManualSchedule } from '../support/manual-schedule.js';
import { appendMany, devSigner, fakeClock, linesOf, newEd25519Pem, openJournal, SIGNING_KEY_PEM, tempDir, transferEvent } from './support.js';

let dir: string;
const journalFile = (): string => path.join(dir, 'journal.ndjson');
const checkpointsFile = (): string => path.join(dir, 'checkpoints.ndjson');
const open: AuditJournal[] = [];
async function journalIn(options: Parameters<typeof openJournal>[1] = {}): Promise<AuditJournal> {
  const journal = await openJournal(dir, options);
  open.push(journal);
  return journal;
}

beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  for (const journal of open.splice(0)) await journal.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

/** 30 entries under two checkpoints (sizes 20 and 30), then closed. */
async function seedJournal(): Promise<void> {
  const journal = await journalIn();
  await appendMany(journal, 20);
  await journal.checkpoint();
  await appendMany(journal, 10, 20);
  await journal.close();
}

async function rewriteLines(file: string, change: (lines: string[]) => string[]): Promise<void> {
  await writeFile(file, `${change(linesOf(await readFile(file))).join('\n')}\n`);
}

async function expectRefusal(problem: RegExp, where: { file: string; line?: number }): Promise<void> {
  const journal = await journalIn();
  const status = journal.status();
  expect(status.state).toBe('corrupt');
  expect(status.problem?.file).toBe(where.file);
  if (where.line !== undefined) expect(status.problem?.line).toBe(where.line);
  expect(status.problem?.reason).toMatch(problem);
  await expect(journal.append(transferEvent(99))).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
  expect(() => journal.exportRange()).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_CORRUPT' }));
  await expect(journal.proveInclusion(0, 1)).rejects.toThrow(expect.objectContaining({ code: 'ERR_AUDIT_CORRUPT' }));
}

describe('appending', () => {
  it('resolves only once the entry is in the file, as one canonical line', async () => {
    const journal = await journalIn();
    const { seq, leafHash } = await journal.append(transferEvent(0));
    expect(seq).toBe(0);
    expect(decodeHash(leafHash)).toBeDefined();
    const [line] = linesOf(await readFile(journalFile()));
    const entry = JSON.parse(line as string) as Record<string, unknown>;
    expect(canonicalize(entry)).toBe(line);
    expect(entry).toMatchObject({ seq: 0, type: 'transfer.created', actor: { kind: 'institution', id: 'sz-hospital' }, subject: 'tr-0' });
  });

  it('groups concurrent appends into few write+fsync batches, in seq order', async () => {
    const journal = await journalIn();
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => journal.append(transferEvent(i))));
    expect(results.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    const { commits, size } = journal.status();
    expect(size).toBe(300);
    expect(commits.items).toBe(300);
    expect(commits.flushes).toBeLessThan(20);
    expect(commits.largestBatch).toBeGreaterThan(1);
    const seqs = linesOf(await readFile(journalFile())).map((line) => (JSON.parse(line) as { seq: number }).seq);
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });

  it('keeps each transfer’s seqs', async () => {
    const journal = await journalIn();
    await appendMany(journal, 12);
    expect(await journal.entriesFor('tr-1')).toEqual([4, 5, 6, 7]);
    expect(await journal.entriesFor('tr-unknown')).toEqual([]);
  });

  it('refuses a malformed event without using up a seq', async () => {
    const journal = await journalIn();
    await expect(journal.append({ ...transferEvent(0), details: { dataset: 'x'.repeat(10_000) } })).rejects.toMatchObject({ code: 'ERR_AUDIT_EVENT_INVALID' });
    await expect(journal.append({ type: 'transfer.created', actor: { kind: 'robot', id: 'r' } } as never)).rejects.toMatchObject({ code: 'ERR_AUDIT_EVENT_INVALID' });
    expect((await journal.append(transferEvent(1))).seq).toBe(0);
  });

  it('never lets time go back, even when the clock does', async () => {
    const { clock, advance } = fakeClock();
    const journal = await journalIn({ clock });
    await journal.append(transferEvent(0));
    advance(-60_000);
    await journal.append(transferEvent(1));
    const times = linesOf(await readFile(journalFile())).map((line) => (JSON.parse(line) as { time: string }).time);
    expect(times[1]).toBe(times[0]);
  });

  it('refuses appends once closed, and closing twice is harmless', async () => {
    const journal = await journalIn();
    await journal.close();
    await journal.close();
    await expect(journal.append(transferEvent(0))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(journal.status().state).toBe('closed');
  });

  it("given the process's thread pool, appends and checkpoints through its io lane and leaves it open at close", async () => {
    const threads = createThreadPool({ lanes: { io: { threads: 1 } } });
    try {
      const first = await journalIn({ threads });
      await appendMany(first, 5);
      await first.close(); // signs a final checkpoint through the pool
      const second = await journalIn({ threads }); // the pool outlived the first journal
      expect(second.status()).toMatchObject({ state: 'ok', size: 5, checkpoint: { treeSize: 5 } });
      await appendMany(second, 3, 5);
      expect(linesOf(await readFile(journalFile()))).toHaveLength(8);
      // The appends need the pool: without it the journal fails closed, as after any failed write.
      await threads.close();
      await expect(second.append(transferEvent(8))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
      expect(second.status()).toMatchObject({ state: 'failed', size: 8 });
    } finally {
      await threads.close();
    }
  });
});

describe('checkpoints and proofs', () => {
  it('signs on each tick of its interval only when the tree grew, and at close', async () => {
    // Time is an input: the test ticks the interval itself (a wall-clock interval raced the appends
    // on a busy machine: a tick between two group commits signed twice).
    const schedule = createManualSchedule();
    const journal = await journalIn({ checkpointIntervalMs: 60_000, schedule });
    expect(schedule.intervals()).toEqual([60_000]);
    await schedule.tick();
    expect(await journal.latestCheckpoint()).toBeUndefined(); // nothing to sign yet
    await appendMany(journal, 5);
    await schedule.tick();
    expect(linesOf(await readFile(checkpointsFile()))).toHaveLength(1);
    await schedule.tick();
    await schedule.tick();
    expect(linesOf(await readFile(checkpointsFile()))).toHaveLength(1); // grew once; later ticks found nothing new
    await journal.append(transferEvent(5));
    await journal.close();
    expect(schedule.intervals()).toEqual([]); // closing stops the interval
    expect(linesOf(await readFile(checkpointsFile()))).toHaveLength(2);
    const body = await verifyCheckpointJws((JSON.parse(linesOf(await readFile(checkpointsFile()))[1] as string) as { jws: string }).jws, createCheckpointKeys(devSigner().publicJwks()));
    expect(body).toMatchObject({ origin: 'hetao-gateway.local/audit', treeSize: 6 });
  });

  it('runs no interval when checkpointIntervalMs is 0', async () => {
    const schedule = createManualSchedule();
    await journalIn({ checkpointIntervalMs: 0, schedule });
    expect(schedule.intervals()).toEqual([]);
  });

  it('proves inclusion and consistency against signed checkpoints', async () => {
    const journal = await journalIn();
    await appendMany(journal, 13);
    const first = await journal.checkpoint();
    await appendMany(journal, 21, 13);
    const second = await journal.checkpoint();
    if (!first || !second) throw new Error('no checkpoint');
    expect(await journal.latestCheckpoint()).toEqual(second);
    for (const seq of [0, 7, 12]) {
      const p = await journal.proveInclusion(seq, first.treeSize);
      expect(verifyInclusion({ leafIndex: p.leafIndex, treeSize: p.treeSize, leafHash: decodeHash(p.leafHash) as Buffer, proof: p.proof.map((h) => decodeHash(h) as Buffer), rootHash: decodeHash(first.rootHash) as Buffer })).toBe(true);
    }
    const c = await journal.proveConsistency(first.treeSize, second.treeSize);
    expect(verifyConsistency({ fromSize: c.fromSize, toSize: c.toSize, fromRoot: decodeHash(first.rootHash) as Buffer, toRoot: decodeHash(second.rootHash) as Buffer, proof: c.proof.map((h) => decodeHash(h) as Buffer) })).toBe(true);
    await expect(journal.proveInclusion(13, 13)).rejects.toThrow(expect.objectContaining({ code: 'ERR_AUDIT_RANGE_INVALID' }));
    await expect(journal.proveInclusion(0, 35)).rejects.toThrow(expect.objectContaining({ code: 'ERR_AUDIT_RANGE_INVALID' }));
    await expect(journal.proveConsistency(20, 10)).rejects.toThrow(expect.objectContaining({ code: 'ERR_AUDIT_RANGE_INVALID' }));
  });

  it('reopens where it left off: same root, next seq', async () => {
    await seedJournal();
    const journal = await journalIn();
    expect(journal.status()).toMatchObject({ state: 'ok', size: 30, checkpoint: { treeSize: 30 } });
    expect((await journal.append(transferEvent(30))).seq).toBe(30);
    expect(await journal.entriesFor('tr-7')).toEqual([28, 29, 30]);
  });

  it('writes the C2SP signed-note form beside the JWS when given a note signer', async () => {
    const noteSigner = createCheckpointNoteSigner({ name: 'hetao-gateway.local/audit', privateKeyPem: SIGNING_KEY_PEM });
    const journal = await journalIn({ noteSigner });
    await appendMany(journal, 3);
    const checkpoint = await journal.checkpoint();
    if (!checkpoint?.note) throw new Error('no note');
    expect(checkpoint.note).toMatch(/^hetao-gateway\.local\/audit\n3\n[A-Za-z0-9+/]{43}=\n\n— hetao-gateway\.local\/audit [A-Za-z0-9+/]+=*\n$/);
    expect(verifyCheckpointNote(checkpoint.note, checkpoint, devSigner().publicJwks())).toBeUndefined();
    expect(verifyCheckpointNote(checkpoint.note.replace('\n3\n', '\n4\n'), checkpoint, devSigner().publicJwks())).toMatch(/does not state/);
    expect(verifyCheckpointNote(checkpoint.note, checkpoint, createGatewaySigner(newEd25519Pem()).publicJwks())).toMatch(/no signature/);
    await journal.close();
    expect((await journalIn({ noteSigner })).status().state).toBe('ok'); // the note is checked at open too
  });

  it('after a key rotation, checkpoints of the previous key still verify with the JWKS listing both', async () => {
    await seedJournal(); // signed with the development key
    const rotated = createGatewaySigner(newEd25519Pem(), { previousPublicKeys: [SIGNING_KEY_PEM] });
    const journal = await journalIn({ signer: rotated });
    expect(journal.status().state).toBe('ok');
    await appendMany(journal, 5, 30);
    await journal.checkpoint();
    const keys = createCheckpointKeys(rotated.publicJwks());
    const jwsList = linesOf(await readFile(checkpointsFile())).map((line) => (JSON.parse(line) as { jws: string }).jws);
    expect(jwsList.map((jws) => decodeProtectedHeader(jws).kid)).toEqual([devSigner().kid, devSigner().kid, rotated.kid]);
    for (const jws of jwsList) expect(await verifyCheckpointJws(jws, keys)).toMatchObject({ origin: 'hetao-gateway.local/audit' });
    // Without the previous key listed, the old checkpoints no longer verify: the journal refuses.
    await journal.close();
    const forgetful = await journalIn({ signer: createGatewaySigner(newEd25519Pem()) });
    expect(forgetful.status()).toMatchObject({ state: 'corrupt', problem: { file: 'checkpoints.ndjson', line: 1 } });
  });
});

describe('start-up check', () => {
  it('recovers a torn last line (a crash mid-write) and carries on', async () => {
    await seedJournal();
    const whole = await readFile(journalFile());
    await appendFile(journalFile(), '{"actor":{"id":"sz-hosp');
    await appendFile(checkpointsFile(), '{"jws":"eyJhbGciOi');
    const recoveries: unknown[] = [];
    const journal = await journalIn({ onRecover: (r) => recoveries.push(r) });
    expect(journal.status().state).toBe('ok');
    expect(recoveries).toEqual([
      { file: 'checkpoints.ndjson', truncatedBytes: 18, kept: 2 },
      { file: 'journal.ndjson', truncatedBytes: 23, kept: 30 },
    ]);
    expect((await readFile(journalFile())).equals(whole)).toBe(true);
    expect((await journal.append(transferEvent(30))).seq).toBe(30);
  });

  it('an edited field under a checkpoint: refuses, naming the checkpoint whose root no longer matches', async () => {
    await seedJournal();
    await rewriteLines(journalFile(), (lines) => lines.map((line, i) => (i === 5 ? line.replace('"sz-bgi-lab"', '"sz-bgi-lax"') : line)));
    await expectRefusal(/do not match the signed root for tree size 20/, { file: 'checkpoints.ndjson', line: 1 });
  });

  it('an edit that breaks the canonical form: refuses at that line', async () => {
    await seedJournal();
    await rewriteLines(journalFile(), (lines) => lines.map((line, i) => (i === 25 ? line.replace('"seq":25', '"seq": 25') : line)));
    await expectRefusal(/not a canonical entry/, { file: 'journal.ndjson', line: 26 });
  });

  it('a deleted entry: refuses at the gap', async () => {
    await seedJournal();
    await rewriteLines(journalFile(), (lines) => lines.filter((_, i) => i !== 7));
    await expectRefusal(/seq 8 where 7 was expected/, { file: 'journal.ndjson', line: 8 });
  });

  it('two entries swapped: refuses at the first', async () => {
    await seedJournal();
    await rewriteLines(journalFile(), (lines) => lines.map((line, i) => (i === 3 ? (lines[4] as string) : i === 4 ? (lines[3] as string) : line)));
    await expectRefusal(/seq 4 where 3 was expected/, { file: 'journal.ndjson', line: 4 });
  });

  it('the tail cut off after a checkpoint covered it: refuses', async () => {
    await seedJournal();
    await rewriteLines(journalFile(), (lines) => lines.slice(0, 26));
    await expectRefusal(/covers 30 entries, the journal has 26 \(entries were removed from its end\)/, { file: 'checkpoints.ndjson', line: 2 });
  });

  it('a checkpoint forged with another key: refuses (unknown kid, or a signature that fails)', async () => {
    await seedJournal();
    const lines = linesOf(await readFile(checkpointsFile()));
    const genuine = JSON.parse(lines[1] as string) as { jws: string };
    const body = JSON.parse(Buffer.from(genuine.jws.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;
    const forger = createGatewaySigner(newEd25519Pem());
    const forged = await forger.sign({ ...body, time: '2099-01-01T00:00:00.000Z' }, { typ: CHECKPOINT_TYP });
    await appendFile(checkpointsFile(), `${canonicalize({ jws: forged })}\n`);
    await expectRefusal(/not list \(forged\?\)/, { file: 'checkpoints.ndjson', line: 3 });

    // In place of the genuine latest one, claiming the gateway's kid: caught by the signature check.
    const impostor = await new CompactSign(Buffer.from(canonicalize(body) as string))
      .setProtectedHeader({ alg: 'EdDSA', kid: devSigner().kid, typ: CHECKPOINT_TYP })
      .sign(createPrivateKey(newEd25519Pem()));
    await rewriteLines(checkpointsFile(), (all) => [all[0] as string, canonicalize({ jws: impostor }) as string]);
    await expectRefusal(/latest checkpoint: the checkpoint signature does not verify/, { file: 'checkpoints.ndjson', line: 2 });
  });

  it('an old checkpoint replayed as the latest: refuses', async () => {
    await seedJournal();
    const [first] = linesOf(await readFile(checkpointsFile()));
    await appendFile(checkpointsFile(), `${first as string}\n`);
    await expectRefusal(/tree size 20 follows one for 30 \(an old checkpoint replayed\?\)/, { file: 'checkpoints.ndjson', line: 3 });
  });

  it('a checkpoint of another log: refuses', async () => {
    await seedJournal();
    const journal = await journalIn({ origin: 'another.example/log' });
    expect(journal.status().problem?.reason).toMatch(/origin hetao-gateway\.local\/audit, this journal is another\.example\/log/);
  });
});
