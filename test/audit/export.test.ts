// Regulator exports: streamed, filtered, verifiable offline with only the JWKS — by verifyExport and
// by `hetao audit verify` as a child process — and every kind of tampering caught at its line.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import canonicalize from 'canonicalize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKPOINT_TYP } from '../../gateway/audit/checkpoint.js';
import { createCheckpointNoteSigner } from '../../gateway/audit/checkpoint-note.js';
import type { AuditJournal } from '../../gateway/audit/create-audit-journal.js';
import { createAuditCsvTransform } from '../../gateway/audit/render-audit-csv.js';
import { verifyExport, type ExportVerification } from '../../gateway/audit/verify-export.js';
import { createGatewaySigner } from '../../gateway/envelope/gateway-signer.js';
import { runHetao } from '../support/run-cli.js';
import { appendMany, collect, devSigner, fakeClock, linesOf, newEd25519Pem, openJournal, SIGNING_KEY_PEM, tempDir } from './support.js';

let dir: string;
let journal: AuditJournal;
let full: string[];
const jwks = devSigner().publicJwks();
const { clock, advance } = fakeClock();

/** An independent leaf-to-root check: SHA-256 recursion over the proof, from the RFC's definition. */
function independentRoot(index: number, size: number, entry: unknown, proof: string[]): string | undefined {
  const h = (...parts: Buffer[]): Buffer => parts.reduce((hash, p) => hash.update(p), createHash('sha256')).digest();
  const walk = (i: number, n: number, leaf: Buffer, path: Buffer[]): Buffer | undefined => {
    if (n === 1) return path.length === 0 ? leaf : undefined;
    const k = 2 ** Math.ceil(Math.log2(n) - 1);
    const last = path.at(-1);
    const inner = last && (i < k ? walk(i, k, leaf, path.slice(0, -1)) : walk(i - k, n - k, leaf, path.slice(0, -1)));
    return inner && last && (i < k ? h(Buffer.from([1]), inner, last) : h(Buffer.from([1]), last, inner));
  };
  return walk(index, size, h(Buffer.from([0]), Buffer.from(canonicalize(entry) as string)), proof.map((p) => Buffer.from(p, 'base64')))?.toString('base64');
}

const verifyLines = (lines: string[], keys = jwks): Promise<ExportVerification> => verifyExport(Readable.from([Buffer.from(`${lines.join('\n')}\n`)]), keys);
const parsed = (lines: string[]): Record<string, unknown>[] => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
const entryLineIndex = (lines: string[], seq: number): number => parsed(lines).findIndex((l) => l.kind === 'entry' && (l.entry as { seq: number }).seq === seq);

beforeAll(async () => {
  dir = await tempDir();
  const noteSigner = createCheckpointNoteSigner({ name: 'hetao-gateway.local/audit', privateKeyPem: SIGNING_KEY_PEM });
  journal = await openJournal(dir, { clock, noteSigner });
  for (let batch = 0; batch < 4; batch += 1) {
    await appendMany(journal, 25, batch * 25);
    advance(60_000);
    await journal.checkpoint();
  }
  await appendMany(journal, 7, 100); // not yet covered: the export must sign a checkpoint for them
  full = linesOf(await collect(journal.exportRange()));
});

afterAll(async () => {
  await journal.close();
  await rm(dir, { recursive: true, force: true });
});

describe('an export', () => {
  it('has a header, checkpoints, entries with proofs, and a signed manifest; it verifies', async () => {
    const lines = parsed(full);
    expect(lines[0]).toMatchObject({ kind: 'header', format: 'hetao-audit-export', version: 1, origin: 'hetao-gateway.local/audit', selection: { filtered: false } });
    expect(lines.filter((l) => l.kind === 'entry')).toHaveLength(107);
    expect(lines.filter((l) => l.kind === 'checkpoint')).toHaveLength(5);
    expect(lines.at(-1)).toMatchObject({ kind: 'manifest' });
    expect((await journal.latestCheckpoint())?.treeSize).toBe(107);
    expect(await verifyLines(full)).toEqual({ ok: true, entries: 107, checkpoints: 5, lastCheckpoint: expect.objectContaining({ treeSize: 107 }), cosignatures: [] });
  });

  it('proves each entry against the first checkpoint covering it, and the proof checks independently', () => {
    const body = (jws: unknown): { treeSize: number; rootHash: string } => JSON.parse(Buffer.from(String(jws).split('.')[1] as string, 'base64url').toString()) as { treeSize: number; rootHash: string };
    let checkpoint = { treeSize: 0, rootHash: '' };
    let previousSize = 0;
    for (const line of parsed(full)) {
      if (line.kind === 'checkpoint') {
        previousSize = checkpoint.treeSize;
        checkpoint = body(line.jws);
        expect(line.note).toMatch(/^hetao-gateway\.local\/audit\n\d+\n/);
      }
      if (line.kind !== 'entry') continue;
      const seq = line.leafIndex as number;
      expect(line.treeSize).toBe(checkpoint.treeSize);
      expect(seq >= previousSize && seq < checkpoint.treeSize).toBe(true);
      expect(independentRoot(seq, checkpoint.treeSize, line.entry, line.proof as string[])).toBe(checkpoint.rootHash);
    }
  });

  it('a filtered range (one institution, seqs 10–80) verifies, with only the checkpoints it needs', async () => {
    const lines = linesOf(await collect(journal.exportRange({ fromSeq: 10, toSeq: 80, filter: (e) => e.actor.id === 'hk-uni-genomics' })));
    const entries = parsed(lines).filter((l) => l.kind === 'entry').map((l) => (l.entry as { seq: number }).seq);
    expect(entries).toEqual(Array.from({ length: 81 }, (_, i) => i).filter((i) => i >= 10 && i % 3 === 1));
    expect(parsed(lines)[0]).toMatchObject({ selection: { fromSeq: 10, toSeq: 80, filtered: true } });
    const result = await verifyLines(lines);
    expect(result).toMatchObject({ ok: true, entries: entries.length, checkpoints: 5 });
  });

  it('a time range selects by entry time ([from, to)) and verifies', async () => {
    const all = parsed(full).filter((l) => l.kind === 'entry').map((l) => l.entry as { seq: number; time: string });
    const from = (all[30] as { time: string }).time;
    const to = (all[60] as { time: string }).time;
    const lines = linesOf(await collect(journal.exportRange({ fromTime: from, toTime: new Date(to) })));
    const seqs = parsed(lines).filter((l) => l.kind === 'entry').map((l) => (l.entry as { seq: number }).seq);
    expect(seqs).toEqual(all.filter((e) => e.time >= from && e.time < to).map((e) => e.seq));
    expect((await verifyLines(lines)).ok).toBe(true);
  });

  it('an empty selection still verifies (header, head checkpoint, manifest)', async () => {
    const lines = linesOf(await collect(journal.exportRange({ filter: () => false })));
    expect(parsed(lines).map((l) => l.kind)).toEqual(['header', 'checkpoint', 'manifest']);
    expect(await verifyLines(lines)).toMatchObject({ ok: true, entries: 0, checkpoints: 1 });
  });

  it('refuses a bad range before streaming', () => {
    expect(() => journal.exportRange({ fromSeq: 5, toSeq: 2 })).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_RANGE_INVALID' }));
    expect(() => journal.exportRange({ fromTime: 'yesterday' })).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_RANGE_INVALID' }));
  });

  it('renders its entries as CSV for spreadsheets, defusing formulas', async () => {
    const lines = linesOf(await collect(journal.exportRange({ toSeq: 3 })));
    const csvJournalDir = await tempDir();
    const other = await openJournal(csvJournalDir);
    await other.append({ type: 'note.added', actor: { kind: 'person', id: '=HYPERLINK("x")' }, details: { text: 'a, "quoted"\nline' } });
    const csv = (await collect(Readable.from([Buffer.from(`${lines.join('\n')}\n`)]).pipe(createAuditCsvTransform()))).toString();
    const injected = (await collect(other.exportRange().pipe(createAuditCsvTransform()))).toString();
    await other.close();
    await rm(csvJournalDir, { recursive: true, force: true });
    const rows = csv.split('\r\n');
    expect(rows[0]).toBe('seq,time,type,actor_kind,actor_id,subject,manifest_sha256,plaintext_sha256,envelope_sha256,details');
    expect(rows).toHaveLength(6); // header, 4 entries, final empty string
    expect(rows[1]).toMatch(/^0,2025-03-01T08:00:00\.000Z,transfer\.created,institution,sz-hospital,tr-0,0{64},,,"\{""category""/);
    expect(injected).toContain(`,person,"'=HYPERLINK(""x"")",,`);
    expect(injected).toContain('"{""text"":""a, \\""quoted\\""\\nline""}"');
  });
});

describe('verifyExport catches each kind of tampering at its line', () => {
  it('an edited field of an entry: at that entry, naming its seq', async () => {
    const i = entryLineIndex(full, 42);
    const lines = full.map((line, k) => (k === i ? line.replace('"state":"available"', '"state":"deleted"') : line));
    expect((await verifyLines(lines)).firstError).toEqual({ line: i + 1, seq: 42, reason: expect.stringMatching(/inclusion proof does not verify/) });
  });

  it('a deleted entry: the manifest no longer matches', async () => {
    const i = entryLineIndex(full, 42);
    const lines = full.filter((_, k) => k !== i);
    expect((await verifyLines(lines)).firstError).toEqual({ line: lines.length, reason: expect.stringMatching(/manifest signs \d+ lines .*lines were changed, added or removed/) });
  });

  it('two entries swapped: at the first out of order', async () => {
    const i = entryLineIndex(full, 42);
    const lines = full.map((line, k) => (k === i ? (full[i + 1] as string) : k === i + 1 ? (full[i] as string) : line));
    expect((await verifyLines(lines)).firstError).toEqual({ line: i + 2, seq: 42, reason: 'seq 42 does not follow seq 43: entries reordered or repeated' });
  });

  it('the tail cut off: the manifest is missing', async () => {
    expect((await verifyLines(full.slice(0, 60))).firstError).toEqual({ line: 61, reason: 'the export ends without its signed manifest (truncated)' });
    const cut = Buffer.from(`${full.join('\n')}\n`);
    expect((await verifyExport(Readable.from([cut.subarray(0, cut.length - 10)]), jwks)).firstError?.reason).toBe('the export ends inside a line (truncated)');
  });

  it('a checkpoint forged with another key: at the checkpoint', async () => {
    const i = parsed(full).findIndex((l) => l.kind === 'checkpoint');
    const line = parsed(full)[i] as { jws: string };
    const body = JSON.parse(Buffer.from(line.jws.split('.')[1] as string, 'base64url').toString()) as object;
    const forged = await createGatewaySigner(newEd25519Pem()).sign(body, { typ: CHECKPOINT_TYP });
    const lines = full.map((l, k) => (k === i ? (canonicalize({ ...JSON.parse(l), jws: forged }) as string) : l));
    expect((await verifyLines(lines)).firstError).toEqual({ line: i + 1, reason: expect.stringMatching(/checkpoint signature does not verify/) });
  });

  it('an old checkpoint replayed as covering newer entries: at the first entry it cannot cover', async () => {
    // An export of seqs 80–106 whose covering checkpoint (size 107) is swapped for the older one of size 50.
    const older = parsed(full).find((l) => l.kind === 'checkpoint' && (JSON.parse(Buffer.from(String(l.jws).split('.')[1] as string, 'base64url').toString()) as { treeSize: number }).treeSize === 50) as { jws: string; note?: string };
    const lines = linesOf(await collect(journal.exportRange({ fromSeq: 101 })));
    const c = parsed(lines).findIndex((l) => l.kind === 'checkpoint');
    const replayed = lines.map((l, k) => (k === c ? (canonicalize({ kind: 'checkpoint', jws: older.jws, note: older.note }) as string) : l));
    expect((await verifyLines(replayed)).firstError).toEqual({ line: c + 2, seq: 101, reason: 'the entry names tree size 107, the checkpoint before it is for 50' });
    // Rewriting the entry to name the old size does not help: the seq is beyond what that checkpoint covers.
    const renamed = replayed.map((l, k) => (k === c + 1 ? l.replace('"treeSize":107', '"treeSize":50') : l));
    expect((await verifyLines(renamed)).firstError).toEqual({ line: c + 2, seq: 101, reason: expect.stringMatching(/not covered by the checkpoint for tree size 50: an older checkpoint replayed/) });
  });

  it('a checkpoint dropped: at the first entry it covered; a consistency proof altered: at its checkpoint', async () => {
    const checkpoints = parsed(full).flatMap((l, k) => (l.kind === 'checkpoint' ? [k] : []));
    const second = checkpoints[1] as number;
    const dropped = full.filter((_, k) => k !== second);
    expect((await verifyLines(dropped)).firstError).toEqual({ line: second + 1, seq: 25, reason: 'the entry names tree size 50, the checkpoint before it is for 25' });

    const line = parsed(full)[second] as { consistency: { fromSize: number; proof: string[] } };
    const proof = [...line.consistency.proof];
    proof[0] = Buffer.alloc(32, 7).toString('base64');
    const altered = full.map((l, k) => (k === second ? (canonicalize({ ...line, consistency: { ...line.consistency, proof } }) as string) : l));
    expect((await verifyLines(altered)).firstError).toEqual({ line: second + 1, reason: 'the consistency proof from tree size 25 to 50 does not verify: the log was rewritten' });
  });

  it('a JWKS without the signing key: at the first checkpoint', async () => {
    const result = await verifyLines(full, createGatewaySigner(newEd25519Pem()).publicJwks());
    expect(result.firstError).toMatchObject({ line: 2, reason: expect.stringMatching(/checkpoint signature does not verify/) });
  });
});

describe('hetao audit verify', () => {
  let exportFile: string;
  let jwksFile: string;
  beforeAll(async () => {
    exportFile = path.join(dir, 'export.ndjson');
    jwksFile = path.join(dir, 'jwks.json');
    await pipeline(journal.exportRange({ toSeq: 60 }), createWriteStream(exportFile));
    // The JWKS a regulator holds after a rotation: the new key first, the old one still listed.
    await writeFile(jwksFile, JSON.stringify(createGatewaySigner(newEd25519Pem(), { previousPublicKeys: [SIGNING_KEY_PEM] }).publicJwks()));
  });

  it('exits 0 and summarises a good export', async () => {
    const result = await runHetao(['audit', 'verify', exportFile, '--jwks', jwksFile]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ok: 61 entries and \d+ checkpoints verified\nlatest checkpoint: hetao-gateway\.local\/audit tree size 107 root \S+ at \S+\n$/);
  });

  it('exits 1 naming the first bad line and seq of a tampered export', async () => {
    const lines = linesOf(await readFile(exportFile));
    const i = entryLineIndex(lines, 17);
    const tampered = path.join(dir, 'tampered.ndjson');
    await writeFile(tampered, `${lines.map((l, k) => (k === i ? l.replace('"tr-4"', '"tr-5"') : l)).join('\n')}\n`);
    const result = await runHetao(['audit', 'verify', tampered, '--jwks', jwksFile]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(`ERR_AUDIT_EXPORT_INVALID: line ${i + 1} (seq 17): the entry's inclusion proof does not verify against the checkpoint for tree size 25: the entry was changed`);
  });

  const forgedJws = async (jws: string): Promise<string> =>
    createGatewaySigner(newEd25519Pem()).sign(JSON.parse(Buffer.from(jws.split('.')[1] as string, 'base64url').toString()) as object, { typ: CHECKPOINT_TYP });
  it.each([
    ['an entry deleted', (lines: string[]) => lines.filter((_, k) => k !== entryLineIndex(lines, 30)), /^line \d+: the manifest signs/],
    ['two entries swapped', (lines: string[]) => { const i = entryLineIndex(lines, 30); return lines.map((l, k) => (k === i ? (lines[i + 1] as string) : k === i + 1 ? (lines[i] as string) : l)); }, /^line \d+ \(seq 30\): seq 30 does not follow seq 31/],
    ['the tail cut off', (lines: string[]) => lines.slice(0, 40), /^line 41: the export ends without its signed manifest/],
    ['a checkpoint forged with another key', async (lines: string[]) => { const line = JSON.parse(lines[1] as string) as { jws: string }; return [lines[0] as string, canonicalize({ ...line, jws: await forgedJws(line.jws) }) as string, ...lines.slice(2)]; }, /^line 2: the checkpoint signature does not verify/],
    ['an old checkpoint replayed', (lines: string[]) => { const checkpoints = lines.flatMap((l, k) => (l.includes('"kind":"checkpoint"') ? [k] : [])); const [a, b] = checkpoints as [number, number]; return lines.map((l, k) => (k === b ? (lines[a] as string).replace(/,"consistency":\{[^}]*\}/, '') : l)); }, /^line \d+: the checkpoint for tree size 25 is not newer than the previous one \(25\): replayed/],
  ])('exits 1 on %s, naming the line', async (_what, tamper, message) => {
    const tampered = path.join(dir, 'tampered-more.ndjson');
    await writeFile(tampered, `${(await tamper(linesOf(await readFile(exportFile)))).join('\n')}\n`);
    const result = await runHetao(['audit', 'verify', tampered, '--jwks', jwksFile]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().replace(/^ERR_AUDIT_EXPORT_INVALID: /, '')).toMatch(message);
  });

  it('exits 2 with usage when --jwks is missing, 1 when a file is unreadable', async () => {
    expect((await runHetao(['audit', 'verify', exportFile])).code).toBe(2);
    const missing = await runHetao(['audit', 'verify', path.join(dir, 'nope.ndjson'), '--jwks', jwksFile]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ERR_REQUEST_INVALID: cannot read the export .*ENOENT/);
  });
});
