// A transfer's durable record and its state machine. Every change of state goes through
// `transition`, which refuses moves the machine does not allow and appends to the history.
import { GatewayError } from '../errors.js';
import type { Decision } from '../policy/evaluate-policy.js';
import type { Obligations } from '../policy/load-policy-set.js';
import type { Manifest } from '../policy/manifest.js';
import type { Stage } from '../queue/stage-queue.js';

export type TransferStatus =
  | 'authorized'
  | 'uploading'
  | 'queued'
  | 'processing'
  | 'available'
  | 'delivered'
  | 'received'
  | 'quarantined'
  | 'failed'
  | 'cancelled'
  | 'expired'
  | 'refused-by-peer';

/**
 * authorized → uploading → available → received, with side exits. A failed upload returns to
 * `authorized` so the sender can upload again; `failed` is for faults on the gateway's side.
 * Large or heavy transfers take the queued path: uploading → queued → processing (a worker inspects
 * the stored content in full) → available, then → delivered once a push endpoint acknowledged it.
 * `processing → queued` is a job handed back (its worker crashed) to run again.
 */
const NEXT: Readonly<Record<TransferStatus, readonly TransferStatus[]>> = {
  authorized: ['uploading', 'cancelled', 'expired'],
  uploading: ['available', 'queued', 'quarantined', 'authorized', 'failed', 'cancelled'],
  queued: ['processing', 'available', 'quarantined', 'failed', 'cancelled'],
  processing: ['available', 'quarantined', 'failed', 'queued', 'cancelled'],
  available: ['delivered', 'received', 'cancelled', 'expired', 'refused-by-peer', 'failed'],
  delivered: ['received', 'expired'],
  received: ['expired'],
  quarantined: ['expired'],
  failed: [],
  cancelled: [],
  expired: [],
  'refused-by-peer': [],
};

export const TRANSFER_STATUSES = Object.keys(NEXT) as TransferStatus[];

export interface HistoryEntry {
  readonly at: string;
  readonly status: TransferStatus;
  /** What happened, e.g. `authorized`, `upload-started`, `upload-failed`, `receipt-mismatch`. */
  readonly event: string;
  /** Principal id, or `gateway`. */
  readonly by: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface ContentFacts {
  readonly plaintextSize: number;
  readonly plaintextSha256: string;
  readonly envelopeSize: number;
  /** Stored as Crypt4GH: the size of the plain Crypt4GH file (its header and the body), as `?format=crypt4gh` serves it. */
  readonly crypt4ghSize?: number;
  readonly holders: readonly { readonly institution: string; readonly role: 'recipient' | 'escrow' }[];
}

/** A push endpoint's acknowledgement of the envelope. */
export interface DeliveryFacts {
  readonly endpoint: string;
  readonly envelopeSha256: string;
  readonly acknowledgedAt: string;
  readonly duplicate: boolean;
}

/**
 * Outbound: this side's sender, a recipient served by the peer gateway `gateway`; the envelope is
 * forwarded to it. Inbound: a sender served by `gateway`, whose signed decision is kept here.
 */
export interface PeerLink {
  readonly gateway: string;
  readonly direction: 'outbound' | 'inbound';
  /** Inbound: the sending gateway's decision, from its signed forward record. */
  readonly senderDecision?: { readonly decisionId: string; readonly policyRevision: string };
  /** Inbound: the envelope the sending gateway announced in its forward record. */
  readonly offered?: { readonly envelopeSize: number; readonly plaintextSize: number; readonly plaintextSha256: string };
  /** Inbound: SHA-256 of the envelope as received, once whole. */
  readonly envelopeSha256?: string;
  /** Outbound: why the peer refused it (its decision's reasons and rule ids). */
  readonly refusal?: { readonly decisionId?: string; readonly policyRevision?: string; readonly reasons: readonly unknown[] };
  /** Outbound: the peer's proof that its journal holds the recipient's receipt. */
  readonly receiptProof?: PeerReceiptProof;
}

/** The receiving gateway's journal entry of the receipt, with its inclusion in a checkpoint that gateway signed. */
export interface PeerReceiptProof {
  /** The entry's canonical JSON (RFC 8785), as the peer's journal hashed it. */
  readonly entry: string;
  readonly leafIndex: number;
  readonly treeSize: number;
  /** Base64 hashes, RFC 9162 §2.1.3.1 order. */
  readonly proof: readonly string[];
  /** The peer's checkpoint as a C2SP signed note (its origin, size and root, signed with its key). */
  readonly checkpoint: string;
}

export interface ReceiptFacts {
  readonly at: string;
  readonly by: string;
  readonly sha256: string;
  readonly matches: boolean;
}

export interface TransferRecord {
  readonly id: string;
  readonly status: TransferStatus;
  readonly sender: string;
  readonly recipient: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly retentionUntil: string;
  readonly manifest: Manifest;
  readonly manifestSha256: string;
  readonly decision: Decision;
  readonly obligations: Obligations;
  /** How the content is stored: as Crypt4GH (docs/crypt4gh.md); absent, as our envelope. */
  readonly contentFormat?: 'crypt4gh';
  readonly content?: ContentFacts;
  /** Inspection summary: formats and findings as counts and offsets, never content. */
  readonly inspection?: Readonly<Record<string, unknown>>;
  readonly receipts: readonly ReceiptFacts[];
  /** Stages still to run on the queue, in order (absent or empty: nothing pending). */
  readonly pendingStages?: readonly Stage[];
  readonly delivery?: DeliveryFacts;
  /** A transfer across the channel: the peer gateway serving the other party (docs/peering.md). */
  readonly peer?: PeerLink;
  readonly history: readonly HistoryEntry[];
  /**
   * How many times the record was saved; set by the record store (absent: never saved). A save names
   * the revision it read, and is refused if the stored record moved on since (record-store.ts).
   */
  readonly revision?: number;
  /** The instance streaming the upload holds this while it does, renewing the expiry as it goes. */
  readonly lease?: UploadLease;
  /**
   * A resumable (tus) upload in progress: how much of it is stored durably, and its key material
   * sealed to the gateway's processing key, so that any instance can go on with it after a restart.
   */
  readonly resumable?: ResumableProgress;
}

export interface ResumableProgress {
  /** transfer/resume-ticket.ts: compact JWE to the processing key. */
  readonly ticket: string;
  /** Plaintext bytes durably stored, sealed: where the upload resumes (a whole number of segments). */
  readonly plaintextBytes: number;
  /** The stored (sealed) bytes holding them. */
  readonly storedBytes: number;
}

/**
 * A resumable upload whose sender paused holds its lease under this name until the upload expires:
 * no instance is streaming it, any may take it over, and the lease sweep ends it at its expiry.
 */
export const PAUSED_UPLOAD_HOLDER = 'paused-upload';

export interface UploadLease {
  /** Which gateway instance holds it. */
  readonly holder: string;
  /** ISO 8601; past it, another instance may take the transfer over. */
  readonly expiresAt: string;
}

const DAY_MS = 86_400_000;

/**
 * A transfer just allowed: `authorized`, kept for the manifest's retention capped by the decision's,
 * its history starting with the decision (`detail` added to it).
 */
export function authorizedRecord(fields: {
  readonly id: string;
  readonly sender: string;
  readonly manifest: Manifest;
  readonly decision: Decision;
  readonly at: Date;
  readonly by: string;
  readonly detail?: Record<string, unknown>;
  readonly contentFormat?: 'crypt4gh';
  readonly peer?: PeerLink;
}): TransferRecord {
  const { manifest, decision, at } = fields;
  const retentionDays = Math.min(manifest.retentionDays, decision.obligations.maxRetentionDays ?? manifest.retentionDays);
  return {
    id: fields.id,
    status: 'authorized',
    sender: fields.sender,
    recipient: manifest.recipient,
    createdAt: at.toISOString(),
    updatedAt: at.toISOString(),
    retentionUntil: new Date(at.getTime() + retentionDays * DAY_MS).toISOString(),
    manifest,
    manifestSha256: decision.input.manifestSha256,
    decision,
    obligations: decision.obligations,
    ...(fields.contentFormat ? { contentFormat: fields.contentFormat } : {}),
    receipts: [],
    ...(fields.peer ? { peer: fields.peer } : {}),
    history: [{ at: at.toISOString(), status: 'authorized', event: 'authorized', by: fields.by, detail: { decisionId: decision.decisionId, ...fields.detail } }],
  };
}

/**
 * The record after a move to `status`.
 * @throws GatewayError ERR_TRANSFER_STATE when the machine does not allow the move.
 */
export function transition(
  record: TransferRecord,
  status: TransferStatus,
  change: { at: Date; event: string; by: string; detail?: Record<string, unknown> },
  patch: Partial<Pick<TransferRecord, 'content' | 'inspection' | 'receipts' | 'pendingStages' | 'delivery' | 'lease' | 'resumable' | 'peer'>> = {},
): TransferRecord {
  if (!NEXT[record.status].includes(status)) {
    throw new GatewayError('ERR_TRANSFER_STATE', `transfer ${record.id} is ${record.status}; it cannot become ${status}`, { status: record.status });
  }
  // A lease (and a resumable upload's progress) exists only while an upload streams: every move out of `uploading` drops it.
  const { lease: heldLease, resumable, ...rest } = record;
  const { lease: newLease, resumable: newResumable, ...changes } = patch;
  const lease = status === 'uploading' ? (newLease ?? heldLease) : undefined;
  return recordEvent({ ...rest, ...changes, status, ...(lease ? { lease } : {}), ...(status === 'uploading' && (newResumable ?? resumable) ? { resumable: newResumable ?? resumable } : {}) }, change);
}

/** Adds an event that changes no state (e.g. a failed receipt) to the history. */
export function recordEvent(
  record: TransferRecord,
  change: { at: Date; event: string; by: string; detail?: Record<string, unknown> },
  patch: Partial<Pick<TransferRecord, 'receipts' | 'pendingStages' | 'lease' | 'resumable'>> = {},
): TransferRecord {
  const at = change.at.toISOString();
  return {
    ...record,
    ...patch,
    updatedAt: at,
    history: [...record.history, { at, status: record.status, event: change.event, by: change.by, ...(change.detail ? { detail: change.detail } : {}) }],
  };
}

/** States in which the content exists and may be fetched by its holders. */
export function contentIsAvailable(status: TransferStatus): boolean {
  return status === 'available' || status === 'delivered' || status === 'received';
}
