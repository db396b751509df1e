// Set-up shared by the gateway process and `hetao worker`: the stage queue the configuration asks
// for (BullMQ when REDIS_URL is set, else inline), and workers running the heavy stages with the
// keys and certificates they need.
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import type { PushTls } from '../delivery/push-envelope.js';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import { createInlineStageQueue, type StageQueue, type StageWorkerEvents } from '../queue/stage-queue.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { BulkLane } from '../transfer/bulk-lane.js';
import type { RecordReader } from '../transfer/record-store.js';
import { createStageHandlers } from '../transfer/stage-handlers.js';
import type { Registry } from '../identity/registry.js';
import { createTransferForwarder } from '../peering/forward-transfer.js';
import type { PeerClient } from '../peering/peer-client.js';
import { withPeerKeys } from '../peering/peer-keys.js';
import type { StageResults } from '../transfer/stage-results.js';

/** BullMQ (and ioredis) are loaded only when Redis is configured: ~30 MiB an embedded process never uses. */
export async function createStageQueueFor(config: GatewayConfig): Promise<StageQueue> {
  const { queue } = config;
  if (!config.redisUrl) return createInlineStageQueue({ attempts: queue.attempts, retryDelayMs: queue.backoffMs });
  const { createBullmqStageQueue } = await import('../queue/bullmq-stage-queue.js');
  return createBullmqStageQueue({ url: config.redisUrl, prefix: queue.prefix, attempts: queue.attempts, backoffMs: queue.backoffMs, lockMs: queue.lockMs });
}

export interface StageWorkerDependencies {
  readonly config: GatewayConfig;
  readonly queue: StageQueue;
  readonly objects: ObjectStore;
  readonly records: RecordReader;
  readonly results: StageResults;
  readonly signer: GatewaySigner;
  /** The registry as it stands: the peer gateways forwarded transfers go to, and whose signatures are accepted. */
  readonly registry: () => Registry;
  /** This process's client for the peer gateways (closed by its owner). */
  readonly peerClient: PeerClient;
  readonly processingKey: KeyObject;
  readonly pushTls: PushTls;
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
export function startStageWorkers(deps: StageWorkerDependencies): void {
  const handlers = createStageHandlers({
    objects: deps.objects,
    records: deps.records,
    results: deps.results,
    processingKey: deps.processingKey,
    jwks: () => withPeerKeys(deps.signer.publicJwks(), deps.registry()),
    pushEndpointOf: deps.pushEndpointOf,
    pushTls: deps.pushTls,
    perRecipient: deps.config.queue.perRecipient,
    ...(deps.lane ? { lane: deps.lane } : {}),
    forward: createTransferForwarder({
      objects: deps.objects,
      signer: deps.signer,
      origin: deps.config.auditOrigin,
      processingKey: deps.processingKey,
      jwks: () => deps.signer.publicJwks(),
      peerOf: (gateway) => deps.registry().gateways.get(gateway),
      client: deps.peerClient,
      clock: () => new Date(),
      retryMs: deps.config.peerRetryMs,
    }),
  });
  deps.queue.startWorkers(handlers, deps.concurrency ?? deps.config.queue.workers, deps.events);
}
