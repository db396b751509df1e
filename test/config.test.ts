// Configuration: one validated, frozen object; production refuses the development PKI.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, loadConfig } from '../gateway/config.js';
import { GatewayError } from '../gateway/errors.js';
import { composeGateway } from '../gateway/app/compose-gateway.js';
import { createLogger } from '../gateway/ops/logger.js';

describe('loadConfig', () => {
  it('runs on embedded defaults: dev PKI, dev registry, 127.0.0.1:8443, no Redis', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ nodeEnv: 'development', host: '127.0.0.1', port: 8443, opsHost: '127.0.0.1', redisUrl: undefined });
    expect(config.tlsCaFile).toBe(path.join(PROJECT_ROOT, 'certs-dev/zone-ca-bundle.dev-only.pem'));
    expect(config.registryFile).toBe(path.join(PROJECT_ROOT, 'policies/registry.yaml'));
    expect(config.dataDir).toBe(path.resolve('data'));
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('lists every invalid variable at once', () => {
    let error: unknown;
    try {
      loadConfig({ HETAO_PORT: 'eighty', HETAO_LOG_LEVEL: 'loud', REDIS_URL: 'localhost:6379' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('ERR_CONFIG_INVALID');
    const problems = (error as GatewayError).details?.problems as string[];
    expect(problems.join('\n')).toMatch(/HETAO_PORT/);
    expect(problems.join('\n')).toMatch(/HETAO_LOG_LEVEL/);
    expect(problems.join('\n')).toMatch(/REDIS_URL/);
  });

  it('reads HETAO_POLICY_PROFILES as a list of jurisdictions (empty: all) and refuses one it does not know', () => {
    expect(loadConfig({}).policyProfiles).toBeUndefined();
    expect(loadConfig({ HETAO_POLICY_PROFILES: ' HK, zone ,HK' }).policyProfiles).toEqual(['HK', 'zone']);
    expect(() => loadConfig({ HETAO_POLICY_PROFILES: 'HK,EU-GDPR' })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });

  it('validates the queue settings like every other variable', () => {
    expect(loadConfig({}).queue).toMatchObject({ thresholdBytes: 64 * 1024 * 1024, workers: 2, perRecipient: 2, attempts: 5, bulkChunksPerTurn: 8, prefix: 'hetao' });
    for (const [name, value] of [
      ['HETAO_BULK_CHUNKS_PER_TURN', '0'],
      ['HETAO_QUEUE_THRESHOLD_BYTES', 'big'],
      ['HETAO_QUEUE_PER_RECIPIENT', '0'],
      ['HETAO_QUEUE_LOCK_MS', '10'],
      ['HETAO_QUEUE_PREFIX', 'has space'],
      ['REDIS_URL', 'http://127.0.0.1:6379'],
    ] as const) {
      expect(() => loadConfig({ [name]: value }), name).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
    }
  });

  it('refuses to run production without revocation checking', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', HETAO_TLS_CRL: '' })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });

  it('selects shared mode by configuration: embedded files by default, PostgreSQL and S3 when named', () => {
    const embedded = loadConfig({});
    expect(embedded.database).toBeUndefined();
    expect(embedded.s3).toBeUndefined();
    const shared = loadConfig({
      HETAO_DATABASE_URL: 'postgres://hetao@db:5432/hetao',
      HETAO_S3_BUCKET: 'hetao-envelopes',
      HETAO_S3_ENDPOINT: 'http://s3:9000',
      HETAO_S3_ACCESS_KEY_ID: 'id',
      HETAO_S3_SECRET_ACCESS_KEY: 'secret',
      HETAO_S3_FORCE_PATH_STYLE: 'true',
      HETAO_INSTANCE_ID: 'gw-1',
    });
    expect(shared.database).toEqual({ url: 'postgres://hetao@db:5432/hetao', poolSize: 10, connectTimeoutMs: 5000, statementTimeoutMs: 30000 });
    expect(shared.s3).toMatchObject({ endpoint: 'http://s3:9000', region: 'us-east-1', bucket: 'hetao-envelopes', forcePathStyle: true, partSizeBytes: 8 * 1024 * 1024, queueSize: 4 });
    expect(shared.instanceId).toBe('gw-1');
  });

  it('refuses a bucket without a database, half a credential pair, and parts S3 would refuse', () => {
    expect(() => loadConfig({ HETAO_S3_BUCKET: 'hetao-envelopes' })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringMatching(/HETAO_DATABASE_URL/) }));
    const db = { HETAO_DATABASE_URL: 'postgres://db/hetao', HETAO_S3_BUCKET: 'hetao-envelopes' };
    expect(() => loadConfig({ ...db, HETAO_S3_ACCESS_KEY_ID: 'id' })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
    expect(() => loadConfig({ ...db, HETAO_S3_PART_SIZE_BYTES: '1048576' })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
    expect(() => loadConfig({ HETAO_DATABASE_URL: 'mysql://db/hetao' })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });

  it('resolves relative paths against the working directory', () => {
    expect(loadConfig({ HETAO_REGISTRY_FILE: 'x/registry.yaml' }).registryFile).toBe(path.resolve('x/registry.yaml'));
  });
});

describe('production mode', () => {
  it('refuses to start with the development CA and keys', async () => {
    const config = loadConfig({ NODE_ENV: 'production', HETAO_PORT: '0', HETAO_OPS_PORT: '0', HETAO_WATCH_FILES: 'false' });
    await expect(composeGateway(config, createLogger({ level: 'silent' }))).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      details: { devCertificates: expect.arrayContaining([expect.stringContaining('DEVELOPMENT ONLY')]) },
    });
  });

  it('refuses dev material copied outside certs-dev/ (recognised by its certificates, not its path)', async () => {
    const { mkdtemp, copyFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(path.join(tmpdir(), 'hetao-prod-'));
    try {
      const copy = async (from: string, to: string) => {
        await copyFile(path.join(PROJECT_ROOT, 'certs-dev', from), path.join(dir, to));
        return path.join(dir, to);
      };
      const config = loadConfig({
        NODE_ENV: 'production',
        HETAO_PORT: '0',
        HETAO_OPS_PORT: '0',
        HETAO_WATCH_FILES: 'false',
        HETAO_TLS_CERT: await copy('gateway-server.dev-only.cert.pem', 'server.pem'),
        HETAO_TLS_KEY: await copy('gateway-server.dev-only.key.pem', 'server.key'),
        HETAO_TLS_CA: await copy('zone-ca-bundle.dev-only.pem', 'ca.pem'),
        HETAO_TLS_CRL: await copy('zone-crl.dev-only.pem', 'crl.pem'),
      });
      await expect(composeGateway(config, createLogger({ level: 'silent' }))).rejects.toMatchObject({
        code: 'ERR_CONFIG_INVALID',
        details: { devFiles: [], devCertificates: expect.arrayContaining([expect.stringContaining('DEVELOPMENT ONLY')]) },
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('startup', () => {
  it('does not start on an invalid registry', async () => {
    const config = loadConfig({ HETAO_PORT: '0', HETAO_OPS_PORT: '0', HETAO_WATCH_FILES: 'false', HETAO_REGISTRY_FILE: path.join(PROJECT_ROOT, 'schemas/registry.schema.json') });
    await expect(composeGateway(config, createLogger({ level: 'silent' }))).rejects.toMatchObject({ code: 'ERR_REGISTRY_INVALID' });
  });
});
