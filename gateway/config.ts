// The gateway's configuration: read once from environment variables, validated against a schema,
// frozen, and passed explicitly to every factory. Nothing else in the gateway reads process.env.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { GatewayError } from './errors.js';

/** The project root (where certs-dev/ and policies/ live), whether running from gateway/ or dist/gateway/. */
export const PROJECT_ROOT = (() => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
})();

export interface GatewayConfig {
  readonly nodeEnv: 'development' | 'test' | 'production';
  readonly host: string;
  readonly port: number;
  readonly opsHost: string;
  readonly opsPort: number;
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  readonly tlsCaFile: string;
  /** Absent only outside production: then revocation is not checked. */
  readonly tlsCrlFile: string | undefined;
  readonly registryFile: string;
  readonly policyDir: string;
  readonly signingKeyFile: string;
  /** Public (or private) PEM files of keys the gateway signed with before a rotation. */
  readonly previousSigningKeyFiles: readonly string[];
  readonly uploadIdleTimeoutMs: number;
  readonly dataDir: string;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly watchFiles: boolean;
  readonly shutdownGraceMs: number;
  readonly redisUrl: string | undefined;
}

/** One row per variable: the README's configuration table is checked against this list by a test. */
export const CONFIG_VARIABLES = {
  NODE_ENV: { default: 'development', meaning: '`production` refuses the dev CA and dev keys and requires a CRL' },
  HETAO_HOST: { default: '127.0.0.1', meaning: 'address of the mTLS API listener' },
  HETAO_PORT: { default: '8443', meaning: 'port of the mTLS API listener (0 = any free port)' },
  HETAO_OPS_HOST: { default: '127.0.0.1', meaning: 'address of the plain-HTTP operations listener (/healthz, /readyz, /metrics)' },
  HETAO_OPS_PORT: { default: '9464', meaning: 'port of the operations listener (0 = any free port)' },
  HETAO_TLS_CERT: { default: 'certs-dev/gateway-server.dev-only.cert.pem', meaning: 'server certificate chain (PEM, leaf first)' },
  HETAO_TLS_KEY: { default: 'certs-dev/gateway-server.dev-only.key.pem', meaning: 'server private key (PEM)' },
  HETAO_TLS_CA: { default: 'certs-dev/zone-ca-bundle.dev-only.pem', meaning: 'zone CA certificates that client certificates must chain to (PEM bundle)' },
  HETAO_TLS_CRL: { default: 'certs-dev/zone-crl.dev-only.pem', meaning: 'CRLs of every zone CA (PEM); reloaded on change or SIGHUP; empty = no revocation check (refused in production)' },
  HETAO_REGISTRY_FILE: { default: 'policies/registry.yaml', meaning: 'the zone registry (white list) of institutions and people; reloaded on change or SIGHUP' },
  HETAO_SIGNING_KEY: { default: 'certs-dev/gateway-signing.dev-only.key.pem', meaning: "the gateway's Ed25519 signing key (PKCS#8 PEM) for envelope headers and audit checkpoints; its public key is at /.well-known/jwks.json" },
  HETAO_PREVIOUS_SIGNING_KEYS: { default: '(none)', meaning: 'comma-separated PEM files of signing keys used before a rotation: listed in the JWKS so old envelopes and checkpoints still verify, never used to sign' },
  HETAO_UPLOAD_IDLE_TIMEOUT_MS: { default: '60000', meaning: 'an upload that sends no byte for this long is aborted and nothing of it is kept' },
  HETAO_POLICY_DIR: { default: 'policies', meaning: 'folder of the classification policy files (`*.policy.yaml`) and their cases (`tests/*.cases.yaml`); reloaded on change, SIGHUP or POST /v1/policies/reload' },
  HETAO_DATA_DIR: { default: './data', meaning: 'where records, envelopes and the audit journal are kept (relative to the working directory)' },
  HETAO_LOG_LEVEL: { default: 'info', meaning: 'pino log level: fatal, error, warn, info, debug, trace, silent' },
  HETAO_WATCH_FILES: { default: 'true', meaning: 'reload registry and CRL when their files change (SIGHUP always reloads)' },
  HETAO_SHUTDOWN_GRACE_MS: { default: '10000', meaning: 'how long SIGTERM waits for in-flight requests before closing connections' },
  REDIS_URL: { default: '(unset)', meaning: 'Redis for the transfer queue; unset = every stage runs inline, no Redis needed' },
} as const;

type ConfigVariable = keyof typeof CONFIG_VARIABLES;

const envSchema = {
  type: 'object',
  properties: {
    NODE_ENV: { enum: ['development', 'test', 'production'] },
    HETAO_HOST: { type: 'string', minLength: 1 },
    HETAO_PORT: { type: 'integer', minimum: 0, maximum: 65535 },
    HETAO_OPS_HOST: { type: 'string', minLength: 1 },
    HETAO_OPS_PORT: { type: 'integer', minimum: 0, maximum: 65535 },
    HETAO_TLS_CERT: { type: 'string', minLength: 1 },
    HETAO_TLS_KEY: { type: 'string', minLength: 1 },
    HETAO_TLS_CA: { type: 'string', minLength: 1 },
    HETAO_TLS_CRL: { type: 'string' },
    HETAO_REGISTRY_FILE: { type: 'string', minLength: 1 },
    HETAO_POLICY_DIR: { type: 'string', minLength: 1 },
    HETAO_DATA_DIR: { type: 'string', minLength: 1 },
    HETAO_LOG_LEVEL: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    HETAO_WATCH_FILES: { type: 'boolean' },
    HETAO_SHUTDOWN_GRACE_MS: { type: 'integer', minimum: 0, maximum: 600_000 },
    REDIS_URL: { type: 'string', pattern: '^rediss?://' },
  },
} as const;

const validateEnv = new Ajv({ allErrors: true, coerceTypes: true }).compile(envSchema);

/**
 * Reads, validates and freezes the configuration.
 * @throws GatewayError ERR_CONFIG_INVALID listing every invalid variable.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): GatewayConfig {
  const raw: Record<string, unknown> = {};
  for (const name of Object.keys(CONFIG_VARIABLES) as ConfigVariable[]) {
    const value = env[name];
    if (value !== undefined && !(value === '' && name !== 'HETAO_TLS_CRL')) raw[name] = value;
  }
  if (!validateEnv(raw)) {
    const problems = (validateEnv.errors ?? []).map((e) => `${e.instancePath.slice(1) || '(environment)'} ${e.message ?? 'is invalid'}`);
    throw new GatewayError('ERR_CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`, { problems });
  }
  const setting = (name: ConfigVariable): string => String(raw[name] ?? CONFIG_VARIABLES[name].default);
  const embeddedFile = (name: ConfigVariable): string =>
    raw[name] === undefined ? path.resolve(PROJECT_ROOT, CONFIG_VARIABLES[name].default) : path.resolve(String(raw[name]));

  const nodeEnv = setting('NODE_ENV') as GatewayConfig['nodeEnv'];
  const crlSetting = raw.HETAO_TLS_CRL;
  const tlsCrlFile = crlSetting === '' ? undefined : embeddedFile('HETAO_TLS_CRL');
  if (nodeEnv === 'production' && tlsCrlFile === undefined) {
    throw new GatewayError('ERR_CONFIG_INVALID', 'invalid configuration: HETAO_TLS_CRL must name a CRL file in production', {
      problems: ['HETAO_TLS_CRL must name a CRL file in production'],
    });
  }
  return Object.freeze({
    nodeEnv,
    host: setting('HETAO_HOST'),
    port: Number(setting('HETAO_PORT')),
    opsHost: setting('HETAO_OPS_HOST'),
    opsPort: Number(setting('HETAO_OPS_PORT')),
    tlsCertFile: embeddedFile('HETAO_TLS_CERT'),
    tlsKeyFile: embeddedFile('HETAO_TLS_KEY'),
    tlsCaFile: embeddedFile('HETAO_TLS_CA'),
    tlsCrlFile,
    registryFile: embeddedFile('HETAO_REGISTRY_FILE'),
    policyDir: embeddedFile('HETAO_POLICY_DIR'),
    signingKeyFile: embeddedFile('HETAO_SIGNING_KEY'),
    previousSigningKeyFiles: Object.freeze(
      String(raw.HETAO_PREVIOUS_SIGNING_KEYS ?? '')
        .split(',')
        .map((file) => file.trim())
        .filter((file) => file !== '')
        .map((file) => path.resolve(file)),
    ),
    uploadIdleTimeoutMs: Number(setting('HETAO_UPLOAD_IDLE_TIMEOUT_MS')),
    dataDir: path.resolve(setting('HETAO_DATA_DIR')),
    logLevel: setting('HETAO_LOG_LEVEL') as GatewayConfig['logLevel'],
    watchFiles: setting('HETAO_WATCH_FILES') === 'true',
    shutdownGraceMs: Number(setting('HETAO_SHUTDOWN_GRACE_MS')),
    redisUrl: raw.REDIS_URL === undefined ? undefined : String(raw.REDIS_URL),
  });
}
