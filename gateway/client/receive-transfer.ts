// Receiving a transfer: download the envelope, decrypt it with the holder's own key as it streams,
// write the plaintext only once everything verified (`<out>.partial`, renamed at the end), and
// confirm receipt with the SHA-256 of what was decrypted.
import { createHash, type KeyObject } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { JSONWebKeySet } from 'jose';
import { createEnvelopeDecryptor, type OpenedEnvelope } from '../envelope/decrypt-envelope.js';
import { GatewayError } from '../errors.js';
import type { ProgressCallback } from './count-bytes.js';
import { TransferNotDownloadableError } from './gateway-client-error.js';
import type { GatewayClient } from './gateway-client.js';
import { isDownloadable, type TransferView } from './transfer-view.js';

export interface ReceiveOptions {
  readonly id: string;
  /** The holder's EC P-256 encryption private key (PKCS#8 PEM or KeyObject): it never leaves this process. */
  readonly privateKey: string | KeyObject;
  readonly outFile: string;
  /** Verify the header against this JWKS instead of the one the gateway publishes (a pinned copy). */
  readonly jwks?: JSONWebKeySet;
  /** Envelope bytes received so far, of the envelope size. */
  readonly onProgress?: ProgressCallback;
  /** Post the receipt when the key is the recipient's (default true). */
  readonly confirm?: boolean;
}

/** What became of the receipt: only the recipient confirms, and only once. */
export type ReceiptOutcome = 'posted' | 'already-received' | 'not-recipient' | 'not-requested';

export interface ReceivedTransfer {
  /** The record after the receipt (or as it was, when none was posted). */
  readonly record: TransferView;
  readonly opened: OpenedEnvelope;
  /** SHA-256 (lowercase hex) and size of the plaintext written to `outFile`. */
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly envelopeBytes: number;
  readonly receipt: ReceiptOutcome;
}

/** Hashes and counts what passes, unchanged. */
function plaintextTap(): { tap: Transform; result: () => { sha256: string; sizeBytes: number } } {
  const digest = createHash('sha256');
  let sizeBytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      digest.update(chunk);
      sizeBytes += chunk.length;
      callback(null, chunk);
    },
  });
  return { tap, result: () => ({ sha256: digest.digest('hex'), sizeBytes }) };
}

/** Decrypts the download into `<outFile>.partial` and checks it belongs to this transfer; renames only on success. */
async function decryptToFile(
  client: GatewayClient,
  record: TransferView,
  options: ReceiveOptions,
  jwks: JSONWebKeySet,
): Promise<{ opened: OpenedEnvelope; sha256: string; sizeBytes: number; envelopeBytes: number }> {
  let opened: OpenedEnvelope | undefined;
  // Created before the download so that an unusable key fails before a byte is fetched.
  const decryptor = createEnvelopeDecryptor({ privateKey: options.privateKey, jwks, onHeader: (o) => (opened = o) });
  const download = await client.downloadEnvelope(record.id, options.onProgress);
  const { tap, result } = plaintextTap();
  const partial = `${options.outFile}.partial`;
  let out: WriteStream | undefined;
  try {
    out = createWriteStream(partial, { mode: 0o600 });
    await pipeline(download.stream, decryptor, tap, out);
    if (!opened) throw new GatewayError('ERR_ENVELOPE_TRUNCATED', 'the envelope stream ended without a header');
    // A validly signed envelope of another transfer must not pass as this one.
    if (opened.header.binding.transferId !== record.id) {
      throw new GatewayError('ERR_ENVELOPE_FORMAT', `the gateway sent the envelope of transfer ${opened.header.binding.transferId}, not ${record.id}`);
    }
    const plaintext = result();
    const expected = record.content?.plaintextSha256;
    if (expected !== undefined && plaintext.sha256 !== expected) {
      throw new GatewayError('ERR_ENVELOPE_DIGEST', `the decrypted content has SHA-256 ${plaintext.sha256}, the transfer record says ${expected}`);
    }
    await rename(partial, options.outFile);
    return { opened, ...plaintext, envelopeBytes: download.size };
  } catch (error) {
    // Wait for the file to close before deleting it (it may still be open after a failed pipeline).
    const file = out;
    if (file && !file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
    await rm(partial, { force: true });
    throw error;
  }
}

/**
 * Fetches, verifies, decrypts and confirms one transfer.
 * @throws TransferNotDownloadableError when the status does not allow a download;
 *   GatewayError `ERR_ENVELOPE_*` when the envelope does not verify (nothing is written);
 *   GatewayClientError / GatewayRequestError from the calls.
 */
export async function receiveTransfer(client: GatewayClient, options: ReceiveOptions): Promise<ReceivedTransfer> {
  const record = await client.getTransfer(options.id);
  if (!isDownloadable(record.status)) throw new TransferNotDownloadableError(record);
  const jwks = options.jwks ?? (await client.jwks());
  const decrypted = await decryptToFile(client, record, options, jwks);

  if (options.confirm === false) return { ...decrypted, record, receipt: 'not-requested' };
  // The key that opened the envelope says whose copy this is: escrow holders do not confirm.
  if (decrypted.opened.holder.role !== 'recipient') return { ...decrypted, record, receipt: 'not-recipient' };
  if (record.status === 'received') return { ...decrypted, record, receipt: 'already-received' };
  const confirmed = await client.postReceipt(record.id, decrypted.sha256);
  return { ...decrypted, record: confirmed, receipt: 'posted' };
}
