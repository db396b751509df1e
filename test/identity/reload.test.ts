// Registry and CRL reloads without restart: applied when valid (on file change or SIGHUP), refused
// when invalid with the previous version kept in force. Never fail open.
import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildCrlPem } from '../../scripts/build-crl.js';
import { devIdentity, issuingCa } from '../support/dev-pki.js';
import { call, editRegistry, mtlsAgent, startTestGateway, type TestGateway } from '../support/gateway.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

const genomicsLab = devIdentity('institutions/hk-uni-genomics');
const waitUntil = (check: () => Promise<void>) => vi.waitFor(check, { timeout: 5000, interval: 50 });

async function metricValue(opsUrl: string, pattern: RegExp): Promise<number> {
  const text = await fetch(`${opsUrl}/metrics`).then((r) => r.text());
  const match = text.match(pattern);
  return match ? Number(match[1]) : 0;
}

describe('registry reload', () => {
  it('refuses an institution right after it is suspended in the file, on an open connection too', async () => {
    gw = await startTestGateway();
    const { apiUrl } = gw.gateway;
    const keptAlive = mtlsAgent(genomicsLab);
    try {
      expect((await call(apiUrl, keptAlive, '/v1/whoami')).status).toBe(200);
      await editRegistry(gw.registryFile, (doc) => {
        const lab = doc.institutions.find((i) => i.id === 'hk-uni-genomics');
        if (lab) lab.status = 'suspended';
      });
      await waitUntil(async () => {
        const result = await call(apiUrl, keptAlive, '/v1/whoami');
        expect(result.status).toBe(403);
        expect(result.body.code).toBe('ERR_IDENTITY_SUSPENDED');
      });
      expect((await call(apiUrl, genomicsLab, '/v1/whoami')).body.code).toBe('ERR_IDENTITY_SUSPENDED');
    } finally {
      await keptAlive.close();
    }
  });

  it('keeps the previous registry in force when the new file is invalid, and says where', async () => {
    gw = await startTestGateway({ HETAO_WATCH_FILES: 'false' });
    const before = (await call(gw.gateway.apiUrl, genomicsLab, '/v1/whoami')).body.registryRevision;
    await editRegistry(gw.registryFile, (doc) => {
      const lab = doc.institutions.find((i) => i.id === 'hk-uni-genomics');
      if (lab) {
        lab.status = 'dormant';
        lab.zone = 'mars';
      }
    });
    await gw.gateway.reload('SIGHUP');

    const after = await call(gw.gateway.apiUrl, genomicsLab, '/v1/whoami');
    expect(after.status).toBe(200);
    expect(after.body.registryRevision).toBe(before);
    expect(await metricValue(gw.gateway.opsUrl, /hetao_reloads_total\{source="registry",result="rejected"\} (\d+)/)).toBe(1);
    const refusal = gw.logs.find((line) => line.source === 'registry' && line.level === 50);
    expect(refusal?.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ file: gw.registryFile, path: '/institutions/0/status', line: expect.any(Number) }),
        expect.objectContaining({ file: gw.registryFile, path: '/institutions/0/zone' }),
      ]),
    );
  });

  it('applies a valid file on SIGHUP when watching is off', async () => {
    gw = await startTestGateway({ HETAO_WATCH_FILES: 'false' });
    await editRegistry(gw.registryFile, (doc) => {
      const officer = doc.people.find((p) => p.id === 'officer-chan');
      if (officer) officer.status = 'revoked';
    });
    const officer = devIdentity('people/officer-chan');
    expect((await call(gw.gateway.apiUrl, officer, '/v1/whoami')).status).toBe(200);
    await gw.gateway.reload('SIGHUP');
    const result = await call(gw.gateway.apiUrl, officer, '/v1/whoami');
    expect(result.status).toBe(403);
    expect(result.body.code).toBe('ERR_IDENTITY_REVOKED');
    expect(await metricValue(gw.gateway.opsUrl, /hetao_reloads_total\{source="registry",result="applied"\} (\d+)/)).toBe(1);
  });

  it('refuses people of an institution that is no longer active', async () => {
    gw = await startTestGateway({ HETAO_WATCH_FILES: 'false' });
    await editRegistry(gw.registryFile, (doc) => {
      const office = doc.institutions.find((i) => i.id === 'nhc-hgr-office');
      if (office) office.status = 'revoked';
    });
    await gw.gateway.reload('SIGHUP');
    const regulator = await call(gw.gateway.apiUrl, devIdentity('people/regulator-wang'), '/v1/whoami');
    expect(regulator.body.code).toBe('ERR_IDENTITY_INSTITUTION_INACTIVE');
    const institution = await call(gw.gateway.apiUrl, devIdentity('institutions/nhc-hgr-office'), '/v1/whoami');
    expect(institution.body.code).toBe('ERR_IDENTITY_REVOKED');
  });
});

describe('CRL reload', () => {
  it('refuses a certificate revoked by a new CRL without a restart', async () => {
    gw = await startTestGateway();
    expect((await call(gw.gateway.apiUrl, genomicsLab, '/v1/whoami')).status).toBe(200);
    const [rootCrl] = (await readFile(gw.crlFile, 'utf8')).match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? [];
    const now = new Date();
    const issuingCrl = buildCrlPem({
      ca: issuingCa(),
      crlNumber: 2,
      thisUpdate: new Date(now.getTime() - 60_000),
      nextUpdate: new Date(now.getTime() + 86_400_000),
      revoked: [
        { serial: '2902', revocationDate: now },
        { serial: '2101', revocationDate: now },
      ],
    });
    await writeFile(gw.crlFile, `${rootCrl}\n${issuingCrl}`);
    await waitUntil(async () => {
      await expect(call(gw?.gateway.apiUrl ?? '', genomicsLab, '/v1/whoami')).rejects.toThrow();
    });
    expect((await call(gw.gateway.apiUrl, devIdentity('institutions/sz-hospital'), '/v1/whoami')).status).toBe(200);
  });

  it.each([
    ['garbage', 'not a CRL at all'],
    ['issuing-only', 'a CRL for the issuing CA but none for the root (would refuse everyone)'],
    ['expired', 'an expired CRL'],
  ])('keeps the previous CRL when the new one is %s (%s)', async (kind) => {
    gw = await startTestGateway({ HETAO_WATCH_FILES: 'false' });
    const now = Date.now();
    const issuingCrl = (nextUpdate: number) =>
      buildCrlPem({ ca: issuingCa(), crlNumber: 3, thisUpdate: new Date(now - 120_000), nextUpdate: new Date(nextUpdate), revoked: [{ serial: '2101', revocationDate: new Date() }] });
    const [rootCrl] = (await readFile(gw.crlFile, 'utf8')).match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? [];
    const content = {
      garbage: '-----BEGIN X509 CRL-----\nbm90IGEgY3Js\n-----END X509 CRL-----\n',
      'issuing-only': issuingCrl(now + 86_400_000),
      expired: `${rootCrl}\n${issuingCrl(now - 60_000)}`,
    }[kind] as string;
    await writeFile(gw.crlFile, content);
    await gw.gateway.reload('SIGHUP');
    expect((await call(gw.gateway.apiUrl, genomicsLab, '/v1/whoami')).status).toBe(200);
    expect((await call(gw.gateway.apiUrl, devIdentity('institutions/sz-hospital'), '/v1/whoami')).status).toBe(200);
    await expect(call(gw.gateway.apiUrl, devIdentity('negative/revoked'), '/v1/whoami')).rejects.toThrow();
    expect(await metricValue(gw.gateway.opsUrl, /hetao_reloads_total\{source="tls",result="rejected"\} (\d+)/)).toBe(1);
  });
});
