// The default policy set in policies/: it loads without a single lint problem, every case in
// policies/tests/ passes, and every rule has an allowing and a denying case.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../gateway/config.js';
import { loadRegistry, type Registry } from '../../gateway/identity/registry.js';
import { buildPolicySet, readPolicySources, type PolicySet } from '../../gateway/policy/load-policy-set.js';
import { findUncoveredRules, runPolicyCases, type CaseResult } from '../../gateway/policy/run-policy-cases.js';

const POLICY_DIR = path.join(PROJECT_ROOT, 'policies');
let registry: Registry;
let set: PolicySet;
let results: CaseResult[];

beforeAll(async () => {
  registry = await loadRegistry(path.join(POLICY_DIR, 'registry.yaml'));
  const built = buildPolicySet(await readPolicySources(POLICY_DIR), {
    dir: POLICY_DIR,
    institutions: new Set(registry.institutions.keys()),
    approvalTypes: new Set([...registry.institutions.values()].flatMap((i) => (i.approvals ?? []).map((a) => a.type))),
  });
  expect(built.problems).toEqual([]);
  set = built.set as PolicySet;
  results = await runPolicyCases(path.join(POLICY_DIR, 'tests'), set, (id) => registry.institutions.get(id));
});

describe('default policy set', () => {
  it('cites a legal basis for every rule', () => {
    for (const rule of set.rules) expect(rule.basis, rule.id).toMatch(/\S/);
  });

  it('passes every case in policies/tests', () => {
    expect(results.length).toBeGreaterThan(0);
    const failed = results.filter((r) => !r.passed).map((r) => `${path.basename(r.file)} › ${r.name}: ${r.failures.join('; ')}`);
    expect(failed).toEqual([]);
  });

  it('has an allowing and a denying case for every rule', () => {
    expect(findUncoveredRules(set, results)).toEqual([]);
  });
});
