// The compiled decision path (one generated matcher per set reading facts straight from the input,
// approval checks without allocation, cached merged obligations, the formatted decision time) gives
// exactly the decision of the straightforward evaluation it replaced: facts object built per
// decision, each rule's closure-tree condition, obligations merged per decision. Compared over the
// default policy set and over a set that tests every kind of fact, for generated manifests,
// parties and times.
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../gateway/config.js';
import { loadRegistry, type Registry } from '../../gateway/identity/registry.js';
import { policyCheckContext } from '../../gateway/policy/check-policy-files.js';
import { approvalCovers, approvalIsValid, buildFacts, dayOf, directionOf, type DecisionInput, type HeldApproval, type Party } from '../../gateway/policy/decision-input.js';
import { evaluatePolicy, type Decision, type DecisionReason, type ReasonCode } from '../../gateway/policy/evaluate-policy.js';
import { isoTime } from '../../gateway/policy/iso-time.js';
import { loadPolicySet, mergeObligations, NO_OBLIGATIONS, type CompiledRule, type PolicySet } from '../../gateway/policy/load-policy-set.js';
import { hashManifest, parseManifest } from '../../gateway/policy/manifest.js';
import { compiled } from './support.js';

/** The evaluation as it was before the compiled matcher, kept here as the reference. */
function referenceDecision(set: PolicySet, input: DecisionInput): Decision {
  const { manifest, sender, recipient } = input;
  const matchedRules: string[] = [];
  const allowing: CompiledRule[] = [];
  const reasons: DecisionReason[] = [];
  if (sender.status !== 'active') {
    reasons.push({ ruleId: null, code: 'sender-not-active', message: `sender "${sender.id}" is ${sender.status} in the zone registry` });
  } else if (!recipient) {
    reasons.push({ ruleId: null, code: 'recipient-not-registered', message: `recipient "${manifest.recipient}" is not a registered institution` });
  } else if (recipient.status !== 'active') {
    reasons.push({ ruleId: null, code: 'recipient-not-active', message: `recipient "${recipient.id}" is ${recipient.status} in the zone registry` });
  } else {
    const facts = buildFacts({ manifest, sender, recipient, at: input.at, ...(input.priorUsPersons12m ? { priorUsPersons12m: input.priorUsPersons12m } : {}) });
    for (const rule of set.rules) {
      const holds = rule.condition.failures(facts).length === 0;
      // The per-rule generated predicate must agree with the closure tree it is checked against.
      expect(rule.condition.test(facts), rule.id).toBe(holds);
      if (!holds) continue;
      matchedRules.push(rule.id);
      if (rule.effect === 'allow') allowing.push(rule);
      else reasons.push({ ruleId: rule.id, jurisdiction: rule.jurisdiction, code: 'rule-denied', message: rule.reason ?? rule.description });
    }
    if (reasons.length === 0) {
      if (allowing.length === 0) reasons.push({ ruleId: null, code: 'no-rule-allows', message: 'no policy rule allows this transfer (default deny)' });
      else referenceObligations(allowing, input, reasons);
    }
  }
  const effect = reasons.length === 0 ? 'allow' : 'deny';
  const { dataset } = manifest;
  return {
    decisionId: 'd',
    time: input.at.toISOString(),
    effect,
    policyRevision: set.revision,
    input: {
      sender: sender.id,
      recipient: manifest.recipient,
      direction: recipient ? directionOf(sender.jurisdiction, recipient.jurisdiction) : 'unknown',
      manifestSha256: input.manifestSha256,
      project: manifest.project.id,
      purpose: manifest.purpose,
      category: dataset.category,
      level: dataset.classification.level,
      deidentification: dataset.deidentification,
      subjects: dataset.subjects,
      humanGeneticResources: dataset.humanGeneticResources,
      sizeBytes: dataset.sizeBytes,
    },
    matchedRules,
    reasons,
    obligations: effect === 'allow' ? mergeObligations(allowing.map((rule) => rule.obligations)) : NO_OBLIGATIONS,
    evalMicros: 0,
  };
}

function referenceObligations(allowing: readonly CompiledRule[], input: DecisionInput, reasons: DecisionReason[]): void {
  const { manifest, sender } = input;
  const day = dayOf(input.at);
  for (const rule of allowing) {
    const { obligations } = rule;
    for (const type of obligations.requireApprovals) {
      const presented = manifest.approvals.filter((a) => a.type === type);
      const reason = (code: ReasonCode, message: string): void => void reasons.push({ ruleId: rule.id, jurisdiction: rule.jurisdiction, code, message });
      if (presented.length === 0) {
        reason('approval-not-presented', `approval "${type}" is required but the manifest presents none`);
        continue;
      }
      const held = (sender.approvals ?? []).filter((a) => a.type === type && presented.some((p) => p.id === a.id));
      if (held.length === 0) {
        reason('approval-not-held', `approval "${type}" ${presented.map((p) => p.id).join(', ')} is not held by ${sender.id} in the zone registry`);
        continue;
      }
      const valid = held.filter((a) => approvalIsValid(a, day));
      if (valid.length === 0) {
        const first = held[0];
        if (first && first.validFrom > day) reason('approval-not-yet-valid', `approval "${type}" ${first.id} is valid only from ${first.validFrom}`);
        else reason('approval-expired', `approval "${type}" ${first?.id ?? ''} expired on ${first?.validUntil ?? ''}`);
        continue;
      }
      if (!valid.some((a) => approvalCovers(a, manifest))) {
        reason('approval-out-of-scope', `approval "${type}" ${valid.map((a) => a.id).join(', ')} does not cover project ${manifest.project.id} (${manifest.dataset.category} to ${manifest.recipient})`);
      }
    }
    for (const holder of obligations.escrowTo) {
      const party = input.lookupInstitution(holder);
      if (!party || party.status !== 'active' || party.encryptionKey === undefined) {
        reasons.push({ ruleId: rule.id, jurisdiction: rule.jurisdiction, code: 'escrow-holder-unavailable', message: `escrow holder "${holder}" is not an active registered institution with an encryption key` });
      }
    }
    if (obligations.maxRetentionDays !== undefined && manifest.retentionDays > obligations.maxRetentionDays) {
      reasons.push({ ruleId: rule.id, jurisdiction: rule.jurisdiction, code: 'retention-too-long', message: `requested retention of ${manifest.retentionDays} days exceeds the maximum of ${obligations.maxRetentionDays}` });
    }
    if (obligations.maxSizeBytes !== undefined && manifest.dataset.sizeBytes > obligations.maxSizeBytes) {
      reasons.push({ ruleId: rule.id, jurisdiction: rule.jurisdiction, code: 'size-too-large', message: `declared size of ${manifest.dataset.sizeBytes} bytes exceeds the cap of ${obligations.maxSizeBytes}` });
    }
    if (obligations.noOnwardTransfer && manifest.onwardTransfer) {
      reasons.push({ ruleId: rule.id, jurisdiction: rule.jurisdiction, code: 'onward-transfer-forbidden', message: 'the manifest declares an onward transfer, which this rule forbids' });
    }
  }
}

const APPROVAL_TYPES = ['hgr-filing', 'gba-standard-contract-filing', 'security-assessment', 'standard-contract-filing', 'ethics-approval', 'clinical-trial-filing'];
const APPROVAL_IDS = ['HGR-BF-2026-0345', 'GBA-SC-GD-2026-0101', 'GBA-SC-HK-2026-0012', 'CT-FIL-2026-0007', 'SZFH-IRB-2026-017', 'A-1', 'A-2'];
const PROJECTS = ['proj-hk-sz-cancer-genomics', 'proj-gba-oncology-trial', 'proj-other'];
const CATEGORIES = ['genomics', 'medical-records', 'clinical-trial', 'research-other'];

const manifestArbitrary = (recipients: readonly string[]) =>
  fc.record(
    {
      recipient: fc.constantFrom(...recipients),
      project: fc.record({ id: fc.constantFrom(...PROJECTS), title: fc.constant('t') }),
      purpose: fc.constantFrom('joint-research', 'clinical-trial', 'regulatory-submission', 'international-cooperation', 'public-health-emergency'),
      dataset: fc.record(
        {
          category: fc.constantFrom(...CATEGORIES),
          format: fc.constantFrom('vcf', 'fastq', 'bam', 'csv', 'json', 'dicom', 'other'),
          genomicScope: fc.constantFrom('none', 'panel', 'exome', 'whole-genome'),
          classification: fc.record({ level: fc.constantFrom('L1', 'L2', 'L3', 'L4', 'L5'), important: fc.boolean(), core: fc.boolean() }, { requiredKeys: ['level'] }),
          deidentification: fc.constantFrom('identified', 'pseudonymised', 'anonymised', 'aggregate'),
          subjects: fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 2_000_000 })),
          humanGeneticResources: fc.boolean(),
          sizeBytes: fc.integer({ min: 0, max: 2 ** 40 }),
        },
        { requiredKeys: ['category', 'format', 'classification', 'deidentification', 'subjects', 'humanGeneticResources', 'sizeBytes'] },
      ),
      approvals: fc.array(fc.record({ type: fc.constantFrom(...APPROVAL_TYPES), id: fc.constantFrom(...APPROVAL_IDS) }), { maxLength: 5 }),
      consent: fc.record({ basis: fc.constantFrom('separate-consent', 'broad-research-consent', 'ethics-waiver', 'not-personal-information') }),
      retentionDays: fc.integer({ min: 1, max: 4_000 }),
      onwardTransfer: fc.boolean(),
      eu: fc.record(
        {
          status: fc.constantFrom('personal', 'pseudonymised', 'anonymised'),
          anonymisationReport: fc.constant('AR-1'),
          transferMechanism: fc.constantFrom('scc-2021-914', 'art49-explicit-consent'),
          sccModule: fc.constantFrom(1, 2, 3, 4),
          tia: fc.constant({ reference: 'TIA-1', reviewedOn: '2026-05-01' }),
          keysHeldInEu: fc.boolean(),
          art9Basis: fc.constantFrom({ condition: '9-2-j', reference: 'BDSG s.27', ethicsApproval: 'E-1' }, { condition: '9-2-a', reference: 'C-1' }),
          art49: fc.record({ consentIds: fc.constant(['c-1']), riskNoticeVersion: fc.constant('v1'), oneOff: fc.boolean() }),
          ehdsPermitId: fc.constant('EHDS-1'),
          minCellSize: fc.integer({ min: 0, max: 20 }),
          recipientGdprController: fc.constant('DE-HRB-1'),
        },
        { requiredKeys: [] },
      ),
      us: fc.record(
        {
          personCounts: fc.record(usPersonCounts(), { requiredKeys: [] }),
          transaction: fc.constantFrom('data-brokerage', 'vendor', 'employment', 'investment'),
          dspExemption: fc.record({ section: fc.constantFrom('202.504', '202.507', '202.510', '202.511'), reference: fc.constant('AWD-1') }),
          dspLicenseId: fc.constant('DOJ-L-1'),
          cisaSecurityRequirements: fc.boolean(),
          dataComplianceProgram: fc.constant('DCP-1'),
          sourceRepository: fc.constantFrom('dbGaP', 'own-cohort'),
          hipaa: fc.record({ status: fc.constantFrom('not-covered-entity', 'authorization', 'waiver', 'limited-data-set', 'deid-safe-harbor', 'deid-expert'), reference: fc.constant('IRB-1') }, { requiredKeys: ['status'] }),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ['recipient', 'project', 'purpose', 'dataset', 'approvals', 'consent', 'retentionDays'] },
  );

/** US persons per category around the DSP thresholds (100, 1,000, 10,000, 100,000). */
function usPersonCounts() {
  const around = (threshold: number) => fc.oneof(fc.integer({ min: 0, max: 2 * threshold }), fc.constantFrom(threshold - 1, threshold, threshold + 1));
  return {
    genomic: around(100),
    otherOmic: around(1000),
    biometric: around(1000),
    geolocation: around(1000),
    health: around(10_000),
    financial: around(10_000),
    identifiers: around(100_000),
  };
}
/** What the pair carried in the 12 months before: nothing known, or sums around the thresholds. */
const priorArbitrary = fc.option(fc.record(usPersonCounts()), { nil: undefined });

/** Times around the zone's and UTC's midnights and approval boundaries, in any order. */
const timeArbitrary = fc.oneof(
  fc.date({ min: new Date('2025-12-30T00:00:00Z'), max: new Date('2029-01-02T00:00:00Z'), noInvalidDate: true }),
  fc.constantFrom('2026-12-31T15:59:59.999Z', '2026-12-31T16:00:00.000Z', '2026-12-31T23:59:59.999Z', '2027-01-01T00:00:00.000Z', '2028-12-31T15:59:59.999Z', '2028-12-31T16:00:00.000Z').map((t) => new Date(t)),
);

function approvalArbitrary(): fc.Arbitrary<HeldApproval> {
  const day = fc.constantFrom('2026-01-01', '2026-12-31', '2027-01-01', '2027-06-30', '2028-12-31');
  return fc.record(
    {
      type: fc.constantFrom(...APPROVAL_TYPES),
      id: fc.constantFrom(...APPROVAL_IDS),
      scope: fc.record(
        { projects: fc.subarray(PROJECTS), categories: fc.subarray(CATEGORIES), recipients: fc.subarray(['hk-a', 'sz-b', 'out-c']) },
        { requiredKeys: [] },
      ),
      validFrom: day,
      validUntil: day,
    },
    { requiredKeys: ['type', 'id', 'validFrom', 'validUntil'] },
  );
}

function partyArbitrary(id: string): fc.Arbitrary<Party> {
  return fc.record(
    {
      id: fc.constant(id),
      jurisdiction: fc.constantFrom('CN', 'HK', 'US', 'MO', 'DE'),
      zone: fc.constantFrom('hetao-sz' as const, 'hetao-hk' as const, 'outside' as const),
      status: fc.constantFrom('active' as const, 'active' as const, 'active' as const, 'suspended' as const),
      attributes: fc.record({ gba: fc.oneof(fc.boolean(), fc.constant('yes')), tier: fc.integer({ min: 0, max: 3 }) }, { requiredKeys: [] }),
      approvals: fc.array(approvalArbitrary(), { maxLength: 4 }),
      encryptionKey: fc.constant({}),
    },
    { requiredKeys: ['id', 'jurisdiction', 'zone', 'status'] },
  );
}

const HEADER = 'version: 1\ndescription: every kind of fact\n';
/** Rules over every fact the catalogue knows, every operator, long and short lists, nesting. */
const EVERY_FACT = `${HEADER}
parameters:
  long: { value: [genomics, a1, a2, a3, a4, a5, a6, a7, a8, clinical-trial], description: longer than the inline list }
  cap: { value: 1000, description: size cap }
rules:
  - id: approvals-held-valid-covers
    description: d
    basis: b
    when:
      all:
        - { fact: sender.approvals.hgr-filing.held, equals: true }
        - any: [ { fact: sender.approvals.hgr-filing.valid, equals: true }, { fact: recipient.approvals.ethics-approval.covers, equals: true } ]
        - { not: { fact: sender.approvals.security-assessment.covers, equals: true } }
    effect: allow
    obligations: { requireApprovals: [hgr-filing], maxRetentionDays: 1825, recipientReceipt: true }
  - id: recipient-approvals
    description: d
    basis: b
    when: { any: [ { fact: recipient.approvals.hgr-filing.valid, equals: true }, { fact: recipient.approvals.clinical-trial-filing.held, equals: false } ] }
    effect: allow
    obligations: { requireApprovals: [ethics-approval, clinical-trial-filing], escrowTo: [hk-a, nobody], maxSizeBytes: { param: cap } }
  - id: parties
    description: d
    basis: b
    when:
      all:
        - { fact: sender.inGba, equals: true }
        - { fact: recipient.inZone, notEquals: false }
        - { fact: recipient.zone, in: [hetao-hk, hetao-sz] }
        - { fact: sender.status, equals: active }
        - { fact: recipient.id, notIn: [out-c] }
        - { fact: sender.jurisdiction, in: [CN, HK, MO] }
    effect: allow
    obligations: { fullInspection: true, noOnwardTransfer: true, maxRetentionDays: 365 }
  - id: attributes-and-presented
    description: d
    basis: b
    when:
      any:
        - { fact: sender.attributes.tier, gte: 2 }
        - { fact: recipient.attributes.gba, equals: yes }
        - { all: [ { fact: presented.hgr-filing, exists: true }, { fact: presented.ethics-approval, absent: true } ] }
        - { fact: presented.gba-standard-contract-filing, equals: GBA-SC-GD-2026-0101 }
    effect: allow
    obligations: { requireApprovals: [gba-standard-contract-filing] }
  - id: prototype-names-read-as-before
    description: fact names that are also names of Object.prototype members read what buildFacts gave them
    basis: b
    when:
      all:
        - { fact: presented.constructor, exists: true }
        - { fact: sender.attributes.toString, exists: true }
        - { fact: sender.approvals.constructor.held, equals: false }
        - { fact: direction, in: [CN→HK, HK→CN, CN→CN, HK→HK, other→CN, other→HK, →other] }
    effect: allow
  - id: manifest-numbers-and-lists
    description: d
    basis: b
    when:
      all:
        - { fact: manifest.dataset.category, in: { param: long } }
        - { any: [ { fact: manifest.dataset.subjects, lt: 1000 }, { fact: manifest.dataset.subjects, gt: 100000 } ] }
        - { fact: manifest.dataset.sizeBytes, lte: 1099511627776 }
        - { fact: manifest.retentionDays, gte: 30 }
        - { fact: manifest.dataset.genomicScope, notIn: [whole-genome] }
        - { fact: manifest.dataset.classification.important, absent: true }
    effect: allow
  - id: carried-and-international
    description: the pair's 12-month sums and the EU and US facts of the manifest
    basis: b
    when:
      any:
        - { fact: carried.usPersons12m.genomic, gt: 100 }
        - all: [ { fact: carried.usPersons12m.health, lte: 10000 }, { fact: manifest.us.personCounts, exists: true } ]
        - { fact: manifest.eu.sccModule, in: [1, 2] }
        - all: [ { fact: manifest.us.dspExemption.section, equals: '202.511' }, { fact: manifest.eu.art49.oneOff, notEquals: true } ]
    effect: deny
    reason: over a threshold
  - id: deny-core
    description: d
    basis: b
    when: { any: [ { fact: manifest.dataset.classification.core, equals: true }, { fact: manifest.onwardTransfer, equals: true } ] }
    effect: deny
    reason: no
`;

let registry: Registry;
let defaultSet: PolicySet;
beforeAll(async () => {
  registry = await loadRegistry(path.join(PROJECT_ROOT, 'policies/registry.yaml'));
  defaultSet = await loadPolicySet(path.join(PROJECT_ROOT, 'policies'), policyCheckContext(registry));
});

function expectSameDecision(set: PolicySet, input: DecisionInput): void {
  const decision = evaluatePolicy(set, input, { newId: () => 'd' });
  expect({ ...decision, evalMicros: 0 }).toEqual(referenceDecision(set, input));
}

describe('compiled decisions', () => {
  it('decide as the reference evaluation over the default set and the dev registry', () => {
    const lookupInstitution = (id: string) => registry.institutions.get(id);
    fc.assert(
      fc.property(manifestArbitrary([...registry.institutions.keys(), 'unregistered-lab']), fc.constantFrom(...registry.institutions.keys()), timeArbitrary, priorArbitrary, (body, from, at, prior) => {
        const sender = lookupInstitution(from) as Party;
        const manifest = parseManifest(body);
        expectSameDecision(defaultSet, {
          manifest,
          manifestSha256: hashManifest(manifest),
          sender,
          recipient: lookupInstitution(manifest.recipient),
          at,
          ...(prior ? { priorUsPersons12m: prior } : {}),
          lookupInstitution,
        });
      }),
      { numRuns: 2000 },
    );
  });

  it('decide as the reference evaluation over a set testing every kind of fact, for generated parties', () => {
    const set = compiled({ 'every.policy.yaml': EVERY_FACT });
    const ids = ['hk-a', 'sz-b', 'out-c'];
    fc.assert(
      fc.property(
        fc.tuple(partyArbitrary('hk-a'), partyArbitrary('sz-b'), partyArbitrary('out-c')),
        fc.constantFrom(...ids),
        manifestArbitrary([...ids, 'unregistered-lab']),
        timeArbitrary,
        priorArbitrary,
        (parties, from, body, at, prior) => {
          const byId = new Map(parties.map((p) => [p.id, p]));
          const lookupInstitution = (id: string) => byId.get(id);
          const manifest = parseManifest(body);
          const input = {
            manifest,
            manifestSha256: 'h',
            sender: byId.get(from) as Party,
            recipient: lookupInstitution(manifest.recipient),
            at,
            ...(prior ? { priorUsPersons12m: prior } : {}),
            lookupInstitution,
          };
          expectSameDecision(set, input);
          // Twice: the second decision meets the cached merged obligations and formatted day.
          expectSameDecision(set, input);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('matches the same rules for a set of hundreds of rules (several generated functions)', () => {
    const rules = Array.from(
      { length: 100 },
      (_, i) => `  - id: rule-${i}
    description: d
    basis: b
    when: { all: [ { fact: manifest.dataset.subjects, ${i % 2 ? 'gt' : 'lt'}: ${i * 20_000} }, { fact: sender.approvals.${APPROVAL_TYPES[i % APPROVAL_TYPES.length]}.${['held', 'valid', 'covers'][i % 3]}, equals: ${i % 4 < 2} } ] }
    effect: ${i % 7 === 0 ? 'deny\n    reason: r' : 'allow'}`,
    );
    const set = compiled({ 'many.policy.yaml': `${HEADER}rules:\n${rules.join('\n')}\n` });
    fc.assert(
      fc.property(fc.tuple(partyArbitrary('hk-a'), partyArbitrary('sz-b')), manifestArbitrary(['sz-b']), timeArbitrary, ([sender, recipient], body, at) => {
        const manifest = parseManifest(body);
        const active = { ...sender, status: 'active' as const };
        expectSameDecision(set, { manifest, manifestSha256: 'h', sender: active, recipient: { ...recipient, status: 'active' }, at, lookupInstitution: () => undefined });
      }),
      { numRuns: 500 },
    );
  });

  it('refuses an invalid decision time as before (RangeError from the time)', () => {
    const lookupInstitution = (id: string) => registry.institutions.get(id);
    const manifest = parseManifest({
      recipient: 'hk-uni-genomics',
      project: { id: 'p', title: 't' },
      purpose: 'joint-research',
      dataset: { category: 'genomics', format: 'vcf', classification: { level: 'L3' }, deidentification: 'pseudonymised', subjects: 1, humanGeneticResources: true, sizeBytes: 1 },
      approvals: [],
      consent: { basis: 'separate-consent' },
      retentionDays: 1,
    });
    const input = { manifest, manifestSha256: 'h', sender: lookupInstitution('sz-hospital') as Party, recipient: lookupInstitution('hk-uni-genomics'), at: new Date(Number.NaN), lookupInstitution };
    expect(() => referenceDecision(defaultSet, input)).toThrow(RangeError);
    expect(() => evaluatePolicy(defaultSet, input)).toThrow(RangeError);
  });
});

describe('isoTime and dayOf', () => {
  const reference = (at: Date): string => {
    const local = new Date(at.getTime() + 8 * 3_600_000);
    const month = local.getUTCMonth() + 1;
    const day = local.getUTCDate();
    return `${local.getUTCFullYear()}-${month < 10 ? '0' : ''}${month}-${day < 10 ? '0' : ''}${day}`;
  };
  const times = fc.oneof(
    fc.date({ noInvalidDate: true }),
    fc.integer({ min: -3, max: 3 }).chain((d) => fc.integer({ min: -2, max: 2 }).map((ms) => new Date(Date.UTC(2027, 0, 1) + d * 3_600_000 * 8 + ms))),
    fc.constantFrom(-1, 0, 1, 253402300799999, 253402300800000, -62167219200000, -62167219200001, 8.64e15, -8.64e15).map((t) => new Date(t)),
  );

  it('write exactly what toISOString and the zone calendar give, whatever order times come in', () => {
    fc.assert(
      fc.property(fc.array(times, { minLength: 1, maxLength: 20 }), (list) => {
        for (const at of list) {
          expect(isoTime(at)).toBe(at.toISOString());
          expect(dayOf(at)).toBe(reference(at));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
