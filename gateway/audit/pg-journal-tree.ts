// Each instance's copy of the shared journal's Merkle tree, built from the leaf hashes in
// audit_entries and brought up to date before proofs, checkpoints and exports (other instances append
// too). Every batch is read in one statement together with the head, so it sees a consistent log: a
// missing seq below the head, an entry whose bytes no longer hash to its leaf, or a time that goes
// back is a damaged log, never a race.
import type { JournalProblem } from './scan-journal-file.js';
import { createMerkleTree, type MerkleTree } from './merkle-tree.js';
import type { Sql } from './pg-append-entries.js';

export const ENTRIES_TABLE = 'audit_entries';
/** Leaves read per statement. */
const LEAF_BATCH = 20_000;

const READ_LEAVES = `
WITH head AS (SELECT next_seq FROM audit_head)
SELECT head.next_seq, e.seq, e.leaf, e.time, e.intact
FROM head LEFT JOIN LATERAL (
  SELECT seq, leaf, time, leaf = sha256('\\x00'::bytea || entry) AS intact
  FROM audit_entries WHERE seq >= $1 AND seq < head.next_seq ORDER BY seq LIMIT $2
) e ON true`;

interface LeafRow {
  readonly next_seq: string;
  readonly seq: string | null;
  readonly leaf: Buffer | null;
  readonly time: Date | null;
  readonly intact: boolean | null;
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
  let lastMs = -Infinity;
  let headSize = 0;
  let problem: JournalProblem | undefined;

  async function readAll(sql: Sql): Promise<JournalProblem | undefined> {
    while (!problem) {
      const from = tree.size;
      const { rows } = await sql.query<LeafRow>(READ_LEAVES, [from, LEAF_BATCH]);
      if (rows.length === 0) return (problem = { file: 'audit_head', reason: 'the head row of the log is missing' });
      const next = Number((rows[0] as LeafRow).next_seq);
      headSize = Math.max(headSize, next);
      for (const row of rows) {
        if (row.seq === null) break;
        const seq = Number(row.seq);
        if (seq !== tree.size) return (problem = { file: ENTRIES_TABLE, seq: tree.size, reason: `entry ${tree.size} is missing (the head says ${next} entries): the log has a gap` });
        if (!row.intact) return (problem = { file: ENTRIES_TABLE, seq, reason: `entry ${seq} does not hash to its stored leaf: the entry or its leaf was changed` });
        const ms = (row.time as Date).getTime();
        if (ms < lastMs) return (problem = { file: ENTRIES_TABLE, seq, reason: `entry ${seq} is timed before entry ${seq - 1}: times go back` });
        tree.append(row.leaf as Buffer);
        lastMs = ms;
      }
      if (tree.size > from) lastTime = new Date(lastMs).toISOString();
      if (tree.size === next) return undefined;
      if (tree.size - from < LEAF_BATCH) return (problem = { file: ENTRIES_TABLE, seq: tree.size, reason: `entry ${tree.size} is missing (the head says ${next} entries): the log has a gap` });
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
