// Audit journal benchmark (not a test), bounded in time (~30 s), each figure next to a baseline
// measured in the same run on the same bytes:
//   1. durable appends/s with group commit under BENCH_CONCURRENCY (64) concurrent appenders, vs the
//      same journal bytes appended directly on node:fs with one write + fdatasync per batch of the
//      same size (the I/O floor), and vs one write + fdatasync per entry (what group commit avoids);
//   2. start-up verification entries/s (canonical scan, seq/time checks, leaf hashes, Merkle root,
//      checkpoint roots, latest signature) over BENCH_ENTRIES (200 000) entries, vs SHA-256 of the
//      same bytes (one streaming hash; and one hash per entry line, the least a per-leaf check needs),
//      and the journal scan alone (scanJournalFile) with the number of worker threads it used;
//   3. export verification (verifyExport) entries/s over the first BENCH_EXPORT_ENTRIES (50 000), for scale.
// The journal lives in BENCH_DIR (default: a temp dir under os.tmpdir()) — put it on the disk you
// care about: on tmpfs fsync costs nothing. Run: npx tsc -p tsconfig.bench.json && node dist/bench/audit-journal.js
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AuditEvent } from '../gateway/audit/audit-entry.js';
import { createAuditJournal, JOURNAL_FILE, type AuditJournal } from '../gateway/audit/create-audit-journal.js';
import { hashLeaf } from '../gateway/audit/merkle-hash.js';
import { scanJournalFile } from '../gateway/audit/scan-journal-file.js';
import { verifyExport } from '../gateway/audit/verify-export.js';
import { PROJECT_ROOT } from '../gateway/config.js';
import { createGatewaySigner } from '../gateway/envelope/gateway-signer.js';
import { reportResult } from './support/report.js';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const APPEND_SECONDS = Number(process.env.BENCH_APPEND_SECONDS ?? 4);
const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 200_000);
const NAIVE_SECONDS = 2;
const EXPORT_ENTRIES = Number(process.env.BENCH_EXPORT_ENTRIES ?? 50_000);

const signer = createGatewaySigner(readFileSync(path.join(PROJECT_ROOT, 'certs-dev/gateway-signing.dev-only.key.pem'), 'utf8'));

function makeEvent(i: number): AuditEvent {
  return {
    type: 'transfer.state-changed',
    actor: { kind: 'institution', id: i % 2 === 0 ? 'sz-hospital' : 'hk-uni-genomics' },
    subject: `tr-${Math.floor(i / 5)}`,
    hashes: { manifest: createHash('sha256').update(String(i)).digest('hex'), plaintext: createHash('sha256').update(`p${i}`).digest('hex') },
    details: { from: 'uploading', to: 'available', category: 'genomic', direction: 'sz-to-hk', decisionId: `dec-${i}` },
  };
}
/** Made before any timing: the benchmark measures the journal, not building events. */
const EVENTS = Array.from({ length: 65_536 }, (_, i) => makeEvent(i));
const event = (i: number): AuditEvent => EVENTS[i % EVENTS.length] as AuditEvent;

const seconds = (started: bigint): number => Number(process.hrtime.bigint() - started) / 1e9;

/** CONCURRENCY loops appending until `until()` says stop; returns appends and seconds. */
async function appendConcurrently(journal: AuditJournal, until: (appended: number, elapsed: number) => boolean, first = 0): Promise<{ count: number; seconds: number }> {
  let next = first;
  let count = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (!until(count, seconds(started))) {
        await journal.append(event(next++));
        count += 1;
      }
    }),
  );
  return { count, seconds: seconds(started) };
}

async function appendBaseline(file: string, lines: Buffer[], batchSize: number, maxSeconds: number): Promise<{ count: number; seconds: number }> {
  const handle = await open(file, 'a');
  const started = process.hrtime.bigint();
  let count = 0;
  try {
    for (let i = 0; i < lines.length && seconds(started) < maxSeconds; i += batchSize) {
      const batch = Buffer.concat(lines.slice(i, i + batchSize));
      await handle.write(batch);
      await handle.datasync();
      count += Math.min(batchSize, lines.length - i);
    }
  } finally {
    await handle.close();
  }
  return { count, seconds: seconds(started) };
}

async function main(): Promise<void> {
  const dir = process.env.BENCH_DIR ? await mkdtemp(path.join(process.env.BENCH_DIR, 'hetao-bench-')) : await mkdtemp(path.join(tmpdir(), 'hetao-bench-'));
  const journalDir = path.join(dir, 'journal');
  try {
    // 1. Group commit.
    let journal = await createAuditJournal({ dir: journalDir, signer, checkpointIntervalMs: 0 });
    const grouped = await appendConcurrently(journal, (_count, elapsed) => elapsed >= APPEND_SECONDS);
    const commits = journal.status().commits;
    const averageBatch = commits.items / commits.flushes;
    const written = (await readFile(path.join(journalDir, JOURNAL_FILE))).toString('latin1').split('\n').slice(0, -1).map((line) => Buffer.from(`${line}\n`, 'latin1'));
    const batchBaseline = await appendBaseline(path.join(dir, 'baseline-batch.ndjson'), written, Math.max(1, Math.round(averageBatch)), APPEND_SECONDS * 2);
    const fullBatchBaseline = await appendBaseline(path.join(dir, 'baseline-64.ndjson'), written, CONCURRENCY, APPEND_SECONDS * 2);
    const naive = await appendBaseline(path.join(dir, 'baseline-naive.ndjson'), written, 1, NAIVE_SECONDS);

    // 2. Start-up verification over ENTRIES entries (topped up with group commit, then a final checkpoint).
    const have = journal.status().size;
    if (have < ENTRIES) await appendConcurrently(journal, (count) => have + count >= ENTRIES, have);
    await journal.close();
    const journalBytes = await readFile(path.join(journalDir, JOURNAL_FILE));
    const entries = journalBytes.toString('latin1').split('\n').length - 1;
    let started = process.hrtime.bigint();
    journal = await createAuditJournal({ dir: journalDir, signer, checkpointIntervalMs: 0 });
    const openSeconds = seconds(started);
    if (journal.status().state !== 'ok' || journal.status().size !== entries) throw new Error(`reopen: ${JSON.stringify(journal.status())}`);
    started = process.hrtime.bigint();
    const scan = await scanJournalFile(path.join(journalDir, JOURNAL_FILE));
    const scanSeconds = seconds(started);
    if (scan.problem || scan.tree.size !== entries) throw new Error(`scan: ${JSON.stringify(scan.problem)}`);

    started = process.hrtime.bigint();
    createHash('sha256').update(journalBytes).digest();
    const shaStream = seconds(started);
    started = process.hrtime.bigint();
    for (let start = 0, end = journalBytes.indexOf(0x0a); end !== -1; start = end + 1, end = journalBytes.indexOf(0x0a, start)) hashLeaf(journalBytes.subarray(start, end));
    const shaPerLine = seconds(started);

    // 3. Export and offline verification of everything.
    const exportFile = path.join(dir, 'export.ndjson');
    const out = await open(exportFile, 'w');
    for await (const chunk of journal.exportRange({ toSeq: EXPORT_ENTRIES - 1 })) await out.write(chunk as Buffer);
    await out.close();
    await journal.close();
    started = process.hrtime.bigint();
    const verification = await verifyExport((await open(exportFile)).createReadStream(), signer.publicJwks());
    const verifySeconds = seconds(started);
    if (!verification.ok) throw new Error(`export did not verify: ${JSON.stringify(verification.firstError)}`);

    const rate = (count: number, s: number): number => count / s;
    const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(12);
    const appendRate = rate(grouped.count, grouped.seconds);
    const verifyRate = rate(entries, openSeconds);
    const verifyMet = verifyRate >= 500_000 || verifyRate >= rate(entries, shaPerLine);
    const rows: [string, number, string][] = [
      [`group commit, ${CONCURRENCY} concurrent appenders (durable appends/s)`, appendRate, ''],
      [`  baseline: same bytes, write+fdatasync per batch of ${averageBatch.toFixed(1)} (its mean batch)`, rate(batchBaseline.count, batchBaseline.seconds), `${(appendRate / rate(batchBaseline.count, batchBaseline.seconds)).toFixed(2)}×`],
      [`  baseline: same bytes, write+fdatasync per batch of ${CONCURRENCY}`, rate(fullBatchBaseline.count, fullBatchBaseline.seconds), `${(appendRate / rate(fullBatchBaseline.count, fullBatchBaseline.seconds)).toFixed(2)}×`],
      ['  baseline: same bytes, write+fdatasync per entry (no grouping)', rate(naive.count, naive.seconds), `${(appendRate / rate(naive.count, naive.seconds)).toFixed(2)}×`],
      [`start-up check of ${entries} entries (entries/s)`, verifyRate, ''],
      [`  of it, the journal scan alone (run again, ${scan.workerThreads} worker threads)`, rate(entries, scanSeconds), `${(rate(entries, scanSeconds) / rate(entries, shaPerLine)).toFixed(2)}× per-line SHA`],
      ['  baseline: SHA-256 of the same bytes, one stream', rate(entries, shaStream), `${(verifyRate / rate(entries, shaStream)).toFixed(2)}×`],
      ['  baseline: SHA-256 of the same bytes, one leaf hash per line', rate(entries, shaPerLine), `${(verifyRate / rate(entries, shaPerLine)).toFixed(2)}×`],
      [`verifyExport of an export of ${verification.entries} entries (entries/s)`, rate(verification.entries, verifySeconds), `${(rate(verification.entries, verifySeconds) / rate(entries, shaPerLine)).toFixed(2)}× per-line SHA`],
    ];
    console.log(`audit journal, ${(journalBytes.length / entries).toFixed(0)} B/entry, Node ${process.version} ${process.arch}, dir ${dir} (${new Date().toISOString()})`);
    console.log(`group commit: ${grouped.count} appends in ${grouped.seconds.toFixed(2)} s, ${commits.flushes} flushes, largest batch ${commits.largestBatch}`);
    for (const [name, value, ratio] of rows) console.log(`${name.padEnd(86)} ${fmt(value)}  ${ratio}`);
    reportResult({
      area: 'audit (issue 5)',
      name: `durable appends/s, group commit, ${CONCURRENCY} appenders`,
      value: appendRate,
      unit: '/s',
      baseline: { name: `write+fdatasync per batch of ${averageBatch.toFixed(0)}`, value: rate(batchBaseline.count, batchBaseline.seconds) },
      target: { text: '≥ 20 000/s', met: appendRate >= 20_000 },
    });
    reportResult({
      area: 'audit (issue 15)',
      name: `start-up check of ${entries} entries`,
      value: verifyRate,
      unit: 'entries/s',
      baseline: { name: 'SHA-256 per line', value: rate(entries, shaPerLine) },
      // Issue 15: the absolute rate, or keeping pace with one leaf hash per line on this machine.
      target: { text: '≥ 500k entries/s or ≥ 1.0× SHA-256 per line', met: verifyMet },
    });
    console.log(`targets: ≥ 20 000 durable appends/s (${appendRate >= 20_000 ? 'met' : 'NOT met'}); ≥ 500 000 entries/s verified at start-up or ≥ 1.0× SHA-256 per line (${verifyMet ? 'met' : 'NOT met'}, ${(verifyRate / rate(entries, shaPerLine)).toFixed(2)}×)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
