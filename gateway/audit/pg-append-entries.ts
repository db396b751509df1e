// One batch of appends to the shared journal in one statement, so one transaction and one round trip:
// the head row moves by the batch's size (its row lock orders the instances, and every seq taken is
// used in the same transaction, so a batch that fails leaves no gap), and the entries are inserted
// with their seqs and the head's time, which never goes back. The database puts seq and time into
// each entry's canonical text (audit-entry.ts gives it the parts around them) and hashes the leaf,
// so the head's row lock is held for the statement and its commit only, not for round trips to
// the gateway and back.
import type pg from 'pg';
import type { Database } from '../database/database.js';
import { GatewayError } from '../errors.js';
import { joinEntryParts, type AuditEntryParts } from './audit-entry.js';
import { HASH_BYTES, hashLeaf } from './merkle-hash.js';

export interface EntryToAppend {
  readonly parts: AuditEntryParts;
  readonly subject: string | undefined;
}

export interface AppendedBatch {
  /** Seq of the batch's first entry; the others follow in order. */
  readonly firstSeq: number;
  /** Their time (ISO 8601 UTC, milliseconds). */
  readonly time: string;
  /** Their leaf hashes, in order. */
  readonly leaves: readonly Buffer[];
}

/** The subset of a pool or client the journal's statements need. */
export interface Sql {
  query<Row extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<Row>>;
}

/** Where the batch's parts are joined: canonical JSON escapes every control character, so none holds it. */
const SEPARATOR = '\x1f';
const TIME_FORMAT = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;
const APPEND_STATEMENT = 'hetao-audit-append';

// The parts come as three texts split on the separator (no per-element escaping on either side), the
// subjects as a JSON array (a subject may hold any character); the leaves go back end to end.
const APPEND = `
WITH head AS (
  UPDATE audit_head SET next_seq = next_seq + $1, last_time = greatest(last_time, $2::timestamptz)
  RETURNING next_seq - $1 AS first_seq, last_time, to_char(last_time AT TIME ZONE 'UTC', ${TIME_FORMAT}) AS iso
), inserted AS (
  INSERT INTO audit_entries (seq, time, subject, leaf, entry)
  SELECT e.seq, h.last_time, e.subject, sha256('\\x00'::bytea || e.bytes), e.bytes
  FROM head h,
    LATERAL (
      SELECT h.first_seq + p.i - 1 AS seq, p.subject,
        convert_to(p.head || (h.first_seq + p.i - 1)::text || p.middle || h.iso || p.tail, 'UTF8') AS bytes
      FROM unnest(
        string_to_array($3, chr(31)), string_to_array($4, chr(31)), string_to_array($5, chr(31)),
        ARRAY(SELECT s FROM json_array_elements_text($6::json) WITH ORDINALITY AS j(s, n) ORDER BY n)
      ) WITH ORDINALITY AS p(head, middle, tail, subject, i)
    ) e
  RETURNING seq, leaf
)
SELECT h.first_seq, h.iso, (SELECT string_agg(leaf, ''::bytea ORDER BY seq) FROM inserted) AS leaves FROM head h`;

/**
 * Appends `entries` in one statement (autocommit: it is its own transaction, durable when it resolves).
 * `now` is this instance's clock; the entries get the later of it and the log's last time. Database
 * errors are thrown as they come (the caller maps them).
 * @throws GatewayError `ERR_AUDIT_CORRUPT` (details: the problem) when the database did not store the bytes
 *   the gateway encodes for the same seq and time (a server that changes text: the entries are committed,
 *   and the caller must stop trusting the log), or the head row is gone.
 */
export async function appendEntries(database: Pick<Database, 'query'>, entries: readonly EntryToAppend[], now: Date): Promise<AppendedBatch> {
  const heads: string[] = [];
  const middles: string[] = [];
  const tails: string[] = [];
  const subjects: (string | null)[] = [];
  for (const { parts, subject } of entries) {
    heads.push(parts.head);
    middles.push(parts.middle);
    tails.push(parts.tail);
    subjects.push(subject ?? null);
  }
  const values = [entries.length, now.toISOString(), heads.join(SEPARATOR), middles.join(SEPARATOR), tails.join(SEPARATOR), JSON.stringify(subjects)];
  const result = await database.query<{ first_seq: string; iso: string; leaves: Buffer }>(APPEND, values, APPEND_STATEMENT);
  const row = result.rows[0];
  if (!row) throw new GatewayError('ERR_AUDIT_CORRUPT', 'the head row of the log is missing', { file: 'audit_head', reason: 'the head row of the log is missing' });
  const firstSeq = Number(row.first_seq);
  const { iso } = row;
  const leaves = entries.map((entry, i) => {
    const leaf = row.leaves.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES);
    const expected = hashLeaf(Buffer.from(joinEntryParts(entry.parts, firstSeq + i, iso), 'utf8'));
    if (!expected.equals(leaf)) {
      const reason = `the database stored entry ${firstSeq + i} as other bytes than its canonical form`;
      throw new GatewayError('ERR_AUDIT_CORRUPT', reason, { file: 'audit_entries', seq: firstSeq + i, reason });
    }
    return leaf;
  });
  return { firstSeq, time: iso, leaves };
}
