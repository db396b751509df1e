// checkpoints.ndjson: one `{"jws":…,"note":…}` line per signed checkpoint, appended and fsynced. Only
// the tree sizes and file positions stay in memory (plus the latest checkpoint); an export reads the
// few checkpoints it needs back from the file.
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import canonicalize from 'canonicalize';
import { GatewayError } from '../errors.js';
import type { DurableFiles } from '../durable/durable-files.js';
import { readCheckpointJws, type SignedCheckpoint } from './checkpoint.js';
import { readLines } from './read-lines.js';
import type { JournalProblem } from './scan-journal-file.js';

export const CHECKPOINTS_FILE = 'checkpoints.ndjson';

export interface CheckpointLog {
  readonly count: number;
  latest(): SignedCheckpoint | undefined;
  treeSizeAt(index: number): number;
  /** Index of the first checkpoint whose tree covers `seq` (treeSize > seq), or -1. */
  firstCovering(seq: number): number;
  read(index: number): Promise<SignedCheckpoint>;
  append(checkpoint: SignedCheckpoint): Promise<void>;
  close(): Promise<void>;
}

export interface CheckpointLogOpening {
  readonly log: CheckpointLog;
  readonly problem?: JournalProblem;
  /** Bytes of a torn last line that were cut off. */
  readonly truncatedBytes: number;
}

/** Checks one checkpoint in file order; returns the reason it is unacceptable, if it is. */
export type CheckpointCheck = (checkpoint: SignedCheckpoint, kid: string | undefined, previous: SignedCheckpoint | undefined) => string | undefined;

function parseLine(bytes: Buffer): { checkpoint: SignedCheckpoint; kid: string | undefined } | string {
  let line: unknown;
  try {
    line = JSON.parse(bytes.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  return parseCheckpointRecord(line);
}

/**
 * A stored checkpoint, `{"jws":…,"note":…}` (a line of checkpoints.ndjson, a row of the shared journal),
 * read without verifying its signature: the checkpoint and its key id, or what is wrong with it.
 */
export function parseCheckpointRecord(record: unknown): { checkpoint: SignedCheckpoint; kid: string | undefined } | string {
  const { jws, note, ...rest } = (typeof record === 'object' && record !== null ? record : {}) as Record<string, unknown>;
  if (Object.keys(rest).length > 0 || (note !== undefined && typeof note !== 'string')) return 'not a {"jws","note"} line';
  const read = readCheckpointJws(jws);
  if (typeof read === 'string') return read;
  return { checkpoint: { ...read.body, jws: jws as string, ...(note === undefined ? {} : { note }) }, kid: read.kid };
}

/** Index of the first of the ascending tree `sizes` above `seq` (the first checkpoint covering it), or -1. */
export function firstCovering(sizes: readonly number[], seq: number): number {
  let low = 0;
  let high = sizes.length - 1;
  let found = -1;
  while (low <= high) {
    const mid = Math.floor((low + high) / 2);
    if ((sizes[mid] as number) > seq) {
      found = mid;
      high = mid - 1;
    } else {
      low = mid + 1;
    }
  }
  return found;
}

/** What is stored of a checkpoint: its JWS and signed note (the body is inside the JWS). */
export function checkpointRecord(checkpoint: SignedCheckpoint): { jws: string; note?: string } {
  return { jws: checkpoint.jws, ...(checkpoint.note === undefined ? {} : { note: checkpoint.note }) };
}

/**
 * Opens (creating if absent) the checkpoint file, checking every line with `check` in order. A torn
 * last line is cut off when everything before it is fine; otherwise the first problem is returned
 * and nothing is changed. Checkpoints are appended durably through `files`.
 */
export async function openCheckpointLog(file: string, check: CheckpointCheck, files: Pick<DurableFiles, 'append'>): Promise<CheckpointLogOpening> {
  const handle: FileHandle = await open(file, 'a+');
  const sizes: number[] = [];
  const offsets: number[] = [];
  const lengths: number[] = [];
  let latest: SignedCheckpoint | undefined;
  let problem: JournalProblem | undefined;
  let end = 0;
  let lineNumber = 0;
  for await (const { bytes, offset, terminated } of readLines(createReadStream(file))) {
    lineNumber += 1;
    if (!terminated) break;
    const parsed = parseLine(bytes);
    const reason = typeof parsed === 'string' ? parsed : check(parsed.checkpoint, parsed.kid, latest);
    if (reason !== undefined || typeof parsed === 'string') {
      problem = { file: CHECKPOINTS_FILE, line: lineNumber, reason: reason as string };
      break;
    }
    latest = parsed.checkpoint;
    sizes.push(latest.treeSize);
    offsets.push(offset);
    lengths.push(bytes.length);
    end = offset + bytes.length + 1;
  }
  const { size } = await handle.stat();
  let truncatedBytes = 0;
  if (!problem && size > end) {
    truncatedBytes = size - end;
    await handle.truncate(end);
    await handle.sync();
  }

  const log: CheckpointLog = {
    get count() {
      return sizes.length;
    },
    latest: () => latest,
    treeSizeAt: (index) => sizes[index] as number,
    firstCovering: (seq) => firstCovering(sizes, seq),
    async read(index) {
      if (index === sizes.length - 1 && latest) return latest;
      const buffer = Buffer.alloc(lengths[index] as number);
      await handle.read(buffer, 0, buffer.length, offsets[index] as number);
      const parsed = parseLine(buffer);
      if (typeof parsed === 'string' || parsed.checkpoint.treeSize !== sizes[index]) {
        throw new GatewayError('ERR_AUDIT_CORRUPT', `checkpoint ${index + 1} in ${CHECKPOINTS_FILE} changed on disk`);
      }
      return parsed.checkpoint;
    },
    async append(checkpoint) {
      const line = Buffer.from(`${canonicalize(checkpointRecord(checkpoint))}\n`, 'utf8');
      const { size: offset } = await handle.stat();
      await files.append(handle.fd, line);
      sizes.push(checkpoint.treeSize);
      offsets.push(offset);
      lengths.push(line.length - 1);
      latest = checkpoint;
    },
    close: () => handle.close(),
  };
  return { log, ...(problem ? { problem } : {}), truncatedBytes };
}
