// The decision semantics, case by case, on small inline policy sets.
import { describe, expect, it } from 'vitest';
import { directionOf } from '../../gateway/policy/decision-input.js';
import { decideTransfer } from '../../gateway/policy/decide-transfer.js';
import { explainPolicy } from '../../gateway/policy/explain-policy.js';
import { parseManifest } from '../../gateway/policy/manifest.js';
import { buildPolicySet, type PolicySet } from '../../gateway/policy/load-policy-set.js';
import { HK_LAB, PARTIES, SZ_HOSPITAL, compiled, manifest, policySetFrom } from './support.js';

const AT = new Date('2026-06-01T08:00:00Z');
const lookupInstitution = (id: string) => PARTIES.get(id);

function decide(set: PolicySet, body: Record<string, unknown>, at = AT, sender = SZ_HOSPITAL) {
  return decideTransfer(set, { sender, manifest: body, at, lookupInstitution }, { newId: () => 'decision-1' }).decision;
}

const HEADER = 'version: 1\ndescription: test\n';
const GENOMICS_ALLOW = `${HEADER}
parameters:
  retention: { value: 365, description: max retention }
rules:
  - id: genomics-to-hk
    description: genomics may go to HK with an HGR filing
    basis: test
    when: { all: [ { fact: direction, equals: CN→HK }, { fact: manifest.dataset.category, equals: genomics } ] }
    effect: allow
    obligations: { requireApprovals: [hgr-filing], escrowTo: [regulator], maxRetentionDays: { param: retention }, recipientReceipt: true }
`;
/** One allow rule for joint research that requires one approval type. */
function requiringApproval(type: string): PolicySet {
  return compiled({
    'a.policy.yaml': `${HEADER}
rules:
  - id: ${type}-needed
    description: d
    basis: b
    when: { fact: manifest.purpose, equals: joint-research }
    effect: allow
    obligations: { requireApprovals: [${type}] }
`,
  });
}

const CORE_DENY = `${HEADER}
rules:
  - id: core-denied
    description: core data never moves
    basis: DSL Art 21
    when: { fact: manifest.dataset.classification.core, equals: true }
    effect: deny
    reason: core data may not be transferred
`;
const SHORT_RETENTION = `${HEADER}
rules:
  - id: pseudonymised-short
    description: pseudonymised data is kept briefly and inspected
    basis: test
    when: { fact: manifest.dataset.deidentification, in: [identified, pseudonymised] }
    effect: allow
    obligations: { maxRetentionDays: 180, fullInspection: true, noOnwardTransfer: true }
`;

describe('decision semantics', () => {
  const set = compiled({ 'a.policy.yaml': GENOMICS_ALLOW, 'b.policy.yaml': CORE_DENY, 'c.policy.yaml': SHORT_RETENTION });
  const withFiling = (extra: Record<string, unknown> = {}) => manifest({ approvals: [{ type: 'hgr-filing', id: 'HGR-1' }], retentionDays: 90, ...extra });

  it('denies by default when no rule allows', () => {
    const decision = decide(set, withFiling({ dataset: { category: 'research-other', deidentification: 'anonymised' } }));
    expect(decision.effect).toBe('deny');
    expect(decision.reasons).toEqual([expect.objectContaining({ ruleId: null, code: 'no-rule-allows' })]);
  });

  it('allows when an allow rule matches and its obligations hold, merging them most restrictive first', () => {
    const decision = decide(set, withFiling());
    expect(decision).toMatchObject({ effect: 'allow', reasons: [], matchedRules: ['genomics-to-hk', 'pseudonymised-short'] });
    expect(decision.obligations).toEqual({
      requireApprovals: ['hgr-filing'],
      escrowTo: ['regulator'],
      maxRetentionDays: 180,
      recipientReceipt: true,
      fullInspection: true,
      noOnwardTransfer: true,
    });
  });

  it('lets any matching deny rule win over allow rules', () => {
    const decision = decide(set, withFiling({ dataset: { classification: { level: 'L3', core: true } } }));
    expect(decision.effect).toBe('deny');
    expect(decision.matchedRules).toContain('genomics-to-hk');
    expect(decision.reasons).toEqual([{ ruleId: 'core-denied', jurisdiction: 'zone', code: 'rule-denied', message: 'core data may not be transferred' }]);
  });

  it('lists every denying rule with its jurisdiction when rules of several jurisdictions deny what another allows', () => {
    const deny = (jurisdiction: string, id: string) => `version: 1\ndescription: test\njurisdiction: ${jurisdiction}
rules:
  - id: ${id}
    description: d
    basis: b
    when: { fact: manifest.dataset.subjects, gt: 100 }
    effect: deny
    reason: too many people for ${jurisdiction}
`;
    const conflicting = compiled({ 'a.policy.yaml': GENOMICS_ALLOW.replace('version: 1\n', 'version: 1\njurisdiction: CN\n'), 'b.policy.yaml': deny('EU', 'eu-deny'), 'c.policy.yaml': deny('US', 'us-deny') });
    const decision = decide(conflicting, withFiling());
    expect(decision.effect).toBe('deny');
    expect(decision.matchedRules).toEqual(['genomics-to-hk', 'eu-deny', 'us-deny']);
    expect(decision.reasons).toEqual([
      { ruleId: 'eu-deny', jurisdiction: 'EU', code: 'rule-denied', message: 'too many people for EU' },
      { ruleId: 'us-deny', jurisdiction: 'US', code: 'rule-denied', message: 'too many people for US' },
    ]);
    // Obligations the allowing rule imposes name its jurisdiction too.
    const allowed = decide(compiled({ 'a.policy.yaml': GENOMICS_ALLOW.replace('version: 1\n', 'version: 1\njurisdiction: CN\n') }), withFiling({ approvals: [] }));
    expect(allowed.reasons).toEqual([expect.objectContaining({ ruleId: 'genomics-to-hk', jurisdiction: 'CN', code: 'approval-not-presented' })]);
  });

  it.each([
    ['not presented', { approvals: [] }, AT, 'approval-not-presented'],
    ['presented with an id the sender does not hold', { approvals: [{ type: 'hgr-filing', id: 'HGR-FORGED' }] }, AT, 'approval-not-held'],
    ['expired', {}, new Date('2027-02-01T00:00:00Z'), 'approval-expired'],
    ['out of scope', { project: { id: 'p2', title: 'Another project' } }, AT, 'approval-out-of-scope'],
  ])('turns a required approval that is %s into a deny naming it', (_label, extra, at, code) => {
    const decision = decide(set, withFiling(extra), at);
    expect(decision.effect).toBe('deny');
    expect(decision.reasons).toContainEqual(expect.objectContaining({ ruleId: 'genomics-to-hk', code, message: expect.stringContaining('hgr-filing') }));
  });

  it('reports an approval that is not valid yet', () => {
    const ethics = requiringApproval('ethics-approval');
    const decision = decide(ethics, manifest({ approvals: [{ type: 'ethics-approval', id: 'IRB-2' }] }));
    expect(decision.reasons).toContainEqual(expect.objectContaining({ code: 'approval-not-yet-valid' }));
  });

  it('denies a retention longer than the merged maximum', () => {
    const decision = decide(set, withFiling({ retentionDays: 200 }));
    expect(decision.reasons).toContainEqual(expect.objectContaining({ ruleId: 'pseudonymised-short', code: 'retention-too-long' }));
  });

  it('denies an onward transfer a rule forbids', () => {
    const decision = decide(set, withFiling({ onwardTransfer: true }));
    expect(decision.reasons).toContainEqual(expect.objectContaining({ code: 'onward-transfer-forbidden' }));
  });

  it('denies a size above the cap and an escrow holder that is not registered', () => {
    const capped = compiled({
      'a.policy.yaml': `${HEADER}
rules:
  - id: capped
    description: d
    basis: b
    when: { fact: manifest.purpose, equals: joint-research }
    effect: allow
    obligations: { maxSizeBytes: 999, escrowTo: [nobody] }
`,
    });
    const reasons = decide(capped, manifest()).reasons.map((r) => r.code);
    expect(reasons).toEqual(expect.arrayContaining(['size-too-large', 'escrow-holder-unavailable']));
  });

  it('denies an unregistered or inactive recipient before any rule', () => {
    expect(decide(set, withFiling({ recipient: 'nobody-lab' })).reasons).toEqual([expect.objectContaining({ code: 'recipient-not-registered' })]);
    expect(decide(set, withFiling({ recipient: 'suspended-lab' })).reasons).toEqual([expect.objectContaining({ code: 'recipient-not-active' })]);
  });

  it('produces a decision record tied to the policy revision, with no free text of the manifest', () => {
    const decision = decide(set, withFiling());
    expect(decision).toMatchObject({ decisionId: 'decision-1', time: AT.toISOString(), policyRevision: set.revision });
    expect(decision.input).toMatchObject({ sender: 'sz-hospital', recipient: 'hk-lab', direction: 'CN→HK', project: 'p1', subjects: 120 });
    expect(decision.input.manifestSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(decision)).not.toContain('Joint cancer genomics');
    expect(decision.evalMicros).toBeGreaterThanOrEqual(0);
  });

  it('reads thresholds from parameters: changing the value changes the decision', () => {
    const threshold = (value: number) =>
      compiled({
        'a.policy.yaml': `${HEADER}
parameters:
  maxSubjects: { value: ${value}, description: threshold }
rules:
  - id: small-studies
    description: d
    basis: b
    when: { fact: manifest.dataset.subjects, lt: { param: maxSubjects } }
    effect: allow
`,
      });
    expect(decide(threshold(10_000), manifest()).effect).toBe('allow');
    expect(decide(threshold(100), manifest()).effect).toBe('deny');
  });
});

describe('policy revision', () => {
  it('ignores formatting and comments but not content', () => {
    const a = compiled({ 'a.policy.yaml': CORE_DENY });
    const reformatted = compiled({ 'a.policy.yaml': `# a comment\n${CORE_DENY.replace('effect: deny', 'effect:    deny')}` });
    const changed = compiled({ 'a.policy.yaml': CORE_DENY.replace('core data may not', 'core data must not') });
    expect(reformatted.revision).toBe(a.revision);
    expect(changed.revision).not.toBe(a.revision);
  });
});

describe('policy checks', () => {
  const problemsOf = (files: Record<string, string>, institutions?: string[]) => policySetFrom(files, institutions).problems;

  it('refuses duplicate rule ids and parameters across files, naming file and path', () => {
    const problems = problemsOf({
      'a.policy.yaml': GENOMICS_ALLOW,
      'b.policy.yaml': GENOMICS_ALLOW,
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ severity: 'error', file: '/policies/b.policy.yaml', path: '/rules/0/id', line: expect.any(Number) }),
        expect.objectContaining({ severity: 'error', path: '/parameters/retention' }),
      ]),
    );
  });

  it('refuses unknown facts, unknown parameters, numeric tests on text and unknown institutions', () => {
    const problems = problemsOf(
      {
        'a.policy.yaml': `${HEADER}
rules:
  - id: broken
    description: d
    basis: b
    when:
      all:
        - { fact: manifest.dataset.colour, equals: red }
        - { fact: manifest.dataset.subjects, gt: { param: nowhere } }
        - { fact: manifest.purpose, gte: 3 }
        - { fact: recipient.id, equals: ghost-lab }
    effect: allow
    obligations: { escrowTo: [ghost-regulator] }
`,
      },
      ['hk-lab'],
    );
    const errors = problems.filter((p) => p.severity === 'error').map((p) => `${p.path} ${p.message}`);
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringContaining('unknown fact "manifest.dataset.colour"'),
        expect.stringContaining('unknown parameter "nowhere"'),
        expect.stringContaining('is a string, not a number'),
        expect.stringContaining('"ghost-lab" is not a registered institution'),
        expect.stringContaining('"ghost-regulator" is not a registered institution'),
      ]),
    );
  });

  it('warns about tests that can never be true and unknown approval types, without refusing the set', () => {
    const { set, problems } = policySetFrom({
      'a.policy.yaml': `${HEADER}
rules:
  - id: never
    description: d
    basis: b
    when:
      all:
        - { fact: manifest.dataset.category, equals: astrology }
        - { fact: direction, equals: CN→HK }
        - { fact: direction, equals: HK→CN }
        - { fact: manifest.dataset.subjects, gt: 100 }
        - { fact: manifest.dataset.subjects, lt: 50 }
        - { fact: sender.approvals.made-up-permit.valid, equals: true }
    effect: allow
`,
    });
    expect(set).toBeDefined();
    const warnings = problems.filter((p) => p.severity === 'warning').map((p) => p.message);
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringContaining('never matches: "manifest.dataset.category"'),
        expect.stringContaining('cannot equal both'),
        expect.stringContaining('no value of manifest.dataset.subjects'),
        expect.stringContaining('unknown approval type "made-up-permit"'),
      ]),
    );
  });

  it('refuses a deny rule without a reason and reports schema errors with lines', () => {
    const problems = problemsOf({ 'a.policy.yaml': CORE_DENY.replace('    reason: core data may not be transferred\n', '') });
    expect(problems).toContainEqual(expect.objectContaining({ severity: 'error', file: '/policies/a.policy.yaml', path: expect.stringContaining('/rules/0') }));
  });

  it('refuses an empty policy set (it would deny everything silently)', () => {
    expect(problemsOf({})).toContainEqual(expect.objectContaining({ severity: 'error' }));
  });
});

describe('explain', () => {
  it('names the failed tests of near misses', () => {
    const set = compiled({ 'a.policy.yaml': GENOMICS_ALLOW });
    const parsed = parseManifest(manifest({ dataset: { category: 'medical-records' } }));
    const [explanation] = explainPolicy(set, { manifest: parsed, sender: SZ_HOSPITAL, recipient: HK_LAB, at: AT });
    expect(explanation).toMatchObject({ ruleId: 'genomics-to-hk', matched: false, failedTests: ['manifest.dataset.category equals "genomics" (is "medical-records")'] });
  });
});

describe('directionOf', () => {
  it.each([
    ['CN', 'HK', 'CN→HK'],
    ['HK', 'CN', 'HK→CN'],
    ['CN', 'CN', 'CN→CN'],
    ['HK', 'HK', 'HK→HK'],
    ['MO', 'HK', 'other→HK'],
    ['CN', 'MO', '→other'],
    ['CN', 'US', '→other'],
  ])('%s to %s is %s', (from, to, direction) => {
    expect(directionOf(from, to)).toBe(direction);
  });
});

describe('registry checks before any rule', () => {
  const set = compiled({ 'a.policy.yaml': CORE_DENY.replace('effect: deny\n    reason: core data may not be transferred', 'effect: allow').replace('equals: true', 'equals: false') });

  it('denies a sender that is not active (dry runs and re-decisions do not pass through TLS)', () => {
    const suspendedSender = { ...SZ_HOSPITAL, status: 'suspended' as const };
    const decision = decide(set, manifest(), AT, suspendedSender);
    expect(decision.reasons).toEqual([expect.objectContaining({ code: 'sender-not-active' })]);
  });
});

describe('approval validity', () => {
  const set = requiringApproval('hgr-filing');
  const withFiling = manifest({ approvals: [{ type: 'hgr-filing', id: 'HGR-1' }] });

  it('counts days in the zone (UTC+8), where the authorities date their approvals', () => {
    // 2026-12-31T17:00Z is already 2027-01-01 in Shenzhen: the filing valid until 2026-12-31 has expired.
    expect(decide(set, withFiling, new Date('2026-12-31T15:59:59Z')).effect).toBe('allow');
    expect(decide(set, withFiling, new Date('2026-12-31T16:00:00Z')).reasons).toContainEqual(expect.objectContaining({ code: 'approval-expired' }));
    // 2025-12-31T16:00Z is 2026-01-01 in Shenzhen: the filing valid from 2026-01-01 applies.
    expect(decide(set, withFiling, new Date('2025-12-31T16:00:00Z')).effect).toBe('allow');
    expect(decide(set, withFiling, new Date('2025-12-31T15:59:59Z')).reasons).toContainEqual(expect.objectContaining({ code: 'approval-not-yet-valid' }));
  });
});

describe('jurisdiction profiles', () => {
  const files = {
    '00-shared.policy.yaml': `version: 1\ndescription: shared parameters\njurisdiction: CN\nparameters:\n  cap: { value: 100, description: a cap other files use }\nrules:\n  - id: cn-allow\n    description: d\n    basis: b\n    when: { fact: direction, equals: CN→HK }\n    effect: allow\n`,
    '80-eu.policy.yaml': `version: 1\ndescription: eu\njurisdiction: EU\nrules:\n  - id: eu-deny\n    description: d\n    basis: b\n    when: { fact: manifest.dataset.subjects, gt: { param: cap } }\n    effect: deny\n    reason: eu says no\n`,
    '90-zone.policy.yaml': `version: 1\ndescription: names no jurisdiction, so the zone's\nrules:\n  - id: zone-deny\n    description: d\n    basis: b\n    when: { fact: manifest.dataset.subjects, gt: 1000 }\n    effect: deny\n    reason: zone says no\n`,
  };
  const build = (profiles?: ('CN' | 'HK' | 'zone' | 'EU' | 'US')[]) => {
    const { set, problems } = buildPolicySet(
      Object.entries(files).map(([name, text]) => ({ name, text })),
      { dir: '/policies', ...(profiles ? { profiles } : {}) },
    );
    expect(problems).toEqual([]);
    return set as PolicySet;
  };

  it('enforces only the rules of the jurisdictions named, while every file still lends its parameters', () => {
    const all = build();
    expect(all.rules.map((rule) => [rule.id, rule.jurisdiction])).toEqual([['cn-allow', 'CN'], ['eu-deny', 'EU'], ['zone-deny', 'zone']]);
    expect(decide(all, manifest()).reasons).toEqual([expect.objectContaining({ ruleId: 'eu-deny', jurisdiction: 'EU' })]);
    // EU's rule reads a parameter of the CN file: with only EU enforced it still compiles.
    const euOnly = build(['EU']);
    expect(euOnly.rules.map((rule) => rule.id)).toEqual(['eu-deny']);
    expect(euOnly.profiles).toEqual(['EU']);
    const mainlandAndZone = build(['CN', 'zone']);
    expect(decide(mainlandAndZone, manifest()).effect).toBe('allow');
    expect(decide(mainlandAndZone, manifest({ dataset: { subjects: 5000 } })).reasons).toEqual([expect.objectContaining({ ruleId: 'zone-deny', jurisdiction: 'zone' })]);
  });

  it('gives each profile its own revision: a decision names exactly the rules it was made under', () => {
    expect(new Set([build().revision, build(['EU']).revision, build(['CN', 'zone']).revision]).size).toBe(3);
    expect(build(['zone', 'CN']).revision).toBe(build(['CN', 'zone']).revision);
  });
});

describe('what the pair carried over 12 months', () => {
  const set = compiled({
    'us.policy.yaml': `version: 1\ndescription: d\njurisdiction: US\nrules:\n  - id: bulk-genomic-deny\n    description: d\n    basis: 28 CFR 202.205\n    when: { fact: carried.usPersons12m.genomic, gt: 100 }\n    effect: deny\n    reason: bulk\n  - id: any\n    description: d\n    basis: b\n    when: { fact: direction, equals: CN→HK }\n    effect: allow\n`,
  });
  const withCounts = (genomic: number) => manifest({ us: { personCounts: { genomic } } });
  const decideWith = (body: Record<string, unknown>, prior?: Record<string, number>) =>
    decideTransfer(set, { sender: SZ_HOSPITAL, manifest: body, at: AT, lookupInstitution, ...(prior ? { priorUsPersons12m: { genomic: 0, otherOmic: 0, biometric: 0, geolocation: 0, health: 0, financial: 0, identifiers: 0, ...prior } } : {}) }).decision;

  it('adds the manifest’s own count to what the records held before: at, below and above the threshold', () => {
    expect(decideWith(withCounts(100)).effect).toBe('allow');
    expect(decideWith(withCounts(101)).effect).toBe('deny');
    expect(decideWith(withCounts(40), { genomic: 60 }).effect).toBe('allow');
    expect(decideWith(withCounts(41), { genomic: 60 }).effect).toBe('deny');
    expect(decideWith(withCounts(0), { genomic: 101 }).effect).toBe('deny');
    // No counts declared and nothing before: 0.
    expect(decideWith(manifest()).effect).toBe('allow');
  });

  it('explains with the same sums', () => {
    const body = parseManifest(withCounts(41));
    const prior = { genomic: 60, otherOmic: 0, biometric: 0, geolocation: 0, health: 0, financial: 0, identifiers: 0 };
    const explained = explainPolicy(set, { manifest: body, sender: SZ_HOSPITAL, recipient: HK_LAB, at: AT, priorUsPersons12m: prior });
    expect(explained.find((rule) => rule.ruleId === 'bulk-genomic-deny')).toMatchObject({ matched: true, jurisdiction: 'US' });
  });
});
