// Plain-words renderings shared by the steps: shortened hashes, a decision's obligations, the
// reasons of a denial.
import type { PolicyReason } from '../../gateway/client/transfer-view.js';

/** Enough of a SHA-256 to compare by eye; the full value is in the records and the audit journal. */
export const shortHash = (hex: string): string => `${hex.slice(0, 12)}…`;

/** Policy-revision style: 12 hex characters, as `hetao send` prints it. */
export const shortRevision = (hex: string): string => hex.slice(0, 12);

interface Approval {
  readonly type: string;
  readonly id: string;
}

const list = (items: readonly string[]): string => items.join(', ');

/** One line per obligation the decision carries, saying what it means for this transfer. */
export function describeObligations(obligations: Readonly<Record<string, unknown>>, presented: readonly Approval[]): string[] {
  const lines: string[] = [];
  const approvals = (obligations.requireApprovals as readonly string[] | undefined) ?? [];
  if (approvals.length > 0) {
    const named = approvals.map((type) => `${type} ${presented.find((approval) => approval.type === type)?.id ?? '(not presented)'}`);
    lines.push(`approvals checked against the registry: ${list(named)}`);
  }
  const escrow = (obligations.escrowTo as readonly string[] | undefined) ?? [];
  if (escrow.length > 0) lines.push(`escrow copy: the data key is also wrapped for ${list(escrow)}`);
  if (obligations.fullInspection === true) lines.push('full inspection: every byte is scanned, not a sample');
  if (obligations.recipientReceipt === true) lines.push('the recipient must confirm receipt with the SHA-256 of what it decrypted');
  if (obligations.noOnwardTransfer === true) lines.push('no onward transfer: the recipient may not pass the data on');
  if (typeof obligations.maxRetentionDays === 'number') lines.push(`kept at most ${obligations.maxRetentionDays} days`);
  return lines;
}

/** Where a reason comes from: its rule, or (ruleId null) the default deny or the registry's checks. */
export const reasonSource = (reason: PolicyReason): string => reason.ruleId ?? (reason.code === 'no-rule-allows' ? 'default deny' : 'registry');

export function describeReasons(reasons: readonly PolicyReason[]): string[] {
  return reasons.map((reason) => `- rule ${reasonSource(reason)}: ${reason.message} (${reason.code})`);
}
