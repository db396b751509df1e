// `hetao policy lint | test | explain`: the officers' tools, run against files on disk with no
// gateway needed. Output is plain text for terminals and CI logs; exit code 1 means "not good".
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { GatewayError } from '../errors.js';
import { parseJsonText } from '../input/json-bounds.js';
import { loadRegistry, type Registry } from '../identity/registry.js';
import { policyCheckContext } from '../policy/check-policy-files.js';
import { decideTransfer } from '../policy/decide-transfer.js';
import { explainPolicy } from '../policy/explain-policy.js';
import type { UsPersonCounts } from '../policy/manifest.js';
import { buildPolicySet, readPolicySources, type PolicySet } from '../policy/load-policy-set.js';
import type { PolicyProblem } from '../policy/policy-file.js';
import { findUncoveredRules, runPolicyCases } from '../policy/run-policy-cases.js';
import { formatTransferMatrix, transferMatrix } from '../policy/transfer-matrix.js';

export interface PolicyCommandOptions {
  readonly dir: string;
  readonly registryFile: string;
  readonly strict: boolean;
  readonly out: (line: string) => void;
}

function formatProblem(problem: PolicyProblem): string {
  return `${problem.file}${problem.line === undefined ? '' : `:${problem.line}`} ${problem.severity} ${problem.path} ${problem.message}`;
}

async function loadFor(options: PolicyCommandOptions): Promise<{ registry: Registry; set: PolicySet | undefined; problems: PolicyProblem[] }> {
  const registry = await loadRegistry(options.registryFile);
  const { set, problems } = buildPolicySet(await readPolicySources(options.dir), { dir: options.dir, ...policyCheckContext(registry) });
  return { registry, set, problems };
}

/** Schema and semantic checks. Exit 1 on errors (and on warnings with --strict). */
export async function lintPolicies(options: PolicyCommandOptions): Promise<number> {
  const { set, problems } = await loadFor(options);
  for (const problem of problems) options.out(formatProblem(problem));
  const errors = problems.filter((p) => p.severity === 'error').length;
  const warnings = problems.length - errors;
  options.out(set ? `policy set ${set.revision.slice(0, 12)}: ${set.rules.length} rules in ${set.files.length} files, ${errors} errors, ${warnings} warnings` : `policy set refused: ${errors} errors, ${warnings} warnings`);
  return errors > 0 || (options.strict && warnings > 0) ? 1 : 0;
}

/** Runs the cases in <dir>/tests. Exit 1 when a case fails (or, with --strict, a rule lacks an allow and a deny case). */
export async function testPolicies(options: PolicyCommandOptions): Promise<number> {
  const { registry, set, problems } = await loadFor(options);
  if (!set) {
    for (const problem of problems) options.out(formatProblem(problem));
    options.out('policy set refused: fix the errors above (hetao policy lint)');
    return 1;
  }
  const results = await runPolicyCases(path.join(options.dir, 'tests'), set, (id) => registry.institutions.get(id));
  for (const result of results) {
    options.out(`${result.passed ? 'ok  ' : 'FAIL'} ${path.basename(result.file)} › ${result.name}`);
    for (const failure of result.failures) options.out(`       ${failure}`);
  }
  const uncovered = findUncoveredRules(set, results);
  for (const gap of uncovered) options.out(`warning: rule ${gap.ruleId} has no ${gap.missing.join(' and no ')} case`);
  const failed = results.filter((r) => !r.passed).length;
  options.out(`${results.length - failed} passed, ${failed} failed (policy revision ${set.revision.slice(0, 12)})`);
  return failed > 0 || results.length === 0 || (options.strict && uncovered.length > 0) ? 1 : 0;
}

/**
 * Prints "who may send what to whom" as a Markdown table worked out from the cases in <dir>/tests
 * (docs/who-may-send-what.md is this output). Exit 1 when the set is refused or a case fails.
 */
export async function printTransferMatrix(options: PolicyCommandOptions): Promise<number> {
  const { registry, set, problems } = await loadFor(options);
  if (!set) {
    for (const problem of problems) options.out(formatProblem(problem));
    return 1;
  }
  const lookupInstitution = (id: string) => registry.institutions.get(id);
  const results = await runPolicyCases(path.join(options.dir, 'tests'), set, lookupInstitution);
  options.out(formatTransferMatrix(transferMatrix(set, results, lookupInstitution)));
  return results.every((result) => result.passed) ? 0 : 1;
}

/** Decides a manifest file for a sender and shows why, including near misses. */
export async function explainManifest(
  options: PolicyCommandOptions & { manifestFile: string; from: string; at: Date; nearMisses: number; /** What the pair carried before (the gateway sums its records; offline, the officer says). */ usPersonsBefore?: UsPersonCounts },
): Promise<number> {
  const { registry, set, problems } = await loadFor(options);
  if (!set) {
    for (const problem of problems) options.out(formatProblem(problem));
    return 1;
  }
  const sender = registry.institutions.get(options.from);
  if (!sender) throw new GatewayError('ERR_REQUEST_INVALID', `"${options.from}" is not a registered institution`);
  const lookupInstitution = (id: string) => registry.institutions.get(id);
  const body = parseJsonText(await readFile(options.manifestFile), `the manifest ${options.manifestFile}`);
  const prior = options.usPersonsBefore ? { priorUsPersons12m: options.usPersonsBefore } : {};
  const { manifest, decision } = decideTransfer(set, { sender, manifest: body, at: options.at, lookupInstitution, ...prior });
  options.out(`${decision.effect.toUpperCase()}  ${sender.id} → ${manifest.recipient} (${decision.input.direction}), policy revision ${set.revision.slice(0, 12)}`);
  const ruleById = new Map(set.rules.map((rule) => [rule.id, rule]));
  /** `[EU] rule-id`, and what about it is unconfirmed: a rule officers have not confirmed still decides. */
  const named = (id: string): string => {
    const rule = ruleById.get(id);
    return rule ? `[${rule.jurisdiction}] ${id}${rule.unconfirmed ? ` (unconfirmed: ${rule.unconfirmed})` : ''}` : id;
  };
  // Deny overrides allow: every rule that denied is listed, whichever jurisdiction it belongs to.
  for (const reason of decision.reasons) options.out(`  ${reason.ruleId ? `denied by ${named(reason.ruleId)}` : '[default]'} ${reason.code}: ${reason.message}`);
  if (decision.effect === 'allow') for (const id of decision.matchedRules) options.out(`  allowed by ${named(id)}`);
  options.out(`  matched rules: ${decision.matchedRules.join(', ') || 'none'}`);
  if (decision.effect === 'allow') options.out(`  obligations: ${JSON.stringify(decision.obligations)}`);
  const recipient = lookupInstitution(manifest.recipient);
  if (recipient) {
    const misses = explainPolicy(set, { manifest, sender, recipient, at: options.at, ...prior })
      .filter((rule) => !rule.matched)
      .slice(0, options.nearMisses);
    if (misses.length > 0) options.out('  near misses:');
    for (const miss of misses) options.out(`    [${miss.jurisdiction}] ${miss.ruleId} (${miss.effect}) failed: ${miss.failedTests.join('; ')}`);
  }
  return 0;
}
