// What a decision is made on: the manifest, the sender and recipient as the registry describes them,
// and the moment. Turned once per decision into the facts rules test (direction, zones, approvals).
import { US_PERSON_CATEGORIES, type Manifest, type UsPersonCounts } from './manifest.js';

/** A registered institution as the policy sees it (the registry's Institution fits this shape). */
export interface Party {
  readonly id: string;
  readonly jurisdiction: string;
  readonly zone: 'hetao-sz' | 'hetao-hk' | 'outside';
  readonly status: 'active' | 'suspended' | 'revoked';
  readonly attributes?: Readonly<Record<string, string | number | boolean>>;
  readonly approvals?: readonly HeldApproval[];
  readonly encryptionKey?: unknown;
  /** Crypt4GH (X25519) public key, base64 of 32 bytes (not a policy fact; carried along). */
  readonly crypt4ghPublicKey?: string;
  /** Where the gateway pushes envelopes for this institution (not a policy fact; carried along). */
  readonly pushEndpoint?: string;
  /** Registered at the peer gateway of this id (its signed directory), not at this one (not a policy fact; carried along). */
  readonly servedBy?: string;
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
  /**
   * US persons per category in the transfers of the same sender to the same recipient in the 12
   * months before `at` (the records' sums, 28 CFR 202.205). Rules read `carried.usPersons12m.<category>`:
   * these plus the manifest's own `us.personCounts`. Absent: none carried before.
   */
  readonly priorUsPersons12m?: UsPersonCounts;
  /** Looks up escrow holders named by obligations. */
  readonly lookupInstitution: (id: string) => Party | undefined;
}

export type Direction = 'CN→HK' | 'HK→CN' | 'CN→CN' | 'HK→HK' | 'other→CN' | 'other→HK' | '→other';
export const DIRECTIONS: readonly Direction[] = ['CN→HK', 'HK→CN', 'CN→CN', 'HK→HK', 'other→CN', 'other→HK', '→other'];

/** Mainland and Hong Kong are the channel's two sides; anything else is "other". */
export function directionOf(senderJurisdiction: string, recipientJurisdiction: string): Direction {
  // Picks one of the constant strings rather than concatenating: a decision compares it many times.
  if (recipientJurisdiction === 'CN') return senderJurisdiction === 'CN' ? 'CN→CN' : senderJurisdiction === 'HK' ? 'HK→CN' : 'other→CN';
  if (recipientJurisdiction === 'HK') return senderJurisdiction === 'CN' ? 'CN→HK' : senderJurisdiction === 'HK' ? 'HK→HK' : 'other→HK';
  return '→other';
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

const DAY_MS = 86_400_000;
/** The zone day last asked for and the span of times it covers: most decisions fall on the same day. */
let lastDay = { from: 0, until: 0, day: '' };

/**
 * The calendar day of `at` in the zone (UTC+8), YYYY-MM-DD: approvals are dated by the authorities
 * of Shenzhen and Hong Kong, so `validUntil: 2028-12-31` ends at midnight there, not in UTC.
 */
export function dayOf(at: Date): string {
  const time = at.getTime();
  if (time >= lastDay.from && time < lastDay.until) return lastDay.day;
  const local = new Date(time + ZONE_OFFSET_MS);
  const month = local.getUTCMonth() + 1;
  const date = local.getUTCDate();
  const day = `${local.getUTCFullYear()}-${month < 10 ? '0' : ''}${month}-${date < 10 ? '0' : ''}${date}`;
  if (!Number.isNaN(local.getTime())) {
    const from = Math.floor((time + ZONE_OFFSET_MS) / DAY_MS) * DAY_MS - ZONE_OFFSET_MS;
    lastDay = { from, until: from + DAY_MS, day };
  }
  return day;
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

/** Facts no approval of a type supplies read through an empty object, as in buildFacts. */
const NO_FACTS: Readonly<Record<string, unknown>> = {};

/**
 * `<party>.approvals.<type>.<field>` read without building the other approval facts: the same value
 * as reading it from buildFacts (false when no approval of the type is held).
 */
export function approvalFact(approvals: readonly HeldApproval[] | undefined, type: string, field: keyof ApprovalFacts, manifest: Manifest, day: string): boolean {
  let held = false;
  let valid = false;
  let covers = false;
  for (const approval of approvals ?? []) {
    if (approval.type !== type) continue;
    held = true;
    if (!approvalIsValid(approval, day)) continue;
    valid = true;
    if (!covers && approvalCovers(approval, manifest)) covers = true;
  }
  if (!held) return ((NO_FACTS[type] as Record<string, unknown> | undefined)?.[field] as boolean | undefined) ?? false;
  return field === 'held' ? held : field === 'valid' ? valid : covers;
}

/** `presented.<type>` read without building the object: the last presented approval of the type wins. */
export function presentedApprovalId(approvals: Manifest['approvals'], type: string): unknown {
  for (let i = approvals.length - 1; i >= 0; i -= 1) {
    const approval = approvals[i];
    if (approval && approval.type === type) return approval.id;
  }
  return NO_FACTS[type];
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
export type FactsInput = Pick<DecisionInput, 'manifest' | 'sender' | 'at' | 'priorUsPersons12m'> & { readonly recipient: Party };

/** What the pair carried in 12 months with this transfer: the earlier sums plus the manifest's counts. */
export function usPersonsWithThis(prior: UsPersonCounts | undefined, manifest: Manifest): UsPersonCounts {
  const own = manifest.us?.personCounts;
  const totals = {} as Record<(typeof US_PERSON_CATEGORIES)[number], number>;
  for (const category of US_PERSON_CATEGORIES) totals[category] = (prior?.[category] ?? 0) + (own?.[category] ?? 0);
  return totals;
}

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
    carried: { usPersons12m: usPersonsWithThis(input.priorUsPersons12m, input.manifest) },
  };
}
