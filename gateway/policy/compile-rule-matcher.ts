// Compiles a policy set's rule conditions, once at load, into generated functions that read each
// fact straight from the decision input: no facts object is built per decision, each fact a rule
// tests is read once per decision, approval facts are worked out only when a rule reaches them, and
// a rule stops at its first failing test. The conditions are emitted by the same emitter as the
// per-rule predicates (compile-condition.ts), and a fact without a direct read below is read from
// buildFacts, so a decision matches exactly the rules the per-rule predicates match.
import { CodeConstants, SAFE_FACT_PATH, emitCondition, toNumberOrNaN, type ParameterValues } from './compile-condition.js';
import { approvalFact, buildFacts, dayOf, presentedApprovalId, type Direction, type Party } from './decision-input.js';
import { US_PERSON_CATEGORIES, type Manifest, type UsPersonCounts } from './manifest.js';
import type { Condition } from './policy-file.js';

/** Indices (in set order) of the rules whose condition holds. */
export type RuleMatcher = (manifest: Manifest, sender: Party, recipient: Party, direction: Direction, at: Date, priorUsPersons12m?: UsPersonCounts) => number[];

type ChunkMatcher = (manifest: Manifest, sender: Party, recipient: Party, direction: Direction, at: Date, prior: UsPersonCounts | undefined, matched: number[]) => void;

/**
 * Rules per generated function: V8 stops optimising very large functions, and a set of hundreds of
 * rules would otherwise be one of them.
 */
const RULES_PER_FUNCTION = 32;

const PARTY_FIELDS = new Set(['id', 'jurisdiction', 'zone', 'status']);
const APPROVAL_FIELDS = new Set(['held', 'valid', 'covers']);

/** @throws Error on an unknown parameter or an unsafe fact path (the loader reports those first). */
export function compileRuleMatcher(conditions: readonly Condition[], parameters: ParameterValues): RuleMatcher {
  const chunks: ChunkMatcher[] = [];
  for (let first = 0; first < conditions.length; first += RULES_PER_FUNCTION) {
    chunks.push(compileChunk(conditions.slice(first, first + RULES_PER_FUNCTION), first, parameters));
  }
  if (chunks.length === 1) {
    const [only] = chunks as [ChunkMatcher];
    return (manifest, sender, recipient, direction, at, prior) => {
      const matched: number[] = [];
      only(manifest, sender, recipient, direction, at, prior, matched);
      return matched;
    };
  }
  return (manifest, sender, recipient, direction, at, prior) => {
    const matched: number[] = [];
    for (const chunk of chunks) chunk(manifest, sender, recipient, direction, at, prior, matched);
    return matched;
  };
}

function compileChunk(conditions: readonly Condition[], firstIndex: number, parameters: ParameterValues): ChunkMatcher {
  const constants = new CodeConstants();
  const eager = new Map<string, { name: string; code: string }>();
  const lazy = new Map<string, { name: string; code: string }>();
  const variable = (into: Map<string, { name: string; code: string }>, prefix: string, key: string, code: string): string => {
    let found = into.get(key);
    if (!found) {
      found = { name: `${prefix}${into.size}`, code };
      into.set(key, found);
    }
    return found.name;
  };
  // Plain property reads are hoisted (cheap, read once); approval facts and the facts object are
  // computed on first use and kept (`??=`: their values are never nullish once computed).
  const read = (fact: string): string => {
    if (!SAFE_FACT_PATH.test(fact)) throw new Error(`unsafe fact path ${JSON.stringify(fact)}`);
    const direct = directRead(fact);
    if (direct?.kind === 'plain') return variable(eager, 'v', fact, direct.code);
    if (direct?.kind === 'approval') return `(${variable(lazy, 'a', fact, '')} ??= ${direct.code})`;
    return `(F ??= facts(m, s, r, at, k))${fact.split('.').map((segment) => `?.[${JSON.stringify(segment)}]`).join('')}${
      /^(sender|recipient)\.approvals\.[^.]+\.[^.]+$/.test(fact) ? ' ?? false' : ''
    }`;
  };
  const tests = conditions.map((condition, i) => `  if (${emitCondition(condition, parameters, read, constants)}) matched.push(${firstIndex + i});`);
  const lazyNames = [...lazy.values()].map((v) => v.name);
  const body = [
    '"use strict";',
    'return function matchRules(m, s, r, d, at, k, matched) {',
    ...[...eager.values()].map((v) => `  const ${v.name} = ${v.code};`),
    `  let day, F${lazyNames.map((name) => `, ${name}`).join('')};`,
    ...tests,
    '};',
  ].join('\n');
  const facts = (manifest: Manifest, sender: Party, recipient: Party, at: Date, prior: UsPersonCounts | undefined) =>
    buildFacts({ manifest, sender, recipient, at, ...(prior ? { priorUsPersons12m: prior } : {}) });
  return new Function('c', 'num', 'E', 'approvalFact', 'presented', 'dayOf', 'facts', body)(
    constants.values,
    toNumberOrNaN,
    {},
    approvalFact,
    presentedApprovalId,
    dayOf,
    facts,
  ) as ChunkMatcher;
}

/**
 * The generated read of a fact straight from the input (`m` manifest, `s`/`r` sender/recipient,
 * `d` direction, `k` the pair's earlier US-person sums), mirroring what buildFacts puts at that
 * path; undefined for any other path.
 */
function directRead(fact: string): { kind: 'plain' | 'approval'; code: string } | undefined {
  const segments = fact.split('.');
  const key = (segment: string): string => JSON.stringify(segment);
  const [head, second, third, fourth] = segments;
  if (head === 'manifest') return { kind: 'plain', code: `m${segments.slice(1).map((segment) => `?.[${key(segment)}]`).join('')}` };
  if (head === 'direction' && segments.length === 1) return { kind: 'plain', code: 'd' };
  if (head === 'carried' && second === 'usPersons12m' && segments.length === 3 && (US_PERSON_CATEGORIES as readonly string[]).includes(third ?? '')) {
    return { kind: 'plain', code: `((k?.[${key(third as string)}] ?? 0) + (m.us?.personCounts?.[${key(third as string)}] ?? 0))` };
  }
  if (head === 'presented' && segments.length === 2 && second) return { kind: 'plain', code: `presented(m.approvals, ${key(second)})` };
  if (head !== 'sender' && head !== 'recipient') return undefined;
  const party = head === 'sender' ? 's' : 'r';
  if (segments.length === 2 && second && PARTY_FIELDS.has(second)) return { kind: 'plain', code: `${party}[${key(second)}]` };
  if (segments.length === 2 && second === 'inZone') return { kind: 'plain', code: `(${party}.zone !== "outside")` };
  if (segments.length === 2 && second === 'inGba') {
    return { kind: 'plain', code: `(${party}.zone !== "outside" || ${party}.jurisdiction === "HK" || ${party}.attributes?.gba === true)` };
  }
  if (segments.length === 3 && second === 'attributes' && third) return { kind: 'plain', code: `(${party}.attributes ?? E)?.[${key(third)}]` };
  if (segments.length === 4 && second === 'approvals' && third && fourth && APPROVAL_FIELDS.has(fourth)) {
    return { kind: 'approval', code: `approvalFact(${party}.approvals, ${key(third)}, ${key(fourth)}, m, day ??= dayOf(at))` };
  }
  return undefined;
}
