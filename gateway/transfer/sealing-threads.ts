// Sealing threads: large uploads are inspected and sealed in the bulk lane of the thread pool (below
// the event loop's CPU priority), so the event loop only moves their bytes (TLS, HTTP, one copy into
// a batch) and stays free for small requests. Measured on 2 cores with 20 large uploads in flight
// (bench/queue-latency.ts): sealing on the event loop kept it busy ≈ 80 % of the time with cipher,
// hash, inspector and the garbage their buffers make.
//
// Each upload is a duplex stream, plaintext in and sealed body out, talking to one thread: plaintext
// is copied into batch buffers that move to the thread, at most MAX_BATCHES_IN_FLIGHT at a time, and
// come back to be reused once the thread is done with them; each batch's sealed bytes come back in the
// cipher's own buffers, moved, not copied, and are pushed out in order. While its readable side is
// full (a slow store) the stream takes no more plaintext, so backpressure reaches the sender's TCP
// window, and memory stays flat. The sealed body is written by the store's pending object like any
// other: one upload pipeline whatever the store.
import { Duplex } from 'node:stream';
import { GatewayError, type ErrorCode } from '../errors.js';
import { segmentSizeOf, type BodySealing, type SealedBodyTotals } from './body-sealing.js';
import type { InspectionReport, InspectorOptions } from '../inspect/inspection-report.js';
import type { ThreadPool } from '../threads/thread-pool.js';
import type { FromSealingThread, ToSealingThread } from './sealing-thread.js';

/** Fewer, larger batches: each message between threads costs a wake-up of the other side. */
export const SEALING_BATCH_BYTES = 1024 * 1024;
const MAX_BATCHES_IN_FLIGHT = 2;
const SEALING = new URL('./sealing-thread.js', import.meta.url);

export interface SealingRequest {
  readonly sealing: BodySealing;
  readonly inspector: InspectorOptions;
}

export interface SealedUpload {
  readonly body: SealedBodyTotals;
  readonly report: InspectionReport;
}

export interface SealingUpload {
  /**
   * Plaintext in, the sealed envelope body out, in order. Fails (is destroyed) with the sealer's
   * GatewayError (ERR_ENVELOPE_SIZE…), or ERR_INTERNAL when its thread stops; destroying it (an
   * aborted upload) makes the thread forget it.
   */
  readonly transform: Duplex;
  /** Settles once the transform has flushed its last sealed bytes; rejects when it fails or is destroyed. */
  readonly result: Promise<SealedUpload>;
  /**
   * Resuming an upload, before any plaintext is written: the stored sealed bytes of its first
   * segments, for the thread to open, hash and inspect (not to seal again). One call at a time.
   */
  replay(sealed: Buffer): Promise<void>;
  /**
   * Sends the plaintext gathered for a batch now rather than once the batch is full: the sender has
   * paused (a resumable upload between two requests), and what it sent must reach the store.
   */
  flush(): void;
}

export interface SealingThreads {
  /** @throws Error when the thread pool is closed. */
  seal(request: SealingRequest): SealingUpload;
}

/**
 * A thread's failure as an error here: the gateway's own codes (ERR_ENVELOPE_SIZE) are kept; anything
 * else is the gateway's fault (ERR_INTERNAL), never to be mistaken for a cut connection.
 */
function threadError(error: { message: string; code?: string; gatewayCode?: string }): GatewayError {
  if (error.gatewayCode) return new GatewayError(error.gatewayCode as ErrorCode, error.message);
  return new GatewayError('ERR_INTERNAL', `sealing thread: ${error.message}`, error.code ? { code: error.code } : undefined);
}

/** @param options.threads the process's thread pool; uploads are sealed in its `bulk` lane. */
export function createSealingThreads(options: { threads: ThreadPool<'bulk'> }): SealingThreads {
  return {
    seal(request) {
      const batchBytes = Math.max(SEALING_BATCH_BYTES, segmentSizeOf(request.sealing));
      const recycled: ArrayBuffer[] = [];
      let batch: Uint8Array | undefined;
      let filled = 0;
      let inFlight = 0;
      /** The readable side is above its high-water mark: take no more plaintext until it is read. */
      let readableFull = false;
      /** A write whose chunk is not all in batches yet, or whose callback waits for room. */
      let writing: { readonly chunk: Buffer; offset: number; readonly callback: (error?: Error | null) => void } | undefined;
      /** The final callback, waiting for the last batch to be sent, then for the thread's 'done'. */
      let finishing: ((error?: Error | null) => void) | undefined;
      let endSent = false;
      /** Send a partial batch as soon as the thread can take it. */
      let flushing = false;
      let replaying: (() => void) | undefined;
      let settled = false;
      let settle!: { resolve: (sealed: SealedUpload) => void; reject: (error: Error) => void };
      const result = new Promise<SealedUpload>((resolve, reject) => (settle = { resolve, reject }));
      result.catch(() => undefined); // the transform's own error is what the pipeline reports

      const pushSealed = (sealed: readonly ArrayBuffer[]): void => {
        for (const piece of sealed) if (!transform.push(Buffer.from(piece))) readableFull = true;
      };

      const channel = options.threads.open<ToSealingThread, FromSealingThread>('bulk', SEALING, {
        onMessage(message) {
          if (message.type === 'replayed') {
            const done = replaying;
            replaying = undefined;
            done?.();
          } else if (message.type === 'sealed') {
            inFlight -= 1;
            for (const buffer of message.recycle) if (buffer.byteLength === batchBytes) recycled.push(buffer);
            pushSealed(message.sealed);
            pump();
          } else if (message.type === 'done') {
            pushSealed(message.sealed);
            transform.push(null);
            settled = true;
            channel.close();
            settle.resolve({ body: message.body, report: message.report });
            const callback = finishing;
            finishing = undefined;
            callback?.();
          } else {
            transform.destroy(threadError(message.error));
          }
        },
        onFailed: (error) => transform.destroy(threadError(error)),
      });
      channel.post({ type: 'start', sealing: request.sealing, inspector: request.inspector });

      const sendBatch = (): void => {
        const full = batch as Uint8Array;
        channel.post({ type: 'data', buffer: full.buffer as ArrayBuffer, length: filled }, [full.buffer as ArrayBuffer]);
        inFlight += 1;
        batch = undefined;
        filled = 0;
      };

      /** Moves the waiting write (or the end) along as far as the batches in flight and the readable side allow. */
      function pump(): void {
        if (writing) {
          const current = writing;
          for (;;) {
            if (filled === batchBytes) {
              if (inFlight >= MAX_BATCHES_IN_FLIGHT) return; // on with the thread's next answer
              sendBatch();
            }
            if (current.offset === current.chunk.length) break;
            batch ??= new Uint8Array(recycled.pop() ?? new ArrayBuffer(batchBytes));
            const take = Math.min(batchBytes - filled, current.chunk.length - current.offset);
            batch.set(current.chunk.subarray(current.offset, current.offset + take), filled);
            filled += take;
            current.offset += take;
          }
          if (readableFull) return; // on when the readable side is read
          writing = undefined;
          current.callback();
        } else if (flushing && filled > 0 && !finishing) {
          if (inFlight >= MAX_BATCHES_IN_FLIGHT) return;
          flushing = false;
          sendBatch();
        } else if (finishing && !endSent) {
          if (filled > 0) {
            if (inFlight >= MAX_BATCHES_IN_FLIGHT) return;
            sendBatch();
          }
          endSent = true;
          channel.post({ type: 'end' });
        }
      }

      const transform = new Duplex({
        readableHighWaterMark: batchBytes,
        write(chunk: Buffer, _encoding, callback) {
          writing = { chunk, offset: 0, callback };
          pump();
        },
        final(callback) {
          finishing = callback;
          pump();
        },
        read() {
          readableFull = false;
          pump();
        },
        destroy(error, callback) {
          if (!settled) {
            settled = true;
            channel.close(); // the thread forgets the upload (a no-op if the thread is gone)
            settle.reject(error ?? new Error('the upload was aborted'));
          }
          const failure = error ?? new Error('the upload was aborted');
          const waitingWrite = writing?.callback;
          const waitingFinal = finishing;
          writing = undefined;
          finishing = undefined;
          batch = undefined;
          recycled.length = 0;
          waitingWrite?.(failure);
          waitingFinal?.(failure);
          callback(error);
        },
      });
      return {
        transform,
        result,
        replay(sealed) {
          if (replaying) return Promise.reject(new GatewayError('ERR_INTERNAL', 'one replay at a time'));
          const copy = new Uint8Array(sealed).buffer; // moved to the thread: never the caller's (possibly pooled) buffer
          return new Promise<void>((resolve, reject) => {
            if (settled) return reject(new GatewayError('ERR_INTERNAL', 'the sealing was aborted'));
            replaying = resolve;
            result.catch(reject);
            channel.post({ type: 'replay', buffer: copy }, [copy]);
          });
        },
        flush() {
          flushing = true;
          pump();
        },
      };
    },
  };
}
