// The shared audit journal (audit/pg-audit-journal.ts): entries sequenced under one head row, and the
// signed checkpoints, in the same canonical forms as journal.ndjson and checkpoints.ndjson.
import type { Migration } from '../migration.js';

export const auditJournalMigration: Migration = {
  version: 2,
  name: 'audit-journal',
  sql: `
CREATE TABLE audit_head (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  next_seq   bigint NOT NULL,
  last_time  timestamptz NOT NULL
);
INSERT INTO audit_head (next_seq, last_time) VALUES (0, 'epoch');
CREATE TABLE audit_entries (
  seq      bigint PRIMARY KEY,
  time     timestamptz NOT NULL,
  subject  text,
  leaf     bytea NOT NULL,
  entry    bytea NOT NULL
);
CREATE INDEX audit_entries_subject ON audit_entries (subject, seq) WHERE subject IS NOT NULL;
CREATE INDEX audit_entries_time ON audit_entries (time, seq);
CREATE TABLE audit_checkpoints (
  tree_size  bigint PRIMARY KEY,
  checkpoint jsonb NOT NULL
);
`,
};
