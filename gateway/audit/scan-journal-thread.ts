// The thread side of the parallel start-up check (scan-journal-file): scans one byte range of the
// journal in an io-lane thread of the pool and answers the result, its hash arrays moved rather
// than copied.
import { open } from 'node:fs/promises';
import type { RunJob } from '../threads/thread-entry.js';
import { scanJournalRange, type RangeScan } from './scan-journal-range.js';

export interface RangeRequest {
  readonly file: string;
  readonly start: number;
  /** Infinity: to the end of the file. */
  readonly end: number;
}

export const runJob: RunJob<RangeRequest, RangeScan> = async (request) => {
  const handle = await open(request.file, 'r');
  try {
    const scan = await scanJournalRange(handle, request.start, request.end);
    return { value: scan, transfer: [...scan.levels.map((level) => level.buffer), scan.index.subjectOfEntry.buffer] as ArrayBuffer[] };
  } finally {
    await handle.close();
  }
};
