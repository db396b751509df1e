// One byte range of journal.ndjson, checked as scan-journal-file describes: the same function runs in
// the gateway's thread for a small journal and in each worker thread for a large one. A range starts
// at a line start; it cannot know how many entries come before it, so it takes its first entry's seq
// and time as they are (the caller checks them against the range before) and checks every later
// entry against that one. It hashes its leaves and every Merkle node lying wholly within them.
import { isUtf8 } from 'node:buffer';
import type { FileHandle } from 'node:fs/promises';
import { createEntryIndexPart, type EntryIndexPart } from './entry-index.js';
import { HASH_BYTES, hashLeafInPlace } from './merkle-hash.js';
import { hashSubtreeLevels } from './merkle-tree.js';
import { scanCanonicalEntry } from './scan-canonical-entry.js';

const CHUNK_BYTES = 4 * 1024 * 1024;

export interface RangeScan {
  /** Entries accepted, from the range's first line on. */
  readonly entries: number;
  /** The first entry's seq and time, unchecked (absent when the range has no entry). */
  readonly first: { readonly seq: number; readonly time: string } | undefined;
  readonly lastTime: string | undefined;
  /** hashSubtreeLevels of the entries' leaf hashes, taking first.seq as the first one's leaf index. */
  readonly levels: Uint8Array[];
  readonly index: EntryIndexPart;
  /** File offset after the last accepted entry's newline: where the problem line starts, if any. */
  readonly completeEnd: number;
  /** File offset after the last byte read (beyond completeEnd: a torn line). */
  readonly readEnd: number;
  /** The first problem; `line` counts from 1 at the range's first line. */
  readonly problem?: { readonly line: number; readonly reason: string; readonly seq?: number };
}

export const seqProblem = (seq: number, expected: number): string => `seq ${seq} where ${expected} was expected (an entry was deleted, reordered or duplicated)`;
export const timeProblem = (time: string, previous: string): string => `time ${time} is before the previous entry's ${previous} (entries reordered?)`;

/** The entries of one range so far; checkLines adds the complete lines of each chunk read. */
interface RangeState {
  entries: number;
  first: RangeScan['first'];
  lastTime: string | undefined;
  /** Leaf hashes end to end, in an array that doubles when full. */
  leaves: Uint8Array;
  readonly index: ReturnType<typeof createEntryIndexPart>;
  problem: RangeScan['problem'];
}

/**
 * Checks, hashes and indexes the complete lines of view[1…] (view[0] is spare, for hashLeafInPlace),
 * `offset` being the file offset of view[1]; `utf8`: all of them are known to be valid UTF-8. Returns
 * where the first line not taken starts: the incomplete last line, or the problem line (then
 * state.problem is set). The hot loop of the scan, kept apart from the async reading and with one
 * call site per callee, so that V8 optimises it once and it stays optimised.
 */
function checkLines(state: RangeState, view: Buffer, offset: number, utf8: boolean): number {
  let lineStart = 1;
  for (;;) {
    const newline = view.indexOf(0x0a, lineStart);
    if (newline === -1) return lineStart;
    const scanned = scanCanonicalEntry(view, lineStart, newline, utf8);
    const { entries, first, lastTime } = state;
    let reason: string | undefined;
    if (typeof scanned === 'string') reason = `not a canonical entry: ${scanned}`;
    else if (first !== undefined && scanned.seq !== first.seq + entries) reason = seqProblem(scanned.seq, first.seq + entries);
    else if (lastTime !== undefined && scanned.time < lastTime) reason = timeProblem(scanned.time, lastTime);
    if (reason !== undefined || typeof scanned === 'string') {
      state.problem = { line: entries + 1, reason: reason as string, ...(typeof scanned === 'string' ? {} : { seq: scanned.seq }) };
      return lineStart;
    }
    if (first === undefined) state.first = { seq: scanned.seq, time: scanned.time };
    if (entries * HASH_BYTES === state.leaves.length) state.leaves = grow(state.leaves);
    hashLeafInPlace(view, lineStart, newline, state.leaves, entries * HASH_BYTES);
    state.index.add(scanned.seq, offset + lineStart - 1, scanned.time, scanned.subject);
    state.lastTime = scanned.time;
    state.entries = entries + 1;
    lineStart = newline + 1;
  }
}

function grow(hashes: Uint8Array): Uint8Array {
  const grown = new Uint8Array(2 * hashes.length);
  grown.set(hashes);
  return grown;
}

/** Scans `handle`'s bytes from `start` (a line start) up to `end` (Infinity: the end of the file). */
export async function scanJournalRange(handle: FileHandle, start: number, end: number): Promise<RangeScan> {
  // buffer[0] is spare: hashLeafInPlace uses the byte before a line, which for the first line is that one.
  let buffer = Buffer.allocUnsafe(1 + Math.max(1, Math.min(CHUNK_BYTES, end - start)));
  let carry = 0; // bytes of an incomplete line, kept at buffer[1]
  let bufferOffset = start; // file offset of buffer[1]
  const state: RangeState = { entries: 0, first: undefined, lastTime: undefined, leaves: new Uint8Array(4096 * HASH_BYTES), index: createEntryIndexPart(), problem: undefined };
  for (;;) {
    if (1 + carry === buffer.length) {
      const grown = Buffer.allocUnsafe(2 * buffer.length);
      buffer.copy(grown, 1, 1, 1 + carry);
      buffer = grown;
    }
    const wanted = Math.min(buffer.length - 1 - carry, end - bufferOffset - carry);
    if (wanted <= 0) break;
    const { bytesRead } = await handle.read(buffer, 1 + carry, wanted, bufferOffset + carry);
    if (bytesRead === 0) break;
    const view = buffer.subarray(0, 1 + carry + bytesRead);
    // Complete lines are valid UTF-8 one by one iff all of them together are ('\n' is never inside a character).
    const lastNewline = view.lastIndexOf(0x0a, view.length - 1);
    const lineStart = checkLines(state, view, bufferOffset, lastNewline > 0 && isUtf8(view.subarray(1, lastNewline)));
    carry = view.length - lineStart;
    bufferOffset += lineStart - 1;
    if (state.problem) break;
    if (carry > 0 && lineStart > 1) view.copy(buffer, 1, lineStart);
  }
  const { entries, first, lastTime, leaves, index, problem } = state;
  return {
    entries,
    first,
    lastTime,
    // A copy of just the hashes: the tree keeps this array, not the spare room of the grown one.
    levels: hashSubtreeLevels(leaves.slice(0, entries * HASH_BYTES), first?.seq ?? 0),
    index: index.finish(),
    completeEnd: bufferOffset,
    readEnd: bufferOffset + carry,
    ...(problem ? { problem } : {}),
  };
}
