// Decides one transfer. Default deny; any matching deny rule wins; otherwise at least one allow rule
// must match, and then every merged obligation that can be checked now must hold (approvals
// presented, held, valid and in scope; escrow holders registered; retention and size within caps;
// no onward transfer when forbidden). The result is a decision record tied to the policy revision.
import { randomUUID } from 'node:crypto';
import { approvalCovers, approvalIsValid, buildFacts, dayOf, directionOf, type DecisionInput } from './decision-input.js';
import { mergeObligations, NO_OBLIGATIONS, type CompiledRule, type Obligations, type PolicySet } from './load-policy-set.js';

export type ReasonCode =
  | 'sender-not-active'
  | 'recipient-not-registered'
  | 'recipient-not-active'
  | 'rule-denied'
  | 'no-rule-allows'
  | 'approval-not-presented'
  | 'approval-not-held'
  | 'approval-expired'
  | 'approval-not-yet-valid'
  | 'approval-out-of-scope'
  | 'escrow-holder-unavailable'
  | 'retention-too-long'
  | 'size-too-large'
  | 'onward-transfer-forbidden';

export interface DecisionReason {
  /** The rule that caused it; null for the default deny and registry checks. */
  readonly ruleId: string | null;
  readonly code: ReasonCode;
  readonly message: string;
}

export interface Decision {
  readonly decisionId: string;
  readonly time: string;
  readonly effect: 'allow' | 'deny';
  readonly policyRevision: string;
  /** What was decided on, without titles or free text (safe for logs and the audit journal). */
  readonly input: {
    readonly sender: string;
    readonly recipient: string;
    readonly direction: string;
    readonly manifestSha256: string;
    readonly project: string;
    readonly purpose: string;
    readonly category: string;
    readonly level: string;
    readonly deidentification: string;
    readonly subjects: number;
    readonly humanGeneticResources: boolean;
    readonly sizeBytes: number;
  };
  /** Every rule whose condition matched, allow and deny. */
  readonly matchedRules: readonly string[];
  readonly reasons: readonly DecisionReason[];
  /** Merged obligations of the matched allow rules (none when denied). */
  readonly obligations: Obligations;
  readonly evalMicros: number;
}

export interface EvaluateOptions {
  readonly newId?: () => string;
}

export function evaluatePolicy(set: PolicySet, input: DecisionInput, options: EvaluateOptions = {}): Decision {
  const started = process.hrtime.bigint();
  const { manifest, sender, recipient } = input;
  const matchedRules: string[] = [];
  const allowing: CompiledRule[] = [];
  const reasons: DecisionReason[] = [];

  if (sender.status !== 'active') {
    // The TLS layer refuses inactive senders, but dry runs, explain and re-decisions come here too.
    reasons.push({ ruleId: null, code: 'sender-not-active', message: `sender "${sender.id}" is ${sender.status} in the zone registry` });
  } else if (!recipient) {
    reasons.push({ ruleId: null, code: 'recipient-not-registered', message: `recipient "${manifest.recipient}" is not a registered institution` });
  } else if (recipient.status !== 'active') {
    reasons.push({ ruleId: null, code: 'recipient-not-active', message: `recipient "${recipient.id}" is ${recipient.status} in the zone registry` });
  } else {
    const facts = buildFacts({ manifest, sender, recipient, at: input.at });
    for (const rule of set.rules) {
      if (!rule.condition.test(facts)) continue;
      matchedRules.push(rule.id);
      if (rule.effect === 'allow') allowing.push(rule);
      else reasons.push({ ruleId: rule.id, code: 'rule-denied', message: rule.reason ?? rule.description });
    }
    if (reasons.length === 0) {
      if (allowing.length === 0) reasons.push({ ruleId: null, code: 'no-rule-allows', message: 'no policy rule allows this transfer (default deny)' });
      else checkObligations(allowing, input, reasons);
    }
  }

  const effect = reasons.length === 0 ? 'allow' : 'deny';
  const { dataset } = manifest;
  return {
    decisionId: (options.newId ?? randomUUID)(),
    time: input.at.toISOString(),
    effect,
    policyRevision: set.revision,
    input: {
      sender: sender.id,
      recipient: manifest.recipient,
      direction: recipient ? directionOf(sender.jurisdiction, recipient.jurisdiction) : 'unknown',
      manifestSha256: input.manifestSha256,
      project: manifest.project.id,
      purpose: manifest.purpose,
      category: dataset.category,
      level: dataset.classification.level,
      deidentification: dataset.deidentification,
      subjects: dataset.subjects,
      humanGeneticResources: dataset.humanGeneticResources,
      sizeBytes: dataset.sizeBytes,
    },
    matchedRules,
    reasons,
    obligations: effect === 'allow' ? mergeObligations(allowing.map((rule) => rule.obligations)) : NO_OBLIGATIONS,
    evalMicros: Number(process.hrtime.bigint() - started) / 1000,
  };
}

/** Obligations that can be checked before a byte moves; each failure names the rule that asked. */
function checkObligations(allowing: readonly CompiledRule[], input: DecisionInput, reasons: DecisionReason[]): void {
  const { manifest, sender } = input;
  const day = dayOf(input.at);
  for (const rule of allowing) {
    const { obligations } = rule;
    for (const type of obligations.requireApprovals) {
      const presented = manifest.approvals.filter((a) => a.type === type);
      const reason = (code: ReasonCode, message: string): void => void reasons.push({ ruleId: rule.id, code, message });
      if (presented.length === 0) {
        reason('approval-not-presented', `approval "${type}" is required but the manifest presents none`);
        continue;
      }
      const held = (sender.approvals ?? []).filter((a) => a.type === type && presented.some((p) => p.id === a.id));
      if (held.length === 0) {
        reason('approval-not-held', `approval "${type}" ${presented.map((p) => p.id).join(', ')} is not held by ${sender.id} in the zone registry`);
        continue;
      }
      const valid = held.filter((a) => approvalIsValid(a, day));
      if (valid.length === 0) {
        const first = held[0];
        if (first && first.validFrom > day) reason('approval-not-yet-valid', `approval "${type}" ${first.id} is valid only from ${first.validFrom}`);
        else reason('approval-expired', `approval "${type}" ${first?.id ?? ''} expired on ${first?.validUntil ?? ''}`);
        continue;
      }
      if (!valid.some((a) => approvalCovers(a, manifest))) {
        reason('approval-out-of-scope', `approval "${type}" ${valid.map((a) => a.id).join(', ')} does not cover project ${manifest.project.id} (${manifest.dataset.category} to ${manifest.recipient})`);
      }
    }
    for (const holder of obligations.escrowTo) {
      const party = input.lookupInstitution(holder);
      if (!party || party.status !== 'active' || party.encryptionKey === undefined) {
        reasons.push({ ruleId: rule.id, code: 'escrow-holder-unavailable', message: `escrow holder "${holder}" is not an active registered institution with an encryption key` });
      }
    }
    if (obligations.maxRetentionDays !== undefined && manifest.retentionDays > obligations.maxRetentionDays) {
      reasons.push({ ruleId: rule.id, code: 'retention-too-long', message: `requested retention of ${manifest.retentionDays} days exceeds the maximum of ${obligations.maxRetentionDays}` });
    }
    if (obligations.maxSizeBytes !== undefined && manifest.dataset.sizeBytes > obligations.maxSizeBytes) {
      reasons.push({ ruleId: rule.id, code: 'size-too-large', message: `declared size of ${manifest.dataset.sizeBytes} bytes exceeds the cap of ${obligations.maxSizeBytes}` });
    }
    if (obligations.noOnwardTransfer && manifest.onwardTransfer) {
      reasons.push({ ruleId: rule.id, code: 'onward-transfer-forbidden', message: 'the manifest declares an onward transfer, which this rule forbids' });
    }
  }
}
