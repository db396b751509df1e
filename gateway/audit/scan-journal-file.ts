// The start-up check of journal.ndjson: every complete line must be a canonical entry whose seq is
// the next one and whose time does not go back; each becomes a leaf of the rebuilt Merkle tree. Bytes
// after the last '\n' are a write torn by a crash (never acknowledged: an append resolves only after
// its whole line, newline included, was fsynced) and are reported for truncation. Anything wrong
// before that is corruption, and the scan stops there.
import { open } from 'node:fs/promises';
import { createEntryIndex, type EntryIndex } from './entry-index.js';
import { hashLeaf } from './merkle-hash.js';
import { createMerkleTree, type MerkleTree } from './merkle-tree.js';
import { scanCanonicalEntry } from './scan-canonical-entry.js';

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
}

const CHUNK_BYTES = 4 * 1024 * 1024;

/** Reads `file` (absent = empty) and rebuilds tree and index, stopping at the first problem. */
export async function scanJournalFile(file: string, fileLabel = 'journal.ndjson'): Promise<JournalScan> {
  const tree = createMerkleTree();
  const index = createEntryIndex();
  let lastTime: string | undefined;
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { tree, index, completeLength: 0, fileLength: 0, lastTime };
    throw error;
  }
  try {
    let buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    let carry = 0;
    let bufferOffset = 0; // file offset of buffer[0]
    let line = 0;
    for (;;) {
      if (carry === buffer.length) {
        const grown = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(grown, 0, 0, carry);
        buffer = grown;
      }
      const { bytesRead } = await handle.read(buffer, carry, buffer.length - carry, bufferOffset + carry);
      if (bytesRead === 0) break;
      const view = buffer.subarray(0, carry + bytesRead);
      let start = 0;
      for (let newline = view.indexOf(0x0a); newline !== -1; newline = view.indexOf(0x0a, start)) {
        line += 1;
        const offset = bufferOffset + start;
        const scanned = scanCanonicalEntry(view, start, newline);
        const expected = tree.size;
        let reason: string | undefined;
        if (typeof scanned === 'string') reason = `not a canonical entry: ${scanned}`;
        else if (scanned.seq !== expected) reason = `seq ${scanned.seq} where ${expected} was expected (an entry was deleted, reordered or duplicated)`;
        else if (lastTime !== undefined && scanned.time < lastTime) reason = `time ${scanned.time} is before the previous entry's ${lastTime} (entries reordered?)`;
        if (reason !== undefined || typeof scanned === 'string') {
          const problem: JournalProblem = { file: fileLabel, line, reason: reason as string, ...(typeof scanned === 'string' ? {} : { seq: scanned.seq }) };
          return { tree, index, completeLength: offset, fileLength: (await handle.stat()).size, lastTime, problem };
        }
        tree.append(hashLeaf(view.subarray(start, newline)));
        index.add(scanned.seq, offset, scanned.time, scanned.subject);
        lastTime = scanned.time;
        start = newline + 1;
      }
      carry = view.length - start;
      if (carry > 0 && start > 0) view.copy(buffer, 0, start);
      bufferOffset += start;
    }
    return { tree, index, completeLength: bufferOffset, fileLength: bufferOffset + carry, lastTime };
  } finally {
    await handle.close();
  }
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
