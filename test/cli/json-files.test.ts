// JSON files the CLI and the offline verifier read are held to the gateway's JSON bounds: a manifest
// nested arbitrarily deep or holding a lone surrogate ends `hetao send` and `hetao policy explain`
// with a code and a message (never a stack trace), and an export entry of that kind is named as the
// first bad line by `hetao audit verify`, not by a stack overflow.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditJournal } from '../../gateway/audit/create-audit-journal.js';
import { verifyExport } from '../../gateway/audit/verify-export.js';
import { appendMany, collect, devSigner, fakeClock, linesOf, openJournal } from '../audit/support.js';
import { POLICY_DIR, REGISTRY_FILE } from '../support/dev-pki.js';
import { runHetao } from '../support/run-cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-json-files-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const manifest = {
  recipient: 'hk-uni-genomics',
  project: { id: 'proj-hk-sz-cancer-genomics', title: 'Joint cancer genomics' },
  purpose: 'joint-research',
  dataset: { category: 'genomics', format: 'vcf', classification: { level: 'L3' }, deidentification: 'pseudonymised', subjects: 120, humanGeneticResources: true, sizeBytes: 1000 },
  approvals: [],
  consent: { basis: 'separate-consent' },
  retentionDays: 365,
};
const deep = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;

const MANIFESTS: [string, string, RegExp][] = [
  ['nested 100 000 deep', JSON.stringify(manifest).replace('"Joint cancer genomics"', deep(100_000)), /ERR_REQUEST_JSON_TOO_DEEP: the manifest \S+ nests arrays and objects deeper than 64 levels/],
  ['holding a lone surrogate', JSON.stringify(manifest).replace('Joint cancer genomics', 'Joint \\ud800'), /ERR_REQUEST_INVALID: .*\/project\/title holds a lone surrogate \(U\+D800\)/],
  ['that is not JSON', '{"recipient":', /ERR_REQUEST_INVALID: the manifest \S+ is not JSON/],
];

describe.each(MANIFESTS)('a manifest file %s', (name, text, message) => {
  let file: string;
  beforeAll(async () => {
    file = path.join(dir, `${name.replace(/\W+/g, '-')}.json`);
    await writeFile(file, text);
  });

  it('ends hetao policy explain with the code and message, no stack', async () => {
    const result = await runHetao(['policy', 'explain', file, '--from', 'sz-hospital', '--dir', POLICY_DIR, '--registry', REGISTRY_FILE]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

// Each CLI run is a child process: send is run for the deepest case only (its reader is the same function).
describe('a manifest file nested 100 000 deep', () => {
  it('ends hetao send with the code and message before connecting, no stack', async () => {
    const [, text, message] = MANIFESTS[0] as [string, string, RegExp];
    const file = path.join(dir, 'send-deep.json');
    await writeFile(file, text);
    const data = path.join(dir, 'data.csv');
    await writeFile(data, 'a,b\n1,2\n');
    const result = await runHetao(['send', data, '--manifest', file, '--gateway', 'https://127.0.0.1:9']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('an audit export', () => {
  let journal: AuditJournal;
  let lines: string[];
  beforeAll(async () => {
    journal = await openJournal(path.join(dir, 'journal'), { clock: fakeClock().clock });
    await appendMany(journal, 5);
    lines = linesOf(await collect(journal.exportRange()));
  });
  afterAll(async () => {
    await journal.close();
  });

  const entryLine = (): number => lines.findIndex((line) => line.includes('"kind":"entry"'));
  const verifyLines = (edited: string[]) => verifyExport(Readable.from([Buffer.from(`${edited.join('\n')}\n`)]), devSigner().publicJwks());

  it.each([
    ['nested 100 000 deep', (line: string) => line.replace('"details":{', `"details":{"x":${deep(100_000)},`), /nests deeper than 64 levels/],
    ['holding a lone surrogate', (line: string) => line.replace('"details":{', '"details":{"x":"\\udc00",'), /\/details\/x holds a lone surrogate \(U\+DC00\)/],
  ])('with an entry %s fails at that line with a reason', async (_what, edit, reason) => {
    const i = entryLine();
    expect(lines[i]).toContain('"details":{');
    const result = await verifyLines(lines.map((line, k) => (k === i ? edit(line) : line)));
    expect(result.ok).toBe(false);
    expect(result.firstError).toMatchObject({ line: i + 1, reason: expect.stringMatching(reason) });
  });

  it('with such an entry ends hetao audit verify with ERR_AUDIT_EXPORT_INVALID, no stack', async () => {
    const i = entryLine();
    const exportFile = path.join(dir, 'deep-export.ndjson');
    const jwksFile = path.join(dir, 'jwks.json');
    await writeFile(exportFile, `${lines.map((line, k) => (k === i ? line.replace('"details":{', `"details":{"x":${deep(100_000)},`) : line)).join('\n')}\n`);
    await writeFile(jwksFile, JSON.stringify(devSigner().publicJwks()));
    const result = await runHetao(['audit', 'verify', exportFile, '--jwks', jwksFile]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^ERR_AUDIT_EXPORT_INVALID: line ${i + 1} \\(seq \\d+\\): the entry cannot be canonicalized: .*nests deeper than 64 levels`));
    expect(await readFile(exportFile, 'utf8')).toContain('[[[[');
  });
});
