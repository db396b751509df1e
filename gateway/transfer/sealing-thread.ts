// The thread side of sealing-threads: for each upload given to this thread, inspects and seals the
// plaintext batches it receives and writes the sealed segments to the upload's file with plain
// blocking calls, handing them to the disk every `syncEveryBytes` (fdatasync). Blocking here costs
// nothing: the event loop and the libuv thread pool it shares with small requests never wait for it.
import { closeSync, fdatasyncSync, fsyncSync, openSync, readlinkSync, writevSync } from 'node:fs';
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { GatewayError } from '../errors.js';
import { createBodySealer, type BodySealer, type BodySealingParams, type BodyTotals } from '../envelope/seal-body.js';
import { createInspector } from '../inspect/create-inspector.js';
import type { InspectionReport, Inspector, InspectorOptions } from '../inspect/inspection-report.js';

export type ToSealingThread =
  | { readonly type: 'start'; readonly id: number; readonly file: string; readonly sealing: BodySealingParams; readonly inspector: InspectorOptions; readonly syncEveryBytes: number }
  /** `length` bytes of plaintext at the start of `buffer` (transferred). */
  | { readonly type: 'data'; readonly id: number; readonly buffer: ArrayBuffer; readonly length: number }
  | { readonly type: 'end'; readonly id: number }
  | { readonly type: 'abort'; readonly id: number };

export interface SealingThreadData {
  /** Unix niceness of this thread (0 normal … 19 lowest). */
  readonly niceness: number;
}

export type FromSealingThread =
  /** One batch is done; `recycle` is a batch buffer nothing here refers to any more. */
  | { readonly type: 'ack'; readonly id: number; readonly recycle?: ArrayBuffer }
  | { readonly type: 'done'; readonly id: number; readonly body: BodyTotals; readonly report: InspectionReport }
  | { readonly type: 'failed'; readonly id: number; readonly error: { readonly message: string; readonly code?: string; readonly gatewayCode?: string } };

interface Upload {
  readonly fd: number;
  readonly sealer: BodySealer;
  readonly inspector: Inspector;
  readonly syncEveryBytes: number;
  unsynced: number;
  /** The batch before the current one: the sealer may still hold views into the current one only. */
  previous?: ArrayBuffer;
}

const uploads = new Map<number, Upload>();
/** Uploads that failed here: their later messages are answered, not processed. */
const failed = new Set<number>();

function post(message: FromSealingThread, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(message, transfer);
}

function writeAll(fd: number, pieces: Buffer[]): number {
  let pending = pieces;
  let total = 0;
  while (pending.length > 0) {
    let written = writevSync(fd, pending);
    total += written;
    // A short write: drop what was written and go on with the rest.
    const rest: Buffer[] = [];
    for (const piece of pending) {
      if (written >= piece.length) written -= piece.length;
      else {
        rest.push(written > 0 ? piece.subarray(written) : piece);
        written = 0;
      }
    }
    pending = rest;
  }
  return total;
}

function write(upload: Upload, pieces: Buffer[]): void {
  if (pieces.length === 0) return;
  upload.unsynced += writeAll(upload.fd, pieces);
  if (upload.unsynced >= upload.syncEveryBytes) {
    upload.unsynced = 0;
    fdatasyncSync(upload.fd);
  }
}

function handle(message: ToSealingThread): void {
  const upload = uploads.get(message.id);
  switch (message.type) {
    case 'start': {
      const fd = openSync(message.file, 'r+');
      try {
        const sealer = createBodySealer(message.sealing);
        message.sealing.dataKey.fill(0); // the sealer keeps only the derived key
        uploads.set(message.id, { fd, sealer, inspector: createInspector(message.inspector), syncEveryBytes: message.syncEveryBytes, unsynced: 0 });
      } catch (error) {
        closeSync(fd);
        throw error;
      }
      return;
    }
    case 'data': {
      if (!upload) {
        post({ type: 'ack', id: message.id, recycle: message.buffer }, [message.buffer]);
        return;
      }
      const chunk = new Uint8Array(message.buffer, 0, message.length);
      upload.inspector.write(chunk);
      write(upload, upload.sealer.write(chunk));
      const recycle = upload.previous;
      upload.previous = message.buffer;
      post({ type: 'ack', id: message.id, ...(recycle ? { recycle } : {}) }, recycle ? [recycle] : []);
      return;
    }
    case 'end': {
      if (!upload) return;
      write(upload, upload.sealer.end());
      fsyncSync(upload.fd);
      closeSync(upload.fd);
      uploads.delete(message.id);
      post({ type: 'done', id: message.id, body: upload.sealer.totals(), report: upload.inspector.finish() });
      return;
    }
    case 'abort': {
      failed.delete(message.id);
      if (!upload) return;
      uploads.delete(message.id);
      closeSync(upload.fd);
    }
  }
}

/** Bulk work runs below the event loop's priority (Linux: niceness is per thread). */
function lowerThisThreadsPriority(niceness: number): void {
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(threadId)) os.setPriority(threadId, niceness);
  } catch {
    // Not Linux, or not permitted: the thread runs at the process's priority.
  }
}

lowerThisThreadsPriority(Number((workerData as SealingThreadData | undefined)?.niceness ?? 0));

parentPort?.on('message', (message: ToSealingThread) => {
  if (failed.has(message.id)) {
    if (message.type === 'data') post({ type: 'ack', id: message.id }, []);
    if (message.type === 'abort') failed.delete(message.id);
    return;
  }
  try {
    handle(message);
  } catch (error) {
    const upload = uploads.get(message.id);
    uploads.delete(message.id);
    if (upload) closeSync(upload.fd);
    if (message.type !== 'abort') failed.add(message.id);
    const { message: text, code } = error as NodeJS.ErrnoException;
    post({
      type: 'failed',
      id: message.id,
      error: { message: String(text), ...(typeof code === 'string' ? { code } : {}), ...(error instanceof GatewayError ? { gatewayCode: error.code } : {}) },
    });
  }
});
