// The one streaming pass of an upload: meter (the declared size is a hard cap) → inspector tap →
// segmented encryption → pending object, here on the event loop or in a sealing thread behind one
// sink. Backpressure runs end to end through stream.pipeline, so memory stays flat whatever the
// size; any error or a cut connection aborts what was written.
import { Transform, type Duplex, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GatewayError } from '../errors.js';
import { storageErrnoOf, toStorageError } from '../storage/storage-errors.js';

export interface UploadPassInput {
  readonly source: Readable;
  readonly declaredSize: number;
  /** What the metered plaintext goes through: the last stream writes the sealed body. */
  readonly seal: readonly [...Duplex[], Writable];
  /** Deletes what was written. */
  readonly abort: () => Promise<void>;
  /** Abort when the client sends nothing for this long. */
  readonly idleTimeoutMs: number;
  /** For bulk uploads: the slow lane (bulk-lane.ts) the bytes queue in before any work is done on them. */
  readonly lane?: Transform;
  /** Stops the pass from outside (the upload's lease was lost); its reason is what the pass throws. */
  readonly cancel?: AbortSignal;
}

/** Counts bytes and stops the pass the moment the declared size is exceeded. */
function createMeter(declaredSize: number, onChunk: () => void): Transform & { bytes(): number } {
  let seen = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      onChunk();
      seen += chunk.length;
      if (seen > declaredSize) {
        callback(new GatewayError('ERR_TRANSFER_SIZE_MISMATCH', `the content is larger than the declared ${declaredSize} bytes`, { declaredSize }));
        return;
      }
      callback(null, chunk);
    },
  });
  return Object.assign(meter, { bytes: () => seen });
}

/** Shows every chunk to `inspect` (which must not keep it) and passes it on. */
export function createInspectionTap(inspect: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      inspect(chunk);
      callback(null, chunk);
    },
  });
}

/**
 * Runs the pass. Resolves with the byte count once everything is written to the pending object
 * (not yet committed); rejects (after aborting the pending object) on any failure.
 * @throws GatewayError ERR_TRANSFER_SIZE_MISMATCH, ERR_REQUEST_INVALID (connection cut or idle),
 *   ERR_STORAGE_FULL / ERR_STORAGE_UNAVAILABLE (the sealed body could not be written).
 */
export async function runUploadPass(input: UploadPassInput): Promise<{ bytes: number }> {
  const idle = new AbortController();
  const timer = setTimeout(() => idle.abort(), input.idleTimeoutMs);
  const meter = createMeter(input.declaredSize, () => timer.refresh());
  try {
    const stages = input.lane ? [input.lane, meter] : [meter];
    await pipeline([input.source, ...stages, ...input.seal], { signal: input.cancel ? AbortSignal.any([idle.signal, input.cancel]) : idle.signal });
  } catch (error) {
    await input.abort();
    if (input.cancel?.aborted && input.cancel.reason instanceof GatewayError) throw input.cancel.reason;
    if (error instanceof GatewayError) throw error;
    // The sinks name their storage failures (and report them with the path); a disk error that
    // reaches here unnamed is still the gateway's, never the client's.
    if (storageErrnoOf(error)) throw toStorageError(error, { path: 'upload body', operation: 'write' });
    if (idle.signal.aborted) throw new GatewayError('ERR_REQUEST_INVALID', `the upload sent nothing for ${input.idleTimeoutMs} ms and was aborted`, { idleTimeoutMs: input.idleTimeoutMs });
    // A cut connection surfaces as an aborted or premature-close error of the request stream.
    throw new GatewayError('ERR_REQUEST_INVALID', 'the upload stream ended abnormally (connection cut?); nothing was kept', undefined, { cause: error });
  } finally {
    clearTimeout(timer);
  }
  if (meter.bytes() !== input.declaredSize) {
    await input.abort();
    throw new GatewayError('ERR_TRANSFER_SIZE_MISMATCH', `the content has ${meter.bytes()} bytes, the manifest declared ${input.declaredSize}`, {
      declaredSize: input.declaredSize,
      receivedSize: meter.bytes(),
    });
  }
  return { bytes: meter.bytes() };
}
