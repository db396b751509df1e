// Set-up shared by the gateway process and `hetao worker`: the stage queue the configuration asks
// for (BullMQ when REDIS_URL is set, else inline), and workers running the heavy stages with the
// keys and certificates they need. Worker processes share the gateway's data directory.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import type { PushTls } from '../delivery/push-envelope.js';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import { createBullmqStageQueue } from '../queue/bullmq-stage-queue.js';
import { createInlineStageQueue, type StageQueue, type StageWorkerEvents } from '../queue/stage-queue.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { BulkLane } from '../transfer/bulk-lane.js';
import { createStageHandlers } from '../transfer/stage-handlers.js';
import type { StageResults } from '../transfer/stage-results.js';

export function createStageQueueFor(config: GatewayConfig): StageQueue {
  const { queue } = config;
  if (!config.redisUrl) return createInlineStageQueue({ attempts: queue.attempts, retryDelayMs: queue.backoffMs });
  return createBullmqStageQueue({ url: config.redisUrl, prefix: queue.prefix, attempts: queue.attempts, backoffMs: queue.backoffMs, lockMs: queue.lockMs });
}

const readConfigured = (file: string, what: string): Promise<string> =>
  readFile(file, 'utf8').catch((cause: unknown) => {
    throw new GatewayError('ERR_CONFIG_INVALID', `${file} (${what}) cannot be read`, { file }, { cause });
  });

/** The processing key pair: workers open queued transfers with the private half; uploads wrap to the public one. */
export async function loadProcessingKey(config: GatewayConfig): Promise<{ privateKey: KeyObject; publicJwk: JWK }> {
  const pem = await readConfigured(config.processingKeyFile, 'HETAO_PROCESSING_KEY');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (cause) {
    throw new GatewayError('ERR_CONFIG_INVALID', `${config.processingKeyFile} is not a PEM private key`, { file: config.processingKeyFile }, { cause });
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new GatewayError('ERR_CONFIG_INVALID', `${config.processingKeyFile} is not an EC P-256 key`, { file: config.processingKeyFile });
  }
  const { kty, crv, x, y } = createPublicKey(privateKey).export({ format: 'jwk' });
  return { privateKey, publicJwk: { kty, crv, x, y } as JWK };
}

async function loadPushTls(config: GatewayConfig): Promise<PushTls> {
  const [cert, key, caBundle] = await Promise.all([
    readConfigured(config.clientCertFile, 'HETAO_PUSH_CLIENT_CERT'),
    readConfigured(config.clientKeyFile, 'HETAO_PUSH_CLIENT_KEY'),
    readConfigured(config.tlsCaFile, 'HETAO_TLS_CA'),
  ]);
  const ca = caBundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return { cert, key, ca };
}

export interface StageWorkerDependencies {
  readonly config: GatewayConfig;
  readonly queue: StageQueue;
  readonly objects: ObjectStore;
  readonly results: StageResults;
  readonly signer: Pick<GatewaySigner, 'publicJwks'>;
  readonly pushEndpointOf: (institution: string) => string | undefined;
  /** Jobs per stage at once; default: the configuration's HETAO_QUEUE_WORKERS. */
  readonly concurrency?: number;
  readonly events?: StageWorkerEvents;
  readonly lane?: BulkLane;
}

/** Worker attempts as metrics (retries) and log lines, in whichever process runs them. */
export function workerMetricsEvents(metrics: GatewayMetrics, logger: Logger): StageWorkerEvents {
  return {
    onAttemptFailed(stage, reason, willRetry) {
      if (willRetry) metrics.stageRetries.inc({ stage });
      logger.warn({ stage, reason, willRetry }, willRetry ? 'stage attempt failed; it will be retried' : 'stage attempt failed; no retry left');
    },
  };
}

/** Starts this process's workers on `queue`. */
export async function startStageWorkers(deps: StageWorkerDependencies): Promise<void> {
  const { config } = deps;
  const [{ privateKey }, pushTls] = await Promise.all([loadProcessingKey(config), loadPushTls(config)]);
  const handlers = createStageHandlers({
    objects: deps.objects,
    results: deps.results,
    processingKey: privateKey,
    jwks: () => deps.signer.publicJwks(),
    pushEndpointOf: deps.pushEndpointOf,
    pushTls,
    perRecipient: config.queue.perRecipient,
    ...(deps.lane ? { lane: deps.lane } : {}),
  });
  deps.queue.startWorkers(handlers, deps.concurrency ?? config.queue.workers, deps.events);
}
