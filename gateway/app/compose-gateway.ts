// Composition root: loads trust material and the registry, builds the API and ops listeners, wires
// reloads, and returns a handle to close everything gracefully. main.ts and the tests both use it.
import { readFile } from 'node:fs/promises';
import type { Server as HttpsServer } from 'node:https';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createBoundedShutdown, NOTHING_LEFT, type ShutdownOutcome } from './bounded-shutdown.js';
import type { GatewayConfig } from '../config.js';
import { PROJECT_ROOT } from '../config.js';
import { GatewayError } from '../errors.js';
import { createConnectionAuthenticator } from '../identity/authenticate-connection.js';
import { loadRegistry } from '../identity/registry.js';
import { findDevelopmentCertificates, loadTlsMaterial, type TlsMaterial } from '../identity/tls-material.js';
import { createMetrics } from '../ops/metrics.js';
import { createStorageErrorReporter } from '../ops/report-storage-errors.js';
import { createReloadable, watchFile, type Reloadable, type WatchTarget } from '../reload/reloadable.js';
import { loadPolicySet, POLICY_FILE_SUFFIX } from '../policy/load-policy-set.js';
import { policyCheckContext } from '../policy/check-policy-files.js';
import type { AuditActor, AuditEvent } from '../audit/audit-entry.js';
import { createAuditJournal } from '../audit/create-audit-journal.js';
import { createAuditService } from '../audit/audit-service.js';
import { createRefusalJournal } from '../audit/refusal-journal.js';
import { createPolicyService } from '../policy/policy-service.js';
import { createGatewaySigner } from '../envelope/gateway-signer.js';
import { policyDeniedEvent, transferChangeEvent, transferDownloadEvent } from '../transfer/transfer-audit-events.js';
import { createFilesystemStore } from '../storage/filesystem-store.js';
import { createRecordStore } from '../transfer/record-store.js';
import { createTransferService } from '../transfer/transfer-service.js';
import { createStageCoordinator, type StageCoordinator } from '../transfer/stage-coordinator.js';
import { createStageResults } from '../transfer/stage-results.js';
import { createBulkLane } from '../transfer/bulk-lane.js';
import { createSealingThreads } from '../transfer/sealing-threads.js';
import { BULK_UPLOAD_BYTES } from '../transfer/upload-transfer.js';
import { createStageQueueFor, loadProcessingKey, startStageWorkers, workerMetricsEvents } from './stage-workers.js';
import { buildApiApp } from '../http/api-app.js';
import { buildOpsApp } from '../http/ops-app.js';

export interface RunningGateway {
  /** e.g. https://127.0.0.1:8443 */
  readonly apiUrl: string;
  /** e.g. http://127.0.0.1:9464 */
  readonly opsUrl: string;
  /** Reloads CA/CRL, registry and policies (SIGHUP). Resolves when every attempt is done; never rejects. */
  reload(trigger: string): Promise<void>;
  /** Stops accepting, lets in-flight requests finish, then closes: all within HETAO_SHUTDOWN_GRACE_MS (bounded-shutdown.ts). */
  close(): Promise<ShutdownOutcome>;
}

/**
 * Starts the gateway.
 * @throws GatewayError ERR_CONFIG_INVALID (unusable TLS files, dev material in production),
 *   ERR_CRL_INVALID, ERR_REGISTRY_INVALID: the gateway does not start on invalid files.
 */
export async function composeGateway(config: GatewayConfig, logger: Logger): Promise<RunningGateway> {
  const metrics = createMetrics();
  const tlsFiles = { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, caFile: config.tlsCaFile, crlFile: config.tlsCrlFile };

  let apiServer: HttpsServer | undefined;
  /** Set once the journal is open (it needs the signer, which comes after the first loads). */
  let pendingReloadAudit: ((event: AuditEvent) => Promise<void>) | undefined;
  const reloadActor = (trigger: string): AuditActor =>
    trigger.startsWith('officer:') ? { kind: 'person', id: trigger.slice('officer:'.length) } : { kind: 'gateway', id: 'gateway' };
  /** A reloadable whose every outcome is logged (with revisions before → after) and counted. */
  const observed = async <T extends { revision: string }>(
    source: string,
    watch: readonly WatchTarget[],
    load: () => Promise<T>,
    apply?: (next: T) => void,
  ): Promise<Reloadable<T>> => {
    const reloadable = await createReloadable<T>({
      name: source,
      watch,
      load,
      revisionOf: (value) => value.revision,
      watchFiles: config.watchFiles,
      onReloaded: async ({ trigger, before, after }) => {
        apply?.(after);
        metrics.reloads.inc({ source, result: 'applied' });
        metrics.markRevision(source, after.revision);
        logger.info({ source, trigger, before: before.revision, after: after.revision }, `${source} reloaded`);
        // The new version is already in force: a journal failure is logged, it does not undo the reload.
        await pendingReloadAudit?.({ type: `${source}.reloaded`, actor: reloadActor(trigger), details: { trigger, before: before.revision, after: after.revision } }).catch((error: unknown) =>
          logger.error({ source, err: error }, `${source} reload could not be written to the audit journal`),
        );
      },
      onRejected: ({ trigger, error }) => {
        metrics.reloads.inc({ source, result: 'rejected' });
        void pendingReloadAudit?.({ type: `${source}.reload-rejected`, actor: reloadActor(trigger), details: { trigger, code: (error as GatewayError).code ?? 'ERR_INTERNAL' } }).catch(() => undefined);
        const problems = error instanceof GatewayError ? error.details?.problems : undefined;
        logger.error({ source, trigger, code: (error as GatewayError).code, problems, err: error }, `${source} reload refused; the previous ${source} stays in force`);
      },
    });
    metrics.markRevision(source, reloadable.current().revision);
    return reloadable;
  };

  const tls = await observed(
    'tls',
    [config.tlsCaFile, ...(config.tlsCrlFile ? [config.tlsCrlFile] : [])].map(watchFile),
    async () => assertAllowedInEnvironment(await loadTlsMaterial(tlsFiles), config),
    // setSecureContext throws on material OpenSSL refuses: the reloadable then keeps the old one.
    (after) => apiServer?.setSecureContext({ key: after.key, cert: after.cert, ca: after.ca, ...(after.crl ? { crl: [...after.crl] } : {}) }),
  );
  const registry = await observed('registry', [watchFile(config.registryFile)], () => loadRegistry(config.registryFile));
  const policies = await observed('policy', [{ folder: config.policyDir, accept: (name) => name.endsWith(POLICY_FILE_SUFFIX) }], () =>
    loadPolicySet(config.policyDir, policyCheckContext(registry.current())),
  );

  const signingKeyPem = await readFile(config.signingKeyFile, 'utf8').catch((cause: unknown) => {
    throw new GatewayError('ERR_CONFIG_INVALID', `${config.signingKeyFile} cannot be read`, { file: config.signingKeyFile }, { cause });
  });
  const devKeys = [config.signingKeyFile, config.processingKeyFile, config.clientCertFile, config.clientKeyFile].filter(isDevelopmentFile);
  if (config.nodeEnv === 'production' && devKeys.length > 0) {
    throw new GatewayError('ERR_CONFIG_INVALID', 'production refuses the development signing, processing and push-client keys', { devFiles: devKeys });
  }
  const previousPublicKeys = await Promise.all(config.previousSigningKeyFiles.map((file) => readFile(file, 'utf8')));
  const signer = createGatewaySigner(signingKeyPem, { previousPublicKeys });
  // A full or failing disk: logged with the path and errno, counted, and answered 507/503 by the writer.
  const onStorageError = createStorageErrorReporter(metrics, logger);
  const journal = await createAuditJournal({
    dir: path.join(config.dataDir, 'audit'),
    signer,
    onStorageError,
    checkpointIntervalMs: AUDIT_CHECKPOINT_MS,
    onRecover: (recovery) => logger.warn({ recovery }, 'audit journal: a torn last line from a crash was cut off'),
  });
  if (journal.status().state !== 'ok') {
    logger.error({ audit: journal.status() }, 'audit journal is corrupt: the gateway refuses to record (and so to accept) anything until it is restored');
  }
  /** Who did it, as the journal names actors. */
  const actorOf = (id: string): AuditActor =>
    id === 'gateway' ? { kind: 'gateway', id } : registry.current().people.has(id) ? { kind: 'person', id } : { kind: 'institution', id };
  pendingReloadAudit = (event) => journal.append(event).then(() => undefined);
  const objects = await createFilesystemStore(config.dataDir, { onStorageError });
  const lookupInstitution = (id: string) => registry.current().institutions.get(id);
  const queue = createStageQueueFor(config);
  const processingKey = await loadProcessingKey(config);
  let coordinator: StageCoordinator | undefined;
  const bulkLane = createBulkLane({ chunksPerTurn: config.queue.bulkChunksPerTurn });
  const sealingThreads = config.sealingThreads > 0 ? createSealingThreads({ threads: config.sealingThreads, niceness: SEALING_THREAD_NICENESS, onStorageError }) : undefined;
  const transfers = createTransferService({
    records: await createRecordStore(objects),
    objects,
    signer,
    policies: () => policies.current(),
    lookupInstitution,
    clock: () => new Date(),
    uploadIdleTimeoutMs: config.uploadIdleTimeoutMs,
    processingPublicJwk: processingKey.publicJwk,
    bulkLane,
    ...(sealingThreads ? { sealingThreads } : {}),
    queueing: { thresholdBytes: config.queue.thresholdBytes, available: () => queue.isAvailable(), retryAfterSeconds: QUEUE_RETRY_AFTER_S },
    onChange: async (record, change) => {
      await journal.append(transferChangeEvent(record, change, actorOf(change.by)));
      // Not awaited: the upload holds the transfer's lock, and an inline stage starts by taking it.
      if (change.event === 'queued') void coordinator?.afterUpload(record);
    },
    onDenied: async (decision, manifest, by) => {
      await journal.append(policyDeniedEvent(decision, manifest.dataset.category, actorOf(by)));
    },
    onAccess: async (record, access) => {
      await journal.append(transferDownloadEvent(record, access, actorOf(access.by)));
    },
  });
  const interrupted = await transfers.recoverInterruptedUploads();
  if (interrupted > 0) logger.warn({ interrupted }, 'uploads cut short by the last stop were reset to authorized');

  const results = createStageResults(objects);
  coordinator = await createStageCoordinator({
    transfers,
    queue,
    results,
    observer: {
      onEnqueueFailed: (transferId, stage, error) => logger.warn({ transferId, stage, err: error }, 'stage not enqueued (queue unreachable); it will be when the queue is back'),
      onFailed: (stage, reason) => {
        metrics.stageFailures.inc({ stage });
        logger.error({ stage, reason }, 'stage failed for good');
      },
      onApplied: (stage, durationMs, outcome) => metrics.stageDuration.observe({ stage, outcome }, durationMs / 1000),
      onReenqueued: (stage, count) => metrics.stageReenqueued.inc({ stage }, count),
    },
  });
  metrics.observeQueueDepth(() => queue.depth());
  // Inline mode has nobody else to run the stages; with Redis, HETAO_QUEUE_WORKERS=0 leaves them to `hetao worker`.
  if (!config.redisUrl || config.queue.workers > 0) {
    await startStageWorkers({
      config,
      queue,
      objects,
      results,
      signer,
      pushEndpointOf: (id) => registry.current().institutions.get(id)?.pushEndpoint,
      concurrency: Math.max(config.queue.workers, 1),
      events: workerMetricsEvents(metrics, logger),
      lane: bulkLane,
    });
  }
  const reconcile = (trigger: string): void => {
    coordinator
      ?.reconcile()
      .then((count) => count > 0 && logger.info({ trigger, reenqueued: count }, 'stages missing from the queue were enqueued again from the records'))
      .catch((error: unknown) => logger.warn({ trigger, err: error }, 'queue reconciliation failed; it is tried again later'));
  };
  queue.onAvailable(() => reconcile('queue-reconnected'));
  reconcile('start');
  const reconcileTimer = setInterval(() => reconcile('periodic'), config.queue.reconcileMs);
  reconcileTimer.unref();
  const retentionSweep = setInterval(() => {
    transfers.expireDue().catch((error: unknown) => logger.error({ err: error }, 'retention sweep failed'));
  }, RETENTION_SWEEP_MS);
  retentionSweep.unref();

  const refusals = createRefusalJournal({ append: (event) => journal.append(event), clock: () => new Date(), windowMs: REFUSAL_WINDOW_MS });
  const refusalFlush = setInterval(() => {
    refusals.flush().catch((error: unknown) => logger.error({ err: error }, 'repeated refusals could not be written to the audit journal'));
  }, REFUSAL_WINDOW_MS);
  refusalFlush.unref();

  const api = await buildApiApp({
    connections: config.connections,
    logger,
    tls: tls.current(),
    authenticate: createConnectionAuthenticator(() => registry.current()),
    metrics,
    onInteractiveRequest: () => bulkLane.interactive(),
    bulkUploadBytes: BULK_UPLOAD_BYTES,
    refusals,
    services: {
      transfers,
      policies: createPolicyService({
        policies: () => policies.current(),
        registry: () => registry.current(),
        reload: (trigger) => policies.reload(trigger),
        clock: () => new Date(),
      }),
      audit: createAuditService({ journal, transferVisibleTo: (id, caller) => transfers.get(id, caller).id }),
      jwks: () => signer.publicJwks(),
    },
  });
  let closing = false;
  const ops = buildOpsApp({
    logger,
    metrics,
    readiness: async () => ({
      api: { ok: !closing && api.server.listening },
      registry: { ok: true, revision: registry.current().revision, institutions: registry.current().institutions.size },
      tls: { ok: true, revision: tls.current().revision, revocationChecked: tls.current().crl !== undefined },
      policy: { ok: true, revision: policies.current().revision, rules: policies.current().rules.length },
      audit: { ok: journal.status().state === 'ok', state: journal.status().state, entries: journal.status().size },
      // Redis down degrades (large transfers answer 503) but the gateway still serves: ready stays true.
      queue: config.redisUrl ? { ok: true, mode: 'redis', redis: queue.isAvailable() ? 'connected' : 'unreachable' } : { ok: true, mode: 'inline' },
    }),
  });

  try {
    await api.listen({ host: config.host, port: config.port });
    await ops.listen({ host: config.opsHost, port: config.opsPort });
  } catch (error) {
    for (const reloadable of [tls, registry, policies]) reloadable.close();
    clearInterval(retentionSweep);
    clearInterval(reconcileTimer);
    clearInterval(refusalFlush);
    await Promise.allSettled([api.close(), ops.close(), queue.close(AbortSignal.timeout(config.shutdownGraceMs))]);
    await journal.close();
    await sealingThreads?.close();
    await objects.close();
    throw error;
  }
  apiServer = api.server as unknown as HttpsServer;

  return {
    apiUrl: `https://${urlHost(api.server.address() as AddressInfo)}`,
    opsUrl: `http://${urlHost(ops.server.address() as AddressInfo)}`,
    async reload(trigger) {
      await Promise.all([tls.reload(trigger), registry.reload(trigger)]);
      // Policies are checked against the registry, so they reload after it.
      await policies.reload(trigger);
    },
    async close() {
      if (closing) return NOTHING_LEFT;
      closing = true;
      for (const reloadable of [tls, registry, policies]) reloadable.close();
      clearInterval(retentionSweep);
      clearInterval(reconcileTimer);
      // One deadline for the whole stop; a step that hangs (a Redis that does not answer, a job
      // stuck on a silent recipient) is abandoned and named, and the next one runs.
      const shutdown = createBoundedShutdown({ graceMs: config.shutdownGraceMs, logger });
      const cutRequests = (): void => {
        logger.warn({ graceMs: config.shutdownGraceMs }, 'grace period over: closing remaining connections');
        apiServer?.closeAllConnections();
      };
      shutdown.deadline('requests').addEventListener('abort', cutRequests, { once: true });
      await shutdown.step('api', 'drain', () => api.close());
      shutdown.deadline('requests').removeEventListener('abort', cutRequests);
      await shutdown.step('ops', 'drain', () => ops.close());
      // Running stages finish (inline) or hand their jobs back (BullMQ) before the journal closes.
      await shutdown.step('queue', 'drain', (deadline) => queue.close(deadline));
      clearInterval(refusalFlush);
      await shutdown.step('refusals', 'final', () =>
        refusals.flush({ all: true }).catch((error: unknown) => logger.error({ err: error }, 'repeated refusals could not be written to the audit journal')),
      );
      // A final checkpoint covers every entry written before shutdown.
      await shutdown.step('journal', 'final', () => journal.close());
      if (sealingThreads) await shutdown.step('sealing-threads', 'final', () => sealingThreads.close());
      await shutdown.step('object-store', 'final', () => objects.close());
      return shutdown.finish();
    },
  };
}

/** Sealing is bulk work: below the event loop, which serves every small request (Unix niceness). */
const SEALING_THREAD_NICENESS = 10;

function urlHost(address: AddressInfo): string {
  return `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

/** Files of the development PKI: in certs-dev/ or named `*.dev-only.*` wherever they were copied. */
function isDevelopmentFile(file: string): boolean {
  return file.startsWith(path.join(PROJECT_ROOT, 'certs-dev') + path.sep) || path.basename(file).includes('.dev-only.');
}

/** How often a checkpoint is signed when the journal grew. */
const AUDIT_CHECKPOINT_MS = 60_000;

/** What a large upload refused for want of Redis is told to wait. */
const QUEUE_RETRY_AFTER_S = 30;

/** Repeats of one refusal (principal, route, code) within this window are journaled as one entry with their count. */
const REFUSAL_WINDOW_MS = 60_000;

/** How often transfers past their retention lose their content. */
const RETENTION_SWEEP_MS = 60_000;

/** Production never trusts the development PKI: its private keys are public in this repository. */
function assertAllowedInEnvironment(material: TlsMaterial, config: GatewayConfig): TlsMaterial {
  if (config.nodeEnv !== 'production') return material;
  const devFiles = [config.tlsCertFile, config.tlsKeyFile, config.tlsCaFile, config.tlsCrlFile].filter(
    (file): file is string => file !== undefined && isDevelopmentFile(file),
  );
  const devCertificates = findDevelopmentCertificates(material);
  if (devFiles.length > 0 || devCertificates.length > 0) {
    throw new GatewayError('ERR_CONFIG_INVALID', 'production refuses the development CA and keys', { devFiles, devCertificates });
  }
  return material;
}

