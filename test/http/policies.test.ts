// Officer routes over real mTLS: roles come from the registry; a dry run decides without side
// effects; a reload applies a valid set and refuses an invalid one, keeping the last good set.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devIdentity } from '../support/dev-pki.js';
import { call, startTestGateway, type TestGateway } from '../support/gateway.js';
import { CORE_GENOMICS_MANIFEST } from '../support/manifests.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ HETAO_WATCH_FILES: 'false' });
});
afterAll(async () => {
  await gw?.close();
});

const officer = devIdentity('people/officer-chan');
const regulator = devIdentity('people/regulator-wang');
const lab = devIdentity('institutions/sz-hospital');

const manifest = CORE_GENOMICS_MANIFEST;

describe('GET /v1/policies', () => {
  it.each([
    ['security officer', officer],
    ['regulator', regulator],
  ])('shows the set in force to a %s', async (_role, identity) => {
    const result = await call(gw.gateway.apiUrl, identity, '/v1/policies');
    expect(result.status).toBe(200);
    expect(result.body.revision).toMatch(/^[0-9a-f]{64}$/);
    expect(result.body.files).toEqual(expect.arrayContaining([expect.objectContaining({ name: expect.stringMatching(/\.policy\.yaml$/) })]));
    expect((result.body.rules as unknown[]).length).toBeGreaterThan(0);
  });

  it('refuses a lab system with 403 ERR_IDENTITY_ROLE_FORBIDDEN', async () => {
    const result = await call(gw.gateway.apiUrl, lab, '/v1/policies');
    expect(result.status).toBe(403);
    expect(result.body).toMatchObject({ code: 'ERR_IDENTITY_ROLE_FORBIDDEN', requiredRoles: ['security-officer', 'admin', 'regulator'] });
  });
});

describe('POST /v1/policies/evaluate', () => {
  it('decides a manifest as a dry run and explains it', async () => {
    const result = await call(gw.gateway.apiUrl, officer, '/v1/policies/evaluate', { method: 'POST', json: { from: 'sz-hospital', manifest } });
    expect(result.status).toBe(200);
    const decision = result.body.decision as { effect: string; policyRevision: string; reasons: { code: string; ruleId: string | null }[] };
    expect(result.body.dryRun).toBe(true);
    expect(decision.effect).toBe('deny');
    expect(decision.reasons.some((r) => r.code === 'rule-denied' && r.ruleId !== null)).toBe(true);
    expect(result.body.explanation).toEqual(expect.arrayContaining([expect.objectContaining({ matched: true })]));
  });

  it('answers an invalid manifest with 400 and every problem', async () => {
    const result = await call(gw.gateway.apiUrl, officer, '/v1/policies/evaluate', {
      method: 'POST',
      json: { from: 'sz-hospital', manifest: { ...manifest, purpose: 'curiosity', retentionDays: -1 } },
    });
    expect(result.status).toBe(400);
    expect(result.body.code).toBe('ERR_MANIFEST_INVALID');
    expect((result.body.problems as { path: string }[]).map((p) => p.path)).toEqual(expect.arrayContaining(['/purpose', '/retentionDays']));
  });

  it('is for officers only', async () => {
    const result = await call(gw.gateway.apiUrl, regulator, '/v1/policies/evaluate', { method: 'POST', json: { from: 'sz-hospital', manifest } });
    expect(result.body.code).toBe('ERR_IDENTITY_ROLE_FORBIDDEN');
  });
});

describe('POST /v1/policies/reload', () => {
  it('refuses an invalid set with 422 and the problems, keeping the last good set', async () => {
    const before = (await call(gw.gateway.apiUrl, officer, '/v1/policies')).body.revision;
    const [first] = (await readdir(gw.policyDir)).filter((name) => name.endsWith('.policy.yaml')).sort();
    const file = path.join(gw.policyDir, first as string);
    const original = await readFile(file, 'utf8');
    await writeFile(file, original.replace(/effect: (allow|deny)/, 'effect: maybe'));
    try {
      const result = await call(gw.gateway.apiUrl, officer, '/v1/policies/reload', { method: 'POST' });
      expect(result.status).toBe(422);
      expect(result.body).toMatchObject({ code: 'ERR_POLICY_RELOAD_REJECTED', revision: before });
      expect(result.body.problems).toEqual(expect.arrayContaining([expect.objectContaining({ file, line: expect.any(Number) })]));
      expect((await call(gw.gateway.apiUrl, officer, '/v1/policies')).body.revision).toBe(before);
    } finally {
      await writeFile(file, original);
    }
  });

  it('applies a valid change and reports unchanged when nothing changed', async () => {
    const before = (await call(gw.gateway.apiUrl, officer, '/v1/policies')).body.revision;
    expect((await call(gw.gateway.apiUrl, officer, '/v1/policies/reload', { method: 'POST' })).body).toMatchObject({ outcome: 'unchanged', revision: before });
    await writeFile(
      path.join(gw.policyDir, 'zz-test.policy.yaml'),
      'version: 1\ndescription: added by a test\nrules:\n  - id: test-added-deny\n    description: d\n    basis: test\n    when: { fact: manifest.purpose, equals: regulatory-submission }\n    effect: deny\n    reason: test\n',
    );
    const result = await call(gw.gateway.apiUrl, officer, '/v1/policies/reload', { method: 'POST' });
    expect(result.body.outcome).toBe('applied');
    expect(result.body.revision).not.toBe(before);
    const evaluated = await call(gw.gateway.apiUrl, officer, '/v1/policies/evaluate', { method: 'POST', json: { from: 'sz-hospital', manifest } });
    expect((evaluated.body.decision as { policyRevision: string }).policyRevision).toBe(result.body.revision);
  });
});

describe('GET /docs', () => {
  it('serves the OpenAPI document generated from the route schemas', async () => {
    const result = await call(gw.gateway.apiUrl, lab, '/docs/json');
    expect(result.status).toBe(200);
    expect(result.body.openapi).toMatch(/^3\./);
    expect(Object.keys(result.body.paths as object)).toEqual(
      expect.arrayContaining(['/v1/whoami', '/v1/transfers', '/v1/transfers/{id}/content', '/v1/policies/evaluate', '/v1/audit/export']),
    );
  });
});
