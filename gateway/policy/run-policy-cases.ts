// Policy test cases kept beside the policies (`policies/tests/*.cases.yaml`), in the manner of
// `opa test`: sender, manifest, time → expected effect, matched rules, reasons and obligations.
import { schemaValidator } from '../input/schema-validator.js';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { GatewayError } from '../errors.js';
import { describeSchemaErrors, parseYamlWithPositions, type FileProblem } from '../input/schema-problems.js';
import casesSchema from '../../schemas/policy-cases.schema.json' with { type: 'json' };
import type { Party } from './decision-input.js';
import { decideTransfer } from './decide-transfer.js';
import type { Decision } from './evaluate-policy.js';
import type { PolicySet } from './load-policy-set.js';
import { parseManifest, US_PERSON_CATEGORIES, type Manifest, type UsPersonCounts } from './manifest.js';
import type { PolicyJurisdiction } from './policy-file.js';

export const CASES_FILE_SUFFIX = '.cases.yaml';

interface CaseSpec {
  name: string;
  exercises?: string[];
  from: string;
  at?: string;
  base?: string;
  manifest?: Record<string, unknown>;
  carriedBefore?: { usPersons12m?: Partial<UsPersonCounts> };
  expect: { effect: 'allow' | 'deny'; rules?: string[]; reasons?: string[]; deniedBy?: PolicyJurisdiction[]; obligations?: Record<string, unknown> };
}

interface CasesFile {
  version: 1;
  at?: string;
  manifests?: Record<string, Record<string, unknown>>;
  cases: CaseSpec[];
}

export interface CaseResult {
  readonly file: string;
  readonly name: string;
  readonly exercises: readonly string[];
  readonly expectedEffect: 'allow' | 'deny';
  readonly passed: boolean;
  /** What did not match the expectation, in plain words. */
  readonly failures: readonly string[];
  readonly decision: Decision | undefined;
  /** The case's manifest, once valid. */
  readonly manifest?: Manifest;
}

const casesFileValidator = schemaValidator<CasesFile>(casesSchema, { allErrors: true, strict: true, allowUnionTypes: true }, { formats: true });

/** Deep merge of plain objects; arrays and scalars of `patch` replace those of `base`. */
export function deepMerge(base: unknown, patch: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(patch)) return patch === undefined ? base : patch;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) merged[key] = deepMerge(base[key], value);
  return merged;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Runs every `*.cases.yaml` file of `dir` against `set`.
 * @throws GatewayError ERR_POLICY_INVALID when a cases file itself is invalid.
 */
export async function runPolicyCases(dir: string, set: PolicySet, lookupInstitution: (id: string) => Party | undefined): Promise<CaseResult[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith(CASES_FILE_SUFFIX)).sort();
  } catch {
    return [];
  }
  const results: CaseResult[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const document = parseYamlWithPositions(await readFile(file, 'utf8'), file);
    const validateCasesFile = casesFileValidator();
    const problems: FileProblem[] = Array.isArray(document)
      ? document
      : validateCasesFile(document.value)
        ? []
        : describeSchemaErrors(validateCasesFile.errors ?? [], document.lineOf).map((p) => ({ ...p, file }));
    if (Array.isArray(document) || problems.length > 0) {
      throw new GatewayError('ERR_POLICY_INVALID', `policy cases file ${file} is invalid`, { problems });
    }
    const content = document.value as CasesFile;
    for (const spec of content.cases) results.push(runCase(file, content, spec, set, lookupInstitution));
  }
  return results;
}

function runCase(file: string, content: CasesFile, spec: CaseSpec, set: PolicySet, lookupInstitution: (id: string) => Party | undefined): CaseResult {
  const failures: string[] = [];
  const result = (decision: Decision | undefined, manifest?: Manifest): CaseResult => ({
    file,
    name: spec.name,
    exercises: spec.exercises ?? [],
    expectedEffect: spec.expect.effect,
    passed: failures.length === 0,
    failures,
    decision,
    ...(manifest ? { manifest } : {}),
  });
  const base = spec.base === undefined ? {} : content.manifests?.[spec.base];
  if (base === undefined) {
    failures.push(`unknown base manifest "${spec.base}"`);
    return result(undefined);
  }
  const sender = lookupInstitution(spec.from);
  if (!sender) {
    failures.push(`sender "${spec.from}" is not in the registry`);
    return result(undefined);
  }
  let manifest: Manifest;
  try {
    manifest = parseManifest(deepMerge(base, spec.manifest ?? {}));
  } catch (error) {
    const problems = ((error as GatewayError).details?.problems as { path: string; message: string }[] | undefined) ?? [];
    failures.push(`manifest invalid: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`);
    return result(undefined);
  }
  const at = new Date(spec.at ?? content.at ?? Date.now());
  const before = spec.carriedBefore?.usPersons12m;
  const priorUsPersons12m = before ? (Object.fromEntries(US_PERSON_CATEGORIES.map((category) => [category, before[category] ?? 0])) as unknown as UsPersonCounts) : undefined;
  const { decision } = decideTransfer(set, { sender, manifest, at, lookupInstitution, ...(priorUsPersons12m ? { priorUsPersons12m } : {}) });
  if (decision.effect !== spec.expect.effect) {
    failures.push(`expected ${spec.expect.effect}, got ${decision.effect}${decision.reasons.length ? ` (${decision.reasons.map((r) => `${r.ruleId ?? 'default'}: ${r.message}`).join('; ')})` : ''}`);
  }
  for (const rule of spec.expect.rules ?? []) {
    if (!decision.matchedRules.includes(rule)) failures.push(`rule ${rule} did not match (matched: ${decision.matchedRules.join(', ') || 'none'})`);
  }
  for (const code of spec.expect.reasons ?? []) {
    if (!decision.reasons.some((r) => r.code === code)) failures.push(`no reason ${code} (reasons: ${decision.reasons.map((r) => r.code).join(', ') || 'none'})`);
  }
  for (const jurisdiction of spec.expect.deniedBy ?? []) {
    if (!decision.reasons.some((r) => r.jurisdiction === jurisdiction)) {
      failures.push(`no rule of ${jurisdiction} denied it (denied by: ${[...new Set(decision.reasons.map((r) => r.jurisdiction ?? 'default'))].join(', ') || 'none'})`);
    }
  }
  for (const [key, expected] of Object.entries(spec.expect.obligations ?? {})) {
    const actual = (decision.obligations as unknown as Record<string, unknown>)[key];
    const ok = Array.isArray(expected)
      ? Array.isArray(actual) && expected.every((item) => actual.includes(item))
      : JSON.stringify(actual) === JSON.stringify(expected);
    if (!ok) failures.push(`obligation ${key}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
  return result(decision, manifest);
}

/** Rules without both an allowing and a denying case that exercises them. */
export function findUncoveredRules(set: PolicySet, results: readonly CaseResult[]): { ruleId: string; missing: ('allow' | 'deny')[] }[] {
  return set.rules
    .map((rule) => {
      const effects = new Set(results.filter((r) => r.exercises.includes(rule.id)).map((r) => r.expectedEffect));
      const missing = (['allow', 'deny'] as const).filter((effect) => !effects.has(effect));
      return { ruleId: rule.id, missing };
    })
    .filter((entry) => entry.missing.length > 0);
}
