// Sealing threads: large uploads are inspected, encrypted and written in worker threads, so the event
// loop only moves their bytes (TLS, HTTP, one copy into a batch) and stays free for small requests.
// Measured on 2 cores with 20 large uploads in flight (bench/queue-latency.ts): sealing on the event
// loop kept it busy ≈ 80 % of the time with cipher, hash, inspector and the garbage their buffers make.
//
// Each upload gets a sink: plaintext written to it is copied into batch buffers that are transferred
// to the thread, at most MAX_BATCHES_IN_FLIGHT at a time (backpressure reaches the sender's TCP
// window), and recycled once the thread is done with them, so memory stays flat.
import { Writable } from 'node:stream';
import { GatewayError, type ErrorCode } from '../errors.js';
import type { BodySealingParams, BodyTotals } from '../envelope/seal-body.js';
import type { InspectionReport, InspectorOptions } from '../inspect/inspection-report.js';
import { toStorageError, type StorageErrorObserver } from '../storage/storage-errors.js';
import { threadEntry } from '../threads/thread-entry.js';
import { createThreadPool } from '../threads/thread-pool.js';
import type { FromSealingThread, SealingThreadData, ToSealingThread } from './sealing-thread.js';

const BATCH_BYTES = 256 * 1024;
const MAX_BATCHES_IN_FLIGHT = 2;
/** Sealed bytes between fdatasyncs: the disk gets the data as it comes, not all at commit. */
const SYNC_EVERY_BYTES = 1024 * 1024;
const THREAD_ENTRY = threadEntry('sealing-thread', import.meta.url);

export interface SealingRequest {
  /** An existing empty file (a pending file of the object store) the sealed body is written to. */
  readonly file: string;
  readonly sealing: BodySealingParams;
  readonly inspector: InspectorOptions;
}

export interface SealedUpload {
  readonly body: BodyTotals;
  readonly report: InspectionReport;
}

export interface SealingThreads {
  /**
   * A sink for one upload's plaintext. `result` settles when the sink has finished (the body is
   * written and synced, the file closed) or failed; on failure the caller deletes the file.
   */
  seal(request: SealingRequest): { sink: Writable; result: Promise<SealedUpload> };
  /** Stops the threads; uploads still running fail. */
  close(): Promise<void>;
}

/** A thread's failure as an error here; a full or failing disk is named and reported with the file. */
function threadError(error: { message: string; code?: string; gatewayCode?: string }, file: string, observe: StorageErrorObserver | undefined): Error {
  if (error.gatewayCode) return new GatewayError(error.gatewayCode as ErrorCode, error.message);
  const failure = Object.assign(new Error(`sealing thread: ${error.message}`), error.code ? { code: error.code } : {});
  return toStorageError(failure, { path: file, operation: 'seal' }, observe) as Error;
}

/**
 * @param options.threads at least 1; options.niceness for the threads (0 … 19).
 * @param options.onStorageError told when a thread's write fails for want of space or on a failing disk;
 *   the upload then fails with GatewayError ERR_STORAGE_FULL / ERR_STORAGE_UNAVAILABLE.
 */
export function createSealingThreads(options: { threads: number; niceness: number; onStorageError?: StorageErrorObserver }): SealingThreads {
  const workerData: SealingThreadData = { niceness: options.niceness };
  const pool = createThreadPool<FromSealingThread>({ entry: THREAD_ENTRY, threads: options.threads, workerData });
  let closed = false;

  return {
    seal(request) {
      if (closed) throw new GatewayError('ERR_INTERNAL', 'the sealing threads are closed');
      const batchBytes = Math.max(BATCH_BYTES, request.sealing.segmentSize);
      const recycled: ArrayBuffer[] = [];
      let batch: Uint8Array | undefined;
      let filled = 0;
      let inFlight = 0;
      let failure: Error | undefined;
      let ended = false;
      let finished = false;
      /** A write or final waiting for an ack, the thread's answer, or a failure. */
      let waiting: ((error?: Error) => void) | undefined;
      let settle!: { resolve: (sealed: SealedUpload) => void; reject: (error: Error) => void };
      const result = new Promise<SealedUpload>((resolve, reject) => (settle = { resolve, reject }));
      result.catch(() => undefined); // the sink's own error is what the pipeline reports

      const wake = (error?: Error): void => {
        const next = waiting;
        waiting = undefined;
        next?.(error);
      };
      const fail = (error: Error): void => {
        if (failure) return;
        failure = error;
        channel.close();
        send({ type: 'abort', id }); // lets the thread forget the upload (a no-op if the thread is gone)
        settle.reject(error);
        wake(error);
      };
      const channel = pool.open({
        onMessage(message) {
          if (message.type === 'ack') {
            inFlight -= 1;
            if (message.recycle) recycled.push(message.recycle);
            if (inFlight < MAX_BATCHES_IN_FLIGHT && !ended) wake();
          } else if (message.type === 'done') {
            finished = true;
            channel.close();
            settle.resolve({ body: message.body, report: message.report });
            wake();
          } else {
            fail(threadError(message.error, request.file, options.onStorageError));
          }
        },
        onStopped: (error) => fail(new Error(`sealing thread: ${error.message}`)),
      });
      const id = channel.id;
      const send = (message: ToSealingThread, transfer: ArrayBuffer[] = []): void => channel.post(message, transfer);
      send({ type: 'start', id, file: request.file, sealing: request.sealing, inspector: request.inspector, syncEveryBytes: SYNC_EVERY_BYTES });

      const sendBatch = (): void => {
        const full = batch as Uint8Array;
        send({ type: 'data', id, buffer: full.buffer as ArrayBuffer, length: filled }, [full.buffer as ArrayBuffer]);
        inFlight += 1;
        batch = undefined;
        filled = 0;
      };

      const sink = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          if (failure) return callback(failure);
          for (let offset = 0; offset < chunk.length; ) {
            batch ??= new Uint8Array(recycled.pop() ?? new ArrayBuffer(batchBytes));
            const take = Math.min(batchBytes - filled, chunk.length - offset);
            batch.set(chunk.subarray(offset, offset + take), filled);
            filled += take;
            offset += take;
            if (filled === batchBytes) sendBatch();
          }
          if (inFlight < MAX_BATCHES_IN_FLIGHT) return callback();
          waiting = (error) => callback(error);
        },
        final(callback) {
          if (failure) return callback(failure);
          ended = true;
          if (filled > 0) sendBatch();
          waiting = (error) => callback(error);
          send({ type: 'end', id });
        },
        destroy(error, callback) {
          if (!failure && !finished) {
            channel.close();
            send({ type: 'abort', id });
            settle.reject(error ?? new Error('the upload was aborted'));
          }
          callback(error);
        },
      });
      return { sink, result };
    },
    async close() {
      closed = true;
      await pool.close();
    },
  };
}
