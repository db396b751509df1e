// Each instance's copy of the shared journal's Merkle tree, built from the leaf hashes in
// audit_entries and brought up to date before proofs, checkpoints and exports (other instances append
// too). Every batch is read in one statement together with the head, so it sees a consistent log: a
// missing seq below the head, an entry whose bytes no longer hash to its leaf, or a time that goes
// back is a damaged log, never a race. The entries' hashes are checked on every read, at open and
// after: the database hashes them where they lie.
import type { JournalProblem } from './scan-journal-file.js';
import { HASH_BYTES } from './merkle-hash.js';
import { createMerkleTree, type MerkleTree } from './merkle-tree.js';
import type { Sql } from './pg-append-entries.js';

export const ENTRIES_TABLE = 'audit_entries';
/** Leaves read per statement. */
const LEAF_BATCH = 20_000;

// A batch comes back as one row: its leaves end to end, and the first seq (if any) that is missing,
// whose entry does not hash to its leaf, or whose time is before the one before it ($3: the last
// time already read), so the check runs in the database beside the data and the gateway decodes
// one value per batch instead of a row per entry.
// (The head is read by scalar subqueries, in the statement's one snapshot: as a table in the FROM
// list its row count is unknown to the planner, whose guess made the plan costly enough for JIT
// compilation, half a second per batch; and it bounds the batch outside the LIMIT subquery, whose
// plan must be a walk of the primary key from $1: with the head's bound inside, the planner guessed
// few rows and sorted every entry from $1 on for each batch.)
const READ_LEAVES = `
WITH batch AS (
  SELECT seq, leaf, time, leaf = sha256('\\x00'::bytea || entry) AS intact,
    $1 + row_number() OVER (ORDER BY seq) - 1 AS expected,
    lag(time, 1, $3::timestamptz) OVER (ORDER BY seq) AS previous_time
  FROM (SELECT seq, leaf, time, entry FROM audit_entries WHERE seq >= $1 ORDER BY seq LIMIT $2) e
  WHERE seq < (SELECT next_seq FROM audit_head)
)
SELECT (SELECT next_seq FROM audit_head) AS next_seq,
  (SELECT count(*) FROM batch) AS count,
  (SELECT min(expected) FROM batch WHERE seq <> expected) AS missing,
  (SELECT min(seq) FROM batch WHERE NOT intact) AS changed,
  (SELECT min(seq) FROM batch WHERE time < previous_time) AS back,
  (SELECT string_agg(leaf, ''::bytea ORDER BY seq) FROM batch) AS leaves,
  (SELECT (extract(epoch FROM max(time)) * 1000)::bigint FROM batch) AS last_ms`;

interface LeafBatch {
  readonly next_seq: string | null;
  readonly count: string;
  readonly missing: string | null;
  readonly changed: string | null;
  readonly back: string | null;
  readonly leaves: Buffer | null;
  readonly last_ms: string | null;
}

export interface PgJournalTree {
  readonly tree: MerkleTree;
  /** Time of the tree's last entry (ISO), when it has one. */
  readonly lastTime: string | undefined;
  /** The head's next seq as last read (the log's size then). */
  readonly headSize: number;
  /**
   * Reads the leaves appended since the last call (one call at a time; callers share a read in flight
   * or the next one). Resolves to the problem if the log is damaged (the tree then stops growing).
   */
  catchUp(sql?: Sql): Promise<JournalProblem | undefined>;
  /** Notes a size this instance knows is committed (its own appends), for status between catch-ups. */
  noteCommitted(size: number): void;
}

/** An empty tree over the log `sql` reads (catchUp fills it). */
export function createPgJournalTree(defaultSql: Sql): PgJournalTree {
  const tree = createMerkleTree();
  let lastTime: string | undefined;
  let headSize = 0;
  let problem: JournalProblem | undefined;

  const gap = (seq: number, next: number): JournalProblem => ({ file: ENTRIES_TABLE, seq, reason: `entry ${seq} is missing (the head says ${next} entries): the log has a gap` });

  async function readAll(sql: Sql): Promise<JournalProblem | undefined> {
    while (!problem) {
      const from = tree.size;
      const { rows } = await sql.query<LeafBatch>(READ_LEAVES, [from, LEAF_BATCH, lastTime ?? null]);
      const batch = rows[0] as LeafBatch;
      if (batch.next_seq === null) return (problem = { file: 'audit_head', reason: 'the head row of the log is missing' });
      const next = Number(batch.next_seq);
      const count = Number(batch.count);
      headSize = Math.max(headSize, next);
      // The first damage along the log, if any: the earliest seq of the three checks.
      const found = [
        batch.missing === null ? undefined : gap(Number(batch.missing), next),
        batch.changed === null ? undefined : { file: ENTRIES_TABLE, seq: Number(batch.changed), reason: `entry ${batch.changed} does not hash to its stored leaf: the entry or its leaf was changed` },
        batch.back === null ? undefined : { file: ENTRIES_TABLE, seq: Number(batch.back), reason: `entry ${batch.back} is timed before entry ${Number(batch.back) - 1}: times go back` },
      ]
        .filter((candidate): candidate is JournalProblem & { seq: number } => candidate !== undefined)
        .sort((a, b) => a.seq - b.seq)[0];
      if (found) return (problem = found);
      const leaves = batch.leaves ?? Buffer.alloc(0);
      for (let at = 0; at < leaves.length; at += HASH_BYTES) tree.append(leaves.subarray(at, at + HASH_BYTES));
      if (count > 0) lastTime = new Date(Number(batch.last_ms)).toISOString();
      if (tree.size === next) return undefined;
      if (count < LEAF_BATCH) return (problem = gap(tree.size, next));
    }
    return problem;
  }

  let running: Promise<JournalProblem | undefined> | undefined;
  let queued: Promise<JournalProblem | undefined> | undefined;
  function catchUp(sql: Sql = defaultSql): Promise<JournalProblem | undefined> {
    if (!running) {
      running = readAll(sql).finally(() => (running = undefined));
      return running;
    }
    // A read in flight may have started before the caller's entries were committed: queue one more.
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        return catchUp(sql);
      });
    return queued;
  }

  return {
    tree,
    get lastTime() {
      return lastTime;
    },
    get headSize() {
      return Math.max(headSize, tree.size);
    },
    catchUp,
    noteCommitted(size) {
      headSize = Math.max(headSize, size);
    },
  };
}
