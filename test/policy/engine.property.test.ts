// Properties of the engine over the default policy set and the dev registry, for any schema-valid
// manifest (fast-check): it never throws; nothing is allowed unless an allow rule matched and no
// deny rule did; explanations agree with decisions.
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../gateway/config.js';
import { loadRegistry, type Registry } from '../../gateway/identity/registry.js';
import { policyCheckContext } from '../../gateway/policy/check-policy-files.js';
import { decideTransfer } from '../../gateway/policy/decide-transfer.js';
import { explainPolicy } from '../../gateway/policy/explain-policy.js';
import { loadPolicySet, type PolicySet } from '../../gateway/policy/load-policy-set.js';

let registry: Registry;
let set: PolicySet;
beforeAll(async () => {
  registry = await loadRegistry(path.join(PROJECT_ROOT, 'policies/registry.yaml'));
  set = await loadPolicySet(path.join(PROJECT_ROOT, 'policies'), policyCheckContext(registry));
});

const institutionIds = () => [...registry.institutions.keys(), 'unregistered-lab'];
const approvalTypes = ['hgr-filing', 'gba-standard-contract-filing', 'security-assessment', 'standard-contract-filing', 'ethics-approval', 'clinical-trial-filing', 'hgr-security-review'];
const approvalIds = ['HGR-BF-2026-0345', 'GBA-SC-GD-2026-0101', 'GBA-SC-HK-2026-0012', 'CT-FIL-2026-0007', 'SZFH-IRB-2026-017', 'FORGED-1'];

const manifestArbitrary = () =>
  fc.record(
    {
      recipient: fc.constantFrom(...institutionIds()),
      project: fc.record({ id: fc.constantFrom('proj-hk-sz-cancer-genomics', 'proj-gba-oncology-trial', 'proj-other'), title: fc.string({ minLength: 1, maxLength: 20 }) }),
      purpose: fc.constantFrom('joint-research', 'clinical-trial', 'regulatory-submission', 'international-cooperation', 'public-health-emergency'),
      dataset: fc.record(
        {
          category: fc.constantFrom('genomics', 'medical-records', 'clinical-trial', 'research-other'),
          format: fc.constantFrom('vcf', 'fastq', 'csv', 'json', 'dicom', 'other'),
          genomicScope: fc.constantFrom('none', 'panel', 'exome', 'whole-genome'),
          classification: fc.record({ level: fc.constantFrom('L1', 'L2', 'L3', 'L4', 'L5'), important: fc.boolean(), core: fc.boolean() }, { requiredKeys: ['level'] }),
          deidentification: fc.constantFrom('identified', 'pseudonymised', 'anonymised', 'aggregate'),
          subjects: fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 2_000_000 })),
          humanGeneticResources: fc.boolean(),
          sizeBytes: fc.integer({ min: 0, max: 2 ** 40 }),
        },
        { requiredKeys: ['category', 'format', 'classification', 'deidentification', 'subjects', 'humanGeneticResources', 'sizeBytes'] },
      ),
      approvals: fc.array(fc.record({ type: fc.constantFrom(...approvalTypes), id: fc.constantFrom(...approvalIds) }), { maxLength: 4 }),
      consent: fc.record({ basis: fc.constantFrom('separate-consent', 'broad-research-consent', 'ethics-waiver', 'not-personal-information', 'public-health-emergency') }),
      retentionDays: fc.integer({ min: 1, max: 36_500 }),
      onwardTransfer: fc.boolean(),
    },
    { requiredKeys: ['recipient', 'project', 'purpose', 'dataset', 'approvals', 'consent', 'retentionDays'] },
  );

describe('engine properties (default policy set)', () => {
  it('never throws and never allows without a matching allow rule, or with a matching deny rule', () => {
    const lookupInstitution = (id: string) => registry.institutions.get(id);
    const allowRules = new Set(set.rules.filter((r) => r.effect === 'allow').map((r) => r.id));
    const denyRules = new Set(set.rules.filter((r) => r.effect === 'deny').map((r) => r.id));
    fc.assert(
      fc.property(
        manifestArbitrary(),
        fc.constantFrom(...registry.institutions.keys()),
        fc.date({ min: new Date('2025-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }),
        (manifest, from, at) => {
          const sender = lookupInstitution(from);
          if (!sender) return;
          const { decision } = decideTransfer(set, { sender, manifest, at, lookupInstitution });
          if (!decision.matchedRules.some((id) => allowRules.has(id))) expect(decision.effect).toBe('deny');
          if (decision.matchedRules.some((id) => denyRules.has(id))) expect(decision.effect).toBe('deny');
          if (decision.effect === 'allow') expect(decision.reasons).toEqual([]);
          else expect(decision.reasons.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('explains exactly the rules the decision matched', () => {
    const lookupInstitution = (id: string) => registry.institutions.get(id);
    fc.assert(
      fc.property(manifestArbitrary(), fc.constantFrom(...registry.institutions.keys()), (manifest, from) => {
        const sender = lookupInstitution(from);
        const at = new Date('2027-03-01T00:00:00Z');
        if (!sender) return;
        const { manifest: parsed, decision } = decideTransfer(set, { sender, manifest, at, lookupInstitution });
        const recipient = lookupInstitution(parsed.recipient);
        if (!recipient || recipient.status !== 'active' || sender.status !== 'active') return;
        const matched = explainPolicy(set, { manifest: parsed, sender, recipient, at }).filter((r) => r.matched).map((r) => r.ruleId);
        expect(matched.sort()).toEqual([...decision.matchedRules].sort());
      }),
      { numRuns: 1000 },
    );
  });
});
