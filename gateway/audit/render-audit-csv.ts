// A CSV rendering of an export's entries, for spreadsheets: one row per entry, no proofs (verify the
// NDJSON export itself; the CSV is for reading). Cells that a spreadsheet would take for a formula
// are prefixed with an apostrophe (OWASP CSV injection guidance).
//   pipeline(journal.exportRange(query), createAuditCsvTransform(), destination)
import { Duplex } from 'node:stream';
import type { AuditEntry } from './audit-entry.js';
import { readLines } from './read-lines.js';

export const AUDIT_CSV_COLUMNS = ['seq', 'time', 'type', 'actor_kind', 'actor_id', 'subject', 'manifest_sha256', 'plaintext_sha256', 'envelope_sha256', 'details'] as const;

function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  let text = typeof value === 'string' ? value : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The CSV row (CRLF-terminated, RFC 4180) of one entry. */
export function renderAuditCsvRow(entry: AuditEntry): string {
  const { hashes } = entry;
  const values = [entry.seq, entry.time, entry.type, entry.actor.kind, entry.actor.id, entry.subject, hashes?.manifest, hashes?.plaintext, hashes?.envelope, entry.details === undefined ? undefined : JSON.stringify(entry.details)];
  return `${values.map(cell).join(',')}\r\n`;
}

/** A transform from export NDJSON (bytes) to CSV (text): a header row, then one row per entry line. */
export function createAuditCsvTransform(): Duplex {
  return Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    yield `${AUDIT_CSV_COLUMNS.join(',')}\r\n`;
    for await (const { bytes } of readLines(source)) {
      const line = JSON.parse(bytes.toString('utf8')) as { kind?: string; entry?: AuditEntry };
      if (line.kind === 'entry' && line.entry) yield renderAuditCsvRow(line.entry);
    }
  });
}
