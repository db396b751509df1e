// The console over real mutual TLS, as the server renders it (no JavaScript): who may see it, what each
// page shows from the services, the Content Security Policy, and forms refused from another origin or
// without this person's token. The in-browser proof check runs in console-browser.test.ts.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { devIdentity, type ClientIdentity } from '../support/dev-pki.js';
import { mtlsAgent, startTestGateway, type TestGateway } from '../support/gateway.js';
import { anonymisedResearchManifest, CORE_GENOMICS_MANIFEST } from '../support/manifests.js';
import { createTransfer } from '../support/transfers.js';

let gw: TestGateway;
const officer = devIdentity('people/officer-chan');
const regulator = devIdentity('people/regulator-wang');
const lab = devIdentity('institutions/hk-ctc');

beforeAll(async () => {
  gw = await startTestGateway();
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
  });

  it('a reload from the page is done; from another origin, without a token or with another person’s token it is refused', async () => {
    const token = tokenIn((await get(officer, '/console/policies')).text);
    const done = await post(officer, '/console/policies/reload', { token }, { origin: ownOrigin() });
    expect(done.status).toBe(200);
    expect(done.text).toMatch(/Reload: <strong>(unchanged|applied)<\/strong>/);
    expect((await post(officer, '/console/policies/reload', { token }, { origin: 'https://evil.example' })).text).toContain('the form was sent from https://evil.example');
    expect((await post(officer, '/console/policies/reload', { token }, {})).status).toBe(403);
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
    const broken = await post(officer, '/console/dry-run', { token, from: 'sz-hospital', manifest: '{not json' }, { origin: ownOrigin() });
    expect(broken.text).toContain('ERR_MANIFEST_INVALID');
  });

  it('a regulator may read but not reload, nor use the dry run', async () => {
    const policies = await get(regulator, '/console/policies');
    expect(policies.status).toBe(200);
    expect(tokenIn(policies.text)).toBe('');
    expect((await get(regulator, '/console/dry-run')).status).toBe(403);
  });

  it('the registry: institutions with their status', async () => {
    const registry = await get(officer, '/console/registry');
    expect(registry.text).toContain('<th scope="row">hk-suspended-lab</th>');
    expect(registry.text).toContain('class="status-suspended"');
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
  it('counts what was allowed and what was denied, by category, direction and day; filtered by institution', async () => {
    // hk-ctc sends nothing else in this file: its counts are exactly these two.
    const sender = devIdentity('institutions/hk-ctc');
    const countIn = (text: string, row: string, outcome: string): number => Number(new RegExp(`<tr><th scope="row">${row}</th>(?:<td data-outcome="[a-z-]+">\\d+</td>)*?<td data-outcome="${outcome}">(\\d+)</td>`).exec(text)?.[1] ?? 'NaN');
    const manifest = (recipient: string) => ({ ...anonymisedResearchManifest(Buffer.from('x,y\n1,2\n')), recipient });
    expect((await createTransfer(gw.gateway.apiUrl, sender, manifest('hk-uni-genomics'))).status).toBe(201);
    expect((await createTransfer(gw.gateway.apiUrl, sender, manifest('hk-suspended-lab'))).status).toBe(403);
    // Counted just after the answer (the count never holds a transfer up): the page shows it within moments.
    const after = await vi.waitFor(async () => {
      const shown = await get(regulator, '/console/overview?institution=hk-ctc');
      expect(shown.status).toBe(200);
      expect([countIn(shown.text, 'research-other', 'allowed'), countIn(shown.text, 'research-other', 'denied')]).toEqual([1, 1]);
      return shown;
    }, { timeout: 15_000, interval: 100 });
    expect(countIn(after.text, 'HK→HK', 'allowed')).toBe(1);
    expect(after.text).toContain('<caption>By direction</caption>');
    const elsewhere = await get(regulator, '/console/overview?institution=hetao-sz-institute');
    expect(elsewhere.text).not.toContain('HK→HK');
    // A regulator can download the signed export of the period shown, filtered as shown.
    expect(after.text).toMatch(/<form method="get" action="\/v1\/audit\/export">[\s\S]*name="institution" value="hk-ctc"/);
    const weekly = await get(officer, '/console/overview?bucket=week');
    expect(weekly.text).not.toContain('action="/v1/audit/export"');
    expect(weekly.text).toMatch(/<th scope="row">week of \d{4}-\d{2}-\d{2}<\/th>/);
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
