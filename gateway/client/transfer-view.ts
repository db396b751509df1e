// What a lab system sees of a transfer over the API. The view is declared here, not taken from the
// gateway's record type: the client follows the wire format, and the server side may grow fields
// freely (every view keeps unknown members). The statuses come from the state machine itself.

import { contentIsAvailable, type TransferStatus } from '../transfer/transfer-record.js';

// The statuses and which of them hold downloadable content are the state machine's own: one list.
export { TRANSFER_STATUSES, type TransferStatus } from '../transfer/transfer-record.js';

/** Statuses in which the gateway is still working on the content (or waiting for it). */
const IN_FLIGHT: ReadonlySet<string> = new Set(['authorized', 'uploading', 'queued', 'processing']);

/** True once the gateway has finished with the content: available, delivered, received, or a dead end. */
export function isSettled(status: string): boolean {
  return !IN_FLIGHT.has(status);
}

export function isDownloadable(status: string): boolean {
  return contentIsAvailable(status as TransferStatus);
}

/** True for the outcomes where the data will not reach the recipient through no fault of the network. */
export function isRejectedContent(status: string): boolean {
  return status === 'quarantined' || status === 'failed';
}

/** One reason of a policy decision; `ruleId` is null for the default deny and registry checks. */
export interface PolicyReason {
  readonly ruleId: string | null;
  readonly code: string;
  readonly message: string;
  readonly [member: string]: unknown;
}

export interface TransferView {
  readonly id: string;
  readonly status: TransferStatus;
  readonly sender: string;
  readonly recipient: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly retentionUntil: string;
  readonly manifest: {
    readonly recipient: string;
    readonly project: { readonly id: string; readonly title: string };
    readonly purpose: string;
    readonly dataset: { readonly category: string; readonly format: string; readonly sizeBytes: number; readonly sha256?: string; readonly [member: string]: unknown };
    readonly [member: string]: unknown;
  };
  readonly decision: {
    readonly decisionId: string;
    readonly policyRevision: string;
    readonly matchedRules: readonly string[];
    readonly reasons: readonly PolicyReason[];
    readonly [member: string]: unknown;
  };
  readonly obligations: Readonly<Record<string, unknown>>;
  /** `crypt4gh` when the content is stored as Crypt4GH (docs/crypt4gh.md); absent for our envelope. */
  readonly contentFormat?: 'crypt4gh';
  readonly content?: {
    readonly plaintextSize: number;
    readonly plaintextSha256: string;
    readonly envelopeSize: number;
    readonly holders: readonly { readonly institution: string; readonly role: string }[];
  };
  /** Inspection summary; `reasons` says why a transfer was quarantined. */
  readonly inspection?: { readonly outcome?: string; readonly reasons?: readonly string[]; readonly [member: string]: unknown };
  readonly receipts: readonly { readonly at: string; readonly by: string; readonly sha256: string; readonly matches: boolean }[];
  readonly history: readonly { readonly at: string; readonly status: string; readonly event: string; readonly by: string; readonly detail?: Readonly<Record<string, unknown>> }[];
  readonly [member: string]: unknown;
}

/** The answer to a new transfer: the record and where to upload its content. */
export interface CreatedTransfer extends TransferView {
  readonly upload: { readonly method: 'PUT'; readonly href: string; readonly contentType: string; readonly sizeBytes: number };
  /** Where a tus client uploads the same content resumably. */
  readonly resumableUpload: { readonly protocol: 'tus'; readonly version: '1.0.0'; readonly href: string; readonly sizeBytes: number };
}

export interface TransferPage {
  readonly transfers: readonly TransferView[];
  /** Pass as `after` for the next page; null on the last one. */
  readonly next: string | null;
}

export interface TransferQuery {
  readonly as: 'sender' | 'recipient';
  readonly status?: TransferStatus;
  readonly after?: string;
  readonly limit?: number;
}
