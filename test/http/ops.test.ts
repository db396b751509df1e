// The operations listener: health, readiness with its checks, Prometheus metrics; plain HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../gateway/config.js';
import { devIdentity } from '../support/dev-pki.js';
import { call, startTestGateway, type TestGateway } from '../support/gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

describe('ops listener', () => {
  it('listens on loopback by default, apart from the API', () => {
    const ops = new URL(gw.gateway.opsUrl);
    expect(ops.protocol).toBe('http:');
    expect(ops.hostname).toBe('127.0.0.1');
    expect(ops.port).not.toBe(new URL(gw.gateway.apiUrl).port);
  });

  it('answers /healthz', async () => {
    const response = await fetch(`${gw.gateway.opsUrl}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with the revisions in force', async () => {
    const response = await fetch(`${gw.gateway.opsUrl}/readyz`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: string; checks: Record<string, { ok: boolean; revision?: string }> };
    expect(body.status).toBe('ready');
    expect(body.checks.api?.ok).toBe(true);
    expect(body.checks.registry?.revision).toMatch(/^[0-9a-f]{64}$/);
    expect(body.checks.tls).toMatchObject({ ok: true, revocationChecked: true });
  });

  it('serves Prometheus metrics including request durations of the API', async () => {
    await call(gw.gateway.apiUrl, devIdentity('institutions/hk-ctc'), '/v1/whoami');
    const response = await fetch(`${gw.gateway.opsUrl}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toMatch(/hetao_revision_info\{source="registry",revision="[0-9a-f]{64}"\} 1/);
    expect(text).toMatch(/hetao_http_request_duration_seconds_count\{method="GET",route="\/v1\/whoami",status="200"\} [1-9]/);
    expect(text).toMatch(/hetao_process_cpu_seconds_total/);
  });

  it('answers unknown paths with problem+json', async () => {
    const response = await fetch(`${gw.gateway.opsUrl}/nope`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});

describe('key rotation', () => {
  it('lists previous signing keys in the JWKS so old signatures still verify', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { writeFile, mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = await mkdtemp(path.join(tmpdir(), 'hetao-keys-'));
    const next = generateKeyPairSync('ed25519');
    const nextFile = path.join(dir, 'next.pem');
    await writeFile(nextFile, next.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const rotated = await startTestGateway({ HETAO_SIGNING_KEY: nextFile, HETAO_PREVIOUS_SIGNING_KEYS: path.join(PROJECT_ROOT, 'certs-dev/gateway-signing.dev-only.key.pem') });
    try {
      // The JWKS also lists the registry's peer gateways' signing keys (marked `hetao_peer`): forwarded envelopes carry their signature.
      const ownKeys = async (apiUrl: string) => ((await call(apiUrl, devIdentity('institutions/hk-ctc'), '/.well-known/jwks.json')).body as { keys: { kid: string; hetao_peer?: string }[] }).keys;
      expect((await ownKeys(rotated.gateway.apiUrl)).filter((key) => key.hetao_peer !== undefined).map((key) => key.hetao_peer)).toEqual(['hetao-hk-gateway']);
      const before = { keys: (await ownKeys(gw.gateway.apiUrl)).filter((key) => key.hetao_peer === undefined) };
      const after = { keys: (await ownKeys(rotated.gateway.apiUrl)).filter((key) => key.hetao_peer === undefined) };
      expect(after.keys).toHaveLength(2);
      expect(after.keys[1]?.kid).toBe(before.keys[0]?.kid);
      expect(after.keys[0]?.kid).not.toBe(before.keys[0]?.kid);
    } finally {
      await rotated.close();
    }
  });
});
