// The policy history of shared mode: two tables (migration 0006). A revision is one row, inserted once
// whoever keeps it first (ON CONFLICT DO NOTHING: every instance reloading the same files keeps it,
// the first time stays); a reload attempt is one row of an append-only table. Listings read the
// newest rows through their indexes; a revision's file texts are read only when it is asked for.
import type { Database } from '../database/database.js';
import {
  historyLimitOf,
  isPolicyRevisionId,
  policyProblemView,
  reloadToRecord,
  revisionToKeep,
  type PolicyFileDigest,
  type PolicyFileText,
  type PolicyHistory,
  type PolicyProblemView,
  type PolicyReloadRecord,
} from './policy-history.js';

interface ReloadRow {
  at: Date;
  trigger: string;
  outcome: string;
  before_revision: string | null;
  after_revision: string | null;
  code: string | null;
  problems: PolicyProblemView[] | null;
}

const reloadOfRow = (row: ReloadRow): PolicyReloadRecord =>
  row.outcome === 'applied'
    ? { at: row.at.toISOString(), trigger: row.trigger, outcome: 'applied', before: row.before_revision ?? '', after: row.after_revision ?? '' }
    : { at: row.at.toISOString(), trigger: row.trigger, outcome: 'rejected', code: row.code ?? '', problems: (row.problems ?? []).map(policyProblemView) };

/** The history on `database`, whose pool it does not own (close() leaves it open). */
export function createPgPolicyHistory(database: Database): PolicyHistory {
  return {
    async keepRevision(input) {
      const record = revisionToKeep(input);
      // jsonb keeps an array's order and a string's text exactly (but not a NUL, which a YAML file has not).
      await database.query('INSERT INTO policy_revisions (revision, first_accepted_at, files) VALUES ($1, $2, $3::jsonb) ON CONFLICT (revision) DO NOTHING', [
        record.revision,
        record.firstAcceptedAt,
        JSON.stringify(record.files),
      ]);
    },
    async recordReload(reload) {
      const record = reloadToRecord(reload);
      const [before, after, code, problems] = record.outcome === 'applied' ? [record.before, record.after, null, null] : [null, null, record.code, JSON.stringify(record.problems)];
      await database.query(
        'INSERT INTO policy_reloads (at, trigger, outcome, before_revision, after_revision, code, problems) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)',
        [record.at, record.trigger, record.outcome, before, after, code, problems],
      );
    },
    async revisions(options) {
      const limit = historyLimitOf(options);
      // The files' hashes are taken here, so that the texts do not cross the network for a listing.
      const result = await database.query<{ revision: string; first_accepted_at: Date; files: PolicyFileDigest[] }>(
        `SELECT revision, first_accepted_at,
                (SELECT coalesce(jsonb_agg(jsonb_build_object('name', file->>'name', 'sha256', encode(sha256(convert_to(file->>'text', 'UTF8')), 'hex')) ORDER BY position), '[]'::jsonb)
                   FROM jsonb_array_elements(files) WITH ORDINALITY AS listed(file, position)) AS files
           FROM policy_revisions
          ORDER BY first_accepted_at DESC, kept DESC
          LIMIT $1`,
        [limit],
      );
      return result.rows.map((row) => ({ revision: row.revision, firstAcceptedAt: row.first_accepted_at.toISOString(), files: row.files }));
    },
    async revision(revision) {
      if (!isPolicyRevisionId(revision)) return undefined;
      const result = await database.query<{ revision: string; first_accepted_at: Date; files: PolicyFileText[] }>('SELECT revision, first_accepted_at, files FROM policy_revisions WHERE revision = $1', [revision]);
      const row = result.rows[0];
      return row && { revision: row.revision, firstAcceptedAt: row.first_accepted_at.toISOString(), files: row.files.map(({ name, text }) => ({ name, text })) };
    },
    async reloads(options) {
      const limit = historyLimitOf(options);
      const result = await database.query<ReloadRow>(
        'SELECT at, trigger, outcome, before_revision, after_revision, code, problems FROM policy_reloads ORDER BY at DESC, id DESC LIMIT $1',
        [limit],
      );
      return result.rows.map(reloadOfRow);
    },
    async close() {
      // The pool belongs to the back-ends.
    },
  };
}
