// The shared journal's entries for an export: read from audit_entries in batches by seq (keyset, one
// statement per batch, no connection held between them), so an export never holds the log in
// memory. A time bound starts the read at the first entry at or after it (times never decrease
// along the log, so the (time, seq) index finds it).
import { entryChanged, type EntrySource } from './export-range.js';
import type { Sql } from './pg-append-entries.js';
import { ENTRIES_TABLE } from './pg-journal-tree.js';

/** Entries per statement: about half a megabyte of typical entries. */
const ENTRY_BATCH = 1000;

/** An EntrySource over the shared journal; an entry missing below the tree's size is reported as corruption. */
export function pgJournalEntries(sql: Sql, reportCorruption: (reason: string) => void): EntrySource {
  return async function* readEntries({ fromSeq, fromTime, lastSeq }) {
    let next = fromSeq;
    if (fromTime !== undefined) {
      const { rows } = await sql.query<{ seq: string }>('SELECT seq FROM audit_entries WHERE time >= $1 ORDER BY time, seq LIMIT 1', [fromTime]);
      if (!rows[0]) return;
      next = Math.max(next, Number(rows[0].seq));
    }
    while (next <= lastSeq) {
      const { rows } = await sql.query<{ seq: string; entry: Buffer }>('SELECT seq, entry FROM audit_entries WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3', [next, lastSeq, ENTRY_BATCH]);
      // Every entry up to lastSeq is under a checkpoint, so it was there when the tree was built.
      for (const row of rows) {
        if (Number(row.seq) !== next) throw entryChanged(reportCorruption, next, ENTRIES_TABLE, 'is missing');
        yield { seq: next, bytes: row.entry };
        next += 1;
      }
      if (rows.length < ENTRY_BATCH && next <= lastSeq) throw entryChanged(reportCorruption, next, ENTRIES_TABLE, 'is missing');
    }
  };
}
