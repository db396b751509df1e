// The worker-thread side of the parallel start-up check (scan-journal-file): scans one byte range of
// the journal and posts the result back, its hash arrays transferred rather than copied, then exits.
import { open } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { scanJournalRange, type RangeScan } from './scan-journal-range.js';

export interface RangeRequest {
  readonly file: string;
  readonly start: number;
  /** Infinity: to the end of the file. */
  readonly end: number;
}

export type RangeResponse = { readonly scan: RangeScan } | { readonly error: { readonly message: string; readonly code?: string } };

async function answer(request: RangeRequest): Promise<{ response: RangeResponse; transfer: ArrayBuffer[] }> {
  try {
    const handle = await open(request.file, 'r');
    try {
      const scan = await scanJournalRange(handle, request.start, request.end);
      const transfer = [...scan.levels.map((level) => level.buffer), scan.index.subjectOfEntry.buffer] as ArrayBuffer[];
      return { response: { scan }, transfer };
    } finally {
      await handle.close();
    }
  } catch (error) {
    const { message, code } = error as NodeJS.ErrnoException;
    return { response: { error: { message: String(message), ...(typeof code === 'string' ? { code } : {}) } }, transfer: [] };
  }
}

parentPort?.once('message', (request: RangeRequest) => {
  void answer(request).then(({ response, transfer }) => parentPort?.postMessage(response, transfer));
});
