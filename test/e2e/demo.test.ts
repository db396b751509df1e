// `npm run demo` end to end: a real gateway process started from source, the demo run against it as
// a child process (from source too: CI does not build dist/ before the tests), then every outcome
// the demo claims checked again through the API with the dev identities, so a demo that prints ✓
// for something that did not happen fails here.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { JSONWebKeySet } from 'jose';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyExport } from '../../gateway/audit/verify-export.js';
import { PROJECT_ROOT } from '../../gateway/config.js';
import { startGatewayProcess, type GatewayProcess } from '../../scripts/demo/gateway-process.js';
import { devIdentity } from '../support/dev-pki.js';
import { call, mtlsAgent } from '../support/gateway.js';
import { nodeArgsFor, TSX_LOADER } from '../support/run-cli.js';
import { decrypt, download, encryptionKey, jwksOf, sha256 } from '../support/transfers.js';

const hospital = devIdentity('institutions/sz-hospital');
const genomicsLab = devIdentity('institutions/hk-uni-genomics');
const institute = devIdentity('institutions/hetao-sz-institute');
const hgrOffice = devIdentity('institutions/nhc-hgr-office');
const regulator = devIdentity('people/regulator-wang');

const DEMO_TIMEOUT_MS = 60_000;

interface DemoRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function runDemo(gatewayUrl: string): Promise<DemoRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX_LOADER, path.join(PROJECT_ROOT, 'scripts/demo.ts'), '--gateway', gatewayUrl],
      { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH }, timeout: DEMO_TIMEOUT_MS },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** The first capture group of `pattern` in the demo's output; fails the test with the output when absent. */
function captured(output: string, pattern: RegExp): string {
  const value = pattern.exec(output)?.[1];
  expect(value, `no line matching ${pattern} in:\n${output}`).toBeDefined();
  return value as string;
}

let dir: string;
let gateway: GatewayProcess | undefined;
let demo: DemoRun;
let apiUrl: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-e2e-demo-'));
  gateway = await startGatewayProcess({
    nodeArgs: nodeArgsFor('app/main'),
    dataDir: path.join(dir, 'data'),
    startTimeoutMs: 45_000,
  });
  apiUrl = gateway.apiUrl;
  demo = await runDemo(apiUrl);
}, 120_000);

afterAll(async () => {
  await gateway?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm run demo against a gateway process', () => {
  it('exits 0 with every step ending in its expected outcome', () => {
    expect(demo.code, `${demo.stdout}\n${demo.stderr}`).toBe(0);
    expect(demo.stdout).toMatch(/^ {3}✓ allowed with HGR obligations \(filing HGR-BF-2026-0345 presented, escrow copy for nhc-hgr-office\): transfer tr-\S+ is available$/m);
    expect(demo.stdout).toMatch(/^ {3}✓ denied by clinical-trial-outside-zone-deny, hk-to-mainland-without-consent-deny \(decision [0-9a-f-]{36}\)$/m);
    expect(demo.stdout).toMatch(/^ {5}- rule clinical-trial-outside-zone-deny: .+$/m);
    expect(demo.stdout).toMatch(/^ {5}- rule hk-to-mainland-without-consent-deny: .+$/m);
    expect(demo.stdout).toMatch(/^ {3}✓ quarantined: transfer tr-\S+ is held, the recipient cannot download it$/m);
    expect(demo.stdout).toMatch(/^ {5}- inspector: 3 mainland resident identity numbers .+ in data declared anonymised$/m);
    expect(demo.stdout).toMatch(/^ {3}✓ received: transfer tr-\S+, SHA-256 [0-9a-f]{12}… matches$/m);
    expect(demo.stdout).toMatch(/^ {3}✓ audit export verified: \d+ entries, with this demo's 4 events$/m);
    expect(demo.stdout).toMatch(/^All 5 steps had the expected outcome/m);
    expect(demo.stdout).not.toContain('✗');
  });

  it('the genomics transfer was received by the lab with a matching receipt, and the HGR office can open its escrow copy', async () => {
    const id = captured(demo.stdout, /✓ allowed with HGR obligations .*: transfer (tr-\S+) is available/);
    expect(captured(demo.stdout, /✓ received: transfer (tr-\S+),/)).toBe(id);
    const printedHash = captured(demo.stdout, /✓ received: .*SHA-256 ([0-9a-f]{12})… matches/);

    const sent = await call(apiUrl, hospital, '/v1/transfers?as=sender&status=received');
    expect((sent.body.transfers as { id: string }[]).map((transfer) => transfer.id)).toContain(id);

    const record = (await call(apiUrl, genomicsLab, `/v1/transfers/${id}`)).body as {
      status: string;
      sender: string;
      recipient: string;
      obligations: { escrowTo: string[]; requireApprovals: string[] };
      content: { plaintextSha256: string; holders: { institution: string; role: string }[] };
      receipts: { by: string; sha256: string; matches: boolean }[];
    };
    expect(record).toMatchObject({ status: 'received', sender: 'sz-hospital', recipient: 'hk-uni-genomics' });
    expect(record.obligations.escrowTo).toContain('nhc-hgr-office');
    expect(record.obligations.requireApprovals).toContain('hgr-filing');
    expect(record.content.holders).toContainEqual({ institution: 'nhc-hgr-office', role: 'escrow' });
    expect(record.content.plaintextSha256.startsWith(printedHash)).toBe(true);
    expect(record.receipts).toHaveLength(1);
    expect(record.receipts[0]).toMatchObject({ sha256: record.content.plaintextSha256, matches: true });

    // The escrow copy is real: the HGR office decrypts the same plaintext with its own key.
    const envelope = await download(apiUrl, hgrOffice, id);
    expect(envelope.status).toBe(200);
    const plaintext = await decrypt(envelope.bytes, encryptionKey('nhc-hgr-office'), await jwksOf(apiUrl, hgrOffice));
    expect(sha256(plaintext)).toBe(record.content.plaintextSha256);
  });

  it('the "anonymised" CSV is quarantined for its identity numbers and the institute cannot download it', async () => {
    const id = captured(demo.stdout, /✓ quarantined: transfer (tr-\S+) is held/);
    const record = await call(apiUrl, hospital, `/v1/transfers/${id}`);
    expect(record.body).toMatchObject({ status: 'quarantined', recipient: 'hetao-sz-institute' });
    expect(JSON.stringify((record.body.inspection as { reasons: string[] }).reasons)).toMatch(/identity numbers/);
    expect((await download(apiUrl, institute, id)).status).toBe(409);
  });

  it("the regulator's export verifies and holds the denial with its decision id and rules, and no transfer was created for it", async () => {
    const decisionId = captured(demo.stdout, /✓ denied by .* \(decision ([0-9a-f-]{36})\)/);
    const dispatcher = mtlsAgent(regulator);
    let exported: string;
    try {
      const response = await request(new URL('/v1/audit/export', apiUrl), { dispatcher });
      expect(response.statusCode).toBe(200);
      exported = await response.body.text();
    } finally {
      await dispatcher.close();
    }
    const jwks = (await jwksOf(apiUrl, regulator)) as unknown as JSONWebKeySet;
    const verification = await verifyExport(Readable.from([Buffer.from(exported)]), jwks);
    expect(verification.firstError).toBeUndefined();
    expect(verification.ok).toBe(true);
    // The demo's export starts shortly before it ran; this one has the whole journal.
    expect(Number(captured(demo.stdout, /✓ audit export verified: (\d+) entries/))).toBeLessThanOrEqual(verification.entries);

    const entries = exported
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { kind: string; entry?: { type: string; details?: Record<string, unknown> } })
      .flatMap((line) => (line.kind === 'entry' && line.entry ? [line.entry] : []));
    const denial = entries.find((entry) => entry.type === 'policy.denied' && entry.details?.decisionId === decisionId);
    expect(denial?.details).toMatchObject({ sender: 'hk-uni-genomics', recipient: 'cn-outside-institute', category: 'medical-records' });
    expect(denial?.details?.matchedRules).toEqual(expect.arrayContaining(['clinical-trial-outside-zone-deny', 'hk-to-mainland-without-consent-deny']));

    const sentByLab = (await call(apiUrl, genomicsLab, '/v1/transfers?as=sender')).body.transfers as { recipient: string }[];
    expect(sentByLab.filter((transfer) => transfer.recipient === 'cn-outside-institute')).toEqual([]);
  });
});
