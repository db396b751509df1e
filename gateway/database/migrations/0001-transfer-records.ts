// Transfer records (records/pg-record-store.ts): the whole record as JSON, with the columns the list
// and sweep queries filter and order on, and the row's revision for conditional updates. Ids compare
// bytewise (COLLATE "C"): they are time-ordered ASCII, and the keyset cursors of lists and sweeps must
// order them as the file store does, whatever the database's default collation.
import type { Migration } from '../migration.js';

export const transferRecordsMigration: Migration = {
  version: 1,
  name: 'transfer-records',
  sql: `
CREATE TABLE transfers (
  id               text COLLATE "C" PRIMARY KEY,
  sender           text NOT NULL,
  recipient        text NOT NULL,
  status           text NOT NULL,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  retention_until  timestamptz NOT NULL,
  decision_id      text NOT NULL,
  pending_stages   boolean NOT NULL DEFAULT false,
  revision         bigint NOT NULL,
  -- The instance taking an upload holds it until lease_expires_at, renewing while it streams.
  lease_holder     text,
  lease_expires_at timestamptz,
  record           jsonb NOT NULL,
  -- Lists order and page by this copy of the id, which only the party indexes below carry. Ordered
  -- by id itself, a list could also walk the primary key newest first and filter, and the planner
  -- does so when it takes a party's rows of one status to be dense among the newest ids, which is
  -- wrong for e.g. expired ones (all old): it read 100 000s of rows to find a page.
  list_key         text COLLATE "C" GENERATED ALWAYS AS (id) STORED
);
-- One party's side, optionally one status, newest first (ids are time-ordered).
CREATE INDEX transfers_sender_status_list ON transfers (sender, status, list_key DESC);
CREATE INDEX transfers_sender_list ON transfers (sender, list_key DESC);
CREATE INDEX transfers_recipient_status_list ON transfers (recipient, status, list_key DESC);
CREATE INDEX transfers_recipient_list ON transfers (recipient, list_key DESC);
-- Sweeps: retention, recovery, pending stages.
CREATE INDEX transfers_status_retention ON transfers (status, retention_until);
CREATE INDEX transfers_pending ON transfers (id) WHERE pending_stages;
CREATE INDEX transfers_decision ON transfers (decision_id);
CREATE INDEX transfers_uploading_lease ON transfers (lease_expires_at) WHERE status = 'uploading';
`,
};
