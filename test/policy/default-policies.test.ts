// The default policy set in policies/: it loads without a single lint problem, every case in
// policies/tests/ passes, and every rule has an allowing and a denying case.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../gateway/config.js';
import { loadRegistry, type Registry } from '../../gateway/identity/registry.js';
import { buildPolicySet, readPolicySources, type PolicySet } from '../../gateway/policy/load-policy-set.js';
import { findUncoveredRules, runPolicyCases, type CaseResult } from '../../gateway/policy/run-policy-cases.js';
import { formatTransferMatrix, transferMatrix } from '../../gateway/policy/transfer-matrix.js';
import { MATRIX_BEGIN, MATRIX_END } from '../../scripts/policy-matrix-markers.js';

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

  it('is what docs/who-may-send-what.md shows (regenerate it with npm run docs:matrix)', () => {
    const doc = readFileSync(path.join(PROJECT_ROOT, 'docs/who-may-send-what.md'), 'utf8');
    const shown = doc.slice(doc.indexOf(MATRIX_BEGIN) + MATRIX_BEGIN.length, doc.indexOf(MATRIX_END)).trim();
    expect(shown).toBe(formatTransferMatrix(transferMatrix(set, results, (id) => registry.institutions.get(id))));
  });

  it('has a case for every row of the direction × data matrix of regulations.md §9, in both directions', () => {
    const cells = new Set(transferMatrix(set, results, (id) => registry.institutions.get(id)).map((cell) => `${cell.from}→${cell.to} ${cell.data}`));
    const classes = ['genomic', 'medical record', 'clinical-trial data', 'anonymised or aggregate'];
    for (const [from, to] of [['EU', 'CN'], ['EU', 'HK'], ['CN', 'EU'], ['HK', 'EU'], ['US', 'CN'], ['US', 'HK'], ['CN', 'US'], ['HK', 'US']]) {
      for (const data of classes) expect(cells, `${from}→${to} ${data}`).toContain(`${from}→${to} ${data}`);
    }
  });

  it('enforces only the chosen jurisdictions under a profile, each case then decided by those rules alone', async () => {
    const profiled = buildPolicySet(await readPolicySources(POLICY_DIR), { dir: POLICY_DIR, institutions: new Set(registry.institutions.keys()), profiles: ['CN', 'zone'] });
    expect(profiled.problems).toEqual([]);
    const rules = profiled.set?.rules ?? [];
    expect(new Set(rules.map((rule) => rule.jurisdiction))).toEqual(new Set(['CN', 'zone']));
    expect(rules.length).toBeLessThan(set.rules.length);
    expect(profiled.set?.revision).not.toBe(set.revision);
  });
});
