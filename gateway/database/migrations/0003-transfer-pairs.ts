// The transfers of one sender→recipient pair since an instant (records/pg-record-store.ts,
// usPersonsCarried): the US persons a pair carried over the preceding 12 months are summed over
// these rows alone, however many other pairs the table holds.
import type { Migration } from '../migration.js';

export const transferPairsMigration: Migration = {
  version: 3,
  name: 'transfer-pairs',
  sql: `
CREATE INDEX transfers_pair_created ON transfers (sender, recipient, created_at);
`,
};
