// The audit journal of shared mode, in PostgreSQL: one ordered, gap-free log for every gateway
// instance. Appends are sequenced in the database (pg-append-entries.ts: one statement per group
// commit, the head row's lock ordering the instances); each instance keeps its own copy of the
// RFC 9162 tree, caught up from the stored leaves (pg-journal-tree.ts); checkpoints are signed by one
// instance at a time (pg-checkpoints.ts), periodically by the leader (pg-checkpoint-leader.ts). The
// entry, checkpoint, proof and export formats are the file journal's, so `hetao audit verify` reads
// exports of either. At open every entry and checkpoint is checked as the file journal checks its
// files; a log that fails the check is refused (state `corrupt`), and so is one found damaged later.
import type { Database } from '../database/database.js';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import { GatewayError } from '../errors.js';
import { systemSchedule, type Schedule } from '../clock/schedule.js';
import { encodeAuditEntryParts } from './audit-entry.js';
import type { CheckpointNoteSigner } from './checkpoint-note.js';
import { checkpointSettings, type AppendResult, type AuditJournal, type AuditJournalState } from './create-audit-journal.js';
import { exportAuditRange, type ExportContext } from './export-range.js';
import { createGroupCommit } from './group-commit.js';
import { encodeHash } from './merkle-hash.js';
import { appendEntries, type EntryToAppend } from './pg-append-entries.js';
import { createCheckpointLeadership } from './pg-checkpoint-leader.js';
import { createPgCheckpoints } from './pg-checkpoints.js';
import { pgJournalEntries } from './pg-journal-entries.js';
import { createPgJournalTree, ENTRIES_TABLE } from './pg-journal-tree.js';
import type { JournalProblem } from './scan-journal-file.js';

export interface PgAuditJournalOptions {
  /**
   * The process's pool. The journal uses one connection per group commit, one for a catch-up or an
   * export batch, one for a checkpoint, and keeps one while it leads: give it room for four.
   */
  readonly database: Database;
  /** Signs checkpoints and export manifests; its publicJwks() must list every key that signed a checkpoint here. */
  readonly signer: GatewaySigner;
  readonly noteSigner?: CheckpointNoteSigner;
  /** The checkpoints of this log peer gateways cosigned, for exports to carry. */
  readonly cosigned?: ExportContext['cosigned'];
  /** The log's name in checkpoints (C2SP origin): printable ASCII, no spaces. */
  readonly origin?: string;
  readonly clock?: () => Date;
  /** The leader signs a checkpoint this often when the log grew (default 60 s; 0: only on demand and at close, and no leader). */
  readonly checkpointIntervalMs?: number;
  /** Runs the interval work (default: Node's timers); a test passes one it ticks by hand. */
  readonly schedule?: Schedule;
  /** Told each time this instance starts or stops leading (a metrics gauge). */
  readonly onLeadershipChange?: (leading: boolean) => void;
}

interface PendingAppend extends EntryToAppend {
  result?: AppendResult;
}

/** SQLSTATE of a unique violation: a seq the head hands out is taken already. */
const UNIQUE_VIOLATION = '23505';

/**
 * Opens the journal on a migrated database and runs the start-up check (in one snapshot: entries 0 to
 * the head contiguous, each hashing to its leaf, times never going back; every checkpoint against that
 * tree, the latest one's signature against `signer.publicJwks()`). A log that fails it is still
 * returned, in state `corrupt`: it refuses appends, proofs and exports, and `status()` says why.
 * @throws GatewayError `ERR_CONFIG_INVALID` for an unusable origin or interval, or a database whose
 *   encoding is not UTF8; `ERR_DATABASE_UNAVAILABLE`.
 */
export async function openPgAuditJournal(options: PgAuditJournalOptions): Promise<AuditJournal> {
  const { database, signer, noteSigner } = options;
  const clock = options.clock ?? (() => new Date());
  const { origin, intervalMs } = checkpointSettings(options);

  const leadership = createCheckpointLeadership(database, options.onLeadershipChange);
  const view = createPgJournalTree(database);
  const { tree } = view;
  const checkpoints = createPgCheckpoints({ database, view, origin, signer, clock, ...(noteSigner ? { noteSigner } : {}) });
  let problem: JournalProblem | undefined = await database.transaction(async (client) => {
    await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const { rows } = await client.query<{ server_encoding: string }>('SHOW server_encoding');
    // The database writes the entries' text (pg-append-entries.ts): it must take any character.
    if (rows[0]?.server_encoding !== 'UTF8') throw new GatewayError('ERR_CONFIG_INVALID', `the database encoding is ${String(rows[0]?.server_encoding)}; the audit journal needs UTF8`);
    const found = await view.catchUp(client);
    if (found) return found;
    const head = await client.query<{ last_time: Date; max_seq: string | null }>('SELECT last_time, (SELECT max(seq) FROM audit_entries) AS max_seq FROM audit_head');
    const { last_time: lastTime, max_seq: maxSeq } = head.rows[0] as { last_time: Date; max_seq: string | null };
    if (maxSeq !== null && Number(maxSeq) >= tree.size) return { file: ENTRIES_TABLE, seq: Number(maxSeq), reason: `entry ${maxSeq} lies beyond the head (${tree.size} entries): the head row was moved back` };
    if (view.lastTime !== undefined && lastTime.toISOString() < view.lastTime) return { file: 'audit_head', reason: `the head's time ${lastTime.toISOString()} is before the last entry's ${view.lastTime}` };
    return checkpoints.refresh(client, false);
  });

  let state: AuditJournalState = problem ? 'corrupt' : 'ok';
  let closing = false;

  const refusal = (): GatewayError =>
    state === 'corrupt'
      ? new GatewayError('ERR_AUDIT_CORRUPT', `the audit journal failed its integrity check: ${problem?.file ?? ''}${problem?.seq === undefined ? '' : ` seq ${problem.seq}`}: ${problem?.reason ?? ''}`, { ...problem })
      : new GatewayError('ERR_AUDIT_UNAVAILABLE', 'the audit journal is closed');
  /**
   * The log is damaged: refuse from now on (the gateway then accepts nothing it cannot journal), and
   * leave the periodic checkpoints to an instance that may still sign them.
   */
  const markCorrupt = (found: JournalProblem): GatewayError => {
    if (state !== 'closed') state = 'corrupt';
    problem ??= found;
    void leadership.release();
    return refusal();
  };
  /** Runs `work`, turning a damage it finds (ERR_AUDIT_CORRUPT with the problem as details) into the journal's state. */
  async function guarded<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof GatewayError && error.code === 'ERR_AUDIT_CORRUPT' && error.details && 'file' in error.details) throw markCorrupt(error.details as unknown as JournalProblem);
      throw error;
    }
  }
  async function catchUp(): Promise<void> {
    const found = await view.catchUp();
    if (found) throw markCorrupt(found);
  }

  // Appenders that append again as soon as one resolves (a transfer's next step) join the next
  // statement instead of waiting one more: the statement's fixed cost is most of a small batch's.
  const commit = createGroupCommit<PendingAppend>(async (batch) => {
    if (state !== 'ok') throw refusal();
    try {
      const appended = await appendEntries(database, batch, clock());
      batch.forEach((pending, i) => (pending.result = { seq: appended.firstSeq + i, leafHash: encodeHash(appended.leaves[i] as Buffer) }));
      view.noteCommitted(appended.firstSeq + batch.length);
    } catch (error) {
      if (error instanceof GatewayError && error.code === 'ERR_AUDIT_CORRUPT') throw markCorrupt(error.details as unknown as JournalProblem);
      if (error instanceof GatewayError) throw error; // ERR_DATABASE_UNAVAILABLE: the statement's transaction wrote nothing
      if ((error as { code?: unknown }).code === UNIQUE_VIOLATION) {
        throw markCorrupt({ file: ENTRIES_TABLE, reason: `the head hands out a seq an entry already has: ${(error as Error).message}` });
      }
      throw new GatewayError('ERR_AUDIT_UNAVAILABLE', `the audit journal could not append: ${(error as Error).message}`, undefined, { cause: error });
    }
  }, { rejoin: true });

  let checkpointing: Promise<unknown> = Promise.resolve();
  function checkpoint(): ReturnType<AuditJournal['checkpoint']> {
    const run = checkpointing.then(() => {
      if (state === 'corrupt' || state === 'closed') throw refusal();
      return guarded(() => checkpoints.signIfGrown());
    });
    checkpointing = run.catch(() => undefined);
    return run;
  }

  /** The interval's work: the leader signs; the others try to lead, else bring their view up to date. */
  async function tick(): Promise<void> {
    if (state !== 'ok' || closing) return;
    if (await leadership.claim()) {
      await checkpoint();
      return;
    }
    await catchUp();
    const found = await checkpoints.refresh();
    if (found) markCorrupt(found);
  }
  let ticking: Promise<void> | undefined;
  const runTick = (): Promise<void> => (ticking ??= tick()
    .catch(() => undefined) // the database is down: the next interval tries again
    .finally(() => (ticking = undefined)));
  const stopInterval = state === 'ok' && intervalMs > 0 ? (options.schedule ?? systemSchedule).every(intervalMs, runTick) : undefined;

  function assertSize(name: string, value: number, min: number, max: number): void {
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new GatewayError('ERR_AUDIT_RANGE_INVALID', `${name} ${String(value)} is not an integer in [${min}, ${max}]`);
    }
  }
  /** Refuses when corrupt; brings the tree up to `size` entries if it has fewer (and the journal is open). */
  async function treeOf(size: number): Promise<void> {
    if (state === 'corrupt') throw refusal();
    if (state !== 'closed' && Number.isSafeInteger(size) && size > tree.size) await catchUp();
  }

  return {
    async append(event) {
      if (state !== 'ok' || closing) throw closing && state === 'ok' ? new GatewayError('ERR_AUDIT_UNAVAILABLE', 'the audit journal is closing') : refusal();
      const pending: PendingAppend = { parts: encodeAuditEntryParts(event), subject: event.subject }; // throws before anything is sent
      await commit.submit(pending);
      return pending.result as AppendResult;
    },
    checkpoint,
    async latestCheckpoint() {
      if (state === 'ok') {
        const found = await checkpoints.refresh();
        if (found) markCorrupt(found);
      }
      return checkpoints.latest();
    },
    async proveInclusion(seq, treeSize) {
      await treeOf(treeSize);
      assertSize('treeSize', treeSize, 1, tree.size);
      assertSize('seq', seq, 0, treeSize - 1);
      return { leafIndex: seq, treeSize, leafHash: encodeHash(tree.leafHash(seq)), proof: tree.inclusionProof(seq, treeSize).map(encodeHash) };
    },
    async proveConsistency(fromSize, toSize) {
      await treeOf(toSize);
      assertSize('toSize', toSize, 0, tree.size);
      assertSize('fromSize', fromSize, 0, toSize);
      return { fromSize, toSize, proof: tree.consistencyProof(fromSize, toSize).map(encodeHash) };
    },
    async entriesFor(subject) {
      const { rows } = await database.query<{ seq: string }>('SELECT seq FROM audit_entries WHERE subject = $1 ORDER BY seq', [subject]);
      return rows.map((row) => Number(row.seq));
    },
    exportRange(query = {}) {
      if (state === 'corrupt' || state === 'closed') throw refusal();
      const reportCorruption = (reason: string): void => void markCorrupt({ file: ENTRIES_TABLE, reason });
      return exportAuditRange(
        {
          origin,
          signer,
          now: () => clock().toISOString(),
          tree,
          readEntries: pgJournalEntries(database, reportCorruption),
          entriesStore: ENTRIES_TABLE,
          checkpoints,
          ensureCheckpoint: checkpoint,
          reportCorruption,
          ...(options.cosigned ? { cosigned: options.cosigned } : {}),
        },
        query,
      );
    },
    status() {
      const head = checkpoints.latest();
      return {
        state,
        size: view.headSize,
        ...(head ? { checkpoint: { treeSize: head.treeSize, rootHash: head.rootHash, time: head.time } } : {}),
        ...(problem ? { problem } : {}),
        recovered: [],
        commits: commit.stats(),
        leader: leadership.leading,
      };
    },
    async close() {
      if (state === 'closed' || closing) return;
      closing = true;
      stopInterval?.();
      try {
        await ticking;
        await commit.idle();
        if (state === 'ok') await checkpoint();
      } finally {
        await leadership.release();
        state = 'closed';
        closing = false;
      }
    },
  };
}
