// `hetao send | fetch | status | list` as a lab operator runs them: child processes against a real
// gateway over mutual TLS, real files, exit codes and what a person reads.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devFile } from '../support/dev-pki.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { runHetao } from '../support/run-cli.js';
import { sha256 } from '../support/transfers.js';

/** Child processes on a loaded 2-core machine: generous. */
const CLI_TIMEOUT_MS = 180_000;

let gw: TestGateway;
let dir: string;
beforeAll(async () => {
  gw = await startTestGateway();
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-lab-cli-'));
});
afterAll(async () => {
  await gw?.close();
  await rm(dir, { recursive: true, force: true });
});

const institutionFile = (id: string, kind: 'cert' | 'key' | 'enc.key') => devFile(`institutions/${id}.dev-only.${kind}.pem`);
const CA = devFile('zone-ca-bundle.dev-only.pem');

/** Connection flags of an institution; `fetch` takes the TLS key as --tls-key (its --key decrypts). */
const as = (id: string, keyFlag: '--key' | '--tls-key' = '--key') => ['--gateway', gw.gateway.apiUrl, '--cert', institutionFile(id, 'cert'), keyFlag, institutionFile(id, 'key'), '--ca', CA];

function vcf(samples: number, rows: number): Buffer {
  const names = Array.from({ length: samples }, (_, i) => `S${i + 1}`);
  const lines = ['##fileformat=VCFv4.2', ['#CHROM', 'POS', 'ID', 'REF', 'ALT', 'QUAL', 'FILTER', 'INFO', 'FORMAT', ...names].join('\t')];
  for (let i = 0; i < rows; i += 1) lines.push(['chr3', String(30_000 + i), '.', 'G', 'A', '55', 'PASS', '.', 'GT', ...names.map((_, j) => ((i * j) % 4 === 0 ? '0/1' : '0/0'))].join('\t'));
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** HK genomics lab → Shenzhen hospital (policies/tests/60-hk-to-mainland.cases.yaml); size and digest left for `send`. */
async function writeManifest(name: string, dataset: Record<string, unknown> = {}): Promise<string> {
  const file = path.join(dir, name);
  const manifest = {
    project: { id: 'proj-hk-sz-cancer-genomics', title: 'Joint cancer genomics' },
    purpose: 'joint-research',
    dataset: { category: 'genomics', format: 'vcf', genomicScope: 'exome', classification: { level: 'L3' }, deidentification: 'pseudonymised', subjects: 150, humanGeneticResources: false, ...dataset },
    approvals: [],
    consent: { basis: 'broad-research-consent' },
    retentionDays: 365,
  };
  await writeFile(file, JSON.stringify(manifest, null, 2));
  return file;
}

describe('hetao send, then hetao fetch', () => {
  it('sends with progress lines, fetches, decrypts, confirms, and lists it', async () => {
    const content = vcf(24, 40_000); // a few MiB: several progress steps
    const file = path.join(dir, 'cohort.vcf');
    await writeFile(file, content);
    const manifest = await writeManifest('manifest.json');

    const sent = await runHetao(['send', file, '--to', 'sz-hospital', '--manifest', manifest, '--wait', ...as('hk-uni-genomics')]);
    expect(sent.code, sent.stderr).toBe(0);
    const id = /^transfer (tr-\S+) authorized \(decision \S+, policy revision [0-9a-f]{12}\)$/m.exec(sent.stdout)?.[1];
    expect(id, sent.stdout).toBeDefined();
    expect(sent.stdout).toMatch(new RegExp(`^transfer ${id} available$`, 'm'));
    // Not a terminal: plain lines, no carriage returns or escape sequences.
    const uploadLines = sent.stderr.match(new RegExp(`^uploading ${id}: \\d+% \\(.+ of .+\\), \\d+\\.\\d MiB/s, ETA .+$`, 'gm')) ?? [];
    expect(uploadLines.length, sent.stderr).toBeGreaterThanOrEqual(3);
    expect(uploadLines.at(-1), sent.stderr).toMatch(/: 100% /);
    expect(sent.stderr).toMatch(new RegExp(`^uploading ${id}: done, .+ in \\d+\\.\\d s \\(\\d+\\.\\d MiB/s\\)$`, 'm'));
    expect(sent.stderr).toMatch(/^hashing cohort\.vcf: done/m);
    expect(sent.stderr).not.toContain('\r');
    expect(sent.stderr).not.toContain('\u001b');

    const outFile = path.join(dir, 'received.vcf');
    const fetched = await runHetao(['fetch', id as string, '-o', outFile, '--key', institutionFile('sz-hospital', 'enc.key'), ...as('sz-hospital', '--tls-key')]);
    expect(fetched.code, fetched.stderr).toBe(0);
    expect((await readFile(outFile)).equals(content)).toBe(true);
    expect(fetched.stdout).toContain(`transfer ${id} from hk-uni-genomics`);
    expect(fetched.stdout).toContain(`sha256 ${sha256(content)}`);
    expect(fetched.stdout).toContain('opened as recipient sz-hospital');
    expect(fetched.stdout).toContain(`receipt posted: transfer ${id} is received`);
    expect(fetched.stderr).toMatch(new RegExp(`^downloading ${id}: done`, 'm'));

    const listed = await runHetao(['list', '--as', 'recipient', '--json', ...as('sz-hospital')]);
    expect(listed.code, listed.stderr).toBe(0);
    const page = JSON.parse(listed.stdout) as { transfers: { id: string; status: string }[]; next: string | null };
    expect(page.transfers).toContainEqual(expect.objectContaining({ id, status: 'received' }));

    const table = await runHetao(['list', '--status', 'received', ...as('hk-uni-genomics')]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+STATUS\s+FROM\s+TO\s+SIZE\s+CATEGORY\s+CREATED$/m);
    expect(table.stdout).toMatch(new RegExp(`^${id}\\s+received\\s+hk-uni-genomics\\s+sz-hospital\\s+\\d`, 'm'));

    const status = await runHetao(['status', id as string, '--json', ...as('hk-uni-genomics')]);
    expect(JSON.parse(status.stdout)).toMatchObject({ id, status: 'received', receipts: [{ by: 'sz-hospital', matches: true }] });
    const readable = await runHetao(['status', id as string, ...as('hk-uni-genomics')]);
    expect(readable.stdout).toMatch(/^status\s+received$/m);
    expect(readable.stdout).toMatch(/^route\s+hk-uni-genomics → sz-hospital$/m);
  }, CLI_TIMEOUT_MS);

  it('takes the connection from HETAO_* environment variables', async () => {
    const result = await runHetao(['list', '--json'], {
      HETAO_GATEWAY_URL: gw.gateway.apiUrl,
      HETAO_CLIENT_CERT: institutionFile('hk-uni-genomics', 'cert'),
      HETAO_CLIENT_KEY: institutionFile('hk-uni-genomics', 'key'),
      HETAO_CLIENT_CA: CA,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toHaveProperty('transfers');
  }, CLI_TIMEOUT_MS);
});

describe('the README walkthrough as written', () => {
  it('fetch --key is the decryption key while HETAO_CLIENT_CERT/HETAO_CLIENT_KEY hold the TLS identity', async () => {
    const content = vcf(4, 20);
    const file = path.join(dir, 'env-fetch.vcf');
    await writeFile(file, content);
    const manifest = await writeManifest('env-fetch.json');
    const sent = await runHetao(['send', file, '--to', 'sz-hospital', '--manifest', manifest, '--wait', ...as('hk-uni-genomics')]);
    expect(sent.code, sent.stderr).toBe(0);
    const id = /^transfer (tr-\S+) authorized/m.exec(sent.stdout)?.[1] as string;

    const outFile = path.join(dir, 'env-fetch-received.vcf');
    const fetched = await runHetao(['fetch', id, '-o', outFile, '--key', institutionFile('sz-hospital', 'enc.key')], {
      HETAO_GATEWAY_URL: gw.gateway.apiUrl,
      HETAO_CLIENT_CERT: institutionFile('sz-hospital', 'cert'),
      HETAO_CLIENT_KEY: institutionFile('sz-hospital', 'key'),
      HETAO_CLIENT_CA: CA,
    });
    expect(fetched.code, fetched.stderr).toBe(0);
    expect((await readFile(outFile)).equals(content)).toBe(true);
    expect(fetched.stdout).toContain(`receipt posted: transfer ${id} is received`);
  }, CLI_TIMEOUT_MS);
});

describe('TLS failures in words', () => {
  it('names the files when the TLS key is not the certificate\'s, and a refused certificate as such', async () => {
    const mismatch = await runHetao(['list', '--gateway', gw.gateway.apiUrl, '--ca', CA], {
      HETAO_CLIENT_CERT: institutionFile('sz-hospital', 'cert'),
      HETAO_CLIENT_KEY: institutionFile('sz-hospital', 'enc.key'),
    });
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain(`${institutionFile('sz-hospital', 'cert')} and ${institutionFile('sz-hospital', 'enc.key')}: the client key (ec key) does not match the client certificate`);

    const revoked = await runHetao(['list', '--gateway', gw.gateway.apiUrl, '--cert', devFile('negative/revoked.dev-only.cert.pem'), '--key', devFile('negative/revoked.dev-only.key.pem'), '--ca', CA]);
    expect(revoked.code).toBe(1);
    expect(revoked.stderr).toMatch(/^GET \/v1\/transfers failed: the gateway refused our client certificate during the TLS handshake .*revoked/m);
  }, CLI_TIMEOUT_MS);
});

describe('exit codes', () => {
  it('3 on a policy denial, with every reason and its rule id in plain words', async () => {
    const file = path.join(dir, 'identified.vcf');
    await writeFile(file, vcf(3, 50));
    const manifest = await writeManifest('identified.json', { deidentification: 'identified' });
    const result = await runHetao(['send', file, '--to', 'sz-hospital', '--manifest', manifest, ...as('hk-uni-genomics')]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^denied by policy \(decision \S+, policy revision [0-9a-f]{64}\):$/m);
    expect(result.stderr).toMatch(/^ {2}- \[hk-to-mainland-without-consent-deny\] .+ \(rule-denied\)$/m);
    expect(result.stdout).not.toContain('authorized');
  }, CLI_TIMEOUT_MS);

  it('4 when the content is quarantined, saying why', async () => {
    const file = path.join(dir, 'too-many-samples.vcf');
    await writeFile(file, vcf(5, 50));
    const manifest = await writeManifest('two-subjects.json', { subjects: 2 });
    const result = await runHetao(['send', file, '--to', 'sz-hospital', '--manifest', manifest, '--wait', ...as('hk-uni-genomics')]);
    expect(result.code, result.stderr).toBe(4);
    expect(result.stdout).toMatch(/^transfer tr-\S+ quarantined$/m);
    expect(result.stdout).toMatch(/^ {2}- the VCF has 5 sample columns but 2 subjects are declared$/m);
  }, CLI_TIMEOUT_MS);

  it('2 on a usage error, 1 on a problem answer', async () => {
    const usage = await runHetao(['send', '--to', 'sz-hospital']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^usage:/m);
    const noCertificate = await runHetao(['list', '--gateway', gw.gateway.apiUrl]);
    expect(noCertificate.code).toBe(2);
    expect(noCertificate.stderr).toContain('no client certificate');

    const missing = await runHetao(['status', 'tr-000000000-0000000000000000', ...as('hk-uni-genomics')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ERR_TRANSFER_NOT_FOUND \(HTTP 404\): /m);
  }, CLI_TIMEOUT_MS);
});
