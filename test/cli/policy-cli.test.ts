// `hetao policy lint | test | explain` as an officer runs them: real files, a child process, exit codes.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { POLICY_DIR, REGISTRY_FILE } from '../support/dev-pki.js';
import { runHetao } from '../support/run-cli.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-cli-'));
  await cp(POLICY_DIR, dir, { recursive: true });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const common = () => ['--dir', dir, '--registry', REGISTRY_FILE];

describe('hetao policy lint', () => {
  it('passes the default set', async () => {
    const result = await runHetao(['policy', 'lint', ...common()]);
    expect(result.stdout).toMatch(/rules in \d+ files, 0 errors, 0 warnings/);
    expect(result.code).toBe(0);
  });

  it('fails with file:line, path and message on a broken file', async () => {
    const file = path.join(dir, '30-hgr.policy.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('escrowTo: [nhc-hgr-office]', 'escrowTo: [nhc-hgr-ofice]'));
    const result = await runHetao(['policy', 'lint', ...common()]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+ error /rules/\\d+/obligations/escrowTo/0 "nhc-hgr-ofice" is not a registered institution`));
  });
});

describe('hetao policy test', () => {
  it('runs every case and exits 0 on the default set', async () => {
    const result = await runHetao(['policy', 'test', ...common(), '--strict']);
    expect(result.stdout).toMatch(/^\d+ passed, 0 failed/m);
    expect(result.code).toBe(0);
  });

  it('exits 1 and names the failing case when a rule changes', async () => {
    const file = path.join(dir, '00-data-classes.policy.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace(/(personalDataMaxRetentionDays:\n\s+value:) 1825/, '$1 1000'));
    const result = await runHetao(['policy', 'test', ...common()]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^FAIL .+\n\s+obligation maxRetentionDays: expected 1825, got 1000/m);
  });
});

describe('hetao policy explain', () => {
  /** Writes `manifest` to a file and explains it for `from` at the cases' time, with `extra` arguments. */
  const explain = async (name: string, manifest: object, from: string, extra: string[] = []) => {
    const manifestFile = path.join(dir, `${name}.json`);
    await writeFile(manifestFile, JSON.stringify(manifest));
    return runHetao(['policy', 'explain', manifestFile, '--from', from, '--at', '2027-03-01T00:00:00Z', ...extra, ...common()]);
  };
  /** Genomic data to the Hong Kong genomics lab, with `extra` fields. */
  const genomicsToHk = (project: string, extra: object) => ({
    recipient: 'hk-uni-genomics',
    project: { id: project, title: 'Genomics with Hong Kong' },
    purpose: 'joint-research',
    dataset: { category: 'genomics', format: 'vcf', genomicScope: 'exome', classification: { level: 'L3' }, deidentification: 'pseudonymised', subjects: 40, humanGeneticResources: false, sizeBytes: 2048 },
    approvals: [],
    retentionDays: 365,
    ...extra,
  });

  it('prints the decision, every reason with its rule id, and near misses', async () => {
    const result = await explain(
      'manifest',
      {
        recipient: 'cn-outside-institute',
        project: { id: 'proj-gba-oncology-trial', title: 'Oncology trial' },
        purpose: 'clinical-trial',
        dataset: { category: 'clinical-trial', format: 'csv', classification: { level: 'L4' }, deidentification: 'pseudonymised', subjects: 80, humanGeneticResources: false, sizeBytes: 2048 },
        approvals: [{ type: 'clinical-trial-filing', id: 'CT-FIL-2026-0007' }],
        consent: { basis: 'separate-consent' },
        retentionDays: 365,
      },
      'hk-ctc',
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^DENY {2}hk-ctc → cn-outside-institute \(HK→CN\)/);
    expect(result.stdout).toMatch(/denied by \[zone\] clinical-trial-outside-zone-deny rule-denied: /);
    expect(result.stdout).toMatch(/near misses:\n\s+\[(CN|HK|zone|EU|US)\] \S+ \((allow|deny)\) failed: /);
  });

  it('names the jurisdiction of the rule that denied an EU partner’s transfer, and what of that rule is unconfirmed', async () => {
    const result = await explain(
      'eu-manifest',
      genomicsToHk('proj-eu-hk-genomics', {
        consent: { basis: 'separate-consent' },
        eu: { status: 'pseudonymised', transferMechanism: 'scc-2021-914', sccModule: 1, sccSignedOn: '2026-09-01', tia: { reference: 'TIA-1', reviewedOn: '2026-10-01' }, art6Basis: '6-1-e', art9Basis: { condition: '9-2-j', reference: 'BDSG s.27', ethicsApproval: 'EK-1' } },
      }),
      'eu-uniklinik',
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^DENY {2}eu-uniklinik → hk-uni-genomics \(other→HK\)/);
    // Keys not held in the EU: the EU rule refuses, and says what about it is unconfirmed.
    expect(result.stdout).toMatch(/denied by \[EU\] eu-outbound-non-equivalent-without-eu-keys-deny \(unconfirmed: what a Hong Kong TIA must cover[^)]*\) rule-denied: /);
  });

  it('decides on the 12-month sum the officer gives (--us-persons-before): at the threshold allowed, one over refused by the US rule', async () => {
    const manifest = genomicsToHk('proj-us-hk-genomics', { consent: { basis: 'broad-research-consent' }, us: { personCounts: { genomic: 40 } } });
    const explainWith = (before: string) => explain('us-manifest', manifest, 'us-genomics-institute', ['--us-persons-before', before]);
    expect((await explainWith('genomic=60')).stdout).toMatch(/^ALLOW {2}us-genomics-institute → hk-uni-genomics/);
    const over = await explainWith('genomic=61,health=10');
    expect(over.stdout).toMatch(/^DENY .*\n\s+denied by \[US\] us-dsp-bulk-omic-prohibited-deny/);
    const wrong = await explainWith('genomes=61');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--us-persons-before genomes=61: give category=count pairs/);
  });
});
