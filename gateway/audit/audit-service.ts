// What callers may ask of the audit journal, and who may ask it: inclusion proofs of a transfer's
// entries for its parties and regulators, consistency proofs for any registered principal, and the
// regulator's filtered, verifiable export.
import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import { requireRole, type Role } from '../identity/require-role.js';
import type { AuditJournal, ConsistencyProof, InclusionProof } from './create-audit-journal.js';
import type { SignedCheckpoint } from './checkpoint.js';

/** The caller, as the audit rules need it. */
export interface AuditCaller {
  readonly id: string;
  readonly role: Role;
  readonly institution: string;
}

export interface AuditExportFilter {
  readonly from?: string;
  readonly to?: string;
  readonly institution?: string;
  readonly category?: string;
  readonly direction?: string;
}

export interface AuditService {
  /**
   * Inclusion proofs of every entry of a transfer against the latest signed checkpoint.
   * @throws GatewayError ERR_TRANSFER_NOT_FOUND, ERR_TRANSFER_FORBIDDEN (from `transferVisibleTo`), ERR_SERVICE_UNAVAILABLE
   */
  proveTransfer(transferId: string, caller: AuditCaller): Promise<{ transferId: string; checkpoint: SignedCheckpoint; proofs: InclusionProof[] }>;
  /** @throws GatewayError ERR_AUDIT_RANGE_INVALID */
  proveConsistency(from: number, to: number, caller: AuditCaller): Promise<ConsistencyProof & { checkpoint: SignedCheckpoint | undefined }>;
  /** @throws GatewayError ERR_IDENTITY_ROLE_FORBIDDEN for anyone but a regulator; ERR_AUDIT_RANGE_INVALID */
  exportEntries(filter: AuditExportFilter, caller: AuditCaller): Readable;
}

export function createAuditService(deps: {
  journal: AuditJournal;
  /** Throws unless the caller may see the transfer (party or regulator); returns its id. */
  transferVisibleTo(transferId: string, caller: AuditCaller): Promise<string>;
}): AuditService {
  const { journal } = deps;
  return {
    async proveTransfer(transferId, caller) {
      const id = await deps.transferVisibleTo(transferId, caller);
      const checkpoint = await journal.checkpoint();
      if (!checkpoint) throw new GatewayError('ERR_SERVICE_UNAVAILABLE', 'no checkpoint yet');
      const seqs = (await journal.entriesFor(id)).filter((seq) => seq < checkpoint.treeSize);
      const proofs = await Promise.all(seqs.map((seq) => journal.proveInclusion(seq, checkpoint.treeSize)));
      return { transferId: id, checkpoint, proofs };
    },

    async proveConsistency(from, to) {
      // Any registered principal may check that the log only grows.
      const checkpoint = await journal.checkpoint();
      return { checkpoint, ...(await journal.proveConsistency(from, to)) };
    },

    exportEntries(filter, caller) {
      requireRole(caller, ['regulator'], 'the audit export');
      const { from, to, institution, category, direction } = filter;
      const filtered = institution !== undefined || category !== undefined || direction !== undefined;
      return journal.exportRange({
        ...(from ? { fromTime: from } : {}),
        ...(to ? { toTime: to } : {}),
        ...(filtered
          ? {
              filter: (entry) => {
                const details = (entry.details ?? {}) as Record<string, unknown>;
                return (
                  (institution === undefined || entry.actor.id === institution || details.sender === institution || details.recipient === institution) &&
                  (category === undefined || details.category === category) &&
                  (direction === undefined || details.direction === direction)
                );
              },
            }
          : {}),
      });
    },
  };
}
