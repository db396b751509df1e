// Starts a real gateway (real TLS listener on a free loopback port) on a private copy of the
// registry and CRL, and calls it over mutual TLS with undici, as a lab system would.
import { copyFile, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Agent, request } from 'undici';
import { parse, stringify } from 'yaml';
import { loadConfig, type GatewayConfig } from '../../gateway/config.js';
import { composeGateway, type GatewayBackends, type RunningGateway } from '../../gateway/app/compose-gateway.js';
import { createLogger } from '../../gateway/ops/logger.js';
import { POLICY_DIR, REGISTRY_FILE, devFile, zoneCaBundle, type ClientIdentity } from './dev-pki.js';

export interface TestGateway {
  readonly gateway: RunningGateway;
  readonly config: GatewayConfig;
  /** The private registry copy this gateway reads. */
  readonly registryFile: string;
  /** The private CRL copy this gateway reads. */
  readonly crlFile: string;
  /** The private copy of the policy folder this gateway reads. */
  readonly policyDir: string;
  /** Every log line written so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Raw log text, to check nothing secret was written. */
  rawLogs(): string;
  /** Stops the gateway and removes its folder. */
  close(): Promise<void>;
  /** Stops the gateway but keeps its data folder (a restart test starts another on it); safe to call twice. */
  stop(): Promise<void>;
}

/**
 * @param env settings over the test defaults (HETAO_* variables).
 * @param backends back-ends in place of the configured ones, e.g. `openObjectStore` for another object store.
 */
export async function startTestGateway(env: Record<string, string> = {}, backends: GatewayBackends = {}): Promise<TestGateway> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-test-'));
  const registryFile = path.join(dir, 'registry.yaml');
  const crlFile = path.join(dir, 'zone-crl.pem');
  await copyFile(REGISTRY_FILE, registryFile);
  await copyFile(devFile('zone-crl.dev-only.pem'), crlFile);
  const policyDir = path.join(dir, 'policies');
  await cp(POLICY_DIR, policyDir, { recursive: true, filter: (source) => !source.endsWith('registry.yaml') });
  const config = loadConfig({
    HETAO_PORT: '0',
    HETAO_OPS_PORT: '0',
    HETAO_DATA_DIR: path.join(dir, 'data'),
    HETAO_REGISTRY_FILE: registryFile,
    HETAO_TLS_CRL: crlFile,
    HETAO_POLICY_DIR: policyDir,
    HETAO_LOG_LEVEL: 'info',
    HETAO_SHUTDOWN_GRACE_MS: '5000',
    ...env,
  });
  let raw = '';
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      raw += chunk.toString('utf8');
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const gateway = await composeGateway(config, createLogger({ level: config.logLevel, destination }), backends);
  return {
    gateway,
    config,
    registryFile,
    crlFile,
    policyDir,
    logs,
    rawLogs: () => raw,
    async close() {
      await gateway.close();
      await rm(dir, { recursive: true, force: true });
    },
    async stop() {
      await gateway.close();
    },
  };
}

/** Rewrites the private registry copy through a function of its parsed document. */
export async function editRegistry(file: string, edit: (document: RegistryDocument) => void): Promise<void> {
  const document = parse(await readFile(file, 'utf8')) as RegistryDocument;
  edit(document);
  await writeFile(file, stringify(document));
}

export interface RegistryDocument {
  institutions: { id: string; status: string; [key: string]: unknown }[];
  people: { id: string; status?: string; institution: string; [key: string]: unknown }[];
  [key: string]: unknown;
}

export function mtlsAgent(identity: ClientIdentity | undefined): Agent {
  return new Agent({
    connect: { ca: zoneCaBundle(), ...(identity ? { cert: identity.cert, key: identity.key } : {}) },
  });
}

export interface CallResult {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
}

/** One mTLS call; rejects when the TLS layer refuses the connection. */
export async function call(
  baseUrl: string,
  identity: ClientIdentity | Agent | undefined,
  pathname: string,
  options: { method?: 'GET' | 'POST' | 'PUT' | 'DELETE'; body?: string; json?: unknown; headers?: Record<string, string> } = {},
): Promise<CallResult> {
  const dispatcher = identity instanceof Agent ? identity : mtlsAgent(identity);
  try {
    const response = await request(new URL(pathname, baseUrl), {
      dispatcher,
      method: options.method ?? 'GET',
      ...(options.body === undefined ? {} : { body: options.body }),
      ...(options.json === undefined ? {} : { body: JSON.stringify(options.json) }),
      headers: { ...(options.json === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
    });
    const text = await response.body.text();
    const contentType = response.headers['content-type'];
    return {
      status: response.statusCode,
      contentType: typeof contentType === 'string' ? contentType : undefined,
      headers: response.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  } finally {
    if (!(identity instanceof Agent)) await dispatcher.close();
  }
}
