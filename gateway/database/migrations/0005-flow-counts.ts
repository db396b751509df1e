// The console's flow aggregates in shared mode (flows/pg-flow-counts.ts): per day, category,
// direction, outcome and pair, how many transfers and declared bytes. Keyed by day first: an
// overview reads the rows of its period through the primary key.
import type { Migration } from '../migration.js';

export const flowCountsMigration: Migration = {
  version: 5,
  name: 'flow-counts',
  sql: `
CREATE TABLE flow_counts (
  day        date NOT NULL,
  category   text NOT NULL,
  direction  text NOT NULL,
  outcome    text NOT NULL,
  sender     text NOT NULL,
  recipient  text NOT NULL,
  transfers  bigint NOT NULL CHECK (transfers > 0),
  bytes      bigint NOT NULL CHECK (bytes >= 0),
  PRIMARY KEY (day, category, direction, outcome, sender, recipient)
);
`,
};
