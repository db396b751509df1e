// Every certificate case of the dev PKI against a real TLS listener: handshake refused, 403 with a
// stable code, or 200 with the principal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devIdentity } from '../support/dev-pki.js';
import { call, startTestGateway, type TestGateway } from '../support/gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

const url = (): string => gw.gateway.apiUrl;
/** With TLS 1.3 the client learns of a refused certificate when the server closes the socket. */
const CONNECTION_REFUSED_BY_PEER = expect.stringMatching(/^(UND_ERR_SOCKET|ECONNRESET|ERR_SSL_.*)$/);

describe('TLS layer', () => {
  it.each([
    ['negative/expired', 'expired'],
    ['negative/revoked', 'revoked by the loaded CRL'],
    ['negative/unknown-ca', 'issued by an unknown CA'],
  ])('refuses the handshake for a certificate that is %s (%s)', async (name) => {
    await expect(call(url(), devIdentity(name), '/v1/whoami')).rejects.toMatchObject({ code: CONNECTION_REFUSED_BY_PEER });
  });

  it('refuses a caller without a client certificate', async () => {
    await expect(call(url(), undefined, '/v1/whoami')).rejects.toMatchObject({ code: CONNECTION_REFUSED_BY_PEER });
  });
});

describe('registry', () => {
  it('returns the principal of a registered institution', async () => {
    const result = await call(url(), devIdentity('institutions/hk-uni-genomics'), '/v1/whoami');
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({
      kind: 'institution',
      id: 'hk-uni-genomics',
      role: 'institution',
      institution: { id: 'hk-uni-genomics', jurisdiction: 'HK', zone: 'hetao-hk', status: 'active' },
      certificate: { serial: '2101' },
    });
    const certificate = result.body.certificate as { sha256: string; notAfter: string };
    expect(certificate.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(new Date(certificate.notAfter).getTime()).toBeGreaterThan(Date.now());
  });

  it.each([
    ['institutions/sz-hospital', 'sz-hospital', 'CN', 'hetao-sz'],
    ['institutions/hetao-sz-institute', 'hetao-sz-institute', 'CN', 'hetao-sz'],
    ['institutions/hk-ctc', 'hk-ctc', 'HK', 'hetao-hk'],
    ['institutions/cn-outside-institute', 'cn-outside-institute', 'CN', 'outside'],
  ])('maps %s to its institution', async (name, id, jurisdiction, zone) => {
    const result = await call(url(), devIdentity(name), '/v1/whoami');
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ id, institution: { jurisdiction, zone } });
  });

  it.each([
    ['people/officer-chan', 'security-officer', 'hetao-operator'],
    ['people/regulator-wang', 'regulator', 'nhc-hgr-office'],
    ['people/admin-lee', 'admin', 'hetao-operator'],
  ])('gives person %s the role %s from the registry', async (name, role, institution) => {
    const result = await call(url(), devIdentity(name), '/v1/whoami');
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ kind: 'person', role, institution: { id: institution } });
  });

  it.each([
    ['negative/unregistered', 'ERR_IDENTITY_NOT_REGISTERED'],
    ['institutions/hk-suspended-lab', 'ERR_IDENTITY_SUSPENDED'],
  ])('answers %s with 403 problem+json %s', async (name, code) => {
    const result = await call(url(), devIdentity(name), '/v1/whoami');
    expect(result.status).toBe(403);
    expect(result.contentType).toMatch(/^application\/problem\+json/);
    expect(result.body).toMatchObject({ status: 403, code, type: `urn:hetao:error:${code}` });
    expect(result.body.detail).toEqual(expect.any(String));
    expect(result.body.requestId).toBe(result.headers['x-request-id']);
  });

  it('answers a path that names no route 404 for any caller: authentication hangs on the routes, not on the URL', async () => {
    const result = await call(url(), devIdentity('institutions/hk-suspended-lab'), '/v1/no-such-route');
    expect(result.status).toBe(404);
    expect(result.body).toMatchObject({ code: 'ERR_ROUTE_NOT_FOUND' });
  });

  it('counts refusals in a metric', async () => {
    await call(url(), devIdentity('negative/unregistered'), '/v1/whoami');
    const metrics = await fetch(`${gw.gateway.opsUrl}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/hetao_auth_refusals_total\{code="ERR_IDENTITY_NOT_REGISTERED"\} [1-9]/);
  });
});

describe('errors', () => {
  it('answers an unknown route with 404 problem+json', async () => {
    const result = await call(url(), devIdentity('institutions/hk-uni-genomics'), '/v1/nothing-here');
    expect(result.status).toBe(404);
    expect(result.contentType).toMatch(/^application\/problem\+json/);
    expect(result.body).toMatchObject({ code: 'ERR_ROUTE_NOT_FOUND', status: 404, title: expect.any(String) });
  });

  it('answers an unknown route outside /v1 with 404 problem+json too', async () => {
    const result = await call(url(), devIdentity('institutions/hk-uni-genomics'), '/nothing');
    expect(result.status).toBe(404);
    expect(result.body.code).toBe('ERR_ROUTE_NOT_FOUND');
  });

  it('answers malformed JSON with 400 problem+json, not the framework shape', async () => {
    const result = await call(url(), devIdentity('institutions/hk-uni-genomics'), '/v1/whoami', {
      method: 'POST',
      body: '{not json',
      headers: { 'content-type': 'application/json' },
    });
    expect(result.status).toBe(400);
    expect(result.contentType).toMatch(/^application\/problem\+json/);
    expect(result.body.code).toBe('ERR_REQUEST_INVALID');
    expect(result.body).not.toHaveProperty('error');
    expect(result.body).not.toHaveProperty('statusCode');
  });

  it('answers a malformed URL with 400 problem+json', async () => {
    const result = await call(url(), devIdentity('institutions/hk-uni-genomics'), '/v1/%E0%A4%A');
    expect(result.status).toBe(400);
    expect(result.body.code).toBe('ERR_REQUEST_INVALID');
  });

  it('answers an oversized JSON body with 413 problem+json', async () => {
    const result = await call(url(), devIdentity('institutions/hk-uni-genomics'), '/v1/whoami', {
      method: 'POST',
      body: `"${'x'.repeat(2 * 1024 * 1024)}"`,
      headers: { 'content-type': 'application/json' },
    });
    expect(result.status).toBe(413);
    expect(result.body.code).toBe('ERR_REQUEST_BODY_TOO_LARGE');
  });

  it('keeps a valid caller-supplied request id and echoes it', async () => {
    const result = await call(url(), devIdentity('institutions/hk-uni-genomics'), '/v1/whoami', { headers: { 'x-request-id': 'lab-trace-42' } });
    expect(result.headers['x-request-id']).toBe('lab-trace-42');
  });
});

describe('logs', () => {
  it('carry the request id and the principal', async () => {
    await call(url(), devIdentity('institutions/sz-hospital'), '/v1/whoami', { headers: { 'x-request-id': 'log-check-1' } });
    const lines = gw.logs.filter((line) => line.reqId === 'log-check-1');
    expect(lines.some((line) => line.principal === 'sz-hospital' && (line.res as { statusCode?: number } | undefined)?.statusCode === 200)).toBe(true);
  });

  it('never contain private key material', () => {
    expect(gw.rawLogs()).not.toMatch(/PRIVATE KEY/);
  });
});
