// Builders for policy tests: inline policy files, parties and manifests.
import { expect } from 'vitest';
import { buildPolicySet, type PolicySet } from '../../gateway/policy/load-policy-set.js';
import type { PolicyProblem } from '../../gateway/policy/policy-file.js';
import type { Party } from '../../gateway/policy/decision-input.js';

export function policySetFrom(files: Record<string, string>, institutions?: string[]): { set: PolicySet | undefined; problems: PolicyProblem[] } {
  return buildPolicySet(
    Object.entries(files).map(([name, text]) => ({ name, text })),
    { dir: '/policies', ...(institutions ? { institutions: new Set(institutions) } : {}) },
  );
}

export function compiled(files: Record<string, string>): PolicySet {
  const { set, problems } = policySetFrom(files);
  expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
  return set as PolicySet;
}

export const HK_LAB: Party = {
  id: 'hk-lab',
  jurisdiction: 'HK',
  zone: 'hetao-hk',
  status: 'active',
  encryptionKey: {},
  approvals: [{ type: 'ethics-approval', id: 'IRB-1', scope: { projects: ['p1'] }, validFrom: '2026-01-01', validUntil: '2026-12-31' }],
};
export const SZ_HOSPITAL: Party = {
  id: 'sz-hospital',
  jurisdiction: 'CN',
  zone: 'hetao-sz',
  status: 'active',
  encryptionKey: {},
  approvals: [
    { type: 'hgr-filing', id: 'HGR-1', scope: { projects: ['p1'] }, validFrom: '2026-01-01', validUntil: '2026-12-31' },
    { type: 'ethics-approval', id: 'IRB-2', validFrom: '2027-01-01', validUntil: '2027-12-31' },
  ],
};
export const REGULATOR: Party = { id: 'regulator', jurisdiction: 'CN', zone: 'outside', status: 'active', encryptionKey: {} };
export const SUSPENDED: Party = { id: 'suspended-lab', jurisdiction: 'HK', zone: 'hetao-hk', status: 'suspended', encryptionKey: {} };
export const PARTIES = new Map([HK_LAB, SZ_HOSPITAL, REGULATOR, SUSPENDED].map((p) => [p.id, p]));

export function manifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    recipient: 'hk-lab',
    project: { id: 'p1', title: 'Joint cancer genomics' },
    purpose: 'joint-research',
    dataset: {
      category: 'genomics',
      format: 'vcf',
      classification: { level: 'L3' },
      deidentification: 'pseudonymised',
      subjects: 120,
      humanGeneticResources: true,
      sizeBytes: 1000,
    },
    approvals: [],
    consent: { basis: 'separate-consent' },
    retentionDays: 365,
  };
  return { ...base, ...overrides, dataset: { ...(base.dataset as object), ...((overrides.dataset as object) ?? {}) } };
}
