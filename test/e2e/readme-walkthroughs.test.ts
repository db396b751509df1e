// The README's walkthroughs as a user follows them: every block tagged `walkthrough=<name>` in
// README.md (lab CLI, lab curl, officer, regulator) is run command by command with bash, exactly as
// written — only the gateway's port is substituted — against a gateway process built like `npm
// start` builds it and running on the embedded defaults (free ports, a temp data folder). Each
// walkthrough runs in its own fresh working folder that looks like the checkout (its files are
// symlinks to the checkout's; `dist/` is this test's own build, so a concurrent `npm run build`
// cannot change what runs). Each command must exit with the status its comment promises (0 when it
// says nothing), and the key outcomes are checked again independently through the API.
import { execFile } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyExport } from '../../gateway/audit/verify-export.js';
import { PROJECT_ROOT } from '../../gateway/config.js';
import { startGatewayProcess, type GatewayProcess } from '../../scripts/demo/gateway-process.js';
import { devIdentity } from '../support/dev-pki.js';
import { call } from '../support/gateway.js';
import { extractWalkthrough, splitCommands, walkthroughScript, type WalkthroughCommand } from '../support/readme-walkthroughs.js';
import { jwksOf } from '../support/transfers.js';

/** Generous: a TypeScript build and many CLI processes on a loaded 2-core machine. */
const BUILD_TIMEOUT_MS = 600_000;
const WALKTHROUGH_TIMEOUT_MS = 600_000;
/** The address the README's commands are written for; the only text substituted. */
const README_ADDRESS = '127.0.0.1:8443';
/** Checkout entries a walkthrough folder does not get: build output, runtime data, VCS. */
const NOT_LINKED = new Set(['dist', 'data', '.git', 'coverage']);

const institute = devIdentity('institutions/hetao-sz-institute');
const hospital = devIdentity('institutions/sz-hospital');
const regulator = devIdentity('people/regulator-wang');

interface CommandResult extends WalkthroughCommand {
  /** Undefined when an earlier command stopped the walkthrough. */
  readonly status: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

interface WalkthroughRun {
  readonly dir: string;
  readonly results: readonly CommandResult[];
  readonly bashStderr: string;
  /** The result of the first command whose text contains `fragment`. */
  command(fragment: string): CommandResult;
}

let root: string;
let checkout: string;
let gateway: GatewayProcess | undefined;
let apiAddress: string;
let readme: string;

function run(file: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout: number }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, [...args], { ...options, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** A folder that looks like the checkout: a symlink per top-level entry, `dist` from `distDir` if given. */
async function checkoutLike(dir: string, distDir?: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const entry of await readdir(PROJECT_ROOT)) {
    if (NOT_LINKED.has(entry)) continue;
    await symlink(path.join(PROJECT_ROOT, entry), path.join(dir, entry));
  }
  if (distDir) await symlink(distDir, path.join(dir, 'dist'));
}

function describeRun(name: string, walkthrough: WalkthroughRun): string {
  const lines = [`walkthrough ${name} in ${walkthrough.dir}:`];
  for (const result of walkthrough.results) {
    lines.push(`--- README line ${result.line}, expected exit ${result.expectedExit}, got ${result.status ?? 'not run'}:`, result.text);
    if (result.stdout) lines.push(`stdout: ${result.stdout.trimEnd()}`);
    if (result.stderr) lines.push(`stderr: ${result.stderr.trimEnd()}`);
  }
  if (walkthrough.bashStderr) lines.push(`bash: ${walkthrough.bashStderr}`);
  return lines.join('\n');
}

/** Runs one walkthrough in a fresh checkout-like folder, one bash session for all its commands. */
async function runWalkthrough(name: string): Promise<WalkthroughRun> {
  const blocks = extractWalkthrough(readme, name);
  expect(blocks.length, `README.md has no block tagged walkthrough=${name}`).toBeGreaterThan(0);
  const commands = blocks.flatMap((block) => splitCommands(block.text.replaceAll(README_ADDRESS, apiAddress), block.line));
  const dir = path.join(root, name);
  await checkoutLike(dir, path.join(checkout, 'dist'));
  const outDir = path.join(root, `${name}-output`);
  await mkdir(outDir);
  const script = path.join(outDir, 'walkthrough.sh');
  await writeFile(script, walkthroughScript(commands, outDir));
  const syntax = await run('bash', ['-n', script], { cwd: dir, timeout: 60_000 });
  expect(syntax.code, `the commands of walkthrough ${name} were not split where bash would: ${syntax.stderr}`).toBe(0);

  // A terminal's environment, not the test's: no HETAO_* or REDIS_URL leaks in; HOME is the
  // folder itself so no ~/.curlrc or npm config of this machine changes what runs.
  const env = { PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: dir, LANG: 'C.UTF-8' };
  const bash = await run('bash', [script], { cwd: dir, env, timeout: WALKTHROUGH_TIMEOUT_MS - 60_000 });
  const statusText = existsSync(path.join(outDir, 'status')) ? await readFile(path.join(outDir, 'status'), 'utf8') : '';
  const statuses = new Map(statusText.trim().split('\n').filter(Boolean).map((line) => line.split(' ').map(Number) as [number, number]));
  const results = await Promise.all(
    commands.map(async (command, index): Promise<CommandResult> => {
      const output = async (kind: 'out' | 'err'): Promise<string> => {
        const file = path.join(outDir, `${index}.${kind}`);
        return existsSync(file) ? readFile(file, 'utf8') : '';
      };
      return { ...command, status: statuses.get(index), stdout: await output('out'), stderr: await output('err') };
    }),
  );
  const walkthrough: WalkthroughRun = {
    dir,
    results,
    bashStderr: bash.stderr,
    command(fragment) {
      const found = results.find((result) => result.text.includes(fragment));
      expect(found, `walkthrough ${name} has no command with "${fragment}"`).toBeDefined();
      return found as CommandResult;
    },
  };
  // Every command ran, each with the status its comment promises.
  const report = describeRun(name, walkthrough);
  for (const result of results) expect(result.status, report).toBe(result.expectedExit);
  expect(bash.code, report).toBe(0);
  return walkthrough;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'hetao-readme-'));
  readme = await readFile(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
  // `npm run build` (tsc -p tsconfig.build.json), into this test's own checkout-like folder.
  checkout = path.join(root, 'checkout');
  await checkoutLike(checkout);
  const build = await run(process.execPath, [path.join(PROJECT_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', path.join(checkout, 'dist')], {
    cwd: PROJECT_ROOT,
    timeout: BUILD_TIMEOUT_MS - 60_000,
  });
  // tsc emits even with type errors (exit 2); a type error is the typecheck's to report, a missing CLI is ours.
  expect(existsSync(path.join(checkout, 'dist/gateway/cli/main.js')), `the build produced no CLI:\n${build.stdout}${build.stderr}`).toBe(true);
  expect(existsSync(path.join(checkout, 'dist/gateway/app/main.js')), `the build produced no gateway:\n${build.stdout}${build.stderr}`).toBe(true);
  // The gateway as `npm start` runs it: node dist/gateway/app/main.js on the embedded defaults.
  gateway = await startGatewayProcess({ nodeArgs: [path.join(checkout, 'dist/gateway/app/main.js')], dataDir: path.join(root, 'data'), startTimeoutMs: 120_000 });
  apiAddress = new URL(gateway.apiUrl).host;
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await gateway?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the README walkthroughs, command by command', () => {
  it('lab system with the hetao CLI: a denial exits 3, the transfer is sent, fetched, decrypted and confirmed', async () => {
    const walkthrough = await runWalkthrough('lab-cli');
    const denied = walkthrough.command('--to hk-suspended-lab');
    expect(denied.stderr).toMatch(/^denied by policy \(decision \S+, policy revision [0-9a-f]{64}\):$/m);
    expect(denied.stderr).toMatch(/recipient-not-active/);

    const sent = walkthrough.command('--to hetao-sz-institute');
    const labCliId = /^transfer (tr-\S+) authorized/m.exec(sent.stdout)?.[1] as string;
    expect(labCliId, sent.stdout).toBeDefined();
    expect(sent.stdout).toMatch(new RegExp(`^transfer ${labCliId} available$`, 'm'));
    expect(walkthrough.command('hetao status').stdout).toMatch(new RegExp(`^transfer\\s+${labCliId}$`, 'm'));
    expect(walkthrough.command('hetao fetch').stdout).toContain(`receipt posted: transfer ${labCliId} is received`);
    const [data, received] = await Promise.all([readFile(path.join(walkthrough.dir, 'data.csv')), readFile(path.join(walkthrough.dir, 'received.csv'))]);
    expect(received.equals(data)).toBe(true);

    const record = await call(gateway?.apiUrl as string, institute, `/v1/transfers/${labCliId}`);
    expect(record.body).toMatchObject({ status: 'received', sender: 'sz-hospital', recipient: 'hetao-sz-institute', receipts: [{ by: 'hetao-sz-institute', matches: true }] });
  }, WALKTHROUGH_TIMEOUT_MS);

  it('lab system with curl: whoami, create, upload (available), download, decrypt, receipt (received)', async () => {
    const walkthrough = await runWalkthrough('lab-curl');
    expect(walkthrough.command('/v1/whoami').stdout.trim()).toBe('sz-hospital (hetao-sz)');
    expect(walkthrough.command('-X PUT').stdout.trim()).toBe('available');
    expect(walkthrough.command('/receipt').stdout.trim()).toBe('received');
    const [data, received] = await Promise.all([readFile(path.join(walkthrough.dir, 'data.csv')), readFile(path.join(walkthrough.dir, 'received.csv'))]);
    expect(received.equals(data)).toBe(true);

    // The newest transfer the hospital sent is this walkthrough's.
    const page = await call(gateway?.apiUrl as string, hospital, '/v1/transfers?as=sender&limit=1');
    expect(page.body.transfers).toMatchObject([{ status: 'received', recipient: 'hetao-sz-institute', receipts: [{ by: 'hetao-sz-institute', matches: true }] }]);
  }, WALKTHROUGH_TIMEOUT_MS);

  it('security officer: lint and cases pass, explain and the dry run deny the identified records with their rules', async () => {
    const walkthrough = await runWalkthrough('officer');
    expect(walkthrough.command('policy lint').stdout).toMatch(/rules in \d+ files, 0 errors, 0 warnings/);
    expect(walkthrough.command('policy test').stdout).toMatch(/^\d+ passed, 0 failed/m);
    const explained = walkthrough.command('policy explain').stdout;
    expect(explained).toMatch(/^DENY {2}hk-uni-genomics → cn-outside-institute/m);
    expect(explained).toMatch(/denied by \[zone\] clinical-trial-outside-zone-deny/);
    expect(JSON.parse(walkthrough.command('/v1/policies |').stdout)).toMatchObject({ revision: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const dryRun = JSON.parse(walkthrough.command('/v1/policies/evaluate').stdout) as { effect: string; reasons: (string | null)[] };
    expect(dryRun.effect).toBe('deny');
    expect(dryRun.reasons).toContain('clinical-trial-outside-zone-deny');
  }, WALKTHROUGH_TIMEOUT_MS);

  it('regulator: the export verifies with hetao audit verify and with plain jose, and holds the transfers above', async () => {
    const walkthrough = await runWalkthrough('regulator');
    const entries = Number(/^ok: (\d+) entries and \d+ checkpoints verified$/m.exec(walkthrough.command('audit verify').stdout)?.[1]);
    expect(entries).toBeGreaterThan(0);
    expect(walkthrough.command('--input-type=module').stdout).toMatch(/ \d+ entries, digest ok$/m);
    expect((await readFile(path.join(walkthrough.dir, 'export.csv'), 'utf8')).split('\n').length).toBeGreaterThan(2);

    // Independently of the walkthrough's own verifier: the exported file against the gateway's JWKS.
    const jwks = (await jwksOf(gateway?.apiUrl as string, regulator)) as unknown as JSONWebKeySet;
    const verification = await verifyExport(createReadStream(path.join(walkthrough.dir, 'export.ndjson')), jwks);
    expect(verification.ok, JSON.stringify(verification.firstError)).toBe(true);
    expect(verification.entries).toBe(entries);
    const sent = await call(gateway?.apiUrl as string, hospital, '/v1/transfers?as=sender');
    const exported = await readFile(path.join(walkthrough.dir, 'export.ndjson'), 'utf8');
    for (const transfer of sent.body.transfers as { id: string }[]) expect(exported).toContain(transfer.id);
  }, WALKTHROUGH_TIMEOUT_MS);
});

