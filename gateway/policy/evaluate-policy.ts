// Decides one transfer. Default deny; any matching deny rule wins; otherwise at least one allow rule
// must match, and then every merged obligation that can be checked now must hold (approvals
// presented, held, valid and in scope; escrow holders registered; retention and size within caps;
// no onward transfer when forbidden). The result is a decision record tied to the policy revision.
import { randomUUID } from 'node:crypto';
import { approvalCovers, approvalIsValid, dayOf, directionOf, type DecisionInput, type Direction } from './decision-input.js';
import { isoTime } from './iso-time.js';
import { mergeObligations, NO_OBLIGATIONS, type CompiledRule, type Obligations, type PolicySet } from './load-policy-set.js';
import type { PolicyJurisdiction } from './policy-file.js';

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
  /** Whose rule it is (CN, HK, zone, EU, US); absent for the default deny and registry checks. */
  readonly jurisdiction?: PolicyJurisdiction;
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
  const direction = recipient ? directionOf(sender.jurisdiction, recipient.jurisdiction) : 'unknown';
  const matchedRules: string[] = [];
  const reasons: DecisionReason[] = [];
  let obligations = NO_OBLIGATIONS;

  if (sender.status !== 'active') {
    // The TLS layer refuses inactive senders, but dry runs, explain and re-decisions come here too.
    reasons.push({ ruleId: null, code: 'sender-not-active', message: `sender "${sender.id}" is ${sender.status} in the zone registry` });
  } else if (!recipient) {
    reasons.push({ ruleId: null, code: 'recipient-not-registered', message: `recipient "${manifest.recipient}" is not a registered institution` });
  } else if (recipient.status !== 'active') {
    reasons.push({ ruleId: null, code: 'recipient-not-active', message: `recipient "${recipient.id}" is ${recipient.status} in the zone registry` });
  } else {
    const matched = set.matchRules(manifest, sender, recipient, direction as Direction, input.at, input.priorUsPersons12m);
    let allowing: CompiledRule[] | undefined;
    for (const index of matched) {
      const rule = set.rules[index] as CompiledRule;
      matchedRules.push(rule.id);
      if (rule.effect === 'allow') (allowing ??= []).push(rule);
      else reasons.push({ ruleId: rule.id, jurisdiction: rule.jurisdiction, code: 'rule-denied', message: rule.reason ?? rule.description });
    }
    if (reasons.length === 0) {
      if (!allowing) reasons.push({ ruleId: null, code: 'no-rule-allows', message: 'no policy rule allows this transfer (default deny)' });
      else {
        checkObligations(allowing, input, reasons);
        if (reasons.length === 0) obligations = mergedObligationsOf(allowing);
      }
    }
  }

  const { dataset } = manifest;
  return {
    decisionId: (options.newId ?? randomUUID)(),
    time: isoTime(input.at),
    effect: reasons.length === 0 ? 'allow' : 'deny',
    policyRevision: set.revision,
    input: {
      sender: sender.id,
      recipient: manifest.recipient,
      direction,
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
    obligations,
    evalMicros: Number(process.hrtime.bigint() - started) / 1000,
  };
}

/** Merged obligations per combination of allowing rules (the same few recur), as a trie over rules. */
interface MergedNode {
  merged?: Obligations;
  readonly next: Map<CompiledRule, MergedNode>;
}
/**
 * Tries by first allowing rule: rule objects belong to one policy set, so a reloaded set starts
 * afresh and the old tries go with the old rules.
 */
const mergedByFirstRule = new WeakMap<CompiledRule, { root: MergedNode; nodes: number }>();
/** Bounds one trie; combinations beyond it are merged per decision. */
const MERGED_NODES_MAX = 1024;

function mergedObligationsOf(allowing: readonly CompiledRule[]): Obligations {
  const first = allowing[0] as CompiledRule;
  if (allowing.length === 1) return first.obligations;
  let trie = mergedByFirstRule.get(first);
  if (!trie) mergedByFirstRule.set(first, (trie = { root: { next: new Map() }, nodes: 0 }));
  let node: MergedNode | undefined = trie.root;
  for (let i = 1; i < allowing.length && node; i += 1) {
    const rule = allowing[i] as CompiledRule;
    let child: MergedNode | undefined = node.next.get(rule);
    if (!child && trie.nodes < MERGED_NODES_MAX) {
      trie.nodes += 1;
      node.next.set(rule, (child = { next: new Map() }));
    }
    node = child;
  }
  if (node?.merged) return node.merged;
  // Shared between decisions from now on, so nobody may change it.
  const merged = mergeObligations(allowing.map((rule) => rule.obligations));
  Object.freeze(merged.requireApprovals);
  Object.freeze(merged.escrowTo);
  if (node) node.merged = Object.freeze(merged);
  return merged;
}

/** Obligations that can be checked before a byte moves; each failure names the rule that asked. */
function checkObligations(allowing: readonly CompiledRule[], input: DecisionInput, reasons: DecisionReason[]): void {
  const { manifest } = input;
  let day: string | undefined;
  for (const rule of allowing) {
    const { obligations } = rule;
    for (const type of obligations.requireApprovals) {
      // The usual case, an approval presented, held, valid and in scope, costs no allocation;
      // anything else is worked out again below to say exactly what is wrong.
      if (!approvalSatisfied(type, input, (day ??= dayOf(input.at)))) reportApprovalProblem(rule, type, input, day, reasons);
    }
    for (const holder of obligations.escrowTo) {
      const party = input.lookupInstitution(holder);
      if (!party || party.status !== 'active' || party.encryptionKey === undefined) {
        reasons.push({ ruleId: rule.id, jurisdiction: rule.jurisdiction, code: 'escrow-holder-unavailable', message: `escrow holder "${holder}" is not an active registered institution with an encryption key` });
      }
    }
    if (obligations.maxRetentionDays !== undefined && manifest.retentionDays > obligations.maxRetentionDays) {
      reasons.push({ ruleId: rule.id, jurisdiction: rule.jurisdiction, code: 'retention-too-long', message: `requested retention of ${manifest.retentionDays} days exceeds the maximum of ${obligations.maxRetentionDays}` });
    }
    if (obligations.maxSizeBytes !== undefined && manifest.dataset.sizeBytes > obligations.maxSizeBytes) {
      reasons.push({ ruleId: rule.id, jurisdiction: rule.jurisdiction, code: 'size-too-large', message: `declared size of ${manifest.dataset.sizeBytes} bytes exceeds the cap of ${obligations.maxSizeBytes}` });
    }
    if (obligations.noOnwardTransfer && manifest.onwardTransfer) {
      reasons.push({ ruleId: rule.id, jurisdiction: rule.jurisdiction, code: 'onward-transfer-forbidden', message: 'the manifest declares an onward transfer, which this rule forbids' });
    }
  }
}

/** An approval of the type is presented, held by the sender under a presented id, valid on the day and in scope. */
function approvalSatisfied(type: string, input: DecisionInput, day: string): boolean {
  const presented = input.manifest.approvals;
  for (const held of input.sender.approvals ?? []) {
    if (held.type !== type || !approvalIsValid(held, day) || !approvalCovers(held, input.manifest)) continue;
    for (const approval of presented) if (approval.type === type && approval.id === held.id) return true;
  }
  return false;
}

/** Why an approval requirement fails, in the order presented → held → valid → in scope. */
function reportApprovalProblem(rule: CompiledRule, type: string, input: DecisionInput, day: string, reasons: DecisionReason[]): void {
  const { manifest, sender } = input;
  const reason = (code: ReasonCode, message: string): void => void reasons.push({ ruleId: rule.id, jurisdiction: rule.jurisdiction, code, message });
  const presented = manifest.approvals.filter((a) => a.type === type);
  if (presented.length === 0) {
    reason('approval-not-presented', `approval "${type}" is required but the manifest presents none`);
    return;
  }
  const held = (sender.approvals ?? []).filter((a) => a.type === type && presented.some((p) => p.id === a.id));
  if (held.length === 0) {
    reason('approval-not-held', `approval "${type}" ${presented.map((p) => p.id).join(', ')} is not held by ${sender.id} in the zone registry`);
    return;
  }
  const valid = held.filter((a) => approvalIsValid(a, day));
  if (valid.length === 0) {
    const first = held[0];
    if (first && first.validFrom > day) reason('approval-not-yet-valid', `approval "${type}" ${first.id} is valid only from ${first.validFrom}`);
    else reason('approval-expired', `approval "${type}" ${first?.id ?? ''} expired on ${first?.validUntil ?? ''}`);
    return;
  }
  if (!valid.some((a) => approvalCovers(a, manifest))) {
    reason('approval-out-of-scope', `approval "${type}" ${valid.map((a) => a.id).join(', ')} does not cover project ${manifest.project.id} (${manifest.dataset.category} to ${manifest.recipient})`);
  }
}
