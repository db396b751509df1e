// Sending a file: hash it, declare size and digest in the manifest, ask the policy, stream it up.
import { createReadStream } from 'node:fs';
import type { ProgressCallback } from './count-bytes.js';
import { digestFile, FILE_READ_CHUNK_BYTES, type FileDigest } from './file-digest.js';
import type { GatewayClient } from './gateway-client.js';
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
  const source = createReadStream(options.file, { highWaterMark: FILE_READ_CHUNK_BYTES });
  const record = await client.uploadContent(created.id, source, digest.sizeBytes, options.onUploadProgress);
  return { ...digest, created, record };
}
