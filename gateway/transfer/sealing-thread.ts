// The thread side of sealing-threads: one channel per upload, in a bulk-lane thread of the pool.
// Each batch of plaintext is inspected and sealed here and its sealed bytes go back in one buffer of
// their own, moved rather than copied; the store writes them on the event loop's side, whatever the
// store. Nothing here touches a file.
import { GatewayError } from '../errors.js';
import { createBodySealer, type BodySealer, type BodySealingParams, type BodyTotals } from '../envelope/seal-body.js';
import { createInspector } from '../inspect/create-inspector.js';
import type { InspectionReport, Inspector, InspectorOptions } from '../inspect/inspection-report.js';
import type { OpenThreadChannel } from '../threads/thread-entry.js';

export type ToSealingThread =
  | { readonly type: 'start'; readonly sealing: BodySealingParams; readonly inspector: InspectorOptions }
  /** `length` bytes of plaintext at the start of `buffer` (moved here). */
  | { readonly type: 'data'; readonly buffer: ArrayBuffer; readonly length: number }
  | { readonly type: 'end' };

export type FromSealingThread =
  /**
   * One batch is done: `sealed` holds the sealed bytes it completed (absent when it completed no
   * segment), `recycle` a batch buffer nothing here refers to any more. Both moved.
   */
  | { readonly type: 'sealed'; readonly sealed?: ArrayBuffer; readonly recycle?: ArrayBuffer }
  /** The body is sealed: its last sealed bytes and what the header and the policy check need. */
  | { readonly type: 'done'; readonly sealed?: ArrayBuffer; readonly body: BodyTotals; readonly report: InspectionReport }
  | { readonly type: 'failed'; readonly error: { readonly message: string; readonly code?: string; readonly gatewayCode?: string } };

interface Upload {
  readonly sealer: BodySealer;
  readonly inspector: Inspector;
  /** The batch before the current one: the sealer may still hold views into the current one only. */
  previous?: ArrayBuffer;
}

/**
 * The sealer's pieces copied into one fresh buffer that can move to the event loop: a piece may be a
 * view of a pooled Buffer, which must never be transferred.
 */
function joined(pieces: readonly Buffer[]): ArrayBuffer | undefined {
  let total = 0;
  for (const piece of pieces) total += piece.length;
  if (total === 0) return undefined;
  const out = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out.buffer;
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
        const sealer = createBodySealer(message.sealing);
        message.sealing.dataKey.fill(0); // this copy of it: the sealer keeps only the derived key
        upload = { sealer, inspector: createInspector(message.inspector) };
        return;
      }
      case 'data': {
        const current = started();
        const chunk = new Uint8Array(message.buffer, 0, message.length);
        current.inspector.write(chunk);
        const sealed = joined(current.sealer.write(chunk));
        const recycle = current.previous;
        current.previous = message.buffer;
        const transfer = [...(sealed ? [sealed] : []), ...(recycle ? [recycle] : [])];
        port.send({ type: 'sealed', ...(sealed ? { sealed } : {}), ...(recycle ? { recycle } : {}) }, transfer);
        return;
      }
      case 'end': {
        const current = started();
        upload = undefined;
        const sealed = joined(current.sealer.end());
        port.send({ type: 'done', ...(sealed ? { sealed } : {}), body: current.sealer.totals(), report: current.inspector.finish() }, sealed ? [sealed] : []);
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
