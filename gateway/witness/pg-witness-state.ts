// The witness state in PostgreSQL, for shared mode: every instance of the witness on one
// `witness_checkpoints` table (database/migrations/0004-witness-state.ts). Compare-and-store is one
// conditional statement, so the database decides which of two racing stores wins, whichever process
// they come from: for an expected size of 0 an insert that may only replace a row still at size 0, for
// any other an update of the row at exactly that size. A row locked by a racing store is re-read by
// PostgreSQL once that store commits, so the loser sees the winner's size and changes nothing.
import type { Database } from '../database/database.js';
import { GatewayError } from '../errors.js';
import type { WitnessedCheckpoint, WitnessState } from './witness-state.js';

interface CheckpointRow {
  readonly origin: string;
  /** bigint arrives as text. */
  readonly tree_size: string;
  readonly root_hash: string;
  readonly checkpoint: string;
  readonly cosigned_at: Date;
}

const SELECT = 'SELECT origin, tree_size, root_hash, checkpoint, cosigned_at FROM witness_checkpoints WHERE origin = $1';

const STORE_FIRST = `INSERT INTO witness_checkpoints (origin, tree_size, root_hash, checkpoint, cosigned_at)
  VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (origin) DO UPDATE SET tree_size = EXCLUDED.tree_size, root_hash = EXCLUDED.root_hash, checkpoint = EXCLUDED.checkpoint, cosigned_at = EXCLUDED.cosigned_at
  WHERE witness_checkpoints.tree_size = 0`;

const STORE_NEXT = `UPDATE witness_checkpoints SET tree_size = $2, root_hash = $3, checkpoint = $4, cosigned_at = $5
  WHERE origin = $1 AND tree_size = $6`;

const recordOf = (row: CheckpointRow): WitnessedCheckpoint => ({
  origin: row.origin,
  treeSize: Number(row.tree_size),
  rootHash: row.root_hash,
  checkpoint: row.checkpoint,
  cosignedAt: row.cosigned_at.toISOString(),
});

/**
 * A WitnessState on `database`. The pool is the caller's: `close` leaves it open.
 * Every method rejects with GatewayError `ERR_DATABASE_UNAVAILABLE` when the database does not answer.
 */
export function openPgWitnessState(database: Database): WitnessState {
  const get = async (origin: string): Promise<WitnessedCheckpoint | undefined> => {
    const { rows } = await database.query<CheckpointRow>(SELECT, [origin]);
    return rows[0] ? recordOf(rows[0]) : undefined;
  };
  return {
    get,
    async compareAndStore(origin, expectedSize, next) {
      if (next.origin !== origin) throw new GatewayError('ERR_INTERNAL', `a checkpoint of ${JSON.stringify(next.origin)} cannot be stored as ${JSON.stringify(origin)}'s`);
      const values = [origin, next.treeSize, next.rootHash, next.checkpoint, next.cosignedAt];
      const { rowCount } = expectedSize === 0 ? await database.query(STORE_FIRST, values) : await database.query(STORE_NEXT, [...values, expectedSize]);
      if (rowCount === 1) return { stored: true };
      // Sizes only grow, so what is read now is at least the size that made the store miss.
      return { stored: false, currentSize: (await get(origin))?.treeSize ?? 0 };
    },
    async close() {
      // Nothing of its own to release: the pool belongs to the process.
    },
  };
}
