// What the audit journal records of a transfer: one entry per change of state and per download,
// and one per denied decision. Ids, hashes, decision facts; never a key or a byte of content.
import type { AuditActor, AuditEvent } from '../audit/audit-entry.js';
import type { TransferEvent } from './transfer-events.js';
import type { Decision } from '../policy/evaluate-policy.js';
import type { TransferRecord } from './transfer-record.js';

/** Filterable facts every transfer event carries (regulator exports filter on them). */
function transferFacts(record: TransferRecord) {
  return {
    sender: record.sender,
    recipient: record.recipient,
    category: record.manifest.dataset.category,
    direction: record.decision.input.direction,
    status: record.status,
  };
}

export function transferChangeEvent(record: TransferRecord, change: { event: string }, actor: AuditActor): AuditEvent {
  const details: Record<string, unknown> = { ...transferFacts(record) };
  if (change.event === 'authorized') {
    Object.assign(details, {
      decisionId: record.decision.decisionId,
      policyRevision: record.decision.policyRevision,
      matchedRules: record.decision.matchedRules,
      obligations: record.obligations,
    });
  }
  const last = record.history.at(-1);
  if (last?.detail) details.detail = last.detail;
  return {
    type: `transfer.${change.event}`,
    actor,
    subject: record.id,
    hashes: { manifest: record.manifestSha256, ...(record.content ? { plaintext: record.content.plaintextSha256 } : {}) },
    details,
  };
}

export function transferDownloadEvent(record: TransferRecord, access: { start: number; end: number }, actor: AuditActor): AuditEvent {
  return {
    type: 'transfer.downloaded',
    actor,
    subject: record.id,
    hashes: { manifest: record.manifestSha256, ...(record.content ? { plaintext: record.content.plaintextSha256 } : {}) },
    details: { ...transferFacts(record), range: [access.start, access.end] },
  };
}

export function policyDeniedEvent(decision: Decision, category: string, actor: AuditActor): AuditEvent {
  return {
    type: 'policy.denied',
    actor,
    hashes: { manifest: decision.input.manifestSha256 },
    details: {
      sender: decision.input.sender,
      recipient: decision.input.recipient,
      category,
      direction: decision.input.direction,
      decisionId: decision.decisionId,
      policyRevision: decision.policyRevision,
      matchedRules: decision.matchedRules,
      reasons: decision.reasons.map(({ ruleId, code }) => ({ ruleId, code })),
    },
  };
}

/** The journal's subscription to the transfer events: one entry per event, appended durably. */
export function journalTransferEvents(append: (event: AuditEvent) => Promise<unknown>): (event: TransferEvent) => Promise<void> {
  return async (event) => {
    if (event.type === 'changed') await append(transferChangeEvent(event.record, { event: event.change }, event.actor));
    else if (event.type === 'downloaded') await append(transferDownloadEvent(event.record, event.range, event.actor));
    else await append(policyDeniedEvent(event.decision, event.manifest.dataset.category, event.actor));
  };
}
