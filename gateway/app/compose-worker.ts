// `hetao worker`: a process that runs queued stages only, for scale-out. It shares the gateway's
// configuration and back-ends (its data directory, or in shared mode its database and bucket) and needs REDIS_URL; it writes stage results, never records or
// the audit journal (the gateway applies the results). Its ops listener serves /healthz, /readyz and
// its own /metrics (attempts, retries) on HETAO_OPS_PORT.
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createBoundedShutdown, type ShutdownOutcome } from './bounded-shutdown.js';
import type { GatewayConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import { buildOpsApp } from '../http/ops-app.js';
import { refuseDevelopmentKeys } from '../identity/development-material.js';
import { loadRegistry } from '../identity/registry.js';
import { createMetrics } from '../ops/metrics.js';
import { createStorageErrorReporter } from '../ops/report-storage-errors.js';
import { watchFile } from '../reload/reloadable.js';
import { createStageResults } from '../transfer/stage-results.js';
import { loadProcessingKey, loadPushTls, loadSigner } from './load-keys.js';
import { openBackEnds, openRecordReader } from './back-ends.js';
import { observeReloads } from './observed-reloads.js';
import { createThreadPool } from '../threads/thread-pool.js';
import { createPeerClient } from '../peering/peer-client.js';
import { createStageQueueFor, startStageWorkers, workerMetricsEvents } from './start-stage-workers.js';

export interface RunningWorker {
  readonly opsUrl: string;
  /** Lets running jobs finish (or hands them back), then closes; every step within HETAO_SHUTDOWN_GRACE_MS. */
  close(): Promise<ShutdownOutcome>;
}

export async function composeWorker(config: GatewayConfig, logger: Logger): Promise<RunningWorker> {
  if (!config.redisUrl) throw new GatewayError('ERR_CONFIG_INVALID', 'a worker process needs REDIS_URL (without Redis every stage runs inside the gateway)');
  if (config.queue.workers < 1) throw new GatewayError('ERR_CONFIG_INVALID', 'HETAO_QUEUE_WORKERS must be at least 1 for a worker process');
  refuseDevelopmentKeys(config);
  const metrics = createMetrics();
  const signer = await loadSigner(config);
  const processingKey = await loadProcessingKey(config);
  const pushTls = await loadPushTls(config);
  const registry = await observeReloads({ config, metrics, logger })('registry', [watchFile(config.registryFile)], () => loadRegistry(config.registryFile));
  const threads = createThreadPool({ lanes: { io: { threads: WORKER_IO_THREADS }, bulk: { threads: 1, niceness: 10 } } });
  const opened: (() => unknown)[] = [() => registry.close(), () => threads.close()];
  let backEnds;
  try {
    // The same back-ends as the gateway's: its data folder, or (shared mode) its database and bucket.
    backEnds = await openBackEnds(
      config,
      {
        role: 'worker',
        onStorageError: createStorageErrorReporter(metrics, logger),
        threads,
        onDatabaseError: (error) => logger.warn({ err: error }, 'an idle database connection failed; the pool replaces it'),
      },
      opened,
    );
  } catch (error) {
    for (const close of opened.reverse()) await Promise.resolve().then(close).catch(() => undefined);
    throw error;
  }
  const { objects, database } = backEnds;
  if (database) metrics.observeDatabasePool(() => database.stats());
  const queue = await createStageQueueFor(config);
  const peerClient = createPeerClient(pushTls);
  startStageWorkers({
    config,
    queue,
    objects,
    records: openRecordReader(backEnds),
    results: createStageResults(objects),
    signer,
    processingKey: processingKey.privateKey,
    pushTls,
    registry: () => registry.current(),
    peerClient,
    pushEndpointOf: (id) => registry.current().institutions.get(id)?.pushEndpoint,
    events: workerMetricsEvents(metrics, logger),
  });
  metrics.observeQueueDepth(() => queue.depth());
  const ops = buildOpsApp({
    logger,
    metrics,
    readiness: async () => ({ queue: { ok: queue.isAvailable(), redis: queue.isAvailable() ? 'connected' : 'unreachable' }, ...(await backEnds.readiness()) }),
  });
  try {
    await ops.listen({ host: config.opsHost, port: config.opsPort });
  } catch (error) {
    registry.close();
    // Bounded like a stop: an unreachable Redis must not keep a worker that failed to start alive.
    await queue.close(AbortSignal.timeout(config.shutdownGraceMs)).catch(() => undefined);
    await objects.close();
    await database?.close();
    await threads.close();
    throw error;
  }
  const address = ops.server.address() as AddressInfo;
  return {
    opsUrl: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
    async close() {
      registry.close();
      const shutdown = createBoundedShutdown({ graceMs: config.shutdownGraceMs, logger });
      // Jobs first, while /readyz still answers; a job still running at the deadline is handed back.
      await shutdown.step('queue', 'drain', (deadline) => queue.close(deadline));
      await shutdown.step('ops', 'final', () => ops.close());
      await shutdown.step('peer-client', 'final', () => peerClient.close());
      await shutdown.step('object-store', 'final', () => objects.close());
      if (database) await shutdown.step('database', 'final', () => database.close());
      await shutdown.step('threads', 'final', () => threads.close());
      return shutdown.finish();
    },
  };
}

/** A worker writes only stage results (small durable files): one thread does. */
const WORKER_IO_THREADS = 1;
