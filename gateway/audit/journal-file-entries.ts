// The file journal's entries for an export: journal.ndjson read line by line from the entry index's
// sampled offset at or before the first wanted entry, so an export of recent entries does not read
// the whole file.
import { createReadStream } from 'node:fs';
import type { EntryIndex } from './entry-index.js';
import { entryChanged, type EntrySource } from './export-range.js';
import { readLines } from './read-lines.js';

export const JOURNAL_FILE_STORE = 'the journal file';

/** An EntrySource over `journalFile`; a line cut short (the file changed underneath) is reported as corruption. */
export function journalFileEntries(journalFile: string, index: EntryIndex, reportCorruption: (reason: string) => void): EntrySource {
  return async function* readJournalFile({ fromSeq, fromTime, lastSeq }) {
    const start = index.seekPoint(fromSeq, fromTime);
    if (start.seq > lastSeq) return;
    const file = createReadStream(journalFile, { start: start.offset, highWaterMark: 1024 * 1024 });
    let seq = start.seq;
    try {
      for await (const { bytes, terminated } of readLines(file)) {
        if (seq > lastSeq) return;
        if (!terminated) throw entryChanged(reportCorruption, seq, JOURNAL_FILE_STORE);
        yield { seq, bytes };
        seq += 1;
      }
    } finally {
      file.destroy();
    }
  };
}
