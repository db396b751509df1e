// The start-up check of a journal directory: rebuild the tree from journal.ndjson (scan-journal-file),
// then hold every checkpoint in checkpoints.ndjson against it — this origin, a key of the gateway's
// JWKS, newer than the one before, no larger than the journal, the same root — and verify the latest
// checkpoint's signature (and note): it covers every entry before it, and Ed25519 verification of
// every checkpoint would make start-up slow. Torn last lines are cut off only when all else is fine;
// a journal with a problem is left untouched, as evidence.
import path from 'node:path';
import type { JWK } from 'jose';
import type { DurableFiles } from '../durable/durable-files.js';
import type { ThreadPool } from '../threads/thread-pool.js';
import { createCheckpointKeys, verifyCheckpointJws, type SignedCheckpoint } from './checkpoint.js';
import { CHECKPOINTS_FILE, openCheckpointLog, type CheckpointCheck, type CheckpointLog } from './checkpoint-log.js';
import { verifyCheckpointNote } from './checkpoint-note.js';
import { encodeHash } from './merkle-hash.js';
import type { MerkleTree } from './merkle-tree.js';
import { scanJournalFile, truncateFile, type JournalProblem, type JournalScan } from './scan-journal-file.js';

export const JOURNAL_FILE = 'journal.ndjson';

export interface JournalRecovery {
  readonly file: string;
  readonly truncatedBytes: number;
  /** Complete entries (or checkpoints) kept. */
  readonly kept: number;
}

export interface OpenedJournal {
  readonly journalFile: string;
  readonly scan: JournalScan;
  /** Absent when the journal itself failed the check. */
  readonly checkpoints: CheckpointLog | undefined;
  readonly problem: JournalProblem | undefined;
  readonly recovered: readonly JournalRecovery[];
}

/**
 * The check of each stored checkpoint, in order, against the tree of the stored entries: this origin,
 * a key the JWKS lists, newer than the one before, no larger than the tree, the same root. Signatures
 * are left to {@link verifyCheckpointSignature} (the latest one covers all before it).
 */
export function checkCheckpointAgainstTree(origin: string, jwks: { readonly keys: readonly JWK[] }, tree: Pick<MerkleTree, 'size' | 'rootHash'>): CheckpointCheck {
  const kids = new Set(jwks.keys.map((key) => key.kid));
  return (checkpoint, kid, previous) => {
    const { treeSize, time } = checkpoint;
    if (checkpoint.origin !== origin) return `the checkpoint is for origin ${checkpoint.origin}, this journal is ${origin}`;
    if (kid === undefined || !kids.has(kid)) return `the checkpoint is signed by key ${String(kid)}, which the gateway's JWKS does not list (forged?)`;
    if (previous && treeSize <= previous.treeSize) return `the checkpoint for tree size ${treeSize} follows one for ${previous.treeSize} (an old checkpoint replayed?)`;
    if (previous && time < previous.time) return `the checkpoint time ${time} is before the previous checkpoint's ${previous.time} (replayed?)`;
    if (treeSize > tree.size) return `the checkpoint covers ${treeSize} entries, the journal has ${tree.size} (entries were removed from its end)`;
    if (encodeHash(tree.rootHash(treeSize)) !== checkpoint.rootHash) {
      return `the entries do not match the signed root for tree size ${treeSize}: an entry with seq below ${treeSize}${previous ? ` and at least ${previous.treeSize}` : ''} was changed`;
    }
    return undefined;
  };
}

/** Verifies a checkpoint's JWS (and signed note, if any) against the JWKS; the reason it fails, if it does. */
export async function verifyCheckpointSignature(checkpoint: SignedCheckpoint, jwks: { readonly keys: readonly JWK[] }): Promise<string | undefined> {
  const verified = await verifyCheckpointJws(checkpoint.jws, createCheckpointKeys({ keys: [...jwks.keys] }));
  if (typeof verified === 'string') return verified;
  return checkpoint.note === undefined ? undefined : verifyCheckpointNote(checkpoint.note, checkpoint, jwks);
}

/**
 * Checks the journal in `dir` (files absent = empty) against `origin` and the gateway's JWKS; a large
 * journal is scanned in the io lane of `io.threads`, checkpoints are appended through `io.files`.
 */
export async function checkJournalAtOpen(
  dir: string,
  origin: string,
  jwks: { readonly keys: readonly JWK[] },
  io: { readonly threads: ThreadPool<'io'>; readonly files: DurableFiles },
): Promise<OpenedJournal> {
  const journalFile = path.join(dir, JOURNAL_FILE);
  const scan = await scanJournalFile(journalFile, JOURNAL_FILE, { threads: io.threads });
  const { tree } = scan;
  const recovered: JournalRecovery[] = [];
  if (scan.problem) return { journalFile, scan, checkpoints: undefined, problem: scan.problem, recovered };

  const opening = await openCheckpointLog(path.join(dir, CHECKPOINTS_FILE), checkCheckpointAgainstTree(origin, jwks, tree), io.files);
  const checkpoints = opening.log;
  let problem = opening.problem;
  if (opening.truncatedBytes > 0) recovered.push({ file: CHECKPOINTS_FILE, truncatedBytes: opening.truncatedBytes, kept: checkpoints.count });

  const latest = checkpoints.latest();
  if (!problem && latest) {
    const reason = await verifyCheckpointSignature(latest, jwks);
    if (reason !== undefined) problem = { file: CHECKPOINTS_FILE, line: checkpoints.count, reason: `the latest checkpoint: ${reason}` };
  }
  if (!problem && scan.fileLength > scan.completeLength) {
    await truncateFile(journalFile, scan.completeLength);
    recovered.push({ file: JOURNAL_FILE, truncatedBytes: scan.fileLength - scan.completeLength, kept: tree.size });
  }
  return { journalFile, scan, checkpoints, problem, recovered };
}
