// Every migration this version knows, in order. `hetao db migrate` applies the missing ones; a gateway
// starts only on a database whose applied migrations are exactly these (database/migrate.ts).
import type { Migration } from './migration.js';
import { transferRecordsMigration } from './migrations/0001-transfer-records.js';
import { auditJournalMigration } from './migrations/0002-audit-journal.js';
import { transferPairsMigration } from './migrations/0003-transfer-pairs.js';
import { witnessStateMigration } from './migrations/0004-witness-state.js';
import { flowCountsMigration } from './migrations/0005-flow-counts.js';
import { policyHistoryMigration } from './migrations/0006-policy-history.js';

export const MIGRATIONS: readonly Migration[] = [transferRecordsMigration, auditJournalMigration, transferPairsMigration, witnessStateMigration, flowCountsMigration, policyHistoryMigration];
