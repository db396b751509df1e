// The start-up scan split over worker threads must give exactly what one scan from the start gives:
// the same first problem (file, line, seq, reason), lengths, tree at every size and index. Each
// case is scanned three ways on a real file — in worker threads (forced on a small journal), in this
// thread, and by a plain line-by-line reference written here — and the results compared.
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEntryIndex } from '../../gateway/audit/entry-index.js';
import { hashLeaf } from '../../gateway/audit/merkle-hash.js';
import { createMerkleTree, hashSubtreeLevels, type MerkleTree } from '../../gateway/audit/merkle-tree.js';
import { scanCanonicalEntry } from '../../gateway/audit/scan-canonical-entry.js';
import { rangeStarts, scanJournalFile, type JournalProblem, type JournalScan } from '../../gateway/audit/scan-journal-file.js';
import { createThreadPool } from '../../gateway/threads/thread-pool.js';
import { appendMany, fakeClock, openJournal, tempDir, transferEvent } from './support.js';

const WORKERS = 3;
const PARALLEL = { workers: WORKERS, minBytesPerWorker: 1 };
/** 2600 entries: three seek samples (seqs 0, 1024, 2048), one in each range. */
const ENTRIES = 2600;

let dir: string;
let clean: Buffer;
const file = (): string => path.join(dir, 'journal.ndjson');

beforeAll(async () => {
  dir = await tempDir('hetao-parallel-');
  const { clock, advance } = fakeClock();
  const journal = await openJournal(path.join(dir, 'seed'), { clock });
  for (let i = 0; i < ENTRIES; i += 100) {
    await appendMany(journal, 100, i);
    advance(1000);
  }
  await journal.close();
  clean = await readFile(path.join(dir, 'seed', 'journal.ndjson'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What the scan did before it was split, line by line over the whole file in memory. */
async function referenceScan(journalFile: string): Promise<Omit<JournalScan, 'workerThreads'>> {
  const bytes = await readFile(journalFile).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? Buffer.alloc(0) : Promise.reject(error)));
  const tree = createMerkleTree();
  const index = createEntryIndex();
  let lastTime: string | undefined;
  let start = 0;
  let line = 0;
  for (let newline = bytes.indexOf(0x0a); newline !== -1; newline = bytes.indexOf(0x0a, start)) {
    line += 1;
    const scanned = scanCanonicalEntry(bytes, start, newline);
    let problem: JournalProblem | undefined;
    if (typeof scanned === 'string') problem = { file: 'journal.ndjson', line, reason: `not a canonical entry: ${scanned}` };
    else if (scanned.seq !== tree.size) problem = { file: 'journal.ndjson', line, reason: `seq ${scanned.seq} where ${tree.size} was expected (an entry was deleted, reordered or duplicated)`, seq: scanned.seq };
    else if (lastTime !== undefined && scanned.time < lastTime) problem = { file: 'journal.ndjson', line, reason: `time ${scanned.time} is before the previous entry's ${lastTime} (entries reordered?)`, seq: scanned.seq };
    if (problem || typeof scanned === 'string') return { tree, index, completeLength: start, fileLength: bytes.length, lastTime, problem };
    tree.append(hashLeaf(bytes.subarray(start, newline)));
    index.add(scanned.seq, start, scanned.time, scanned.subject);
    lastTime = scanned.time;
    start = newline + 1;
  }
  return { tree, index, completeLength: start, fileLength: bytes.length, lastTime };
}

function expectSameScan(actual: Omit<JournalScan, 'workerThreads'>, expected: Omit<JournalScan, 'workerThreads'>): void {
  expect(actual.problem).toEqual(expected.problem);
  expect([actual.completeLength, actual.fileLength, actual.lastTime]).toEqual([expected.completeLength, expected.fileLength, expected.lastTime]);
  const size = expected.tree.size;
  expect(actual.tree.size).toBe(size);
  for (let n = 0; n <= size; n += n < 70 ? 1 : 37) expect(actual.tree.rootHash(n).equals(expected.tree.rootHash(n)), `root of size ${n}`).toBe(true);
  expect(actual.tree.rootHash().equals(expected.tree.rootHash())).toBe(true);
  for (let i = 0; i < size; i += 1) expect(actual.tree.leafHash(i).equals(expected.tree.leafHash(i)), `leaf ${i}`).toBe(true);
  for (const i of [0, 1, Math.floor(size / 2), size - 1].filter((i) => i >= 0 && i < size)) {
    expect(actual.tree.inclusionProof(i, size)).toEqual(expected.tree.inclusionProof(i, size));
    expect(actual.tree.consistencyProof(i + 1, size)).toEqual(expected.tree.consistencyProof(i + 1, size));
  }
  for (let t = 0; t <= ENTRIES / 4 + 1; t += 1) expect(actual.index.seqsOf(`tr-${t}`), `tr-${t}`).toEqual(expected.index.seqsOf(`tr-${t}`));
  const times = [undefined, '2000-01-01T00:00:00.000Z', '2025-03-01T08:00:12.000Z', '2025-03-01T08:00:20.500Z', '2099-01-01T00:00:00.000Z'];
  for (const seq of [0, 1, 1023, 1024, 1500, 2047, 2048, 2599, 9999]) {
    for (const time of times) expect(actual.index.seekPoint(seq, time), `seekPoint(${seq}, ${time})`).toEqual(expected.index.seekPoint(seq, time));
  }
}

/** Scans the journal in worker threads and in this thread; both must equal the reference. */
async function expectAllScansAgree(workerThreads = WORKERS): Promise<JournalScan> {
  const reference = await referenceScan(file());
  const parallel = await scanJournalFile(file(), 'journal.ndjson', PARALLEL);
  expect(parallel.workerThreads).toBe(workerThreads);
  expectSameScan(parallel, reference);
  const inThread = await scanJournalFile(file(), 'journal.ndjson', { workers: 1 });
  expect(inThread.workerThreads).toBe(0);
  expectSameScan(inThread, reference);
  return parallel;
}

const linesOf = (bytes: Buffer): Buffer[] => {
  const lines: Buffer[] = [];
  for (let start = 0, newline = bytes.indexOf(0x0a); newline !== -1; start = newline + 1, newline = bytes.indexOf(0x0a, start)) lines.push(bytes.subarray(start, newline + 1));
  return lines;
};
const lineStarts = (lines: readonly Buffer[]): number[] => lines.map((_, i) => lines.slice(0, i).reduce((sum, line) => sum + line.length, 0));

/** Range starts as the scan computes them, from the written file. */
async function startsOf(journalFile: string): Promise<number[]> {
  const handle = await open(journalFile, 'r');
  try {
    return await rangeStarts(handle, (await handle.stat()).size, WORKERS);
  } finally {
    await handle.close();
  }
}

/** The first line start at or after size·k/parts, as rangeStarts does (checked against it on the file). */
const firstStartAfterCut = (starts: readonly number[], size: number, k: number): number => starts.find((start) => start >= Math.floor((k * size) / WORKERS)) ?? size;

/** The index of the first line of range `k` (1-based ranges) of the clean journal. */
async function firstLineOfRange(k: number): Promise<number> {
  await writeFile(file(), clean);
  const starts = await startsOf(file());
  return lineStarts(linesOf(clean)).indexOf(starts[k - 1] as number);
}

describe('parallel start-up scan', () => {
  it('a clean journal: the same tree, index and lengths; each range is in its own thread', async () => {
    await writeFile(file(), clean);
    expect(await startsOf(file())).toHaveLength(WORKERS);
    const scan = await expectAllScansAgree();
    expect(scan.problem).toBeUndefined();
    expect(scan.tree.size).toBe(ENTRIES);
  });

  it('a field edited in range 2 (still canonical): the same, changed, roots', async () => {
    const line = (await firstLineOfRange(2)) + 10;
    const lines = linesOf(clean).map((bytes, i) => (i === line ? Buffer.from(bytes.toString().replace('"genomic"', '"genomiX"').replace('"clinical"', '"clinicaX"')) : bytes));
    await writeFile(file(), Buffer.concat(lines));
    const scan = await expectAllScansAgree();
    expect(scan.problem).toBeUndefined();
    expect(scan.tree.rootHash().equals((await referenceScanOf(clean)).tree.rootHash())).toBe(false);
  });

  it('an entry deleted exactly at a range boundary: seq where expected, at the next range’s first line', async () => {
    const lines = linesOf(clean);
    const starts = lineStarts(lines);
    // An entry whose successor, once it is gone, starts range 2.
    const deleted = lines.findIndex((line, i) => i > 0 && firstStartAfterCut(starts.filter((_, j) => j !== i).map((start, j) => (j >= i ? start - line.length : start)), clean.length - line.length, 1) === starts[i]);
    expect(deleted).toBeGreaterThan(0);
    await writeFile(file(), Buffer.concat(lines.filter((_, i) => i !== deleted)));
    expect((await startsOf(file()))[1]).toBe(starts[deleted]);
    const scan = await expectAllScansAgree();
    expect(scan.problem).toEqual({ file: 'journal.ndjson', line: deleted + 1, seq: deleted + 1, reason: `seq ${deleted + 1} where ${deleted} was expected (an entry was deleted, reordered or duplicated)` });
    expect(scan.completeLength).toBe(starts[deleted]);
  });

  it('two entries swapped across a range boundary', async () => {
    const lines = linesOf(clean);
    const starts = lineStarts(lines);
    // Swap entries j and j + 1 so that, after the swap, entry j starts range 2.
    const j = lines.findIndex((line, i) => i + 1 < lines.length && firstStartAfterCut([...starts.slice(0, i + 1), (starts[i] as number) + (lines[i + 1] as Buffer).length, ...starts.slice(i + 2)], clean.length, 1) === (starts[i] as number) + (lines[i + 1] as Buffer).length);
    expect(j).toBeGreaterThan(0);
    await writeFile(file(), Buffer.concat(lines.map((line, i) => (i === j ? (lines[j + 1] as Buffer) : i === j + 1 ? (lines[j] as Buffer) : line))));
    const scan = await expectAllScansAgree();
    expect(scan.problem).toMatchObject({ line: j + 1, seq: j + 1, reason: expect.stringMatching(new RegExp(`^seq ${j + 1} where ${j} was expected`)) });
  });

  it('time going back across a range boundary: reported at the later range’s first line', async () => {
    const line = await firstLineOfRange(3);
    const lines = linesOf(clean).map((bytes, i) => (i === line ? Buffer.from(bytes.toString().replace(/"time":"[^"]+"/, '"time":"2000-01-01T00:00:00.000Z"')) : bytes));
    await writeFile(file(), Buffer.concat(lines));
    const scan = await expectAllScansAgree();
    expect(scan.problem).toMatchObject({ line: line + 1, seq: line, reason: expect.stringMatching(/^time 2000-01-01T00:00:00\.000Z is before the previous entry's 2025-/) });
  });

  it('a torn last line: the same complete and file lengths', async () => {
    await writeFile(file(), Buffer.concat([clean, Buffer.from('{"actor":{"id":"sz-hosp')]));
    const scan = await expectAllScansAgree();
    expect(scan.problem).toBeUndefined();
    expect([scan.completeLength, scan.fileLength]).toEqual([clean.length, clean.length + 23]);
  });

  it('a non-canonical line as the very first line of a later range', async () => {
    const line = await firstLineOfRange(3);
    const lines = linesOf(clean).map((bytes, i) => (i === line ? Buffer.concat([Buffer.from(' '), bytes.subarray(1)]) : bytes));
    await writeFile(file(), Buffer.concat(lines));
    const scan = await expectAllScansAgree();
    expect(scan.problem).toEqual({ file: 'journal.ndjson', line: line + 1, reason: 'not a canonical entry: not a JSON object' });
  });

  it('invalid UTF-8 inside range 2: the same problem, not a crash', async () => {
    const line = (await firstLineOfRange(2)) + 3;
    const lines = linesOf(clean).map((bytes, i) => (i === line ? Buffer.from(bytes).fill(0xff, 20, 21) : bytes));
    await writeFile(file(), Buffer.concat(lines));
    const scan = await expectAllScansAgree();
    expect(scan.problem).toEqual({ file: 'journal.ndjson', line: line + 1, reason: 'not a canonical entry: not valid UTF-8' });
  });

  it('an empty file, and no file at all', async () => {
    await writeFile(file(), '');
    await expectAllScansAgree(0);
    await rm(file());
    await expectAllScansAgree(0);
  });

  it('one entry, more workers than entries: one range', async () => {
    const [first] = linesOf(clean);
    await writeFile(file(), first as Buffer);
    await expectAllScansAgree(1);
    await writeFile(file(), Buffer.concat(linesOf(clean).slice(0, 2)));
    await expectAllScansAgree(2);
  });

  it('seq and time checks inside ranges are those of one scan (time back mid-range, a duplicate)', async () => {
    const line = (await firstLineOfRange(2)) + 5;
    const lines = linesOf(clean);
    const edited = lines.map((bytes, i) => (i === line ? Buffer.from(bytes.toString().replace(/"time":"[^"]+"/, '"time":"2001-01-01T00:00:00.000Z"')) : bytes));
    await writeFile(file(), Buffer.concat(edited));
    expect((await expectAllScansAgree()).problem).toMatchObject({ line: line + 1, seq: line });
    await writeFile(file(), Buffer.concat([...lines.slice(0, line + 1), lines[line] as Buffer, ...lines.slice(line + 1)]));
    expect((await expectAllScansAgree()).problem).toMatchObject({ line: line + 2, seq: line, reason: expect.stringMatching(new RegExp(`^seq ${line} where ${line + 1} was expected`)) });
  });
});

describe('a tree assembled from ranges hashed apart', () => {
  const leaves = Array.from({ length: 70 }, (_, i) => hashLeaf(Buffer.from(`entry ${i}`)));
  const oneByOne = createMerkleTree();
  for (const leaf of leaves) oneByOne.append(leaf);

  function expectSameTree(tree: MerkleTree, size: number): void {
    expect(tree.size).toBe(size);
    for (let n = 1; n <= size; n += 1) {
      expect(tree.rootHash(n).equals(oneByOne.rootHash(n)), `root of size ${n}`).toBe(true);
      for (const i of [0, n >> 1, n - 1]) expect(tree.inclusionProof(i, n)).toEqual(oneByOne.inclusionProof(i, n));
      expect(tree.consistencyProof(n >> 1, n)).toEqual(oneByOne.consistencyProof(n >> 1, n));
    }
  }

  it('appendLeaves of ranges cut anywhere, with or without their interior levels, then append, equals appending one by one', () => {
    for (const cuts of [[], [1], [2], [3, 4], [5, 13, 40], [8, 16, 32, 64], [7, 9, 31, 33, 63, 65], [65]]) {
      for (const precomputed of [true, false]) {
        const tree = createMerkleTree();
        const bounds = [0, ...cuts, 66];
        for (let k = 0; k + 1 < bounds.length; k += 1) {
          const [from, to] = [bounds[k] as number, bounds[k + 1] as number];
          const part = Buffer.concat(leaves.slice(from, to));
          tree.appendLeaves(precomputed ? hashSubtreeLevels(part, from) : [part]);
        }
        for (const leaf of leaves.slice(66)) tree.append(leaf);
        expectSameTree(tree, leaves.length);
      }
    }
  });

  it('hashSubtreeLevels holds exactly the aligned perfect subtrees within the range', () => {
    const levels = hashSubtreeLevels(Buffer.concat(leaves.slice(5, 40)), 5);
    // Level k covers the nodes [ceil(5 / 2^k), floor(40 / 2^k)).
    expect(levels.map((level) => level.length / 32)).toEqual([35, 17, 8, 4, 1]);
    const first = (k: number): Buffer => Buffer.from((levels[k] as Uint8Array).subarray(0, 32));
    expect([first(1), first(2), first(3), first(4)]).toEqual([subtreeRoot(6, 8), subtreeRoot(8, 12), subtreeRoot(8, 16), subtreeRoot(16, 32)]);
  });

  /** MTH(D[start : end]) of a perfect, aligned subtree, from a tree of just those leaves. */
  function subtreeRoot(start: number, end: number): Buffer {
    const tree = createMerkleTree();
    for (const leaf of leaves.slice(start, end)) tree.append(leaf);
    return tree.rootHash();
  }
});

describe('parallel start-up scan in the process\'s thread pool', () => {
  it('scans the ranges in the io lane (never more than it has threads) and leaves the pool open', async () => {
    await writeFile(file(), clean);
    const reference = await referenceScan(file());
    const threads = createThreadPool({ lanes: { io: { threads: 2 } } });
    try {
      const scan = await scanJournalFile(file(), 'journal.ndjson', { ...PARALLEL, threads });
      expect(scan.workerThreads).toBe(2); // WORKERS asked for, the lane has 2
      expectSameScan(scan, reference);
      const again = await scanJournalFile(file(), 'journal.ndjson', { ...PARALLEL, threads });
      expect(again.workerThreads).toBe(2);
      expectSameScan(again, reference);
    } finally {
      await threads.close();
    }
  });

  it('a range that fails in its thread fails the scan with the reason', async () => {
    await writeFile(file(), clean);
    const threads = createThreadPool({ lanes: { io: { threads: 3 } } });
    try {
      await threads.close(); // every range job is refused
      await expect(scanJournalFile(file(), 'journal.ndjson', { ...PARALLEL, threads })).rejects.toThrow('journal scan thread: the thread pool is closed');
    } finally {
      await threads.close();
    }
  });
});

describe('journal start-up with a parallel scan', () => {
  it('a journal reopened after the parallel scan appends where it left off (the tree adopted from workers keeps growing)', async () => {
    await writeFile(file(), clean);
    const scan = await scanJournalFile(file(), 'journal.ndjson', PARALLEL);
    const reference = await referenceScan(file());
    for (let i = 0; i < 5; i += 1) {
      const leaf = hashLeaf(Buffer.from(JSON.stringify(transferEvent(i))));
      scan.tree.append(leaf);
      reference.tree.append(leaf);
      expect(scan.tree.rootHash().equals(reference.tree.rootHash())).toBe(true);
      expect(scan.tree.consistencyProof(ENTRIES, scan.tree.size)).toEqual(reference.tree.consistencyProof(ENTRIES, reference.tree.size));
    }
  });
});

async function referenceScanOf(bytes: Buffer): Promise<Omit<JournalScan, 'workerThreads'>> {
  const other = path.join(dir, 'reference.ndjson');
  await writeFile(other, bytes);
  return referenceScan(other);
}
