// The witness state of shared mode (witness/pg-witness-state.ts): per log origin, the last checkpoint
// this witness cosigned. A row only moves forward, by a compare-and-store on its tree size.
import type { Migration } from '../migration.js';

export const witnessStateMigration: Migration = {
  version: 4,
  name: 'witness-state',
  sql: `
CREATE TABLE witness_checkpoints (
  origin       text PRIMARY KEY,
  tree_size    bigint NOT NULL CHECK (tree_size >= 0),
  root_hash    text NOT NULL,
  checkpoint   text NOT NULL,
  cosigned_at  timestamptz NOT NULL
);
`,
};
