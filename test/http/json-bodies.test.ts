// No JSON shape gives a 5xx, over real mTLS: bodies nested arbitrarily deep are refused before they
// are parsed (ERR_REQUEST_JSON_TOO_DEEP), strings with lone surrogates (no RFC 8785 form, so no
// manifest hash), invalid UTF-8 and prototype-poisoning members are refused as ERR_REQUEST_INVALID,
// on every route that takes JSON; odd query strings and headers stay 4xx; policy and registry
// files nested too deep or holding lone surrogates are refused at reload, the previous set kept.
// A fast-check fuzz sends random deep and odd JSON to the manifest route and the dry run.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JSON_MAX_DEPTH } from '../../gateway/input/json-bounds.js';
import { devIdentity, type ClientIdentity } from '../support/dev-pki.js';
import { call, mtlsAgent, startTestGateway, type CallResult, type TestGateway } from '../support/gateway.js';
import { createTransfer, download, upload } from '../support/transfers.js';
import { anonymisedResearchManifest, CORE_GENOMICS_MANIFEST } from '../support/manifests.js';

let gw: TestGateway;
let agents: Agent[] = [];
beforeAll(async () => {
  gw = await startTestGateway({ HETAO_WATCH_FILES: 'false' });
});
afterAll(async () => {
  await Promise.all(agents.map((agent) => agent.close()));
  agents = [];
  await gw?.close();
});

const officer = devIdentity('people/officer-chan');
const hospital = devIdentity('institutions/sz-hospital');
const institute = devIdentity('institutions/hetao-sz-institute');

/** One kept-alive agent per identity, so the fuzz runs do not open a TLS connection each. */
const agentFor = (() => {
  const byIdentity = new Map<ClientIdentity, Agent>();
  return (identity: ClientIdentity): Agent => {
    let agent = byIdentity.get(identity);
    if (!agent) {
      agent = mtlsAgent(identity);
      byIdentity.set(identity, agent);
      agents.push(agent);
    }
    return agent;
  };
})();

const manifest = CORE_GENOMICS_MANIFEST;

const deepArray = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;
const deepObject = (levels: number): string => `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`;

async function post(identity: ClientIdentity, pathname: string, body: string | Buffer, contentType = 'application/json'): Promise<CallResult> {
  return call(gw.gateway.apiUrl, agentFor(identity), pathname, { method: 'POST', body: body as string, headers: { 'content-type': contentType } });
}

/** A 4xx problem+json answer with the given code. */
function expectRefused(result: CallResult, code: string, status = 400): void {
  expect(result.status, JSON.stringify(result.body)).toBe(status);
  expect(result.contentType).toMatch(/^application\/problem\+json/);
  expect(result.body.code).toBe(code);
}

/** The JSON routes, each with where a value goes in its body. */
const JSON_ROUTES: [string, ClientIdentity, string, (value: string) => string][] = [
  ['POST /v1/transfers (manifest)', hospital, '/v1/transfers', (value) => JSON.stringify(manifest).replace('"Joint cancer genomics"', value)],
  ['POST /v1/policies/evaluate (dry run)', officer, '/v1/policies/evaluate', (value) => `{"from":"sz-hospital","manifest":${JSON.stringify(manifest).replace('"Joint cancer genomics"', value)}}`],
  ['POST /v1/transfers/:id/receipt', institute, '/v1/transfers/tr-000000000-0000000000000000/receipt', (value) => `{"sha256":${value}}`],
  ['POST /v1/policies/reload (no body expected)', officer, '/v1/policies/reload', (value) => `{"x":${value}}`],
];

describe.each(JSON_ROUTES)('%s', (_route, identity, pathname, place) => {
  it.each([
    ['arrays 100 000 deep', deepArray(100_000)],
    ['objects 20 000 deep', deepObject(20_000)],
    ['just past the bound', deepArray(JSON_MAX_DEPTH)],
  ])('refuses %s with 400 ERR_REQUEST_JSON_TOO_DEEP', async (_what, value) => {
    const result = await post(identity, pathname, place(value));
    expectRefused(result, 'ERR_REQUEST_JSON_TOO_DEEP');
    expect(result.body.maxDepth).toBe(JSON_MAX_DEPTH);
  });

  it.each([
    ['a lone high surrogate', '"\\ud800"'],
    ['a lone low surrogate', '"title \\udfff"'],
    ['reversed pair', '"\\ude00\\ud83d"'],
    ['a lone surrogate in a member name', '{"\\ud800":1}'],
  ])('refuses %s with 400 ERR_REQUEST_INVALID naming the path', async (_what, value) => {
    const result = await post(identity, pathname, place(value));
    expectRefused(result, 'ERR_REQUEST_INVALID');
    expect(JSON.stringify(result.body.problems)).toMatch(/lone surrogate/);
  });

  it.each([
    ['a NUL in a string', '"title \\u0000 end"'],
    ['a NUL in a member name', '{"a\\u0000b":1}'],
  ])('refuses %s with 400 ERR_REQUEST_INVALID (PostgreSQL, which keeps shared mode\'s records, cannot store it)', async (_what, value) => {
    const result = await post(identity, pathname, place(value));
    expectRefused(result, 'ERR_REQUEST_INVALID');
    expect(JSON.stringify(result.body.problems)).toMatch(/U\+0000/);
  });

  it('refuses bytes that are not UTF-8 (a CESU-8 surrogate, a stray continuation byte)', async () => {
    const text = place('"XX"');
    const cesu = Buffer.from(text.replace('XX', 'X\u00ffX'), 'latin1');
    cesu.set([0xed, 0xa0, 0x80], cesu.indexOf(0xff) - 1);
    expectRefused(await post(identity, pathname, cesu), 'ERR_REQUEST_INVALID');
    const stray = Buffer.from(text.replace('XX', 'X\u0080X'), 'latin1');
    expectRefused(await post(identity, pathname, stray), 'ERR_REQUEST_INVALID');
  });

  it('refuses __proto__ and constructor.prototype members, empty bodies and broken JSON', async () => {
    expectRefused(await post(identity, pathname, place('{"__proto__":{"polluted":true}}')), 'ERR_REQUEST_INVALID');
    expectRefused(await post(identity, pathname, place('{"constructor":{"prototype":{"polluted":true}}}')), 'ERR_REQUEST_INVALID');
    expectRefused(await post(identity, pathname, ''), 'ERR_REQUEST_INVALID');
    expectRefused(await post(identity, pathname, place('[1,')), 'ERR_REQUEST_INVALID');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('within the bounds', () => {
  it('a manifest nested to exactly the bound reaches the schema check (400 ERR_MANIFEST_INVALID)', async () => {
    const result = await post(hospital, '/v1/transfers', JSON.stringify(manifest).replace('"Joint cancer genomics"', deepArray(JSON_MAX_DEPTH - 2)));
    expectRefused(result, 'ERR_MANIFEST_INVALID');
  });

  it('well-formed astral characters and escaped pairs are accepted and hashed', async () => {
    const result = await post(officer, '/v1/policies/evaluate', `{"from":"sz-hospital","manifest":${JSON.stringify(manifest).replace('"Joint cancer genomics"', '"基因 😀 \\ud83d\\ude00"')}}`);
    expect(result.status, JSON.stringify(result.body)).toBe(200);
    expect((result.body.decision as { input: { manifestSha256: string } }).input.manifestSha256).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('query strings and headers stay 4xx', () => {
  it.each([
    ['/v1/transfers?limit=1e400', '/v1/transfers?limit=1e400'],
    ['/v1/transfers?limit=-1', '/v1/transfers?limit=-1'],
    ['/v1/transfers?limit=99999999999999999999999', '/v1/transfers?limit=99999999999999999999999'],
    ['/v1/transfers?after=%ED%A0%80', '/v1/transfers?after=%ED%A0%80'],
    ['/v1/transfers?after=%uD800', '/v1/transfers?after=%uD800'],
    ['/v1/transfers?after=%', '/v1/transfers?after=%'],
    ['/v1/transfers?as=sender&as=recipient', '/v1/transfers?as=sender&as=recipient'],
    ['/v1/transfers?status[]=available', '/v1/transfers?status[]=available'],
    ['/v1/transfers?__proto__=x', '/v1/transfers?__proto__=x'],
    ['/v1/transfers?constructor[prototype][x]=1', '/v1/transfers?constructor[prototype][x]=1'],
    ['/v1/transfers?a=a=a=… (10 000 characters)', `/v1/transfers?${'a='.repeat(5000)}`],
  ])('GET %s', async (_label, pathname) => {
    const result = await call(gw.gateway.apiUrl, agentFor(hospital), pathname);
    expect(result.status, JSON.stringify(result.body)).toBeLessThan(500);
    if (result.status >= 400) expect(result.contentType).toMatch(/^application\/problem\+json/);
  });

  it('an odd x-request-id is replaced, never echoed', async () => {
    for (const offered of ['x'.repeat(65), 'a b', '../../etc', 'é', '']) {
      const result = await call(gw.gateway.apiUrl, agentFor(hospital), '/v1/whoami', { headers: { 'x-request-id': offered } });
      expect(result.status).toBe(200);
      expect(result.headers['x-request-id']).not.toBe(offered);
    }
  });

  it('every odd Range on a real envelope is 206 or 416, never 5xx', async () => {
    const content = Buffer.from(`site,score\n${Array.from({ length: 200 }, (_, i) => `site-${i % 7},${i % 100}`).join('\n')}\n`);
    const created = await createTransfer(gw.gateway.apiUrl, hospital, anonymisedResearchManifest(content, { retentionDays: 365 }));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    expect((await upload(gw.gateway.apiUrl, hospital, id, content)).status).toBeLessThan(300);
    for (const range of ['bytes=99999999999999999999999-', 'bytes=0-99999999999999999999999', 'bytes=5-2', 'bytes=-0', 'bytes=-99999999999999999999', 'bytes=1e3-', 'bytes=0-1,4-5', 'bytes=--1', 'items=0-1', 'bytes=0x10-']) {
      const result = await download(gw.gateway.apiUrl, institute, id, { range });
      expect([200, 206, 416], `${range} → ${result.status} ${result.bytes.toString().slice(0, 200)}`).toContain(result.status);
    }
  });
});

describe('policy and registry files', () => {
  async function firstPolicyFile(): Promise<string> {
    const [first] = (await readdir(gw.policyDir)).filter((name) => name.endsWith('.policy.yaml')).sort();
    return path.join(gw.policyDir, first as string);
  }

  it.each([
    ['nested past the bound', (text: string) => `${text}\nx-notes: ${deepArray(JSON_MAX_DEPTH + 1)}\n`, /nests deeper than 64 levels/],
    ['nested far past the bound (block style)', (text: string) => `${text}\nx-notes:\n${Array.from({ length: 1500 }, (_, i) => `${' '.repeat(i + 1)}a:`).join('\n')} 1\n`, /nests deeper than 64 levels/],
    ['holding a lone surrogate', (text: string) => text.replace('value: [vcf, fastq,', 'value: [vcf, "fa\\udc00stq",'), /lone surrogate/],
  ])('a policy file %s is refused at reload (422), the previous set stays', async (_what, edit, message) => {
    const file = await firstPolicyFile();
    const original = await readFile(file, 'utf8');
    const before = (await call(gw.gateway.apiUrl, agentFor(officer), '/v1/policies')).body.revision;
    try {
      await writeFile(file, edit(original));
      const result = await call(gw.gateway.apiUrl, agentFor(officer), '/v1/policies/reload', { method: 'POST' });
      expectRefused(result, 'ERR_POLICY_RELOAD_REJECTED', 422);
      expect(JSON.stringify(result.body.problems)).toMatch(message);
      expect((await call(gw.gateway.apiUrl, agentFor(officer), '/v1/policies')).body.revision).toBe(before);
    } finally {
      await writeFile(file, original);
    }
  });

  it.each([
    ['nested past the bound', (text: string) => `${text}\nx-notes: ${deepArray(JSON_MAX_DEPTH + 1)}\n`],
    ['holding a lone surrogate', (text: string) => text.replace(/legalName: .*/, 'legalName: "Lok Ma Chau \\ud800"')],
  ])('a registry %s is refused at reload, the previous registry stays', async (_what, edit) => {
    const original = await readFile(gw.registryFile, 'utf8');
    const before = (await call(gw.gateway.apiUrl, agentFor(hospital), '/v1/whoami')).body.registryRevision;
    try {
      await writeFile(gw.registryFile, edit(original));
      await gw.gateway.reload('SIGHUP');
      const after = await call(gw.gateway.apiUrl, agentFor(hospital), '/v1/whoami');
      expect(after.status).toBe(200);
      expect(after.body.registryRevision).toBe(before);
      expect(gw.logs.some((line) => line.code === 'ERR_REGISTRY_INVALID' || JSON.stringify(line).includes('ERR_REGISTRY_INVALID'))).toBe(true);
    } finally {
      await writeFile(gw.registryFile, original);
      await gw.gateway.reload('SIGHUP');
    }
  });
});

describe('fuzz: random deep and odd JSON never gives a 5xx', () => {
  const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));
  const oddText = fc.string({ unit: fc.oneof(fc.constantFrom('a', '"', '\\', '\u0000', '😀', '\ufeff', '\u2028'), loneSurrogate), maxLength: 8 });
  const oddValue = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      oddText,
      fc.double(),
      fc.integer(),
      fc.constantFrom(null, true, false, 1e308, -0),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(oddText, tie('value'), { maxKeys: 3 }),
    ),
  })).value;
  /** A value wrapped in n arrays or objects: from shallow to far past the bound. */
  const wrapped = fc
    .tuple(oddValue, fc.oneof(fc.nat(JSON_MAX_DEPTH + 4), fc.integer({ min: 1000, max: 30_000 })), fc.boolean())
    .map(([value, levels, asObject]) => {
      const inner = JSON.stringify(value) ?? 'null';
      return asObject ? `${'{"k":'.repeat(levels)}${inner}${'}'.repeat(levels)}` : `${'['.repeat(levels)}${inner}${']'.repeat(levels)}`;
    });
  /** JSON-ish text: brackets, quotes, escapes and digits in any order (mostly malformed). */
  const jsonish = fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', ':', ',', '\\', 'u', 'd', '8', '0', '1', 'e', '-', 'n', 't', ' '), maxLength: 60 });
  const field = fc.constantFrom('recipient', 'purpose', 'project', 'dataset', 'approvals', 'consent', 'retentionDays', 'x');
  /** A manifest with one member replaced by an odd value, or a whole odd body. */
  const body = fc.oneof(
    fc.tuple(field, fc.oneof(wrapped, jsonish)).map(([name, value]) => `{${JSON.stringify(manifest).slice(1, -1)},${JSON.stringify(name)}:${value}}`),
    wrapped,
    jsonish,
  );

  it('POST /v1/transfers and POST /v1/policies/evaluate', async () => {
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        for (const [identity, pathname, payload] of [
          [hospital, '/v1/transfers', text],
          [officer, '/v1/policies/evaluate', `{"from":"sz-hospital","manifest":${text}}`],
        ] as const) {
          const result = await post(identity, pathname, payload);
          expect(result.status, `${pathname} ${payload.slice(0, 200)} → ${JSON.stringify(result.body)}`).toBeLessThan(500);
          if (result.status >= 400) expect(result.contentType).toMatch(/^application\/problem\+json/);
        }
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});
