// The start-up check of journal.ndjson: every complete line must be a canonical entry whose seq is
// the next one and whose time does not go back; each becomes a leaf of the rebuilt Merkle tree. Bytes
// after the last '\n' are a write torn by a crash (never acknowledged: an append resolves only after
// its whole line, newline included, was fsynced) and are reported for truncation. Anything wrong
// before that is corruption, and the scan stops there.
//
// A large journal is cut at line starts into one byte range per thread (scan-journal-range, run as
// jobs in the io lane of the thread pool by scan-journal-thread); the ranges are then joined here in
// file order, checking each range's first entry against the entries before it, so the result — the
// first problem, tree, index — is exactly that of one scan from the start. A small one is scanned in
// this thread as a single range.
import { open, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { createThreadPool, type ThreadPool } from '../threads/thread-pool.js';
import { createEntryIndex, type EntryIndex } from './entry-index.js';
import { createMerkleTree, type MerkleTree } from './merkle-tree.js';
import { scanJournalRange, seqProblem, timeProblem, type RangeScan } from './scan-journal-range.js';
import type { RangeRequest } from './scan-journal-thread.js';

export interface JournalProblem {
  readonly file: string;
  /** 1-based line number in that file. */
  readonly line?: number;
  readonly seq?: number;
  readonly reason: string;
}

export interface JournalScan {
  readonly tree: MerkleTree;
  readonly index: EntryIndex;
  /** Bytes up to and including the last complete line. */
  readonly completeLength: number;
  readonly fileLength: number;
  /** Time of the last entry. */
  readonly lastTime: string | undefined;
  readonly problem?: JournalProblem;
  /** Ranges the scan ran in threads, one per thread (0: it ran in this thread). */
  readonly workerThreads: number;
}

export interface ScanOptions {
  /**
   * The process's pool, whose io lane scans the ranges; without one a large journal is scanned in a
   * pool made for the scan and closed after it.
   */
  readonly threads?: ThreadPool<'io'>;
  /** Threads for a large journal (default: the available parallelism, at most 4; never more than the io lane has). */
  readonly workers?: number;
  /** Fewer bytes than this per thread and the scan runs in this thread (default 16 MiB). */
  readonly minBytesPerWorker?: number;
}

const MAX_DEFAULT_WORKERS = 4;
const RANGE_SCAN = new URL('./scan-journal-thread.js', import.meta.url);
/**
 * Each thread costs ~20 ms to start and ~60 ms of CPU while V8 optimises the scan again for it; on
 * 2 cores the parallel scan only wins from ~32 MiB (measured with bench/audit-journal's entries).
 */
const MIN_BYTES_PER_WORKER = 16 * 1024 * 1024;
/** Read size when looking for the line start nearest a cut. */
const PROBE_BYTES = 64 * 1024;

/** Reads `file` (absent = empty) and rebuilds tree and index, stopping at the first problem. */
export async function scanJournalFile(file: string, fileLabel = 'journal.ndjson', options: ScanOptions = {}): Promise<JournalScan> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { tree: createMerkleTree(), index: createEntryIndex(), completeLength: 0, fileLength: 0, lastTime: undefined, workerThreads: 0 };
    throw error;
  }
  let ownThreads: ThreadPool<'io'> | undefined;
  try {
    const { size } = await handle.stat();
    const wanted = Math.min(
      options.workers ?? Math.min(availableParallelism(), MAX_DEFAULT_WORKERS),
      options.threads?.threads('io') ?? Infinity,
      Math.floor(size / (options.minBytesPerWorker ?? MIN_BYTES_PER_WORKER)),
    );
    if (wanted < 2) return await joinRanges([0], [scanJournalRange(handle, 0, Infinity)], fileLabel, handle, 0);
    const threads = options.threads ?? (ownThreads = createThreadPool({ lanes: { io: { threads: wanted } } }));
    const starts = await rangeStarts(handle, size, wanted);
    const scans = starts.map((start, i) => scanRange(threads, { file, start, end: starts[i + 1] ?? Infinity }));
    return await joinRanges(starts, scans, fileLabel, handle, starts.length);
  } finally {
    // Ranges still running are past a problem (or an error): their results are not needed.
    await ownThreads?.close();
    await handle.close();
  }
}

function scanRange(threads: ThreadPool<'io'>, request: RangeRequest): Promise<RangeScan> {
  const scan = threads.run<RangeScan>('io', RANGE_SCAN, request).catch((error: Error) => {
    throw Object.assign(new Error(`journal scan thread: ${error.message}`), 'code' in error ? { code: error.code } : {});
  });
  // Results are awaited in file order and the join may stop early: a failure nobody awaits is not unhandled.
  scan.catch(() => undefined);
  return scan;
}

/**
 * Where the ranges of a parallel scan start: 0, then the first line start at or after each of the
 * parts - 1 evenly spaced cuts (fewer ranges when lines are longer than a part).
 */
export async function rangeStarts(handle: FileHandle, size: number, parts: number): Promise<number[]> {
  const starts = [0];
  const probe = Buffer.allocUnsafe(PROBE_BYTES);
  for (let k = 1; k < parts; k += 1) {
    // A line starts at the cut if the byte before it is '\n'.
    let at = Math.max(Math.floor((k * size) / parts) - 1, starts[starts.length - 1] as number);
    let start = -1;
    while (start < 0 && at < size) {
      const { bytesRead } = await handle.read(probe, 0, PROBE_BYTES, at);
      if (bytesRead === 0) break;
      const newline = probe.subarray(0, bytesRead).indexOf(0x0a);
      if (newline >= 0) start = at + newline + 1;
      else at += bytesRead;
    }
    if (start < 0 || start >= size) break;
    if (start > (starts[starts.length - 1] as number)) starts.push(start);
  }
  return starts;
}

/** Joins range scans in file order into the scan of the whole file. */
async function joinRanges(starts: readonly number[], scans: readonly Promise<RangeScan>[], fileLabel: string, handle: FileHandle, workerThreads: number): Promise<JournalScan> {
  const tree = createMerkleTree();
  const index = createEntryIndex();
  let lastTime: string | undefined;
  const result = (completeLength: number, fileLength: number, problem?: JournalProblem): JournalScan => ({ tree, index, completeLength, fileLength, lastTime, ...(problem ? { problem } : {}), workerThreads });
  for (let k = 0; k < scans.length; k += 1) {
    const scan = await (scans[k] as Promise<RangeScan>);
    const start = starts[k] as number;
    const linesBefore = tree.size; // every line before this range is an entry
    // The range checked its entries against its first one; that one is checked here.
    if (scan.first !== undefined) {
      const { seq, time } = scan.first;
      const reason = seq !== tree.size ? seqProblem(seq, tree.size) : lastTime !== undefined && time < lastTime ? timeProblem(time, lastTime) : undefined;
      if (reason !== undefined) return result(start, (await handle.stat()).size, { file: fileLabel, line: linesBefore + 1, reason, seq });
      tree.appendLeaves(scan.levels);
      index.addPart(scan.index);
      lastTime = scan.lastTime;
    }
    if (scan.problem) {
      const { line, ...rest } = scan.problem;
      return result(scan.completeEnd, (await handle.stat()).size, { file: fileLabel, line: linesBefore + line, ...rest });
    }
    const last = k === scans.length - 1;
    if (last) return result(scan.completeEnd, scan.readEnd);
    // Ranges other than the last were cut after a newline; anything else means the file was being written.
    if (scan.readEnd !== scan.completeEnd || scan.completeEnd !== starts[k + 1]) throw new Error(`${fileLabel} changed while it was being checked`);
  }
  throw new Error('no range to join'); // unreachable: there is always at least one range
}

/** Cuts `file` back to `length` bytes, durably. */
export async function truncateFile(file: string, length: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.truncate(length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
