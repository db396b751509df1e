// Every fact a rule may test, with its type and allowed values, derived from the manifest schema
// plus the facts the gateway adds (direction, sender/recipient, approvals, presented approvals).
// The linter uses it to refuse unknown facts and flag tests that can never be true.
import { DIRECTIONS } from './decision-input.js';
import { manifestSchema, US_PERSON_CATEGORIES } from './manifest.js';
import type { Scalar } from './policy-file.js';

export interface FactType {
  readonly type: 'string' | 'number' | 'boolean' | 'any';
  readonly values?: readonly Scalar[];
}

interface SchemaNode {
  type?: string | string[];
  enum?: Scalar[];
  const?: Scalar;
  properties?: Record<string, SchemaNode>;
}

function collect(prefix: string, node: SchemaNode, into: Map<string, FactType>): void {
  if (node.properties) {
    // An object is a fact too, for `exists`/`absent` (e.g. whether the manifest declares `us.personCounts` at all).
    if (prefix.includes('.')) into.set(prefix, { type: 'any' });
    for (const [name, child] of Object.entries(node.properties)) collect(`${prefix}.${name}`, child, into);
    return;
  }
  if (node.enum) {
    const type = typeof node.enum[0] === 'number' ? 'number' : typeof node.enum[0] === 'boolean' ? 'boolean' : 'string';
    into.set(prefix, { type, values: node.enum });
  } else if (node.type === 'integer' || node.type === 'number') into.set(prefix, { type: 'number' });
  else if (node.type === 'boolean') into.set(prefix, { type: 'boolean', values: [true, false] });
  else if (node.type === 'string') into.set(prefix, { type: 'string' });
  else into.set(prefix, { type: 'any' });
}

const FIXED_FACTS = new Map<string, FactType>();
collect('manifest', manifestSchema as SchemaNode, FIXED_FACTS);
FIXED_FACTS.set('direction', { type: 'string', values: DIRECTIONS });
// Counted by the gateway over the pair's transfers in the last 12 months, this one included.
for (const category of US_PERSON_CATEGORIES) FIXED_FACTS.set(`carried.usPersons12m.${category}`, { type: 'number' });
for (const side of ['sender', 'recipient']) {
  FIXED_FACTS.set(`${side}.id`, { type: 'string' });
  FIXED_FACTS.set(`${side}.jurisdiction`, { type: 'string' });
  FIXED_FACTS.set(`${side}.zone`, { type: 'string', values: ['hetao-sz', 'hetao-hk', 'outside'] });
  FIXED_FACTS.set(`${side}.status`, { type: 'string', values: ['active', 'suspended', 'revoked'] });
  FIXED_FACTS.set(`${side}.inZone`, { type: 'boolean', values: [true, false] });
  FIXED_FACTS.set(`${side}.inGba`, { type: 'boolean', values: [true, false] });
}

/** The type of a fact path, or undefined when no such fact exists. */
export function lookupFact(path: string): FactType | undefined {
  const fixed = FIXED_FACTS.get(path);
  if (fixed) return fixed;
  const segments = path.split('.');
  if ((segments[0] === 'sender' || segments[0] === 'recipient') && segments[1] === 'attributes' && segments.length === 3) return { type: 'any' };
  if ((segments[0] === 'sender' || segments[0] === 'recipient') && segments[1] === 'approvals' && segments.length === 4 && ['held', 'valid', 'covers'].includes(segments[3] ?? '')) {
    return { type: 'boolean', values: [true, false] };
  }
  if (segments[0] === 'presented' && segments.length === 2) return { type: 'string' };
  return undefined;
}

/** Approval types of the zone's rules (regulations.md); the registry may name more. */
export const KNOWN_APPROVAL_TYPES: readonly string[] = [
  'security-assessment',
  'standard-contract-filing',
  'gba-standard-contract-filing',
  'pi-protection-certification',
  'pipia',
  'separate-consent-record',
  'hgr-filing',
  'hgr-international-cooperation-approval',
  'hgr-security-review',
  'hgr-pretrial-filing',
  'ethics-approval',
  'clinical-trial-filing',
];

/** The approval type a fact path is about (`sender.approvals.X.valid`, `presented.X`), if any. */
export function approvalTypeOfFact(path: string): string | undefined {
  const segments = path.split('.');
  if (segments[1] === 'approvals' && segments.length === 4) return segments[2];
  if (segments[0] === 'presented' && segments.length === 2) return segments[1];
  return undefined;
}
