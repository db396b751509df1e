// The console in a real browser: Debian's chromium driven by playwright-core, presenting each person's
// client certificate. The transfer page's script verifies the journal entries' proofs and says so —
// and says failed when the proofs it fetches are tampered with on the way; the dry-run form explains a
// denial; a lab system's certificate is refused; a form posted from another site is refused; pages
// pass an automated accessibility check (axe-core). Screenshots of each view go to
// test-artifacts/console/. Without chromium these tests fail: `.ci/run` installs it.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../gateway/config.js';
import { devIdentity } from '../support/dev-pki.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { anonymisedResearchManifest, CORE_GENOMICS_MANIFEST } from '../support/manifests.js';
import { createTransfer, upload } from '../support/transfers.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = path.join(PROJECT_ROOT, 'test-artifacts/console');
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let gw: TestGateway;
let browser: Browser;
let transferId: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the console's browser tests need Debian's chromium (apt-get install chromium; .ci/run does)`);
  await mkdir(SCREENSHOTS, { recursive: true });
  gw = await startTestGateway({ HETAO_AUDIT_CHECKPOINT_INTERVAL_MS: '200' });
  const hospital = devIdentity('institutions/sz-hospital');
  const content = Buffer.from('site,score\n1,2\n3,4\n');
  const created = await createTransfer(gw.gateway.apiUrl, hospital, anonymisedResearchManifest(content));
  transferId = String(created.body.id);
  expect((await upload(gw.gateway.apiUrl, hospital, transferId, content)).status).toBe(200);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gw?.close();
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
      await page.goto(`${gw.gateway.apiUrl}/console/policies`);
      await shoot(page, 'policies');
      await page.goto(`${gw.gateway.apiUrl}/console/registry`);
      await shoot(page, 'registry');
      await page.goto(`${gw.gateway.apiUrl}/console/overview`);
      await shoot(page, 'overview');
    } finally {
      await context.close();
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
      ['people/regulator-wang', '/console/overview'],
      ['people/regulator-wang', `/console/transfers/${transferId}`],
    ] as const) {
      expect(await accessibilityProblems(person, `${gw.gateway.apiUrl}${url}`), url).toEqual([]);
    }
  });
});
