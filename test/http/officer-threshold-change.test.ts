// The officer's loop end to end: change a threshold in a policy file, run `hetao policy test`, and
// see the running gateway pick the change up without a restart, with the new revision in the next
// decision record.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { devIdentity } from '../support/dev-pki.js';
import { call, startTestGateway, type TestGateway } from '../support/gateway.js';
import { runHetao } from '../support/run-cli.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

const officer = devIdentity('people/officer-chan');
const manifest = {
  recipient: 'hk-uni-genomics',
  project: { id: 'proj-hk-sz-cancer-genomics', title: 'Joint cancer genomics' },
  purpose: 'joint-research',
  dataset: { category: 'genomics', format: 'vcf', genomicScope: 'exome', classification: { level: 'L3' }, deidentification: 'pseudonymised', subjects: 320, humanGeneticResources: true, sizeBytes: 1_000_000 },
  approvals: [
    { type: 'hgr-filing', id: 'HGR-BF-2026-0345' },
    { type: 'gba-standard-contract-filing', id: 'GBA-SC-GD-2026-0101' },
    { type: 'ethics-approval', id: 'SZFH-IRB-2026-017' },
  ],
  consent: { basis: 'separate-consent' },
  retentionDays: 1600,
};

async function evaluate() {
  const result = await call(gw.gateway.apiUrl, officer, '/v1/policies/evaluate', {
    method: 'POST',
    json: { from: 'sz-hospital', manifest, at: '2027-03-01T00:00:00Z' },
  });
  expect(result.status).toBe(200);
  return result.body.decision as { effect: string; policyRevision: string; reasons: { code: string }[] };
}

it('picks up a lowered retention threshold without restart and records the new revision', async () => {
  const before = await evaluate();
  expect(before.effect, JSON.stringify(before.reasons)).toBe('allow');

  const file = path.join(gw.policyDir, '00-data-classes.policy.yaml');
  const text = await readFile(file, 'utf8');
  const edited = text.replace(/(personalDataMaxRetentionDays:\n\s+value:) 1825/, '$1 1500');
  expect(edited).not.toBe(text);
  await writeFile(file, edited);
  // The cases pin the obligation's value: the officer updates them with the threshold.
  for (const name of await readdir(path.join(gw.policyDir, 'tests'))) {
    const casesFile = path.join(gw.policyDir, 'tests', name);
    await writeFile(casesFile, (await readFile(casesFile, 'utf8')).replaceAll('maxRetentionDays: 1825', 'maxRetentionDays: 1500'));
  }

  const tested = await runHetao(['policy', 'test', '--dir', gw.policyDir, '--registry', gw.registryFile]);
  expect(tested.stdout).toMatch(/^\d+ passed, 0 failed/m);
  expect(tested.code).toBe(0);

  await vi.waitFor(
    async () => {
      const after = await evaluate();
      expect(after.effect).toBe('deny');
      expect(after.reasons.map((r) => r.code)).toContain('retention-too-long');
      expect(after.policyRevision).not.toBe(before.policyRevision);
      const listed = await call(gw.gateway.apiUrl, officer, '/v1/policies');
      expect(listed.body.revision).toBe(after.policyRevision);
    },
    { timeout: 10_000, interval: 100 },
  );
});
