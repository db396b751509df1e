// Sending a file: hash it, declare size and digest in the manifest, ask the policy, stream it up,
// resumably (resumable-upload.ts): a cut network costs a wait, not the bytes already sent.
import type { ProgressCallback } from './count-bytes.js';
import { digestFile, type FileDigest } from './file-digest.js';
import { GatewayClientError } from './gateway-client-error.js';
import type { GatewayClient } from './gateway-client.js';
import { uploadFileResumably, type ResumableUploadOptions } from './resumable-upload.js';
import type { CreatedTransfer, TransferView } from './transfer-view.js';

export interface SendFileOptions {
  readonly file: string;
  /** The manifest; `recipient`, `dataset.sizeBytes` and `dataset.sha256` are filled in. */
  readonly manifest: Readonly<Record<string, unknown>>;
  /** Overrides the manifest's recipient. */
  readonly recipient?: string;
  readonly onHashProgress?: ProgressCallback;
  /** Sees the manifest as it will be sent, before the policy decides. */
  readonly onManifest?: (completed: CompletedManifest) => void;
  readonly onCreated?: (created: CreatedTransfer) => void;
  readonly onUploadProgress?: ProgressCallback;
  /** Waits between attempts after a cut (resumable-upload.ts DEFAULT_RETRY_DELAYS_MS by default). */
  readonly retryDelaysMs?: ResumableUploadOptions['retryDelaysMs'];
  readonly onRetry?: ResumableUploadOptions['onRetry'];
}

export interface SentFile extends FileDigest {
  readonly created: CreatedTransfer;
  /** The record the upload answered with: `available`, `quarantined` or `queued`. */
  readonly record: TransferView;
}

export interface ReplacedField {
  readonly field: 'recipient' | 'dataset.sizeBytes' | 'dataset.sha256';
  readonly before: unknown;
  readonly after: unknown;
}

export interface CompletedManifest {
  readonly manifest: Record<string, unknown>;
  /** Fields that held a different value before (e.g. a manifest reused for another file). */
  readonly replaced: readonly ReplacedField[];
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The manifest with the facts of the file (and the recipient) filled in; the input is left as it was. */
export function completeManifest(manifest: Readonly<Record<string, unknown>>, facts: FileDigest & { readonly recipient?: string }): CompletedManifest {
  const dataset = isObject(manifest.dataset) ? manifest.dataset : {};
  const replaced: ReplacedField[] = [];
  const note = (field: ReplacedField['field'], before: unknown, after: unknown): void => {
    if (before !== undefined && before !== after) replaced.push({ field, before, after });
  };
  const recipient = facts.recipient ?? manifest.recipient;
  note('recipient', manifest.recipient, recipient);
  note('dataset.sizeBytes', dataset.sizeBytes, facts.sizeBytes);
  note('dataset.sha256', dataset.sha256, facts.sha256);
  return {
    manifest: { ...manifest, ...(recipient === undefined ? {} : { recipient }), dataset: { ...dataset, sizeBytes: facts.sizeBytes, sha256: facts.sha256 } },
    replaced,
  };
}

/** The resumable upload of a hashed file, with the caller's progress and retry settings. */
function uploadDigested(client: GatewayClient, id: string, digest: FileDigest, options: Pick<SendFileOptions, 'file' | 'onUploadProgress' | 'retryDelaysMs' | 'onRetry'>): Promise<TransferView> {
  return uploadFileResumably(client, {
    id,
    file: options.file,
    sizeBytes: digest.sizeBytes,
    ...(options.onUploadProgress ? { onProgress: options.onUploadProgress } : {}),
    ...(options.retryDelaysMs ? { retryDelaysMs: options.retryDelaysMs } : {}),
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
  });
}

/**
 * Hashes `file`, creates the transfer and uploads the file as a stream.
 * @throws GatewayClientError from createTransfer (e.g. a policy denial) or uploadContent
 */
export async function sendFile(client: GatewayClient, options: SendFileOptions): Promise<SentFile> {
  const digest = await digestFile(options.file, options.onHashProgress);
  const completed = completeManifest(options.manifest, { ...digest, ...(options.recipient === undefined ? {} : { recipient: options.recipient }) });
  options.onManifest?.(completed);
  const created = await client.createTransfer(completed.manifest);
  options.onCreated?.(created);
  const record = await uploadDigested(client, created.id, digest, options);
  return { ...digest, created, record };
}

/**
 * Resumes the upload of `file` to the existing transfer `id` (`hetao send --resume`): the file must
 * be the one its manifest declared (size and SHA-256); the gateway says how much it already has.
 * @throws GatewayClientError ERR_TRANSFER_SIZE_MISMATCH / ERR_TRANSFER_DIGEST_MISMATCH (checked here,
 *   before any byte is sent) and those of uploadFileResumably
 */
export async function resumeFile(
  client: GatewayClient,
  options: Pick<SendFileOptions, 'file' | 'onHashProgress' | 'onUploadProgress' | 'retryDelaysMs' | 'onRetry'> & { readonly id: string },
): Promise<FileDigest & { readonly record: TransferView }> {
  const digest = await digestFile(options.file, options.onHashProgress);
  const declared = (await client.getTransfer(options.id)).manifest.dataset;
  if (declared.sizeBytes !== digest.sizeBytes) throw new GatewayClientError(422, { code: 'ERR_TRANSFER_SIZE_MISMATCH', detail: `${options.file} has ${digest.sizeBytes} bytes; transfer ${options.id} declared ${declared.sizeBytes}` });
  if (declared.sha256 !== undefined && declared.sha256 !== digest.sha256) throw new GatewayClientError(422, { code: 'ERR_TRANSFER_DIGEST_MISMATCH', detail: `${options.file} is not the file transfer ${options.id} declared (SHA-256 differs)` });
  const record = await uploadDigested(client, options.id, digest, options);
  return { ...digest, record };
}
