// The shared journal's signed checkpoints (audit_checkpoints: one row per tree size, holding what a
// checkpoints.ndjson line holds). Each instance keeps the tree sizes and the latest checkpoint in
// memory, reads the ones signed since (by any instance) and holds each against its own tree before
// trusting it. Signing is serialized across instances by a transaction-level advisory lock: read
// the latest, check that the tree extends it, sign, insert — so no two checkpoints have the same
// size and none fails to extend the one before.
import type { JWK } from 'jose';
import type { Database } from '../database/database.js';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import { GatewayError } from '../errors.js';
import { checkCheckpointAgainstTree, verifyCheckpointSignature } from './check-journal-at-open.js';
import { signCheckpoint, type SignedCheckpoint } from './checkpoint.js';
import { checkpointRecord, firstCovering, parseCheckpointRecord } from './checkpoint-log.js';
import type { CheckpointNoteSigner } from './checkpoint-note.js';
import type { ExportCheckpoints } from './export-range.js';
import { encodeHash } from './merkle-hash.js';
import type { Sql } from './pg-append-entries.js';
import type { PgJournalTree } from './pg-journal-tree.js';
import type { JournalProblem } from './scan-journal-file.js';

export const CHECKPOINTS_TABLE = 'audit_checkpoints';
/** The advisory lock (two int4 keys) a signing transaction holds: 'heta' 'o' + 1. */
const SIGNING_LOCK = [0x68657461, 0x6f0001];
/** Checkpoints read per statement. */
const CHECKPOINT_BATCH = 1000;

export interface PgCheckpoints extends ExportCheckpoints {
  readonly count: number;
  latest(): SignedCheckpoint | undefined;
  /**
   * Takes in the checkpoints signed since the last call, checking each against the tree (caught up
   * first when `catchUp` is true; at open the tree is already whole). Resolves to the problem, if any.
   */
  refresh(sql?: Sql, catchUp?: boolean): Promise<JournalProblem | undefined>;
  /** Signs a checkpoint over the tree (caught up first) unless the latest covers it; resolves to the latest. */
  signIfGrown(): Promise<SignedCheckpoint | undefined>;
}

export interface PgCheckpointsOptions {
  readonly database: Database;
  readonly view: PgJournalTree;
  readonly origin: string;
  readonly signer: GatewaySigner;
  readonly noteSigner?: CheckpointNoteSigner;
  readonly clock: () => Date;
}

interface CheckpointRow {
  readonly tree_size: string;
  readonly checkpoint: unknown;
}

const corrupt = (problem: JournalProblem): GatewayError => new GatewayError('ERR_AUDIT_CORRUPT', `the audit journal failed its integrity check: ${problem.file}: ${problem.reason}`, { ...problem });

function parseRow(row: CheckpointRow): ReturnType<typeof parseCheckpointRecord> {
  const parsed = parseCheckpointRecord(row.checkpoint);
  if (typeof parsed !== 'string' && parsed.checkpoint.treeSize !== Number(row.tree_size)) return `the row for tree size ${row.tree_size} holds a checkpoint for ${parsed.checkpoint.treeSize}`;
  return parsed;
}

export function createPgCheckpoints(options: PgCheckpointsOptions): PgCheckpoints {
  const { database, view, origin, signer, noteSigner, clock } = options;
  const { tree } = view;
  const jwks: { readonly keys: readonly JWK[] } = signer.publicJwks();
  const check = checkCheckpointAgainstTree(origin, jwks, tree);
  const sizes: number[] = [];
  let latest: SignedCheckpoint | undefined;
  let problem: JournalProblem | undefined;

  async function readNew(sql: Sql, catchUp: boolean): Promise<JournalProblem | undefined> {
    const before = sizes.length;
    for (;;) {
      const { rows } = await sql.query<CheckpointRow>('SELECT tree_size, checkpoint FROM audit_checkpoints WHERE tree_size > $1 ORDER BY tree_size LIMIT $2', [latest?.treeSize ?? -1, CHECKPOINT_BATCH]);
      for (const row of rows) {
        const parsed = parseRow(row);
        const line = sizes.length + 1;
        if (typeof parsed === 'string') return (problem = { file: CHECKPOINTS_TABLE, line, reason: parsed });
        if (catchUp && parsed.checkpoint.treeSize > tree.size) {
          const behind = await view.catchUp();
          if (behind) return (problem = behind);
        }
        const reason = check(parsed.checkpoint, parsed.kid, latest);
        if (reason !== undefined) return (problem = { file: CHECKPOINTS_TABLE, line, reason });
        sizes.push(parsed.checkpoint.treeSize);
        latest = parsed.checkpoint;
      }
      if (rows.length < CHECKPOINT_BATCH) break;
    }
    // As at the file journal's open: the newest checkpoint's signature vouches for the ones before it.
    if (latest && sizes.length > before) {
      const reason = await verifyCheckpointSignature(latest, jwks);
      if (reason !== undefined) return (problem = { file: CHECKPOINTS_TABLE, line: sizes.length, reason: `the latest checkpoint: ${reason}` });
    }
    return undefined;
  }

  let running: Promise<JournalProblem | undefined> | undefined;
  let queued: Promise<JournalProblem | undefined> | undefined;
  function refresh(sql: Sql = database, catchUp = true): Promise<JournalProblem | undefined> {
    if (problem) return Promise.resolve(problem);
    if (!running) {
      running = readNew(sql, catchUp).finally(() => (running = undefined));
      return running;
    }
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        return refresh(sql, catchUp);
      });
    return queued;
  }

  async function signIfGrown(): Promise<SignedCheckpoint | undefined> {
    const behind = (await view.catchUp()) ?? (await refresh());
    if (behind) throw corrupt(behind);
    await database.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', SIGNING_LOCK);
      const { rows } = await client.query<CheckpointRow>('SELECT tree_size, checkpoint FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1');
      const stored = rows[0] ? parseRow(rows[0]) : undefined;
      if (typeof stored === 'string') throw corrupt((problem = { file: CHECKPOINTS_TABLE, reason: stored }));
      // Read together: the tree may grow while this transaction waits on the database.
      const treeSize = tree.size;
      const lastTime = view.lastTime;
      const previous = stored?.checkpoint;
      if (treeSize === 0 || (previous && previous.treeSize >= treeSize)) return; // covered already (perhaps by another instance)
      if (previous && encodeHash(tree.rootHash(previous.treeSize)) !== previous.rootHash) {
        throw corrupt((problem = { file: CHECKPOINTS_TABLE, reason: `the checkpoint for tree size ${previous.treeSize} does not match the entries: no checkpoint can extend it` }));
      }
      // Not before the previous checkpoint nor the entries it covers: another instance's clock may be ahead.
      const ms = Math.max(clock().getTime(), previous ? Date.parse(previous.time) : 0, lastTime ? Date.parse(lastTime) : 0);
      const signed = await signCheckpoint({ origin, treeSize, rootHash: encodeHash(tree.rootHash(treeSize)), time: new Date(ms).toISOString() }, signer, noteSigner);
      await client.query('INSERT INTO audit_checkpoints (tree_size, checkpoint) VALUES ($1, $2::jsonb)', [treeSize, JSON.stringify(checkpointRecord(signed))]);
    });
    // What was signed comes in like any other instance's checkpoint: checked against the tree.
    const after = await refresh();
    if (after) throw corrupt(after);
    return latest;
  }

  return {
    get count() {
      return sizes.length;
    },
    latest: () => latest,
    refresh,
    signIfGrown,
    firstCovering: (seq) => firstCovering(sizes, seq),
    async read(index) {
      const treeSize = sizes[index] as number;
      if (treeSize === latest?.treeSize) return latest;
      const { rows } = await database.query<CheckpointRow>('SELECT tree_size, checkpoint FROM audit_checkpoints WHERE tree_size = $1', [treeSize]);
      const parsed = rows[0] ? parseRow(rows[0]) : 'it is gone';
      if (typeof parsed === 'string') throw new GatewayError('ERR_AUDIT_CORRUPT', `the checkpoint for tree size ${treeSize} in ${CHECKPOINTS_TABLE} changed: ${parsed}`);
      return parsed.checkpoint;
    },
  };
}
