// Journal entries read back by seq, each as the canonical text its leaf hash is taken over (RFC 8785),
// for callers that hand an entry to someone who checks it against a checkpoint: the receipt relay to
// the peer gateway, the console's transfer page. Read through the export path, one seq at a time.
import { toCanonicalJson } from './canonical-json.js';
import type { AuditEntry } from './audit-entry.js';
import type { AuditJournal } from './create-audit-journal.js';

export async function readEntries(journal: Pick<AuditJournal, 'exportRange'>, seqs: readonly number[]): Promise<{ entry: AuditEntry; text: string }[]> {
  const found: { entry: AuditEntry; text: string }[] = [];
  for (const seq of seqs) {
    for await (const chunk of journal.exportRange({ fromSeq: seq, toSeq: seq }) as AsyncIterable<Buffer | string>) {
      for (const line of String(chunk).split('\n')) {
        if (!line.startsWith('{"entry":')) continue;
        const { entry } = JSON.parse(line) as { entry: AuditEntry };
        if (entry.seq === seq) found.push({ entry, text: toCanonicalJson(entry) as string });
      }
    }
  }
  return found;
}
