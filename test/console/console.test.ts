// The console over real mutual TLS, as the server renders it (no JavaScript): who may see it, what each
// page shows from the services, the Content Security Policy, and forms refused from another origin or
// without this person's token. The in-browser proof check runs in console-browser.test.ts.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { devIdentity, type ClientIdentity } from '../support/dev-pki.js';
import { call, mtlsAgent, startTestGateway, type TestGateway } from '../support/gateway.js';
import { anonymisedResearchManifest, CORE_GENOMICS_MANIFEST } from '../support/manifests.js';
import { createTransfer } from '../support/transfers.js';
import { tableFigures, withZeros } from '../support/console-figures.js';
import type { FlowSummary } from '../../gateway/flows/flow-counts.js';

let gw: TestGateway;
const officer = devIdentity('people/officer-chan');
const regulator = devIdentity('people/regulator-wang');
const lab = devIdentity('institutions/hk-ctc');

beforeAll(async () => {
  // Reloads only when asked: the policy history test edits files and reloads them itself.
  gw = await startTestGateway({ HETAO_WATCH_FILES: 'false' });
});
afterAll(async () => gw?.close());

async function get(who: ClientIdentity, pathname: string): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const dispatcher = mtlsAgent(who);
  try {
    const response = await request(new URL(pathname, gw.gateway.apiUrl), { dispatcher });
    return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
  } finally {
    await dispatcher.close();
  }
}

async function post(who: ClientIdentity, pathname: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const dispatcher = mtlsAgent(who);
  try {
    const response = await request(new URL(pathname, gw.gateway.apiUrl), { dispatcher, method: 'POST', body: new URLSearchParams(form).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
    return { status: response.statusCode, text: await response.body.text() };
  } finally {
    await dispatcher.close();
  }
}

interface FlowsBody extends FlowSummary {
  readonly code?: string;
}

async function getJson(who: ClientIdentity, pathname: string): Promise<{ status: number; contentType: unknown; body: FlowsBody }> {
  const { status, headers, text } = await get(who, pathname);
  return { status, contentType: headers['content-type'], body: JSON.parse(text) as FlowsBody };
}

const tokenIn = (text: string): string => /name="token" value="([^"]+)"/.exec(text)?.[1] ?? '';
const ownOrigin = (): string => new URL(gw.gateway.apiUrl).origin;

describe('who sees the console', () => {
  it('an officer gets it, under a strict Content Security Policy', async () => {
    const home = await get(officer, '/console');
    expect(home.status).toBe(200);
    expect(home.headers['content-type']).toMatch(/^text\/html/);
    expect(home.headers['content-security-policy']).toBe("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    expect(home.text).toContain('Chan Tai Man');
    expect(home.text).not.toMatch(/<script>|style="/);
  });

  it("a lab system's certificate gets a page saying the console is not for it", async () => {
    const refused = await get(lab, '/console/policies');
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('hk-ctc is a lab system (institution), not a person with a console role');
  });
});

describe('officer pages', () => {
  it('the policy set in force: every rule with its jurisdiction and basis, and a reload form with a token', async () => {
    const policies = await get(officer, '/console/policies');
    expect(policies.status).toBe(200);
    expect(policies.text).toContain('<code>anonymised-data-between-registered</code>');
    expect(policies.text).toContain('PIPL Art 4');
    expect(tokenIn(policies.text)).not.toBe('');
    // Case counts: the policy cases beside the policies, run against the set in force.
    expect(policies.text).toMatch(/\d+ policy cases \(<code>tests\/\*\.cases\.yaml<\/code>\) run against this set: all pass/);
    const row = /<th scope="row"><code>anonymised-data-between-registered<\/code><\/th>[\s\S]*?<td class="cases">(\d+) \/ (\d+)<\/td>/.exec(policies.text);
    expect(Number(row?.[1])).toBeGreaterThan(0);
    expect(Number(row?.[2])).toBeGreaterThan(0);
    // A case that no longer holds is named.
    const cases = path.join(gw.policyDir, 'tests', '50-open-data.cases.yaml');
    const original = await readFile(cases, 'utf8');
    try {
      await writeFile(cases, original.replace('expect: { effect: allow, rules: [anonymised-data-between-registered], obligations: { fullInspection: false } }', 'expect: { effect: deny }'));
      expect((await get(officer, '/console/policies')).text).toMatch(/<strong class="effect-deny">1 fail<\/strong>[\s\S]*<code>50-open-data\.cases\.yaml<\/code> anonymised CSV from the Shenzhen hospital to the HK genomics lab/);
    } finally {
      await writeFile(cases, original);
    }
  });

  it('a reload from the page is done; from another origin, without a token or with another person’s token it is refused', async () => {
    const token = tokenIn((await get(officer, '/console/policies')).text);
    const done = await post(officer, '/console/policies/reload', { token }, { origin: ownOrigin() });
    expect(done.status).toBe(200);
    expect(done.text).toMatch(/Reload: <strong>(unchanged|applied)<\/strong>/);
    expect((await post(officer, '/console/policies/reload', { token }, { origin: 'https://evil.example' })).text).toContain('the form was sent from https://evil.example');
    expect((await post(officer, '/console/policies/reload', { token }, {})).status).toBe(403);
    // A Referer that is no URL (and no Origin) is refused like any other origin, not a 500.
    const garbled = await post(officer, '/console/policies/reload', { token }, { referer: 'not a url at all' });
    expect([garbled.status, garbled.text.includes('the form was sent from an unknown origin')]).toEqual([403, true]);
    expect((await post(officer, '/console/policies/reload', {}, { origin: ownOrigin() })).status).toBe(403);
    const othersToken = tokenIn((await get(devIdentity('people/admin-lee'), '/console/policies')).text);
    expect((await post(officer, '/console/policies/reload', { token: othersToken }, { origin: ownOrigin() })).text).toContain('not one this gateway gave this person');
  });

  it('the dry run explains a denial, rule by rule', async () => {
    const token = tokenIn((await get(officer, '/console/dry-run')).text);
    const decided = await post(officer, '/console/dry-run', { token, from: 'sz-hospital', manifest: JSON.stringify(CORE_GENOMICS_MANIFEST) }, { origin: ownOrigin() });
    expect(decided.status).toBe(200);
    expect(decided.text).toContain('Decision: <span class="effect-deny">deny</span>');
    expect(decided.text).toMatch(/rule <code>[a-z0-9-]+<\/code>: /);
    // Every rule with the tests it failed (before, the list named the rules and nothing else), and the near misses first.
    const rules = (await call(gw.gateway.apiUrl, officer, '/v1/policies')).body.rules as unknown[];
    expect(decided.text).toContain(`Every rule, explained (${rules.length})`);
    expect(decided.text.match(/<td>(?:<strong>matched<\/strong>|failed \d+: <ul>)/g)).toHaveLength(rules.length);
    const nearMisses = [...decided.text.matchAll(/<tr class="near-miss">([\s\S]*?)<\/tr>/g)].map((row) => row[1] ?? '');
    expect(nearMisses.length).toBeGreaterThan(0);
    for (const row of nearMisses) expect(row.match(/<li><code>[^<]+<\/code><\/li>/g)?.length).toBeLessThanOrEqual(2);
    const broken = await post(officer, '/console/dry-run', { token, from: 'sz-hospital', manifest: '{not json' }, { origin: ownOrigin() });
    expect(broken.text).toContain('ERR_MANIFEST_INVALID');
  });

  it('a regulator may read but not reload, nor use the dry run', async () => {
    const policies = await get(regulator, '/console/policies');
    expect(policies.status).toBe(200);
    expect(tokenIn(policies.text)).toBe('');
    expect((await get(regulator, '/console/dry-run')).status).toBe(403);
  });

  it('the registry: institutions with their status, certificates with their expiry', async () => {
    const registry = await get(officer, '/console/registry');
    expect(registry.text).toContain('<th scope="row">hk-suspended-lab</th>');
    expect(registry.text).toContain('class="status-suspended"');
    // The dev registry still binds sz-hospital's expired certificate (serial 2901), in PEM.
    expect(registry.text).toMatch(/<th scope="row">institution sz-hospital<\/th><td>CN=sz-hospital,[^<]*<\/td><td>2901<\/td><td><time [^>]*>\d{4}-\d\d-\d\d<\/time><\/td><td class="status-expired">expired<\/td>/);
  });
});

describe('a transfer, for a regulator', () => {
  it('its decision, states and journal entries with their canonical text; escaped, never markup', async () => {
    const created = await createTransfer(gw.gateway.apiUrl, devIdentity('institutions/sz-hospital'), anonymisedResearchManifest(Buffer.from('a,b\n1,2\n')));
    expect(created.status).toBe(201);
    const id = String(created.body.id);
    const shown = await get(regulator, `/console/transfers/${id}`);
    expect(shown.status).toBe(200);
    expect(shown.text).toContain(`data-transfer="${id}"`);
    expect(shown.text).toContain('<code>anonymised-data-between-registered</code>');
    expect(shown.text).toMatch(/<tr data-seq="\d+"><td>\d+<\/td><td>[^<]+<\/td><td>transfer\.authorized<\/td>/);
    expect(shown.text).toContain('&quot;type&quot;:&quot;transfer.authorized&quot;');
    expect(shown.text).toContain('<script src="/console/assets/verify-proofs.js" defer></script>');
    expect((await get(officer, `/console/transfers/${id}`)).status).toBe(403);
  });
});

describe('the overview, from the maintained flow counts', () => {
  it('counts what was allowed and what was denied, by category, direction and day; filtered by institution; the numbers of GET /v1/flows', async () => {
    // hk-ctc sends nothing else in this file: its counts are exactly these two.
    const sender = devIdentity('institutions/hk-ctc');
    const manifest = (recipient: string) => ({ ...anonymisedResearchManifest(Buffer.from('x,y\n1,2\n')), recipient });
    expect((await createTransfer(gw.gateway.apiUrl, sender, manifest('hk-uni-genomics'))).status).toBe(201);
    expect((await createTransfer(gw.gateway.apiUrl, sender, manifest('hk-suspended-lab'))).status).toBe(403);
    const declared = manifest('hk-uni-genomics').dataset.sizeBytes;
    // Counted just after the answer (the count never holds a transfer up): the page shows it within moments.
    const after = await vi.waitFor(async () => {
      const shown = await get(regulator, '/console/overview?institution=hk-ctc');
      expect(shown.status).toBe(200);
      const byCategory = tableFigures(shown.text, 'By data category');
      expect([byCategory['research-other']?.allowed, byCategory['research-other']?.denied]).toEqual([{ transfers: 1, bytes: declared }, { transfers: 1, bytes: declared }]);
      return shown;
    }, { timeout: 15_000, interval: 100 });
    expect(tableFigures(after.text, 'By direction')['HK→HK']?.allowed?.transfers).toBe(1);
    // Every table says what the API says for the same filter.
    const today = new Date().toISOString().slice(0, 10);
    const weekAgo = new Date(Date.now() - 6 * 86_400_000).toISOString().slice(0, 10);
    const api = await getJson(regulator, `/v1/flows?from=${weekAgo}&to=${today}&institution=hk-ctc`);
    expect(api.status).toBe(200);
    expect(tableFigures(after.text, 'By data category')).toEqual(withZeros(api.body.byCategory));
    expect(tableFigures(after.text, 'By direction')).toEqual(withZeros(api.body.byDirection));
    expect(tableFigures(after.text, 'Per day')).toEqual(withZeros(api.body.byPeriod));
    const elsewhere = await get(regulator, '/console/overview?institution=hetao-sz-institute');
    expect(tableFigures(elsewhere.text, 'By direction')['HK→HK']).toBeUndefined();
    // A regulator can download the signed export of the period shown, filtered as shown.
    expect(after.text).toMatch(/<form method="get" action="\/v1\/audit\/export">[\s\S]*name="institution" value="hk-ctc"/);
    expect(after.text).toContain('<select id="export-direction" name="direction"><option value="">any</option><option value="CN→HK">CN→HK</option>');
    // As the form sends "any" (empty fields), the export is the unfiltered one of the period.
    const period = `from=${weekAgo}T00:00:00.000Z&to=${new Date(Date.parse(`${today}T00:00:00Z`) + 86_400_000).toISOString()}`;
    const linesOf = async (query: string) => (await get(regulator, `/v1/audit/export?${query}`)).text.split('\n').filter(Boolean).length;
    const unfiltered = await linesOf(period);
    expect(unfiltered).toBeGreaterThan(2);
    expect(await linesOf(`${period}&institution=&category=&direction=&format=ndjson`)).toBe(unfiltered);
    expect(await linesOf(`${period}&category=clinical-trial`)).toBeLessThan(unfiltered);
    const weekly = await get(officer, '/console/overview?bucket=week');
    expect(weekly.text).not.toContain('action="/v1/audit/export"');
    expect(weekly.text).toMatch(/<th scope="row">week of \d{4}-\d{2}-\d{2}<\/th>/);
    // The charts' holders and their scripts, served by the gateway from the npm package.
    expect(after.text).toContain('data-chart="transfers" data-source="per-period"');
    for (const asset of ['/console/assets/vendor/uplot/uPlot.iife.min.js', '/console/assets/vendor/uplot/uPlot.min.css', '/console/assets/overview-charts.js']) {
      expect((await get(regulator, asset)).status, asset).toBe(200);
    }
    expect((await get(regulator, '/console/assets/vendor/uplot/uPlot.d.ts')).status).toBe(404);
    expect((await get(regulator, '/console/assets/vendor/uplot/../../package.json')).status).toBe(404);
  });

  it('a period the API refuses is said on the page, not a 500', async () => {
    const refused = await get(regulator, '/console/overview?from=2026-12-09&to=2026-12-01');
    expect(refused.status).toBe(400);
    expect(refused.text).toContain('from (2026-12-09) is after to (2026-12-01)');
  });
});

describe('GET /v1/flows', () => {
  it('answers officers and regulators; refuses a lab system, a day that is not one, a reversed or too long period, an unknown bucket, a missing day', async () => {
    const ok = await getJson(officer, '/v1/flows?from=2026-01-01&to=2026-12-31&bucket=week');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ from: '2026-01-01', to: '2026-12-31', bucket: 'week', byCategory: expect.any(Object), byDirection: expect.any(Object), byPeriod: expect.any(Object) });
    const refusals: [ClientIdentity, string, number, string][] = [
      [lab, '/v1/flows?from=2026-01-01&to=2026-01-02', 403, 'ERR_IDENTITY_ROLE_FORBIDDEN'],
      [regulator, '/v1/flows?from=2026-02-30&to=2026-03-01', 400, 'ERR_REQUEST_INVALID'],
      [regulator, '/v1/flows?from=2026-13-45&to=2026-03-01', 400, 'ERR_REQUEST_INVALID'],
      [regulator, '/v1/flows?from=2026-03-02&to=2026-03-01', 400, 'ERR_REQUEST_INVALID'],
      [regulator, '/v1/flows?from=2020-01-01&to=2026-03-01', 400, 'ERR_REQUEST_INVALID'],
      [regulator, '/v1/flows?from=2026-01-01&to=2026-01-02&bucket=month', 400, 'ERR_REQUEST_INVALID'],
      [regulator, '/v1/flows?to=2026-01-02', 400, 'ERR_REQUEST_INVALID'],
    ];
    for (const [who, pathname, status, code] of refusals) {
      const answer = await getJson(who, pathname);
      expect([answer.status, answer.body.code, answer.contentType], pathname).toEqual([status, code, 'application/problem+json; charset=utf-8']);
    }
  });
});

describe('the policy history: revisions kept with their files, diffs, reloads with their problems', () => {
  it('an edit reloaded from the console is a new revision whose diff shows the line; a broken file is refused with file:line; both reloads listed, also by the API', async () => {
    const file = path.join(gw.policyDir, '50-open-data.policy.yaml');
    const original = await readFile(file, 'utf8');
    const before = (await call(gw.gateway.apiUrl, officer, '/v1/policies')).body.revision as string;
    try {
      await writeFile(file, original.replace('retention cap. Clinical-trial data still stays', 'retention cap (edited: 人类遗传资源 <b>). Clinical-trial data still stays'));
      const token = tokenIn((await get(officer, '/console/policies')).text);
      expect((await post(officer, '/console/policies/reload', { token }, { origin: ownOrigin() })).text).toContain('Reload: <strong>applied</strong>');
      const after = (await call(gw.gateway.apiUrl, officer, '/v1/policies')).body.revision as string;
      expect(after).not.toBe(before);

      await writeFile(file, `${original}\nrules: [oops\n`);
      const refused = await post(officer, '/console/policies/reload', { token }, { origin: ownOrigin() });
      expect(refused.status).toBe(422);

      const history = await get(regulator, '/console/policies/history');
      expect(history.status).toBe(200);
      // Newest first: the refusal with its file:line, then the edit with before → after and a link to the diff.
      const refusal = history.text.indexOf('<tr class="reload-rejected">');
      const applied = history.text.indexOf('<tr class="reload-applied">');
      expect(refusal).toBeGreaterThan(0);
      expect(applied).toBeGreaterThan(refusal);
      expect(history.text.slice(refusal, applied)).toMatch(/<code>50-open-data\.policy\.yaml:\d+<\/code>/);
      expect(history.text).toContain(`/console/policies/diff?from=${before}&amp;to=${after}`);
      expect(history.text).toContain('officer:officer-chan');

      const diff = await get(regulator, `/console/policies/diff?from=${before}&to=${after}`);
      expect(diff.status).toBe(200);
      expect(diff.text).toContain('1 of 11 files differs');
      expect(diff.text).toContain('<h2>50-open-data.policy.yaml <span class="change">(changed)</span></h2>');
      expect(diff.text).toContain('<del>-  retention cap. Clinical-trial data still stays in the zone (file 40).</del>\n');
      expect(diff.text).toContain(' between the zone&#39;s registered, active institutions in any direction with a receipt and a\n');
      expect(diff.text).toContain('<ins>+  retention cap (edited: 人类遗传资源 &lt;b&gt;). Clinical-trial data still stays in the zone (file 40).');

      const revision = await get(officer, `/console/policies/revisions/${after}`);
      expect(revision.text).toContain('<summary>50-open-data.policy.yaml</summary>');
      expect(revision.text).toContain('(edited: 人类遗传资源 &lt;b&gt;)');

      // The API gives the same history.
      const revisions = await call(gw.gateway.apiUrl, regulator, '/v1/policies/revisions');
      expect((revisions.body.revisions as { revision: string }[]).slice(0, 2).map((kept) => kept.revision)).toEqual([after, before]);
      const kept = await call(gw.gateway.apiUrl, regulator, `/v1/policies/revisions/${before}`);
      expect((kept.body.files as { name: string; text: string }[]).find((f) => f.name === '50-open-data.policy.yaml')?.text).toBe(original);
      const apiDiff = await call(gw.gateway.apiUrl, regulator, `/v1/policies/revisions/${after}/diff?from=${before}`);
      expect((apiDiff.body.files as { name: string; change: string }[]).filter((f) => f.change !== 'same').map((f) => f.name)).toEqual(['50-open-data.policy.yaml']);
      const reloads = (await call(gw.gateway.apiUrl, regulator, '/v1/policies/reloads?limit=2')).body.reloads as { outcome: string; problems?: { file: string; line?: number }[] }[];
      expect(reloads.map((reload) => reload.outcome)).toEqual(['rejected', 'applied']);
      expect(reloads[0]?.problems?.[0]).toMatchObject({ file: '50-open-data.policy.yaml', line: expect.any(Number) });
      // Unknown, malformed, and not for a lab system.
      expect((await call(gw.gateway.apiUrl, regulator, `/v1/policies/revisions/${'0'.repeat(64)}`)).body.code).toBe('ERR_POLICY_REVISION_NOT_FOUND');
      expect((await call(gw.gateway.apiUrl, regulator, '/v1/policies/revisions/nope')).body.code).toBe('ERR_REQUEST_INVALID');
      expect((await call(gw.gateway.apiUrl, lab, '/v1/policies/revisions')).body.code).toBe('ERR_IDENTITY_ROLE_FORBIDDEN');
      expect((await get(regulator, `/console/policies/revisions/${'0'.repeat(64)}`)).status).toBe(404);
    } finally {
      await writeFile(file, original);
      const token = tokenIn((await get(officer, '/console/policies')).text);
      await post(officer, '/console/policies/reload', { token }, { origin: ownOrigin() });
    }
  });
});

describe('odd input is answered, never a 500', () => {
  it('malformed ids, periods, revisions, forms and bodies', async () => {
    const token = tokenIn((await get(officer, '/console/dry-run')).text);
    const origin = { origin: ownOrigin() };
    const gets: [ClientIdentity, string][] = [
      [regulator, '/console/transfers/%00%ff'],
      [regulator, `/console/transfers/${'x'.repeat(5000)}`],
      [regulator, '/console/transfer?id=../../etc'],
      [regulator, '/console/overview?from=2026-13-45&to=yesterday&bucket=[]&institution=%3Cscript%3E'],
      [regulator, '/console/overview?from[]=1&to[]=2'],
      [officer, '/console/policies/diff'],
      [officer, '/console/policies/diff?from=..%2F..%2Fetc&to=%00'],
      [officer, '/console/policies/revisions/..%2F..%2Fetc%2Fpasswd'],
      [officer, '/console/assets/vendor/uplot/%2e%2e/%2e%2e/package.json'],
    ];
    for (const [who, pathname] of gets) {
      const answer = await get(who, pathname);
      expect(answer.status, pathname).toBeGreaterThanOrEqual(200);
      expect(answer.status, pathname).toBeLessThan(500);
    }
    const posts: [string, Record<string, string>][] = [
      ['/console/dry-run', { token, from: 'sz-hospital', manifest: '5' }],
      ['/console/dry-run', { token, from: 'sz-hospital', manifest: '{"dataset": [1, 2]}' }],
      ['/console/dry-run', { token, from: '', manifest: '' }],
      ['/console/dry-run', { token, from: 'sz-hospital', manifest: '['.repeat(10_000) }],
      ['/console/policies/reload', { token: 'a.b.c.d' }],
    ];
    for (const [pathname, form] of posts) {
      const answer = await post(officer, pathname, form, origin);
      expect(answer.status, `${pathname} ${JSON.stringify(form).slice(0, 80)}`).toBeLessThan(500);
    }
    // A body the console does not read (not a form) is refused with a problem, not a 500.
    const dispatcher = mtlsAgent(officer);
    try {
      for (const [type, body] of [['text/plain', 'token=x'], ['application/json', '{"token": 1, "from": [], "manifest": {}}'], ['application/x-www-form-urlencoded', '%%%&&&=']] as const) {
        const response = await request(new URL('/console/dry-run', gw.gateway.apiUrl), { dispatcher, method: 'POST', body, headers: { 'content-type': type, ...origin } });
        await response.body.text();
        expect(response.statusCode, type).toBeLessThan(500);
      }
    } finally {
      await dispatcher.close();
    }
  });
});

describe('the dev people’s .p12 files (for a browser)', () => {
  it('each opens with the dev password and presents that person to the console', async () => {
    const { readFile } = await import('node:fs/promises');
    const { Agent } = await import('undici');
    const { devFile, zoneCaBundle } = await import('../support/dev-pki.js');
    for (const person of ['officer-chan', 'regulator-wang', 'admin-lee', 'officer-wong', 'regulator-ho', 'dpo-weber', 'officer-miller']) {
      const dispatcher = new Agent({ connect: { pfx: await readFile(devFile(`people/${person}.dev-only.p12`)), passphrase: 'hetao-dev', ca: zoneCaBundle() } });
      try {
        const response = await request(new URL('/console', gw.gateway.apiUrl), { dispatcher });
        expect(response.statusCode, person).toBe(200);
        expect(await response.body.text()).toContain(`, ${person})`);
      } finally {
        await dispatcher.close();
      }
    }
  });
});
