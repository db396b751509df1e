// Receiving a transfer: download the envelope, decrypt it with the holder's own key as it streams,
// write the plaintext only once everything verified (`<out>.partial`, renamed at the end), and
// confirm receipt with the SHA-256 of what was decrypted.
import { createHash, type KeyObject } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { JSONWebKeySet } from 'jose';
import { parseCrypt4ghSecretKey, x25519PublicKeyOf } from '../crypt4gh/crypt4gh-keys.js';
import { createCrypt4ghEnvelopeDecryptor, type Crypt4ghEnvelopeDecryptor } from '../crypt4gh/decrypt-crypt4gh-envelope.js';
import { createEnvelopeDecryptor, type OpenedEnvelope } from '../envelope/decrypt-envelope.js';
import { GatewayError } from '../errors.js';
import type { ProgressCallback } from './count-bytes.js';
import { TransferNotDownloadableError } from './gateway-client-error.js';
import type { GatewayClient } from './gateway-client.js';
import { isDownloadable, type TransferView } from './transfer-view.js';

export interface ReceiveOptions {
  readonly id: string;
  /**
   * The holder's key, which never leaves this process: its EC P-256 encryption private key (PKCS#8
   * PEM or KeyObject), or for a transfer stored as Crypt4GH its Crypt4GH secret key file (text).
   */
  readonly privateKey: string | KeyObject;
  /** Opens a passphrase-protected Crypt4GH secret key. */
  readonly crypt4ghPassphrase?: string;
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

/** What opened: the transfer the signed header names, the gateway key that signed it, and whose key opened it. */
export interface OpenedTransfer {
  readonly format: 'hetao-envelope' | 'crypt4gh';
  readonly transferId: string;
  readonly sender: string;
  readonly signingKid: string;
  readonly holder: { readonly institution: string; readonly role: string };
}

export interface ReceivedTransfer {
  /** The record after the receipt (or as it was, when none was posted). */
  readonly record: TransferView;
  readonly opened: OpenedTransfer;
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

/** The decryptor for the record's format, made before the download so that an unusable key fails before a byte is fetched. */
async function decryptorFor(record: TransferView, options: ReceiveOptions, jwks: JSONWebKeySet): Promise<{ decryptor: Transform; opened: () => OpenedTransfer | undefined }> {
  if (record.contentFormat === 'crypt4gh') {
    if (typeof options.privateKey !== 'string') throw new GatewayError('ERR_CRYPT4GH_KEY', 'a transfer stored as Crypt4GH needs the Crypt4GH secret key file');
    const secretKey = await parseCrypt4ghSecretKey(options.privateKey, options.crypt4ghPassphrase);
    const publicKey = x25519PublicKeyOf(secretKey).toString('base64');
    const decryptor: Crypt4ghEnvelopeDecryptor = createCrypt4ghEnvelopeDecryptor({ secretKey, jwks });
    secretKey.fill(0);
    return {
      decryptor,
      opened: () => {
        const binding = decryptor.binding();
        const holder = binding?.holders.find((candidate) => candidate.publicKey === publicKey);
        if (!binding || !holder) return undefined;
        return { format: 'crypt4gh', transferId: binding.transferId, sender: binding.sender, signingKid: decryptor.signingKid() ?? '', holder };
      },
    };
  }
  let opened: OpenedEnvelope | undefined;
  const decryptor = createEnvelopeDecryptor({ privateKey: options.privateKey, jwks, onHeader: (o) => (opened = o) });
  return {
    decryptor,
    opened: () => opened && { format: 'hetao-envelope', transferId: opened.header.binding.transferId, sender: opened.header.binding.sender, signingKid: opened.signingKid, holder: opened.holder },
  };
}

/** Decrypts the download into `<outFile>.partial` and checks it belongs to this transfer; renames only on success. */
async function decryptToFile(
  client: GatewayClient,
  record: TransferView,
  options: ReceiveOptions,
  jwks: JSONWebKeySet,
): Promise<{ opened: OpenedTransfer; sha256: string; sizeBytes: number; envelopeBytes: number }> {
  const { decryptor, opened: openedOf } = await decryptorFor(record, options, jwks);
  const download = await client.downloadEnvelope(record.id, options.onProgress);
  const { tap, result } = plaintextTap();
  const partial = `${options.outFile}.partial`;
  let out: WriteStream | undefined;
  try {
    out = createWriteStream(partial, { mode: 0o600 });
    await pipeline(download.stream, decryptor, tap, out);
    const opened = openedOf();
    if (!opened) throw new GatewayError('ERR_ENVELOPE_TRUNCATED', 'the envelope stream ended without a header this key belongs to');
    // A validly signed envelope of another transfer must not pass as this one.
    if (opened.transferId !== record.id) {
      throw new GatewayError('ERR_ENVELOPE_FORMAT', `the gateway sent the envelope of transfer ${opened.transferId}, not ${record.id}`);
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
