// The audit journal: an append-only file of canonical entries (journal.ndjson), an in-memory RFC 9162
// Merkle tree over them, signed checkpoints (checkpoints.ndjson), proofs and regulator exports. At
// open it checks the files it finds; a journal that fails the check refuses to append (X-Road stops
// accepting messages when it cannot log them, for the same reason). Single writer: one process owns
// the directory.
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import { GatewayError } from '../errors.js';
import { createDurableFiles } from '../durable/durable-files.js';
import { isStorageError, toStorageError, type StorageErrorObserver } from '../storage/storage-errors.js';
import { systemSchedule, type Schedule } from '../clock/schedule.js';
import { createThreadPool, type ThreadPool } from '../threads/thread-pool.js';
import { encodeAuditEntry, type AuditEvent } from './audit-entry.js';
import { signCheckpoint, type SignedCheckpoint } from './checkpoint.js';
import { CHECKPOINTS_FILE } from './checkpoint-log.js';
import type { CheckpointNoteSigner } from './checkpoint-note.js';
import { checkJournalAtOpen, JOURNAL_FILE, type JournalRecovery } from './check-journal-at-open.js';
import { exportAuditRange, type AuditExportQuery, type ExportContext } from './export-range.js';
import { createGroupCommit, type GroupCommitStats } from './group-commit.js';
import { journalFileEntries, JOURNAL_FILE_STORE } from './journal-file-entries.js';
import { encodeHash, hashLeaf } from './merkle-hash.js';
import type { JournalProblem } from './scan-journal-file.js';

export { JOURNAL_FILE };
export const DEFAULT_ORIGIN = 'hetao-gateway.local/audit';

/**
 * The log's origin and checkpoint interval, defaulted and checked the same way by every journal.
 * @throws GatewayError `ERR_CONFIG_INVALID` for an origin that is not printable ASCII without spaces, or a negative interval.
 */
export function checkpointSettings(options: { readonly origin?: string; readonly checkpointIntervalMs?: number }): { origin: string; intervalMs: number } {
  const origin = options.origin ?? DEFAULT_ORIGIN;
  const intervalMs = options.checkpointIntervalMs ?? 60_000;
  if (!/^[\x21-\x7e]+$/.test(origin)) throw new GatewayError('ERR_CONFIG_INVALID', `audit origin ${JSON.stringify(origin)} must be printable ASCII without spaces`);
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 0) throw new GatewayError('ERR_CONFIG_INVALID', 'checkpointIntervalMs must be a non-negative integer');
  return { origin, intervalMs };
}

export interface AuditJournalOptions {
  /** Directory holding journal.ndjson and checkpoints.ndjson (created if absent). */
  readonly dir: string;
  /** Signs checkpoints and export manifests; its publicJwks() must list every key that signed a checkpoint here. */
  readonly signer: GatewaySigner;
  readonly clock?: () => Date;
  /** A checkpoint is signed this often when the tree grew (default 60 s; 0: only on demand and at close). */
  readonly checkpointIntervalMs?: number;
  /** Runs the interval checkpoints (default: Node's timers); a test passes one it ticks by hand. */
  readonly schedule?: Schedule;
  /** The log's name in checkpoints (C2SP origin): printable ASCII, no spaces. */
  readonly origin?: string;
  /** Adds the C2SP signed-note form to every checkpoint. */
  readonly noteSigner?: CheckpointNoteSigner;
  /** The checkpoints of this log peer gateways cosigned, for exports to carry. */
  readonly cosigned?: ExportContext['cosigned'];
  /** Told when an append fails for want of space or on a failing disk (the journal then refuses with ERR_STORAGE_*). */
  readonly onStorageError?: StorageErrorObserver;
  /** Called once per file whose torn last line (a crash mid-write) was cut off at open. */
  readonly onRecover?: (recovery: AuditRecovery) => void;
  /**
   * The process's thread pool: its io lane scans a large journal at open and runs the appends
   * (write + fdatasync, one job per group commit). Without one the journal makes its own, closed with it.
   */
  readonly threads?: ThreadPool<'io'>;
}

/** A torn last line cut off at open: which file, how many bytes, how many complete lines kept. */
export type AuditRecovery = JournalRecovery;

export interface AppendResult {
  readonly seq: number;
  /** Base64 RFC 9162 leaf hash of the entry. */
  readonly leafHash: string;
}

export interface InclusionProof {
  readonly leafIndex: number;
  readonly treeSize: number;
  readonly leafHash: string;
  /** Base64 hashes, RFC 9162 §2.1.3.1 order (from the leaf up). */
  readonly proof: readonly string[];
}

export interface ConsistencyProof {
  readonly fromSize: number;
  readonly toSize: number;
  /** Base64 hashes, RFC 9162 §2.1.4.1 order. */
  readonly proof: readonly string[];
}

export type AuditJournalState = 'ok' | 'corrupt' | 'failed' | 'closed';

export interface AuditJournalStatus {
  readonly state: AuditJournalState;
  /** Durable entries. */
  readonly size: number;
  readonly checkpoint?: { readonly treeSize: number; readonly rootHash: string; readonly time: string };
  /** Why the journal is corrupt or failed. */
  readonly problem?: JournalProblem;
  readonly recovered: readonly AuditRecovery[];
  readonly commits: GroupCommitStats;
  /** A shared journal only: whether this instance is the one signing the periodic checkpoints. */
  readonly leader?: boolean;
}

/**
 * The journal port. The file journal has one writer; a shared one (pg-audit-journal.ts) is appended to
 * by every instance, so what it answers about the log (proofs, subjects, the latest checkpoint) may
 * first need a read of what the others appended: those methods return promises.
 */
export interface AuditJournal {
  /**
   * Appends an entry; resolves once it is durable (written and fsynced, grouped with concurrent appends).
   * @throws GatewayError `ERR_AUDIT_EVENT_INVALID`, `ERR_AUDIT_CORRUPT`, `ERR_AUDIT_UNAVAILABLE` (closed, or a write failed).
   */
  append(event: AuditEvent): Promise<AppendResult>;
  /** Signs a checkpoint over every durable entry unless the latest already covers them; resolves to the latest. */
  checkpoint(): Promise<SignedCheckpoint | undefined>;
  /** The newest signed checkpoint (once closed: the newest this journal knew of). */
  latestCheckpoint(): Promise<SignedCheckpoint | undefined>;
  /** @throws GatewayError `ERR_AUDIT_RANGE_INVALID` unless 0 ≤ seq < treeSize ≤ size; `ERR_AUDIT_CORRUPT`. */
  proveInclusion(seq: number, treeSize: number): Promise<InclusionProof>;
  /** @throws GatewayError `ERR_AUDIT_RANGE_INVALID` unless 0 ≤ fromSize ≤ toSize ≤ size; `ERR_AUDIT_CORRUPT`. */
  proveConsistency(fromSize: number, toSize: number): Promise<ConsistencyProof>;
  /** Seqs of a transfer's entries, ascending. */
  entriesFor(subject: string): Promise<readonly number[]>;
  /**
   * A streamed NDJSON export (see docs/audit-export.md). Signs a checkpoint first if entries are not yet covered.
   * @throws GatewayError `ERR_AUDIT_RANGE_INVALID`, `ERR_AUDIT_CORRUPT`, `ERR_AUDIT_UNAVAILABLE`; stream errors carry the same codes.
   */
  exportRange(query?: AuditExportQuery): Readable;
  /** Synchronous (readiness asks it): a shared journal answers from its cached view of the log. */
  status(): AuditJournalStatus;
  /** Flushes pending appends, signs a final checkpoint if the tree grew, closes the files. */
  close(): Promise<void>;
}

interface PendingEntry {
  readonly bytes: Buffer;
  readonly leaf: Buffer;
  readonly seq: number;
  readonly time: string;
  readonly subject: string | undefined;
}

const NEWLINE = Buffer.from('\n');
/** Threads of a journal's own pool: the start-up scan of a large journal uses them all, appends one. */
const OWN_IO_THREADS = Math.min(availableParallelism(), 4);

/**
 * Opens (or creates) the journal in `options.dir` and runs the start-up check. A journal that fails
 * it is still returned, in state `corrupt`: it refuses appends, proofs and exports, and `status()` says why.
 * @throws GatewayError `ERR_CONFIG_INVALID` for an unusable origin or interval; I/O errors as they come.
 */
export async function createAuditJournal(options: AuditJournalOptions): Promise<AuditJournal> {
  const { dir, signer, noteSigner } = options;
  const clock = options.clock ?? (() => new Date());
  const { origin, intervalMs } = checkpointSettings(options);

  await mkdir(dir, { recursive: true });
  const threads = options.threads ?? createThreadPool({ lanes: { io: { threads: OWN_IO_THREADS } } });
  const closeOwnThreads = async (): Promise<void> => {
    if (threads !== options.threads) await threads.close();
  };
  // Appends (write + fdatasync) run as one job in a pool thread: one round trip to another thread
  // per group commit instead of two through the libuv pool, which a busy gateway shares.
  const files = createDurableFiles(threads);
  let opened;
  try {
    opened = await checkJournalAtOpen(dir, origin, signer.publicJwks(), { threads, files });
  } catch (error) {
    await closeOwnThreads();
    throw error;
  }
  const { journalFile, scan, checkpoints, recovered } = opened;
  const { tree, index } = scan;
  let problem: JournalProblem | undefined = opened.problem;
  for (const recovery of recovered) options.onRecover?.(recovery);
  const latest = checkpoints?.latest();

  let state: AuditJournalState = problem ? 'corrupt' : 'ok';
  let closing = false;
  let handle: FileHandle | undefined;
  if (state === 'ok') {
    handle = await open(journalFile, 'a');
    // The files may have just been created: make their directory entries durable too.
    const dirHandle = await open(dir, 'r');
    await dirHandle.sync().finally(() => dirHandle.close());
  }
  let fileLength = scan.completeLength;
  let lastMs = Math.max(scan.lastTime ? Date.parse(scan.lastTime) : 0, latest ? Date.parse(latest.time) : 0);
  /** Clock time, never going back: entry and checkpoint times are non-decreasing along the journal. */
  const now = (): string => {
    lastMs = Math.max(lastMs, clock().getTime());
    return new Date(lastMs).toISOString();
  };

  /** A full or failing disk stopped the journal: it refuses with that storage code from then on. */
  let failedOnStorage: 'ERR_STORAGE_FULL' | 'ERR_STORAGE_UNAVAILABLE' | undefined;
  const refusal = (): GatewayError =>
    state === 'corrupt'
      ? new GatewayError('ERR_AUDIT_CORRUPT', `the audit journal failed its integrity check: ${problem?.file ?? ''}${problem?.line ? ` line ${problem.line}` : ''}: ${problem?.reason ?? ''}`, { ...problem })
      : new GatewayError(state === 'failed' && failedOnStorage ? failedOnStorage : 'ERR_AUDIT_UNAVAILABLE', state === 'failed' ? `the audit journal cannot write: ${problem?.reason ?? ''}` : 'the audit journal is closed');
  const fail = (file: string, error: unknown): GatewayError => {
    state = 'failed';
    problem = { file, reason: `write failed: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` };
    const named = toStorageError(error, { path: `${dir}/${file}`, operation: 'audit-append' }, options.onStorageError);
    if (isStorageError(named)) failedOnStorage = named.code as typeof failedOnStorage;
    return new GatewayError(failedOnStorage ?? 'ERR_AUDIT_UNAVAILABLE', `the audit journal cannot write: ${problem.reason}`, undefined, { cause: error });
  };

  const commit = createGroupCommit<PendingEntry>(async (batch) => {
    if (state !== 'ok' || !handle) throw refusal(); // never write after a failed write: the file may end mid-line
    try {
      const parts: Buffer[] = [];
      let length = 0;
      for (const entry of batch) {
        parts.push(entry.bytes, NEWLINE);
        length += entry.bytes.length + 1;
      }
      await files.append(handle.fd, Buffer.concat(parts, length));
    } catch (error) {
      throw fail(JOURNAL_FILE, error);
    }
    for (const entry of batch) {
      tree.append(entry.leaf);
      index.add(entry.seq, fileLength, entry.time, entry.subject);
      fileLength += entry.bytes.length + 1;
    }
  });
  let nextSeq = tree.size;

  let checkpointing: Promise<unknown> = Promise.resolve();
  function checkpoint(): Promise<SignedCheckpoint | undefined> {
    const run = checkpointing.then(async () => {
      if (state === 'corrupt' || state === 'closed' || !checkpoints) throw refusal();
      const previous = checkpoints.latest();
      const treeSize = tree.size;
      // After a failed write nothing more is written: exports then stop at the latest checkpoint.
      if (treeSize === 0 || previous?.treeSize === treeSize || state === 'failed') return previous;
      const signed = await signCheckpoint({ origin, treeSize, rootHash: encodeHash(tree.rootHash(treeSize)), time: now() }, signer, noteSigner);
      try {
        await checkpoints.append(signed);
      } catch (error) {
        throw fail(CHECKPOINTS_FILE, error);
      }
      return signed;
    });
    checkpointing = run.catch(() => undefined);
    return run;
  }
  // The task's promise settles once the checkpoint is written (or refused): a manual schedule awaits it.
  const stopInterval = state === 'ok' && intervalMs > 0 ? (options.schedule ?? systemSchedule).every(intervalMs, () => checkpoint().catch(() => undefined)) : undefined;

  function assertReadable(): void {
    if (state === 'corrupt') throw refusal();
  }
  function assertSize(name: string, value: number, min: number, max: number): void {
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new GatewayError('ERR_AUDIT_RANGE_INVALID', `${name} ${String(value)} is not an integer in [${min}, ${max}]`);
    }
  }

  return {
    async append(event) {
      if (state !== 'ok' || closing) throw closing && state === 'ok' ? new GatewayError('ERR_AUDIT_UNAVAILABLE', 'the audit journal is closing') : refusal();
      const seq = nextSeq;
      const time = now();
      const bytes = encodeAuditEntry(seq, time, event); // throws before the seq is taken
      nextSeq += 1;
      const leaf = hashLeaf(bytes);
      await commit.submit({ bytes, leaf, seq, time, subject: event.subject });
      return { seq, leafHash: encodeHash(leaf) };
    },
    checkpoint,
    latestCheckpoint: async () => checkpoints?.latest(),
    async proveInclusion(seq, treeSize) {
      assertReadable();
      assertSize('treeSize', treeSize, 1, tree.size);
      assertSize('seq', seq, 0, treeSize - 1);
      return { leafIndex: seq, treeSize, leafHash: encodeHash(tree.leafHash(seq)), proof: tree.inclusionProof(seq, treeSize).map(encodeHash) };
    },
    async proveConsistency(fromSize, toSize) {
      assertReadable();
      assertSize('toSize', toSize, 0, tree.size);
      assertSize('fromSize', fromSize, 0, toSize);
      return { fromSize, toSize, proof: tree.consistencyProof(fromSize, toSize).map(encodeHash) };
    },
    async entriesFor(subject) {
      return [...(index.seqsOf(subject) ?? [])];
    },
    exportRange(query = {}) {
      if (state === 'corrupt' || state === 'closed' || !checkpoints) throw refusal();
      const reportCorruption = (reason: string): void => {
        state = 'corrupt';
        problem = { file: JOURNAL_FILE, reason };
      };
      return exportAuditRange(
        {
          origin,
          signer,
          now,
          tree,
          readEntries: journalFileEntries(journalFile, index, reportCorruption),
          entriesStore: JOURNAL_FILE_STORE,
          checkpoints,
          ensureCheckpoint: checkpoint,
          reportCorruption,
          ...(options.cosigned ? { cosigned: options.cosigned } : {}),
        },
        query,
      );
    },
    status() {
      const head = checkpoints?.latest();
      return {
        state,
        size: tree.size,
        ...(head ? { checkpoint: { treeSize: head.treeSize, rootHash: head.rootHash, time: head.time } } : {}),
        ...(problem ? { problem } : {}),
        recovered: [...recovered],
        commits: commit.stats(),
      };
    },
    async close() {
      if (state === 'closed' || closing) return;
      closing = true;
      stopInterval?.();
      try {
        await commit.idle();
        if (state === 'ok') await checkpoint(); // after a failed write, leave the files as they are
      } finally {
        await handle?.close();
        await checkpoints?.close();
        await closeOwnThreads();
        state = 'closed';
        closing = false;
      }
    },
  };
}
