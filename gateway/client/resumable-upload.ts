// Uploading a file so that a cut network does not start it over: over tus (the gateway's
// /v1/transfers/:id/tus), asking the gateway where it stands before each PATCH and sending the file
// from there, with waits that grow between attempts. Also what `hetao send --resume` runs after the
// client itself was restarted: the gateway's offset is the only state.
import { createReadStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProgressCallback } from './count-bytes.js';
import { FILE_READ_CHUNK_BYTES } from './file-digest.js';
import { GatewayClientError, GatewayRequestError } from './gateway-client-error.js';
import type { GatewayClient } from './gateway-client.js';
import type { TransferView } from './transfer-view.js';

/** Waits before the 1st, 2nd, … retry; after the last, the error stands. */
export const DEFAULT_RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000] as const;

export interface ResumableUploadOptions {
  readonly id: string;
  readonly file: string;
  readonly sizeBytes: number;
  /** Bytes the gateway has, of the file's size: it continues from the resumed offset, never from 0 unless the gateway lost the upload. */
  readonly onProgress?: ProgressCallback;
  readonly retryDelaysMs?: readonly number[];
  /** Told before each wait, with what went wrong. */
  readonly onRetry?: (attempt: number, delayMs: number, error: Error) => void;
}

/** Worth another attempt: no answer at all, the gateway busy or unavailable, or our offset stale. */
function isRetryable(error: unknown): boolean {
  if (error instanceof GatewayRequestError) return true;
  if (!(error instanceof GatewayClientError)) return false;
  return error.status >= 500 || error.code === 'ERR_UPLOAD_OFFSET_MISMATCH' || error.code === 'ERR_UPLOAD_NOT_FOUND' || error.code === 'ERR_TRANSFER_CONFLICT' || error.code === 'ERR_REQUEST_TIMEOUT';
}

/**
 * Uploads `file` as the content of transfer `id` and resolves with the record once the gateway has it
 * all (`available`, `quarantined` or `queued`).
 * @throws GatewayClientError for a refusal no retry can change (ERR_TRANSFER_STATE,
 *   ERR_TRANSFER_DIGEST_MISMATCH…); the last error once the retries are spent.
 */
export async function uploadFileResumably(client: GatewayClient, options: ResumableUploadOptions): Promise<TransferView> {
  const { id, file, sizeBytes } = options;
  const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  for (let attempt = 0; ; attempt += 1) {
    try {
      let offset = await client.resumableOffset(id);
      if (offset === undefined) {
        // No upload in progress: finished while our last answer was lost, or never started (or lost by a gateway restart).
        const record = await client.getTransfer(id);
        if (record.status !== 'authorized') {
          if (record.status === 'uploading') throw new GatewayClientError(409, { code: 'ERR_TRANSFER_CONFLICT', detail: `transfer ${id} is still finishing its upload` });
          return record;
        }
        await client.createResumableUpload(id, sizeBytes);
        offset = 0;
      }
      options.onProgress?.(offset, sizeBytes);
      if (offset < sizeBytes || sizeBytes === 0) {
        const source = createReadStream(file, { start: offset, highWaterMark: FILE_READ_CHUNK_BYTES });
        offset = await client.appendResumable(id, offset, source, sizeBytes, options.onProgress);
      }
      if (offset >= sizeBytes) return await client.getTransfer(id);
    } catch (error) {
      const delay = delays[attempt];
      if (!isRetryable(error) || delay === undefined) throw error;
      options.onRetry?.(attempt + 1, delay, error as Error);
      await sleep(delay);
    }
  }
}
