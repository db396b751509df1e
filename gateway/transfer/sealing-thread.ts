// The thread side of sealing-threads: one channel per upload, in a bulk-lane thread of the pool.
// Each batch of plaintext is inspected and sealed here and its sealed bytes go back in one buffer of
// their own, moved rather than copied; the store writes them on the event loop's side, whatever the
// store. Nothing here touches a file.
import { GatewayError } from '../errors.js';
import { createFormatSealer, segmentSizeOf, type BodySealing, type FormatSealer, type SealedBodyTotals } from './body-sealing.js';
import { createInspector } from '../inspect/create-inspector.js';
import type { InspectionReport, Inspector, InspectorOptions } from '../inspect/inspection-report.js';
import type { OpenThreadChannel } from '../threads/thread-entry.js';

export type ToSealingThread =
  | { readonly type: 'start'; readonly sealing: BodySealing; readonly inspector: InspectorOptions }
  /** `length` bytes of plaintext at the start of `buffer` (moved here). */
  | { readonly type: 'data'; readonly buffer: ArrayBuffer; readonly length: number }
  /** A resumed upload's stored sealed bytes (moved here), before any data: opened, hashed, inspected, not sealed again. */
  | { readonly type: 'replay'; readonly buffer: ArrayBuffer }
  | { readonly type: 'end' };

export type FromSealingThread =
  /**
   * One batch is done: `sealed` holds the sealed bytes it completed, in order (none when it
   * completed no segment), `recycle` the batch buffers nothing here refers to any more. All moved.
   */
  | { readonly type: 'sealed'; readonly sealed: readonly ArrayBuffer[]; readonly recycle: readonly ArrayBuffer[] }
  /** The body is sealed: its last sealed bytes and what the header and the policy check need. */
  /** A replay message is done. */
  | { readonly type: 'replayed' }
  | { readonly type: 'done'; readonly sealed: readonly ArrayBuffer[]; readonly body: SealedBodyTotals; readonly report: InspectionReport }
  | { readonly type: 'failed'; readonly error: { readonly message: string; readonly code?: string; readonly gatewayCode?: string } };

interface Upload {
  readonly sealer: FormatSealer;
  readonly inspector: Inspector;
  readonly segmentSize: number;
  /**
   * Batches the sealer may still hold views into, oldest first: it holds at most one segment of
   * plaintext, the stream's last bytes, so only the newest batches that together reach a segment.
   */
  readonly retained: { readonly buffer: ArrayBuffer; readonly length: number }[];
}

/**
 * The sealer's pieces as buffers that can move to the event loop uncopied. The cipher gives each
 * piece a buffer of its own, which moves as it is; a piece that is a view of a shared or pooled
 * buffer (which must never be transferred) is copied, and it is small (a tag or a header).
 */
function movable(pieces: readonly Buffer[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const piece of pieces) {
    if (piece.length === 0) continue;
    const whole = piece.buffer instanceof ArrayBuffer && piece.byteOffset === 0 && piece.byteLength === piece.buffer.byteLength && !out.includes(piece.buffer);
    out.push(whole ? (piece.buffer as ArrayBuffer) : new Uint8Array(piece).buffer);
  }
  return out;
}

/** The retained batches older than the newest ones that together reach a segment: no view is left into them. */
function releasable(upload: Upload): ArrayBuffer[] {
  let covered = 0;
  let keep = upload.retained.length;
  while (keep > 0 && covered < upload.segmentSize) {
    keep -= 1;
    covered += (upload.retained[keep] as { length: number }).length;
  }
  return upload.retained.splice(0, keep).map((batch) => batch.buffer);
}

export const openChannel: OpenThreadChannel<ToSealingThread, FromSealingThread> = (port) => {
  let upload: Upload | undefined;
  /** After a failure, the messages already on their way are ignored: the caller has been told. */
  let failed = false;

  const started = (): Upload => {
    if (!upload) throw new Error('no upload was started on this channel');
    return upload;
  };

  const handle = (message: ToSealingThread): void => {
    switch (message.type) {
      case 'start': {
        const sealer = createFormatSealer(message.sealing);
        // This copy of the data key: the sealer keeps what it needs (a derived key, or its own copy).
        (message.sealing.format === 'crypt4gh' ? message.sealing.dataKey : message.sealing.params.dataKey).fill(0);
        upload = { sealer, inspector: createInspector(message.inspector), segmentSize: segmentSizeOf(message.sealing), retained: [] };
        return;
      }
      case 'replay': {
        const current = started();
        for (const plaintext of current.sealer.replay(new Uint8Array(message.buffer))) current.inspector.write(plaintext);
        port.send({ type: 'replayed' });
        return;
      }
      case 'data': {
        const current = started();
        const chunk = new Uint8Array(message.buffer, 0, message.length);
        current.inspector.write(chunk);
        const sealed = movable(current.sealer.write(chunk));
        current.retained.push({ buffer: message.buffer, length: message.length });
        const recycle = releasable(current);
        port.send({ type: 'sealed', sealed, recycle }, [...sealed, ...recycle]);
        return;
      }
      case 'end': {
        const current = started();
        upload = undefined;
        const sealed = movable(current.sealer.end());
        port.send({ type: 'done', sealed, body: current.sealer.totals(), report: current.inspector.finish() }, sealed);
      }
    }
  };

  return {
    receive(message) {
      if (failed) return;
      try {
        handle(message);
      } catch (error) {
        failed = true;
        upload = undefined;
        const { message: text, code } = error as NodeJS.ErrnoException;
        port.send({
          type: 'failed',
          error: { message: String(text), ...(typeof code === 'string' ? { code } : {}), ...(error instanceof GatewayError ? { gatewayCode: error.code } : {}) },
        });
      }
    },
    close() {
      upload = undefined;
    },
  };
};
