// Reads every `*.policy.yaml` in the policy folder, checks it (schema, then the semantic checks of
// check-policy-files.ts), and compiles it into a PolicySet. An invalid set is refused whole: the
// caller keeps the last good one. The revision is the SHA-256 of the canonical (RFC 8785) form of
// all files, so it names exactly the rules a decision was made under, whatever the formatting. A
// file nested deeper than the JSON bound, or with a lone surrogate (no canonical form, so no
// revision), is refused before the schema check recurses over it.
import { schemaValidator } from '../input/schema-validator.js';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { toCanonicalJson } from '../audit/canonical-json.js';
import { GatewayError } from '../errors.js';
import { JSON_MAX_DEPTH, findJsonValueProblem } from '../input/json-bounds.js';
import { describeSchemaErrors, formatProblems, parseYamlWithPositions } from '../input/schema-problems.js';
import { findYamlDepthProblem } from '../input/yaml-bounds.js';
import policySchema from '../../schemas/policy.schema.json' with { type: 'json' };
import { checkPolicyFiles, type ParsedPolicyFile, type PolicyCheckContext } from './check-policy-files.js';
import { compileCondition, type CompiledCondition, type ParameterValues } from './compile-condition.js';
import { compileRuleMatcher, type RuleMatcher } from './compile-rule-matcher.js';
import { isParamRef, type ObligationsSpec, type PolicyFile, type PolicyJurisdiction, type PolicyProblem, type Scalar } from './policy-file.js';


export const POLICY_FILE_SUFFIX = '.policy.yaml';

export interface Obligations {
  readonly requireApprovals: readonly string[];
  readonly escrowTo: readonly string[];
  readonly maxRetentionDays?: number;
  readonly maxSizeBytes?: number;
  readonly recipientReceipt: boolean;
  readonly fullInspection: boolean;
  readonly noOnwardTransfer: boolean;
}

export interface CompiledRule {
  readonly id: string;
  readonly file: string;
  /** Whose rule it is (its file's `jurisdiction`). */
  readonly jurisdiction: PolicyJurisdiction;
  readonly description: string;
  readonly basis: string;
  readonly unconfirmed?: string;
  readonly effect: 'allow' | 'deny';
  readonly reason?: string;
  readonly obligations: Obligations;
  readonly condition: CompiledCondition;
}

export interface PolicySet {
  readonly revision: string;
  readonly dir: string;
  /** The jurisdictions whose rules this set enforces (HETAO_POLICY_PROFILES); undefined: all of them. */
  readonly profiles?: readonly PolicyJurisdiction[];
  readonly files: readonly { readonly name: string; readonly sha256: string; readonly rules: number }[];
  /** The files' text as read and accepted, kept in the policy history (policy-history/). */
  readonly sources: readonly PolicySource[];
  readonly loadedAt: string;
  readonly parameters: ParameterValues;
  readonly rules: readonly CompiledRule[];
  /** Every rule's condition compiled into one matcher over the decision input (indices into rules). */
  readonly matchRules: RuleMatcher;
}

export interface PolicySource {
  readonly name: string;
  readonly text: string;
}

const policyFileValidator = schemaValidator<PolicyFile>(policySchema, { allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });

/** The policy files of a folder, sorted by name. */
export async function readPolicySources(dir: string): Promise<PolicySource[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith(POLICY_FILE_SUFFIX)).sort();
  } catch (cause) {
    throw new GatewayError('ERR_POLICY_INVALID', `policy folder ${dir} cannot be read`, { problems: [{ file: dir, path: '', message: (cause as Error).message }] });
  }
  return Promise.all(names.map(async (name) => ({ name, text: await readFile(path.join(dir, name), 'utf8') })));
}

/**
 * Checks and compiles policy sources. Errors make `set` undefined; warnings (rules that can never
 * match, unknown approval types) do not.
 */
export function buildPolicySet(
  sources: readonly PolicySource[],
  context: PolicyCheckContext & { dir: string; now?: Date; profiles?: readonly PolicyJurisdiction[] },
): { set: PolicySet | undefined; problems: PolicyProblem[] } {
  const problems: PolicyProblem[] = [];
  const parsed: ParsedPolicyFile[] = [];
  if (sources.length === 0) problems.push({ file: context.dir, path: '', severity: 'error', message: `no *${POLICY_FILE_SUFFIX} files: every transfer would be denied` });
  for (const source of sources) {
    const file = path.join(context.dir, source.name);
    const tooDeep = findYamlDepthProblem(source.text);
    if (tooDeep) {
      problems.push({ file, path: '', ...tooDeep, severity: 'error' });
      continue;
    }
    const document = parseYamlWithPositions(source.text, file);
    if (Array.isArray(document)) {
      problems.push(...document.map((p) => ({ ...p, severity: 'error' as const })));
      continue;
    }
    const unfit = findJsonValueProblem(document.value);
    if (unfit) {
      const line = document.lineOf(unfit.path);
      problems.push({ file, ...unfit, ...(line === undefined ? {} : { line }), severity: 'error' });
      continue;
    }
    const validatePolicyFile = policyFileValidator();
    if (!validatePolicyFile(document.value)) {
      problems.push(...describeSchemaErrors(validatePolicyFile.errors ?? [], document.lineOf).map((p) => ({ ...p, file, severity: 'error' as const })));
      continue;
    }
    parsed.push({ name: source.name, file, content: document.value, lineOf: document.lineOf });
  }
  if (problems.some((p) => p.severity === 'error')) return { set: undefined, problems };

  problems.push(...checkPolicyFiles(parsed, context));
  if (problems.some((p) => p.severity === 'error')) return { set: undefined, problems };

  // Every file is checked and lends its parameters (file 00 holds shared ones); only the rules of
  // the jurisdictions in the profiles are enforced.
  const parameters = new Map<string, Scalar | readonly Scalar[]>();
  for (const { content } of parsed) for (const [name, spec] of Object.entries(content.parameters ?? {})) parameters.set(name, spec.value);
  const profiles = context.profiles;
  const enforced = parsed.filter(({ content }) => !profiles || profiles.includes(content.jurisdiction ?? 'zone'));
  const rules = enforced.flatMap(({ file, content }) =>
    content.rules.map((rule): CompiledRule => ({
      id: rule.id,
      file,
      jurisdiction: content.jurisdiction ?? 'zone',
      description: rule.description,
      basis: rule.basis,
      ...(rule.unconfirmed === undefined ? {} : { unconfirmed: rule.unconfirmed }),
      effect: rule.effect,
      ...(rule.reason === undefined ? {} : { reason: rule.reason }),
      obligations: resolveObligations(rule.obligations, parameters),
      condition: compileCondition(rule.when, parameters),
    })),
  );
  const matchRules = compileRuleMatcher(
    enforced.flatMap(({ content }) => content.rules.map((rule) => rule.when)),
    parameters,
  );
  const revision = createHash('sha256')
    .update(
      toCanonicalJson(
        // The profiles are part of what a decision was made under: the same files enforced for fewer jurisdictions are another revision.
        profiles ? { files: parsed.map(({ name, content }) => ({ name, content })), profiles: [...profiles].sort() } : parsed.map(({ name, content }) => ({ name, content })),
        { code: 'ERR_POLICY_INVALID', maxDepth: JSON_MAX_DEPTH + 2 },
      ) ?? '',
    )
    .digest('hex');
  const set: PolicySet = Object.freeze({
    revision,
    dir: context.dir,
    ...(profiles ? { profiles } : {}),
    files: parsed.map(({ name, content }) => ({
      name,
      sha256: createHash('sha256').update(toCanonicalJson(content, { code: 'ERR_POLICY_INVALID' }) ?? '').digest('hex'),
      rules: content.rules.length,
    })),
    sources: parsed.map(({ name }) => sources.find((source) => source.name === name) as PolicySource),
    loadedAt: (context.now ?? new Date()).toISOString(),
    parameters,
    rules,
    matchRules,
  });
  return { set, problems };
}

/**
 * Reads, checks and compiles the policy folder.
 * @throws GatewayError ERR_POLICY_INVALID with every error problem (file, path, line, message).
 */
export async function loadPolicySet(dir: string, context: PolicyCheckContext & { profiles?: readonly PolicyJurisdiction[] } = {}): Promise<PolicySet> {
  const { set, problems } = buildPolicySet(await readPolicySources(dir), { ...context, dir });
  if (!set) {
    const errors = problems.filter((p) => p.severity === 'error');
    throw new GatewayError('ERR_POLICY_INVALID', `policy set in ${dir} is invalid:\n${formatProblems(errors)}`, { problems: errors });
  }
  return set;
}

export const NO_OBLIGATIONS: Obligations = Object.freeze({
  requireApprovals: [],
  escrowTo: [],
  recipientReceipt: false,
  fullInspection: false,
  noOnwardTransfer: false,
});

function resolveObligations(spec: ObligationsSpec | undefined, parameters: ParameterValues): Obligations {
  if (!spec) return NO_OBLIGATIONS;
  const number = (value: unknown): number | undefined => (isParamRef(value) ? (parameters.get(value.param) as number) : (value as number | undefined));
  const maxRetentionDays = number(spec.maxRetentionDays);
  const maxSizeBytes = number(spec.maxSizeBytes);
  return {
    requireApprovals: spec.requireApprovals ?? [],
    escrowTo: spec.escrowTo ?? [],
    ...(maxRetentionDays === undefined ? {} : { maxRetentionDays }),
    ...(maxSizeBytes === undefined ? {} : { maxSizeBytes }),
    recipientReceipt: spec.recipientReceipt === true,
    fullInspection: spec.fullInspection === true,
    noOnwardTransfer: spec.noOnwardTransfer === true,
  };
}

/** Most restrictive first: lists are united, caps take the minimum, flags are or-ed. */
export function mergeObligations(all: readonly Obligations[]): Obligations {
  if (all.length === 1) return all[0] as Obligations;
  const min = (values: (number | undefined)[]): number | undefined => {
    const present = values.filter((v): v is number => v !== undefined);
    return present.length > 0 ? Math.min(...present) : undefined;
  };
  const maxRetentionDays = min(all.map((o) => o.maxRetentionDays));
  const maxSizeBytes = min(all.map((o) => o.maxSizeBytes));
  return {
    requireApprovals: [...new Set(all.flatMap((o) => o.requireApprovals))].sort(),
    escrowTo: [...new Set(all.flatMap((o) => o.escrowTo))].sort(),
    ...(maxRetentionDays === undefined ? {} : { maxRetentionDays }),
    ...(maxSizeBytes === undefined ? {} : { maxSizeBytes }),
    recipientReceipt: all.some((o) => o.recipientReceipt),
    fullInspection: all.some((o) => o.fullInspection),
    noOnwardTransfer: all.some((o) => o.noOnwardTransfer),
  };
}
