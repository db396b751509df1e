// The policy history of shared mode (policy-history/pg-policy-history.ts): every accepted policy
// revision with its files' text, and every reload attempt with its outcome. Both only grow; the
// console lists the newest of each through the two indexes.
import type { Migration } from '../migration.js';

export const policyHistoryMigration: Migration = {
  version: 6,
  name: 'policy-history',
  sql: `
CREATE TABLE policy_revisions (
  revision           text PRIMARY KEY,
  first_accepted_at  timestamptz NOT NULL,
  files              jsonb NOT NULL,
  -- Orders revisions first accepted at the same instant: the later kept is the newer.
  kept               bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX policy_revisions_newest ON policy_revisions (first_accepted_at DESC, kept DESC);

CREATE TABLE policy_reloads (
  id               bigserial PRIMARY KEY,
  at               timestamptz NOT NULL,
  trigger          text NOT NULL,
  outcome          text NOT NULL CHECK (outcome IN ('applied', 'rejected')),
  before_revision  text,
  after_revision   text,
  code             text,
  problems         jsonb,
  CHECK (outcome <> 'applied' OR (before_revision IS NOT NULL AND after_revision IS NOT NULL)),
  CHECK (outcome <> 'rejected' OR (code IS NOT NULL AND problems IS NOT NULL))
);
CREATE INDEX policy_reloads_newest ON policy_reloads (at DESC, id DESC);
`,
};
