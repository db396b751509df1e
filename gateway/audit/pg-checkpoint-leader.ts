// Which instance signs the shared journal's periodic checkpoints: the one holding a session-level
// advisory lock on a connection of its own. The others try to take it at each interval, so when the
// leader dies (its session ends, and the lock with it) another takes over within one interval. The
// leader checks its connection at each interval too: one cut without a word from the server is
// found there, not only by the error event. Leading decides only who does the periodic work; the
// signing itself is serialized by pg-checkpoints.ts, so two instances that both believe they lead
// (one on a connection not yet known to be dead) still sign nothing twice.
import type pg from 'pg';
import type { Database } from '../database/database.js';

/** The advisory lock (two int4 keys) the leader's session holds: 'heta' 'o' + 2. */
const LEADER_LOCK = [0x68657461, 0x6f0002];

export interface CheckpointLeadership {
  readonly leading: boolean;
  /** Keeps the lead (its connection still answers) or tries to take it; resolves to whether this instance leads. */
  claim(): Promise<boolean>;
  /** Gives the lead up (ends the lock's session). */
  release(): Promise<void>;
}

/** `onChange` is told each time this instance starts or stops leading (a metrics gauge). */
export function createCheckpointLeadership(database: Database, onChange?: (leading: boolean) => void): CheckpointLeadership {
  let client: pg.PoolClient | undefined;
  let released = false;

  /** Drops the lock's connection: destroyed, never handed back to the pool with the lock on it. */
  function drop(lost: pg.PoolClient): void {
    if (client !== lost) return;
    client = undefined;
    lost.removeAllListeners('error');
    lost.on('error', () => undefined); // a late error of the dead connection must not crash the process
    lost.release(true);
    onChange?.(false);
  }

  async function take(): Promise<boolean> {
    let candidate: pg.PoolClient;
    try {
      candidate = await database.connect();
    } catch {
      return false; // the database is down: try again at the next interval
    }
    const onError = (): void => drop(candidate);
    candidate.on('error', onError);
    let locked: boolean | undefined;
    try {
      const { rows } = await candidate.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', LEADER_LOCK);
      locked = rows[0]?.locked === true;
    } catch {
      locked = undefined; // the connection failed
    }
    if (locked !== true || released) {
      candidate.removeListener('error', onError);
      // Back to the pool only when it holds no lock and works; a lock taken as we closed ends with its session.
      candidate.release(locked !== false);
      return false;
    }
    client = candidate;
    onChange?.(true);
    return true;
  }

  return {
    get leading() {
      return client !== undefined;
    },
    async claim() {
      if (released) return false;
      const held = client;
      if (held) {
        try {
          await held.query('SELECT 1');
          return true;
        } catch {
          drop(held);
        }
      }
      return take();
    },
    release() {
      released = true;
      if (client) drop(client);
      return Promise.resolve();
    },
  };
}
