// The console in a real browser: Debian's chromium driven by playwright-core, presenting each person's
// client certificate. The transfer page's script verifies the journal entries' proofs and says so —
// and says failed when the proofs it fetches are tampered with on the way; the dry-run form explains a
// denial; a lab system's certificate is refused; a form posted from another site is refused; pages
// pass an automated accessibility check (axe-core). Screenshots of each view go to
// test-artifacts/console/. Without chromium these tests fail: `.ci/run` installs it.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../gateway/config.js';
import { devIdentity } from '../support/dev-pki.js';
import { call, startTestGateway, type TestGateway } from '../support/gateway.js';
import { tableFigures, withZeros } from '../support/console-figures.js';
import { FLOW_OUTCOMES, type FlowSummary } from '../../gateway/flows/flow-counts.js';
import { openFileFlowCounts } from '../../gateway/flows/file-flow-counts.js';
import { DIRECTIONS } from '../../gateway/policy/decision-input.js';
import { anonymisedResearchManifest, CORE_GENOMICS_MANIFEST } from '../support/manifests.js';
import { createTransfer, sha256, upload } from '../support/transfers.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = path.join(PROJECT_ROOT, 'test-artifacts/console');
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let gw: TestGateway;
let browser: Browser;
let transferId: string;
let seededData: string | undefined;

/** The flows every category × direction × outcome the overview can show, counted through the flows port into the gateway's data folder before it starts (the past six days). */
async function seedEveryFlow(dataDir: string): Promise<void> {
  const flows = await openFileFlowCounts(path.join(dataDir, 'flows'));
  try {
    let n = 0;
    for (const category of ['genomics', 'medical-records', 'clinical-trial', 'research-other']) {
      for (const direction of DIRECTIONS) {
        for (const outcome of FLOW_OUTCOMES) {
          n += 1;
          const day = new Date(Date.now() - (1 + (n % 6)) * 86_400_000).toISOString().slice(0, 10);
          for (let i = 0; i <= n % 3; i += 1) await flows.add({ day, category, direction, outcome, sender: n % 2 ? 'sz-hospital' : 'hk-uni-genomics', recipient: 'hetao-hk-lab' }, 1_000_000 * (1 + (n % 7)));
        }
      }
    }
  } finally {
    await flows.close();
  }
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the console's browser tests need Debian's chromium (apt-get install chromium; .ci/run does)`);
  await mkdir(SCREENSHOTS, { recursive: true });
  seededData = await mkdtemp(path.join(tmpdir(), 'hetao-console-seed-'));
  await seedEveryFlow(seededData);
  gw = await startTestGateway({ HETAO_AUDIT_CHECKPOINT_INTERVAL_MS: '200', HETAO_DATA_DIR: seededData, HETAO_WATCH_FILES: 'false' });
  const hospital = devIdentity('institutions/sz-hospital');
  const content = Buffer.from('site,score\n1,2\n3,4\n');
  const created = await createTransfer(gw.gateway.apiUrl, hospital, anonymisedResearchManifest(content));
  transferId = String(created.body.id);
  expect((await upload(gw.gateway.apiUrl, hospital, transferId, content)).status).toBe(200);
  // And today's real transfers: received (a second one, receipted), quarantined, denied.
  const receipted = String((await createTransfer(gw.gateway.apiUrl, hospital, anonymisedResearchManifest(content))).body.id);
  expect((await upload(gw.gateway.apiUrl, hospital, receipted, content)).status).toBe(200);
  expect((await call(gw.gateway.apiUrl, devIdentity('institutions/hetao-sz-institute'), `/v1/transfers/${receipted}/receipt`, { method: 'POST', json: { sha256: sha256(content) } })).body.status).toBe('received');
  const leaky = Buffer.from(`site,score,note\n1,2,ok\n3,4, 11010519491231002X\n`);
  const quarantined = String((await createTransfer(gw.gateway.apiUrl, hospital, anonymisedResearchManifest(leaky))).body.id);
  expect((await upload(gw.gateway.apiUrl, hospital, quarantined, leaky)).body.status).toBe('quarantined');
  expect((await createTransfer(gw.gateway.apiUrl, devIdentity('institutions/hk-ctc'), { ...anonymisedResearchManifest(content), recipient: 'hk-suspended-lab' })).status).toBe(403);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gw?.close();
  if (seededData) await rm(seededData, { recursive: true, force: true });
});

/** A browser context presenting `person`'s client certificate to the gateway (whose dev CA the browser does not know). */
async function as(person: string): Promise<BrowserContext> {
  const identity = devIdentity(person);
  return browser.newContext({
    ignoreHTTPSErrors: true,
    clientCertificates: [{ origin: new URL(gw.gateway.apiUrl).origin, cert: Buffer.from(identity.cert), key: Buffer.from(identity.key) }],
  });
}

/** axe-core's serious and critical findings on the page (its script injected past the CSP, in a copy of the context that bypasses it). */
async function accessibilityProblems(person: string, url: string): Promise<string[]> {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    bypassCSP: true,
    clientCertificates: [{ origin: new URL(gw.gateway.apiUrl).origin, cert: Buffer.from(devIdentity(person).cert), key: Buffer.from(devIdentity(person).key) }],
  });
  try {
    const page = await context.newPage();
    await page.goto(url);
    await page.addScriptTag({ path: AXE });
    const violations = await page.evaluate(async () => (await (globalThis as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; help: string }[] }> } }).axe.run()).violations);
    return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help}`);
  } finally {
    await context.close();
  }
}

const shoot = (page: Page, name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });

describe('the transfer page verifies its proofs in the browser', () => {
  it('says verified once the check ran, every entry', async () => {
    const context = await as('people/regulator-wang');
    try {
      const page = await context.newPage();
      await page.goto(`${gw.gateway.apiUrl}/console/transfers/${transferId}`);
      await expect.poll(() => page.locator('#proof-summary').textContent(), { timeout: 30_000 }).toMatch(/entries verified against checkpoint \d+ signed by this gateway/);
      const cells = await page.locator('#journal-entries td.proof').allTextContents();
      expect(cells.length).toBeGreaterThan(1);
      expect(cells.every((text) => text === 'verified' || text === 'not yet under a checkpoint')).toBe(true);
      expect(cells).toContain('verified');
      await shoot(page, 'transfer');
    } finally {
      await context.close();
    }
  });

  it('says failed when the proofs it fetches are tampered with', async () => {
    const context = await as('people/regulator-wang');
    try {
      const page = await context.newPage();
      await page.route('**/v1/audit/proof/**', async (route) => {
        const response = await route.fetch();
        const body = (await response.json()) as { proofs: { leafHash: string }[] };
        const first = body.proofs[0];
        if (first) first.leafHash = Buffer.alloc(32, 7).toString('base64');
        await route.fulfill({ response, json: body });
      });
      await page.goto(`${gw.gateway.apiUrl}/console/transfers/${transferId}`);
      await expect.poll(() => page.locator('#proof-summary').textContent(), { timeout: 30_000 }).toMatch(/FAILED verification/);
      expect(await page.locator('#journal-entries td.proof').allTextContents()).toContain('failed: the entry is not in the signed log');
      await shoot(page, 'transfer-tampered');
    } finally {
      await context.close();
    }
  });
});

describe('the overview in the browser: the numbers the API gives, drawn', () => {
  it('every table of every view equals GET /v1/flows for its filter; every category, direction and outcome is there; the charts drew the table', async () => {
    const regulator = devIdentity('people/regulator-wang');
    const context = await as('people/regulator-wang');
    try {
      const page = await context.newPage();
      const refusedByPolicy: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') refusedByPolicy.push(message.text());
      });
      page.on('pageerror', (error) => refusedByPolicy.push(error.message));
      const today = new Date().toISOString().slice(0, 10);
      const weekAgo = new Date(Date.now() - 6 * 86_400_000).toISOString().slice(0, 10);
      // Today's real transfers are counted just after their answers: wait until all are.
      await expect
        .poll(async () => ((await call(gw.gateway.apiUrl, regulator, `/v1/flows?from=${today}&to=${today}`)).body as unknown as FlowSummary).byCategory['research-other'], { timeout: 15_000 })
        .toMatchObject({ allowed: { transfers: 3 }, quarantined: { transfers: 1 }, received: { transfers: 1 }, denied: { transfers: 1 } });
      const views = [
        { query: '', api: `from=${weekAgo}&to=${today}`, per: 'Per day' },
        { query: '?bucket=week', api: `from=${weekAgo}&to=${today}&bucket=week`, per: 'Per week' },
        { query: '?institution=sz-hospital', api: `from=${weekAgo}&to=${today}&institution=sz-hospital`, per: 'Per day' },
        { query: `?from=${today}&to=${today}`, api: `from=${today}&to=${today}`, per: 'Per day' },
      ];
      for (const view of views) {
        await page.goto(`${gw.gateway.apiUrl}/console/overview${view.query}`);
        await expect.poll(() => page.locator('[data-chart="transfers"]').getAttribute('data-drawn'), { timeout: 15_000 }).not.toBeNull();
        const shown = await page.content();
        const api = await call(gw.gateway.apiUrl, regulator, `/v1/flows?${view.api}`);
        expect(api.status).toBe(200);
        const summary = api.body as unknown as FlowSummary;
        expect(tableFigures(shown, 'By data category'), view.query).toEqual(withZeros(summary.byCategory));
        expect(tableFigures(shown, 'By direction'), view.query).toEqual(withZeros(summary.byDirection));
        expect(tableFigures(shown, view.per), view.query).toEqual(withZeros(summary.byPeriod));
        // Each chart drew one point per row of the period table.
        const rows = Object.keys(summary.byPeriod).length;
        expect(await page.locator('[data-chart="transfers"]').getAttribute('data-drawn')).toBe(String(rows));
        expect(await page.locator('[data-chart="bytes"]').getAttribute('data-drawn')).toBe(String(rows));
        expect(await page.locator('[data-chart] canvas').count()).toBe(2);
        if (view.query === '') {
          await shoot(page, 'overview');
          const byCategory = tableFigures(shown, 'By data category');
          const byDirection = tableFigures(shown, 'By direction');
          expect(Object.keys(byCategory).sort()).toEqual(['clinical-trial', 'genomics', 'medical-records', 'research-other']);
          expect(Object.keys(byDirection).sort()).toEqual([...DIRECTIONS].sort());
          for (const figures of [byCategory, byDirection]) for (const line of Object.values(figures)) for (const outcome of FLOW_OUTCOMES) expect(line[outcome]?.transfers).toBeGreaterThan(0);
        }
        if (view.query === `?from=${today}&to=${today}`) {
          // Today holds only the real transfers made above.
          expect(tableFigures(shown, 'By data category')['research-other']).toMatchObject({ allowed: { transfers: 3 }, quarantined: { transfers: 1 }, received: { transfers: 1 }, denied: { transfers: 1 } });
        }
      }
      expect(refusedByPolicy).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe('officer pages in the browser', () => {
  it('the dry-run form explains a denial', async () => {
    const context = await as('people/officer-chan');
    try {
      const page = await context.newPage();
      await page.goto(`${gw.gateway.apiUrl}/console/dry-run`);
      await page.getByLabel('Sender institution').fill('sz-hospital');
      await page.getByLabel('Manifest (JSON)').fill(JSON.stringify(CORE_GENOMICS_MANIFEST, null, 2));
      await page.getByRole('button', { name: 'Decide' }).click();
      await expect.poll(() => page.locator('#decision-heading').textContent()).toBe('Decision: deny');
      await shoot(page, 'dry-run');
      await page.goto(`${gw.gateway.apiUrl}/console/registry`);
      await shoot(page, 'registry');
    } finally {
      await context.close();
    }
  });

  it('an edited policy file reloaded from the page appears in the history, with its diff', async () => {
    const file = path.join(gw.policyDir, '50-open-data.policy.yaml');
    const original = await readFile(file, 'utf8');
    await writeFile(file, original.replace('retention cap. Clinical-trial data still stays', 'retention cap, as agreed on 4 December. Clinical-trial data still stays'));
    const context = await as('people/officer-chan');
    try {
      const page = await context.newPage();
      await page.goto(`${gw.gateway.apiUrl}/console/policies`);
      await shoot(page, 'policies');
      await page.getByRole('button', { name: 'Reload the policy folder' }).click();
      await expect.poll(() => page.locator('[role=status]').textContent()).toMatch(/^Reload: applied/);
      await page.goto(`${gw.gateway.apiUrl}/console/policies/history`);
      await shoot(page, 'policy-history');
      await page.getByRole('link', { name: 'what changed' }).first().click();
      await expect.poll(() => page.locator('pre.diff ins').first().textContent()).toContain('as agreed on 4 December');
      await shoot(page, 'policy-diff');
    } finally {
      await context.close();
      await writeFile(file, original);
    }
  });

  it('a form posted from another site is refused', async () => {
    // A page on another origin that posts to the console's reload form, as a malicious site would.
    const evil: Server = createServer((_request, response) => {
      response.setHeader('content-type', 'text/html');
      response.end(`<form id="f" method="post" action="${gw.gateway.apiUrl}/console/policies/reload"><input name="token" value="1.x"></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    const context = await as('people/officer-chan');
    try {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${(evil.address() as { port: number }).port}/`);
      await expect.poll(() => page.locator('[role=alert]').textContent(), { timeout: 30_000 }).toMatch(/refused: the form was sent from http:\/\/127\.0\.0\.1:\d+/);
    } finally {
      await context.close();
      await new Promise((resolve) => evil.close(resolve));
    }
  });

  it("a lab system's certificate is refused", async () => {
    const context = await as('institutions/hk-ctc');
    try {
      const page = await context.newPage();
      const response = await page.goto(`${gw.gateway.apiUrl}/console`);
      expect(response?.status()).toBe(403);
      expect(await page.locator('[role=alert]').textContent()).toContain('not a person with a console role');
    } finally {
      await context.close();
    }
  });
});

describe('accessibility (axe-core)', () => {
  it('no serious or critical problems on the officer and regulator pages', async () => {
    for (const [person, url] of [
      ['people/officer-chan', '/console'],
      ['people/officer-chan', '/console/policies'],
      ['people/officer-chan', '/console/dry-run'],
      ['people/officer-chan', '/console/registry'],
      ['people/officer-chan', '/console/policies/history'],
      ['people/regulator-wang', '/console/overview'],
      ['people/regulator-wang', `/console/transfers/${transferId}`],
    ] as const) {
      expect(await accessibilityProblems(person, `${gw.gateway.apiUrl}${url}`), url).toEqual([]);
    }
  });
});
