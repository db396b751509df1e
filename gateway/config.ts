// The gateway's configuration: read once from environment variables, validated against a schema,
// frozen, and passed explicitly to every factory. Nothing else in the gateway reads process.env.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { schemaValidator } from './input/schema-validator.js';
import { GatewayError } from './errors.js';
import type { PolicyJurisdiction } from './policy/policy-file.js';

/** The project root (where certs-dev/ and policies/ live), whether running from gateway/ or dist/gateway/. */
/** The nearest folder above this file with a package.json: the project, from source or from any build folder. */
export const PROJECT_ROOT = (() => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(here, '..');
  }
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
  /** The jurisdictions whose policy files are enforced; undefined: every file's. */
  readonly policyProfiles: readonly PolicyJurisdiction[] | undefined;
  readonly signingKeyFile: string;
  /** Public (or private) PEM files of keys the gateway signed with before a rotation. */
  readonly previousSigningKeyFiles: readonly string[];
  readonly uploadIdleTimeoutMs: number;
  readonly uploadCheckpointBytes: number;
  /** Worker threads sealing large uploads; 0 = on the event loop. */
  readonly sealingThreads: number;
  readonly dataDir: string;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly watchFiles: boolean;
  readonly shutdownGraceMs: number;
  readonly redisUrl: string | undefined;
  readonly queue: QueueConfig;
  /** The gateway's client certificate and key for push delivery over mTLS. */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** EC P-256 key the gateway wraps queued transfers' data keys to, so its workers can inspect them. */
  readonly processingKeyFile: string;
  /** Caps and idle timeout of the API's connections (http/connection-limits.ts). */
  readonly connections: ConnectionsConfig;
  /** Shared mode: records and the audit journal in PostgreSQL. Absent: files under dataDir. */
  readonly database: DatabaseConfig | undefined;
  /** Shared mode: envelopes in an S3 bucket (needs `database`). Absent: files under dataDir. */
  readonly s3: S3Config | undefined;
  /** Names this process in upload leases and logs (several instances share one database). */
  readonly instanceId: string;
  /** An upload's lease lasts this long without renewal; the instance taking it renews it at a third of that. */
  readonly uploadLeaseMs: number;
  /** How often a checkpoint is signed when the journal grew (shared mode: by the instance leading). */
  readonly auditCheckpointIntervalMs: number;
  /** This gateway's audit log origin (C2SP), also its note key name. */
  readonly auditOrigin: string;
  /** The key name on this gateway's cosignatures of the peer's checkpoints. */
  readonly witnessName: string;
  /** How often the peers' signed directories are fetched. */
  readonly peerDirectoryIntervalMs: number;
  /** A forward to an unreachable or busy peer waits this long before its next try. */
  readonly peerRetryMs: number;
}

export interface DatabaseConfig {
  readonly url: string;
  readonly poolSize: number;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
}

export interface S3Config {
  /** Absent: AWS's own endpoint for the region. */
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly bucket: string;
  /** Absent: the AWS SDK's default credential chain (instance role, AWS_* variables, …). */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined;
  readonly forcePathStyle: boolean;
  readonly partSizeBytes: number;
  readonly queueSize: number;
  readonly requestTimeoutMs: number;
}

export interface ConnectionsConfig {
  readonly maxConnections: number;
  readonly maxPerPrincipal: number;
  readonly idleTimeoutMs: number;
}

export interface QueueConfig {
  /** Transfers larger than this many bytes run their heavy stages on the queue. */
  readonly thresholdBytes: number;
  /** Jobs each stage's in-process worker runs at once; 0 = no workers in this process. */
  readonly workers: number;
  /** Jobs for one recipient institution a worker process runs at once. */
  readonly perRecipient: number;
  readonly attempts: number;
  readonly backoffMs: number;
  /** How long a worker holds a job without renewing before it counts as stalled (crashed). */
  readonly lockMs: number;
  /** How often unfinished stages are checked against the queue (and re-enqueued when missing). */
  readonly reconcileMs: number;
  readonly prefix: string;
  /** Bulk upload chunks processed per event-loop turn (bulk-lane.ts). */
  readonly bulkChunksPerTurn: number;
}

/** One row per variable: the configuration table of docs/configuration.md is checked against this list by a test. */
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
  HETAO_UPLOAD_IDLE_TIMEOUT_MS: { default: '60000', meaning: 'an upload that sends no byte for this long is aborted and nothing of it is kept; a paused resumable (tus) upload expires after this long' },
  HETAO_UPLOAD_CHECKPOINT_BYTES: { default: '67108864', meaning: 'a resumable (tus) upload makes what it stored durable, and notes it in its record, every this many bytes while it streams (and whenever its sender pauses): the most a gateway crash makes the sender send again' },
  HETAO_POLICY_PROFILES: {
    default: '',
    meaning: 'comma-separated jurisdictions whose policy files this gateway enforces (`CN`, `HK`, `zone`, `EU`, `US` — each file says whose rules it holds); empty: all. Every file is still checked and lends its parameters; a gateway on one side of the channel runs the rules it answers to',
  },
  HETAO_POLICY_DIR: { default: 'policies', meaning: 'folder of the classification policy files (`*.policy.yaml`) and their cases (`tests/*.cases.yaml`); reloaded on change, SIGHUP or POST /v1/policies/reload' },
  HETAO_DATA_DIR: { default: './data', meaning: 'where records, envelopes and the audit journal are kept (relative to the working directory)' },
  HETAO_LOG_LEVEL: { default: 'info', meaning: 'pino log level: fatal, error, warn, info, debug, trace, silent' },
  HETAO_WATCH_FILES: { default: 'true', meaning: 'reload registry and CRL when their files change (SIGHUP always reloads)' },
  HETAO_SHUTDOWN_GRACE_MS: { default: '10000', meaning: 'the deadline of the whole stop after SIGTERM/SIGINT: in-flight requests get 80 % of it, then connections are cut; queue, journal checkpoint and files must close by the end or are abandoned (logged, exit 1)' },
  REDIS_URL: { default: '(unset)', meaning: 'Redis for the transfer queue (BullMQ); unset = every stage runs inline in the gateway process, no Redis needed' },
  HETAO_QUEUE_THRESHOLD_BYTES: { default: '67108864', meaning: 'transfers above this size (64 MiB) are answered 202 `queued` and inspected in full by a worker; smaller ones finish inline unless their obligations need full inspection or the recipient has a push endpoint' },
  HETAO_QUEUE_WORKERS: { default: '2', meaning: 'jobs per stage the gateway process runs itself; 0 = leave them to `hetao worker` processes' },
  HETAO_QUEUE_PER_RECIPIENT: { default: '2', meaning: 'jobs for one recipient institution a worker process runs at once' },
  HETAO_QUEUE_ATTEMPTS: { default: '5', meaning: 'tries per stage before it fails for good (exponential backoff between them)' },
  HETAO_QUEUE_BACKOFF_MS: { default: '1000', meaning: 'first retry delay of a stage; doubles with each try' },
  HETAO_QUEUE_LOCK_MS: { default: '30000', meaning: 'a job whose worker stops renewing its lock for this long (a crash) is handed to another worker' },
  HETAO_QUEUE_RECONCILE_MS: { default: '10000', meaning: 'how often transfers with unfinished stages are checked against Redis and re-enqueued if their job is missing (also at start and when Redis comes back)' },
  HETAO_QUEUE_PREFIX: { default: 'hetao', meaning: 'Redis key prefix of the queues (one per deployment)' },
  HETAO_BULK_CHUNKS_PER_TURN: { default: '8', meaning: 'chunks (≤ 64 KiB) of large uploads processed per turn of the event loop, all large uploads together: lower keeps small requests quicker under load, higher gives large uploads more throughput' },
  HETAO_SEALING_THREADS: { default: '2', meaning: "threads of the pool's `bulk` lane that inspect and encrypt uploads larger than 1 MiB (at lower CPU priority), so the event loop only moves their bytes; the sealed bytes come back and are written by the object store; 0 = do it on the event loop" },
  HETAO_PUSH_CLIENT_CERT: { default: 'certs-dev/gateway-client.dev-only.cert.pem', meaning: "the gateway's client certificate (PEM) for push delivery to recipients' endpoints over mTLS" },
  HETAO_PUSH_CLIENT_KEY: { default: 'certs-dev/gateway-client.dev-only.key.pem', meaning: 'private key (PEM) of that client certificate' },
  HETAO_PROCESSING_KEY: { default: 'certs-dev/gateway-processing.dev-only.key.pem', meaning: 'EC P-256 private key (PKCS#8 PEM) to which queued transfers\' data keys are also wrapped, so workers can inspect them; the wrap is deleted when the stages are done' },
  HETAO_MAX_CONNECTIONS: { default: '1024', meaning: 'open connections the API serves at once, all callers together; the first request of a connection over it is answered 503 `ERR_CONNECTION_LIMIT` with `Retry-After` and the connection closed (beyond it plus 64 the listener stops accepting)' },
  HETAO_MAX_CONNECTIONS_PER_PRINCIPAL: { default: '256', meaning: 'open connections one institution (with all its people), or one certificate the registry does not know, may hold at once; over it, as above' },
  HETAO_DATABASE_URL: { default: '(none)', meaning: 'shared mode: PostgreSQL (`postgres://user:password@host:port/database`) holding transfer records and the audit journal for every instance; unset = files under `HETAO_DATA_DIR`. Run `hetao db migrate` first: a gateway refuses a database at another schema version' },
  HETAO_DATABASE_POOL_SIZE: { default: '10', meaning: 'connections each process keeps to PostgreSQL' },
  HETAO_DATABASE_CONNECT_TIMEOUT_MS: { default: '5000', meaning: 'how long a query waits for a connection before the request is answered 503 `ERR_DATABASE_UNAVAILABLE` with `Retry-After`' },
  HETAO_DATABASE_STATEMENT_TIMEOUT_MS: { default: '30000', meaning: 'server-side bound on one SQL statement (0 = none)' },
  HETAO_S3_BUCKET: { default: '(none)', meaning: 'shared mode: the S3 bucket holding envelopes (needs `HETAO_DATABASE_URL`); unset = files under `HETAO_DATA_DIR`' },
  HETAO_S3_ENDPOINT: { default: '(AWS)', meaning: 'URL of an S3-compatible server; unset = AWS S3 in `HETAO_S3_REGION`' },
  HETAO_S3_REGION: { default: 'us-east-1', meaning: 'region of the bucket (signing region of an S3-compatible server)' },
  HETAO_S3_ACCESS_KEY_ID: { default: '(SDK chain)', meaning: 'access key; unset = the AWS SDK default credential chain (instance role, `AWS_*` variables). Set with `HETAO_S3_SECRET_ACCESS_KEY`' },
  HETAO_S3_SECRET_ACCESS_KEY: { default: '(SDK chain)', meaning: 'secret of that access key; never logged' },
  HETAO_S3_FORCE_PATH_STYLE: { default: 'false', meaning: '`true`: address the bucket as `endpoint/bucket/key` (most S3-compatible servers), not as a virtual host' },
  HETAO_S3_PART_SIZE_BYTES: { default: '8388608', meaning: 'multipart upload part size (≥ 5 MiB); memory per upload is about this times `HETAO_S3_QUEUE_SIZE`' },
  HETAO_S3_QUEUE_SIZE: { default: '4', meaning: 'parts of one upload in flight at once' },
  HETAO_S3_REQUEST_TIMEOUT_MS: { default: '30000', meaning: 'an S3 request that does not answer for this long fails (`ERR_STORAGE_UNAVAILABLE`)' },
  HETAO_AUDIT_ORIGIN: { default: 'hetao-gateway.local/audit', meaning: "the name of this gateway's audit log in its checkpoints (C2SP origin; also the key name of their signed notes): each side of the channel has its own, and the peer gateway's registry entry names it (`logOrigin`)" },
  HETAO_PEER_DIRECTORY_INTERVAL_MS: { default: '30000', meaning: "how often each peer gateway's signed directory (its institutions, their keys and status) is fetched and verified" },
  HETAO_PEER_RETRY_MS: { default: '2000', meaning: 'a transfer to a recipient served by the peer gateway waits this long before trying again while the peer is unreachable or busy (the channel down); it waits as long as that lasts, never two copies at the peer' },
  HETAO_WITNESS_NAME: { default: 'hetao-gateway.local/witness', meaning: "the key name on this gateway's cosignatures of the peer gateway's checkpoints (C2SP tlog-cosignature), signed with `HETAO_SIGNING_KEY`; the peer's registry entry for this gateway names it (`witnessName`)" },
  HETAO_AUDIT_CHECKPOINT_INTERVAL_MS: { default: '60000', meaning: 'how often a signed checkpoint is added when the audit journal grew (also at every export and at stop); in shared mode one instance at a time signs them (PostgreSQL advisory lock), another takes over within one interval when it dies' },
  HETAO_INSTANCE_ID: { default: '<host>-<pid>', meaning: 'names this process in upload leases and logs; unique per instance' },
  HETAO_UPLOAD_LEASE_MS: { default: '15000', meaning: 'an instance taking an upload holds a lease on it in the records, renewed every third of this; if the instance dies the lease expires and the sweep (any instance) returns the transfer to `authorized` and removes its unfinished write — a resumable upload is instead paused by a restart and swept only at its expiry' },
  HETAO_CONNECTION_IDLE_TIMEOUT_MS: { default: '30000', meaning: 'an API connection with no request in flight (before the first, between keep-alive requests) is closed after this long; a request body (other than an upload, see `HETAO_UPLOAD_IDLE_TIMEOUT_MS`) that sends nothing for this long is answered 408 `ERR_REQUEST_TIMEOUT`' },
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
    HETAO_POLICY_PROFILES: { type: 'string', pattern: '^\\s*((CN|HK|zone|EU|US)\\s*(,\\s*(CN|HK|zone|EU|US)\\s*)*)?$' },
    HETAO_DATA_DIR: { type: 'string', minLength: 1 },
    HETAO_LOG_LEVEL: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    HETAO_WATCH_FILES: { type: 'boolean' },
    HETAO_SHUTDOWN_GRACE_MS: { type: 'integer', minimum: 0, maximum: 600_000 },
    REDIS_URL: { type: 'string', pattern: '^rediss?://' },
    HETAO_QUEUE_THRESHOLD_BYTES: { type: 'integer', minimum: 0 },
    HETAO_QUEUE_WORKERS: { type: 'integer', minimum: 0, maximum: 256 },
    HETAO_QUEUE_PER_RECIPIENT: { type: 'integer', minimum: 1, maximum: 256 },
    HETAO_QUEUE_ATTEMPTS: { type: 'integer', minimum: 1, maximum: 100 },
    HETAO_QUEUE_BACKOFF_MS: { type: 'integer', minimum: 1, maximum: 3_600_000 },
    HETAO_QUEUE_LOCK_MS: { type: 'integer', minimum: 1000, maximum: 3_600_000 },
    HETAO_QUEUE_RECONCILE_MS: { type: 'integer', minimum: 50, maximum: 3_600_000 },
    HETAO_QUEUE_PREFIX: { type: 'string', pattern: '^[A-Za-z0-9_.:-]+$' },
    HETAO_BULK_CHUNKS_PER_TURN: { type: 'integer', minimum: 1, maximum: 1024 },
    HETAO_SEALING_THREADS: { type: 'integer', minimum: 0, maximum: 64 },
    HETAO_PUSH_CLIENT_CERT: { type: 'string', minLength: 1 },
    HETAO_PUSH_CLIENT_KEY: { type: 'string', minLength: 1 },
    HETAO_PROCESSING_KEY: { type: 'string', minLength: 1 },
    HETAO_MAX_CONNECTIONS: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    HETAO_MAX_CONNECTIONS_PER_PRINCIPAL: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    HETAO_CONNECTION_IDLE_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 3_600_000 },
    HETAO_DATABASE_URL: { type: 'string', pattern: '^postgres(ql)?://' },
    HETAO_DATABASE_POOL_SIZE: { type: 'integer', minimum: 1, maximum: 1000 },
    HETAO_DATABASE_CONNECT_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 600_000 },
    HETAO_DATABASE_STATEMENT_TIMEOUT_MS: { type: 'integer', minimum: 0, maximum: 3_600_000 },
    HETAO_S3_BUCKET: { type: 'string', pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' },
    HETAO_S3_ENDPOINT: { type: 'string', pattern: '^https?://' },
    HETAO_S3_REGION: { type: 'string', pattern: '^[a-z0-9-]+$' },
    HETAO_S3_ACCESS_KEY_ID: { type: 'string', minLength: 1 },
    HETAO_S3_SECRET_ACCESS_KEY: { type: 'string', minLength: 1 },
    HETAO_S3_FORCE_PATH_STYLE: { type: 'boolean' },
    HETAO_S3_PART_SIZE_BYTES: { type: 'integer', minimum: 5_242_880, maximum: 5_368_709_120 },
    HETAO_S3_QUEUE_SIZE: { type: 'integer', minimum: 1, maximum: 64 },
    HETAO_S3_REQUEST_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 3_600_000 },
    HETAO_AUDIT_CHECKPOINT_INTERVAL_MS: { type: 'integer', minimum: 100, maximum: 86_400_000 },
    HETAO_AUDIT_ORIGIN: { type: 'string', pattern: '^[\\x21-\\x7e]+$' },
    HETAO_WITNESS_NAME: { type: 'string', pattern: '^[^\\s+]+$' },
    HETAO_PEER_DIRECTORY_INTERVAL_MS: { type: 'integer', minimum: 100, maximum: 86_400_000 },
    HETAO_PEER_RETRY_MS: { type: 'integer', minimum: 50, maximum: 3_600_000 },
    HETAO_INSTANCE_ID: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,128}$' },
    HETAO_UPLOAD_LEASE_MS: { type: 'integer', minimum: 300, maximum: 3_600_000 },
    HETAO_UPLOAD_CHECKPOINT_BYTES: { type: 'integer', minimum: 1_048_576, maximum: 68_719_476_736 },
  },
} as const;

const envValidator = schemaValidator<Record<string, unknown>>(envSchema, { allErrors: true, coerceTypes: true });

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
  const validateEnv = envValidator();
  if (!validateEnv(raw)) {
    const problems = (validateEnv.errors ?? []).map((e) => `${e.instancePath.slice(1) || '(environment)'} ${e.message ?? 'is invalid'}`);
    throw new GatewayError('ERR_CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`, { problems });
  }
  const setting = (name: ConfigVariable): string => String(raw[name] ?? CONFIG_VARIABLES[name].default);
  const embeddedFile = (name: ConfigVariable): string =>
    raw[name] === undefined ? path.resolve(PROJECT_ROOT, CONFIG_VARIABLES[name].default) : path.resolve(String(raw[name]));

  const nodeEnv = setting('NODE_ENV') as GatewayConfig['nodeEnv'];
  const refuse = (problem: string): never => {
    throw new GatewayError('ERR_CONFIG_INVALID', `invalid configuration: ${problem}`, { problems: [problem] });
  };
  if (raw.HETAO_S3_BUCKET !== undefined && raw.HETAO_DATABASE_URL === undefined) {
    refuse('HETAO_S3_BUCKET needs HETAO_DATABASE_URL: with envelopes in a bucket, records and the journal must be shared too');
  }
  if ((raw.HETAO_S3_ACCESS_KEY_ID === undefined) !== (raw.HETAO_S3_SECRET_ACCESS_KEY === undefined)) {
    refuse('HETAO_S3_ACCESS_KEY_ID and HETAO_S3_SECRET_ACCESS_KEY go together');
  }
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
    policyProfiles: policyProfilesOf(setting('HETAO_POLICY_PROFILES')),
    signingKeyFile: embeddedFile('HETAO_SIGNING_KEY'),
    previousSigningKeyFiles: Object.freeze(
      String(raw.HETAO_PREVIOUS_SIGNING_KEYS ?? '')
        .split(',')
        .map((file) => file.trim())
        .filter((file) => file !== '')
        .map((file) => path.resolve(file)),
    ),
    uploadIdleTimeoutMs: Number(setting('HETAO_UPLOAD_IDLE_TIMEOUT_MS')),
    uploadCheckpointBytes: Number(setting('HETAO_UPLOAD_CHECKPOINT_BYTES')),
    dataDir: path.resolve(setting('HETAO_DATA_DIR')),
    logLevel: setting('HETAO_LOG_LEVEL') as GatewayConfig['logLevel'],
    watchFiles: setting('HETAO_WATCH_FILES') === 'true',
    shutdownGraceMs: Number(setting('HETAO_SHUTDOWN_GRACE_MS')),
    redisUrl: raw.REDIS_URL === undefined ? undefined : String(raw.REDIS_URL),
    queue: Object.freeze({
      thresholdBytes: Number(setting('HETAO_QUEUE_THRESHOLD_BYTES')),
      workers: Number(setting('HETAO_QUEUE_WORKERS')),
      perRecipient: Number(setting('HETAO_QUEUE_PER_RECIPIENT')),
      attempts: Number(setting('HETAO_QUEUE_ATTEMPTS')),
      backoffMs: Number(setting('HETAO_QUEUE_BACKOFF_MS')),
      lockMs: Number(setting('HETAO_QUEUE_LOCK_MS')),
      reconcileMs: Number(setting('HETAO_QUEUE_RECONCILE_MS')),
      prefix: setting('HETAO_QUEUE_PREFIX'),
      bulkChunksPerTurn: Number(setting('HETAO_BULK_CHUNKS_PER_TURN')),
    }),
    sealingThreads: Number(setting('HETAO_SEALING_THREADS')),
    clientCertFile: embeddedFile('HETAO_PUSH_CLIENT_CERT'),
    clientKeyFile: embeddedFile('HETAO_PUSH_CLIENT_KEY'),
    processingKeyFile: embeddedFile('HETAO_PROCESSING_KEY'),
    connections: Object.freeze({
      maxConnections: Number(setting('HETAO_MAX_CONNECTIONS')),
      maxPerPrincipal: Number(setting('HETAO_MAX_CONNECTIONS_PER_PRINCIPAL')),
      idleTimeoutMs: Number(setting('HETAO_CONNECTION_IDLE_TIMEOUT_MS')),
    }),
    database:
      raw.HETAO_DATABASE_URL === undefined
        ? undefined
        : Object.freeze({
            url: String(raw.HETAO_DATABASE_URL),
            poolSize: Number(setting('HETAO_DATABASE_POOL_SIZE')),
            connectTimeoutMs: Number(setting('HETAO_DATABASE_CONNECT_TIMEOUT_MS')),
            statementTimeoutMs: Number(setting('HETAO_DATABASE_STATEMENT_TIMEOUT_MS')),
          }),
    s3:
      raw.HETAO_S3_BUCKET === undefined
        ? undefined
        : Object.freeze({
            endpoint: raw.HETAO_S3_ENDPOINT === undefined ? undefined : String(raw.HETAO_S3_ENDPOINT),
            region: setting('HETAO_S3_REGION'),
            bucket: String(raw.HETAO_S3_BUCKET),
            credentials:
              raw.HETAO_S3_ACCESS_KEY_ID === undefined
                ? undefined
                : Object.freeze({ accessKeyId: String(raw.HETAO_S3_ACCESS_KEY_ID), secretAccessKey: String(raw.HETAO_S3_SECRET_ACCESS_KEY) }),
            forcePathStyle: setting('HETAO_S3_FORCE_PATH_STYLE') === 'true',
            partSizeBytes: Number(setting('HETAO_S3_PART_SIZE_BYTES')),
            queueSize: Number(setting('HETAO_S3_QUEUE_SIZE')),
            requestTimeoutMs: Number(setting('HETAO_S3_REQUEST_TIMEOUT_MS')),
          }),
    instanceId: raw.HETAO_INSTANCE_ID === undefined ? `${hostname()}-${process.pid}` : String(raw.HETAO_INSTANCE_ID),
    uploadLeaseMs: Number(setting('HETAO_UPLOAD_LEASE_MS')),
    auditCheckpointIntervalMs: Number(setting('HETAO_AUDIT_CHECKPOINT_INTERVAL_MS')),
    auditOrigin: setting('HETAO_AUDIT_ORIGIN'),
    witnessName: setting('HETAO_WITNESS_NAME'),
    peerDirectoryIntervalMs: Number(setting('HETAO_PEER_DIRECTORY_INTERVAL_MS')),
    peerRetryMs: Number(setting('HETAO_PEER_RETRY_MS')),
  });
}

/** `HETAO_POLICY_PROFILES` as a list (checked by the schema above); undefined when empty (all jurisdictions). */
function policyProfilesOf(value: string): readonly PolicyJurisdiction[] | undefined {
  const profiles = value
    .split(',')
    .map((profile) => profile.trim())
    .filter((profile) => profile !== '') as PolicyJurisdiction[];
  return profiles.length > 0 ? Object.freeze([...new Set(profiles)]) : undefined;
}
