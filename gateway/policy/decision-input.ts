// What a decision is made on: the manifest, the sender and recipient as the registry describes them,
// and the moment. Turned once per decision into the facts rules test (direction, zones, approvals).
import type { Manifest } from './manifest.js';

/** A registered institution as the policy sees it (the registry's Institution fits this shape). */
export interface Party {
  readonly id: string;
  readonly jurisdiction: string;
  readonly zone: 'hetao-sz' | 'hetao-hk' | 'outside';
  readonly status: 'active' | 'suspended' | 'revoked';
  readonly attributes?: Readonly<Record<string, string | number | boolean>>;
  readonly approvals?: readonly HeldApproval[];
  readonly encryptionKey?: unknown;
  /** Where the gateway pushes envelopes for this institution (not a policy fact; carried along). */
  readonly pushEndpoint?: string;
}

export interface HeldApproval {
  readonly type: string;
  readonly id: string;
  readonly scope?: { readonly projects?: readonly string[]; readonly categories?: readonly string[]; readonly recipients?: readonly string[] };
  readonly validFrom: string;
  readonly validUntil: string;
}

export interface DecisionInput {
  readonly manifest: Manifest;
  /** hashManifest(manifest), computed once when the manifest is accepted. */
  readonly manifestSha256: string;
  readonly sender: Party;
  /** Undefined when the manifest names no registered institution: always denied. */
  readonly recipient: Party | undefined;
  readonly at: Date;
  /** Looks up escrow holders named by obligations. */
  readonly lookupInstitution: (id: string) => Party | undefined;
}

export type Direction = 'CN→HK' | 'HK→CN' | 'CN→CN' | 'HK→HK' | 'other→CN' | 'other→HK' | '→other';
export const DIRECTIONS: readonly Direction[] = ['CN→HK', 'HK→CN', 'CN→CN', 'HK→HK', 'other→CN', 'other→HK', '→other'];

/** Mainland and Hong Kong are the channel's two sides; anything else is "other". */
export function directionOf(senderJurisdiction: string, recipientJurisdiction: string): Direction {
  const side = (jurisdiction: string): 'CN' | 'HK' | 'other' => (jurisdiction === 'CN' || jurisdiction === 'HK' ? jurisdiction : 'other');
  const to = side(recipientJurisdiction);
  if (to === 'other') return '→other';
  return `${side(senderJurisdiction)}→${to}` as Direction;
}

export interface ApprovalFacts {
  /** The registry lists an approval of this type for the institution. */
  readonly held: boolean;
  /** …and one of them is valid at the decision time. */
  readonly valid: boolean;
  /** …and one valid one covers this project, category and recipient. */
  readonly covers: boolean;
}

/** Shenzhen and Hong Kong are both UTC+8 all year (no daylight saving). */
const ZONE_OFFSET_MS = 8 * 3_600_000;

/**
 * The calendar day of `at` in the zone (UTC+8), YYYY-MM-DD: approvals are dated by the authorities
 * of Shenzhen and Hong Kong, so `validUntil: 2028-12-31` ends at midnight there, not in UTC.
 */
export function dayOf(at: Date): string {
  const local = new Date(at.getTime() + ZONE_OFFSET_MS);
  const month = local.getUTCMonth() + 1;
  const day = local.getUTCDate();
  return `${local.getUTCFullYear()}-${month < 10 ? '0' : ''}${month}-${day < 10 ? '0' : ''}${day}`;
}

export function approvalIsValid(approval: HeldApproval, day: string): boolean {
  return approval.validFrom <= day && day <= approval.validUntil;
}

export function approvalCovers(approval: HeldApproval, manifest: Manifest): boolean {
  const scope = approval.scope;
  if (!scope) return true;
  return (
    (!scope.projects || scope.projects.includes(manifest.project.id)) &&
    (!scope.categories || scope.categories.includes(manifest.dataset.category)) &&
    (!scope.recipients || scope.recipients.includes(manifest.recipient))
  );
}

function approvalFacts(approvals: readonly HeldApproval[] | undefined, manifest: Manifest, day: string): Record<string, ApprovalFacts> {
  const facts: Record<string, ApprovalFacts> = {};
  for (const approval of approvals ?? []) {
    const previous = facts[approval.type] ?? { held: false, valid: false, covers: false };
    const valid = approvalIsValid(approval, day);
    facts[approval.type] = {
      held: true,
      valid: previous.valid || valid,
      covers: previous.covers || (valid && approvalCovers(approval, manifest)),
    };
  }
  return facts;
}

/** A party outside the Greater Bay Area unless in the zone, in Hong Kong, or marked `gba: true`. */
function partyFacts(party: Party, manifest: Manifest, day: string) {
  return {
    id: party.id,
    jurisdiction: party.jurisdiction,
    zone: party.zone,
    status: party.status,
    inZone: party.zone !== 'outside',
    inGba: party.zone !== 'outside' || party.jurisdiction === 'HK' || party.attributes?.gba === true,
    attributes: party.attributes ?? {},
    approvals: approvalFacts(party.approvals, manifest, day),
  };
}

export type Facts = Readonly<Record<string, unknown>>;

/** What facts are built from: a decision's parties, manifest and time, with a known recipient. */
export type FactsInput = Pick<DecisionInput, 'manifest' | 'sender' | 'at'> & { readonly recipient: Party };

/** The object rule conditions read their facts from (paths like `sender.approvals.hgr-filing.covers`). */
export function buildFacts(input: FactsInput): Facts {
  const day = dayOf(input.at);
  const presented: Record<string, string> = {};
  for (const approval of input.manifest.approvals) presented[approval.type] = approval.id;
  return {
    manifest: input.manifest,
    direction: directionOf(input.sender.jurisdiction, input.recipient.jurisdiction),
    sender: partyFacts(input.sender, input.manifest, day),
    recipient: partyFacts(input.recipient, input.manifest, day),
    presented,
  };
}
