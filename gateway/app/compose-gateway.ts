// Composition root of the gateway process: reads keys and files once, opens the back-ends, builds the
// services and wires their subscriptions (journal, stage coordinator, metrics), starts the API and ops
// listeners, and returns a handle to reload and to close everything within the grace period. The
// only place a gateway is assembled: main.ts and the tests call it; nothing else imports app/.
import path from 'node:path';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createBoundedShutdown, NOTHING_LEFT, type ShutdownOutcome } from './bounded-shutdown.js';
import type { GatewayConfig } from '../config.js';
import { createConnectionAuthenticator } from '../identity/authenticate-connection.js';
import { refuseDevelopmentKeys, refuseDevelopmentTls } from '../identity/development-material.js';
import { loadRegistry } from '../identity/registry.js';
import { loadTlsMaterial } from '../identity/tls-material.js';
import { countTransferEvents } from '../ops/count-transfer-events.js';
import { createMetrics } from '../ops/metrics.js';
import { createStorageErrorReporter } from '../ops/report-storage-errors.js';
import { watchFile } from '../reload/reloadable.js';
import { loadPolicySet, POLICY_FILE_SUFFIX, type PolicySet } from '../policy/load-policy-set.js';
import { policyCheckContext } from '../policy/check-policy-files.js';
import type { AuditJournal } from '../audit/create-audit-journal.js';
import type { CosignedCheckpoint } from '../audit/export-range.js';
import { createAuditService } from '../audit/audit-service.js';
import { createRefusalJournal } from '../audit/refusal-journal.js';
import { createPolicyService } from '../policy/policy-service.js';
import { journalTransferEvents } from '../transfer/transfer-audit-events.js';
import { createTransferEvents } from '../transfer/transfer-events.js';
import { createTransferService } from '../transfer/transfer-service.js';
import { createStageCoordinator } from '../transfer/stage-coordinator.js';
import { createStageResults } from '../transfer/stage-results.js';
import { createBulkLane } from '../transfer/bulk-lane.js';
import { createSealingThreads } from '../transfer/sealing-threads.js';
import { createThreadPool } from '../threads/thread-pool.js';
import { BULK_UPLOAD_BYTES } from '../transfer/upload-transfer.js';
import { buildApiApp } from '../http/api-app.js';
import { buildOpsApp } from '../http/ops-app.js';
import { loadLogKeys, loadProcessingKey, loadPushTls, loadSigner } from './load-keys.js';
import { startWitnessing } from './witnessing.js';
import { createInboundTransfers } from '../peering/inbound-transfers.js';
import { createRecordChanges } from '../transfer/record-changes.js';
import { readEntries } from '../audit/read-entries.js';
import { countFlows } from '../flows/count-flows.js';
import { createFlowsService } from '../flows/flows-service.js';
import { createPgPolicyHistory } from '../policy-history/pg-policy-history.js';
import { openFilePolicyHistory } from '../policy-history/file-policy-history.js';
import { recordPolicyReloads } from '../policy-history/record-policy-reloads.js';
import { openFileFlowCounts } from '../flows/file-flow-counts.js';
import { openPgFlowCounts } from '../flows/pg-flow-counts.js';
import { createPeerClient } from '../peering/peer-client.js';
import { withPeerKeys } from '../peering/peer-keys.js';
import { createPeerReceipts, createReceiptRelay } from '../peering/peer-receipts.js';
import { remoteInstitutionOf } from '../peering/remote-institutions.js';
import { startPeerDirectories } from './peer-directories.js';
import { createPeeringService } from '../peering/peering-service.js';
import { createWitnessService } from '../witness/witness-service.js';
import { openBackEnds, openJournal, openRecordStore } from './back-ends.js';
import type { OpenObjectStore } from './object-stores.js';
import { observeReloads } from './observed-reloads.js';
import { createStageQueueFor, startStageWorkers, workerMetricsEvents } from './start-stage-workers.js';
import { createResumableUploads } from '../transfer/resumable-uploads.js';

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

/** Back-ends other than the configured ones: what a test (or a new back-end) plugs in. */
export interface GatewayBackends {
  readonly openObjectStore?: OpenObjectStore;
}

/**
 * Starts the gateway.
 * @throws GatewayError ERR_CONFIG_INVALID (unusable TLS files, dev material in production),
 *   ERR_CRL_INVALID, ERR_REGISTRY_INVALID: the gateway does not start on invalid files.
 */
export async function composeGateway(config: GatewayConfig, logger: Logger, backends: GatewayBackends = {}): Promise<RunningGateway> {
  /** What is open so far, closed in reverse order if the start fails half-way. */
  const opened: (() => unknown)[] = [];
  try {
    return await compose(config, logger, backends, opened);
  } catch (error) {
    for (const close of opened.reverse()) await Promise.resolve().then(close).catch(() => undefined);
    throw error;
  }
}

async function compose(config: GatewayConfig, logger: Logger, backends: GatewayBackends, opened: (() => unknown)[]): Promise<RunningGateway> {
  const metrics = createMetrics();
  // A full or failing disk: logged with the path and errno, counted, and answered 507/503 by the writer.
  const onStorageError = createStorageErrorReporter(metrics, logger);
  const signer = await loadSigner(config);
  const logKeys = await loadLogKeys(config);
  const processingKey = await loadProcessingKey(config);
  const pushTls = await loadPushTls(config);
  const threads = createGatewayThreads(config.sealingThreads);
  opened.push(() => threads.close());
  // Embedded files, or PostgreSQL and S3 in shared mode; a database at another schema stops the start here.
  const backEnds = await openBackEnds(
    config,
    {
      role: 'gateway',
      onStorageError,
      threads,
      onDatabaseError: (error) => logger.warn({ err: error }, 'an idle database connection failed; the pool replaces it'),
      ...(backends.openObjectStore ? { openObjectStore: backends.openObjectStore } : {}),
    },
    opened,
  );
  const { objects } = backEnds;
  if (backEnds.database) metrics.observeDatabasePool(() => backEnds.database?.stats() ?? { total: 0, idle: 0, waiting: 0 });
  // Exports carry what the peer gateways cosigned; the witnessing that knows it starts further down.
  let cosignedCheckpoints: () => Promise<readonly CosignedCheckpoint[]> = async () => [];
  const journal = await openJournal(config, backEnds, {
    signer,
    noteSigner: logKeys.noteSigner,
    cosigned: () => cosignedCheckpoints(),
    threads,
    onStorageError,
    checkpointIntervalMs: config.auditCheckpointIntervalMs,
    onRecover: (recovery) => logger.warn({ recovery }, 'audit journal: a torn last line from a crash was cut off'),
    onLeadershipChange: (leading) => {
      metrics.auditLeader.set(leading ? 1 : 0);
      logger.info({ instance: config.instanceId, leading }, leading ? 'this instance now signs the audit checkpoints' : 'this instance no longer signs the audit checkpoints');
    },
  });
  opened.push(() => journal.close());
  if (journal.status().state !== 'ok') {
    logger.error({ audit: journal.status() }, 'audit journal is corrupt: the gateway refuses to record (and so to accept) anything until it is restored');
  }

  let apiServer: HttpsServer | undefined;
  const observe = observeReloads({ config, metrics, logger, journal: (event) => journal.append(event) });
  const tlsFiles = { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, caFile: config.tlsCaFile, crlFile: config.tlsCrlFile };
  const tls = await observe(
    'tls',
    [config.tlsCaFile, ...(config.tlsCrlFile ? [config.tlsCrlFile] : [])].map(watchFile),
    async () => refuseDevelopmentTls(await loadTlsMaterial(tlsFiles), config),
    // setSecureContext throws on material OpenSSL refuses: the reloadable then keeps the old one.
    (after) => apiServer?.setSecureContext({ key: after.key, cert: after.cert, ca: after.ca, ...(after.crl ? { crl: [...after.crl] } : {}) }),
  );
  opened.push(() => tls.close());
  refuseDevelopmentKeys(config);
  const registry = await observe('registry', [watchFile(config.registryFile)], () => loadRegistry(config.registryFile));
  opened.push(() => registry.close());
  // Every accepted policy revision is kept with its files, and every reload with its outcome.
  const policyHistory = backEnds.database ? createPgPolicyHistory(backEnds.database) : await openFilePolicyHistory(path.join(config.dataDir, 'policy-history'));
  opened.push(() => policyHistory.close());
  const policyReloads = recordPolicyReloads<PolicySet>(policyHistory, config.policyDir, () => new Date());
  const policies = await observe(
    'policy',
    [{ folder: config.policyDir, accept: (name) => name.endsWith(POLICY_FILE_SUFFIX) }],
    () => loadPolicySet(config.policyDir, { ...policyCheckContext(registry.current()), ...(config.policyProfiles ? { profiles: config.policyProfiles } : {}) }),
    undefined,
    policyReloads,
  );
  opened.push(() => policies.close());
  await policyReloads.keepStarting(policies.current());

  const records = await openRecordStore(backEnds);
  opened.push(() => records.close());
  const queue = await createStageQueueFor(config);
  opened.push(() => queue.close(AbortSignal.timeout(config.shutdownGraceMs)));
  const bulkLane = createBulkLane({ chunksPerTurn: config.queue.bulkChunksPerTurn });
  const sealingThreads = config.sealingThreads > 0 ? createSealingThreads({ threads }) : undefined;
  // A recipient is this side's institution, or one the peer gateway serves (its signed directory).
  const peerDirectories = startPeerDirectories({ registry: () => registry.current(), clientTls: pushTls, intervalMs: config.peerDirectoryIntervalMs });
  opened.push(() => peerDirectories.close());
  const directoryOf = (peer: string) => peerDirectories.directories.of(peer);
  const lookupInstitution = (id: string) => registry.current().institutions.get(id) ?? remoteInstitutionOf(registry.current(), directoryOf, id);
  const verificationJwks = () => withPeerKeys(signer.publicJwks(), registry.current());
  const peerClient = createPeerClient(pushTls);
  opened.push(() => peerClient.close());

  const uploadLease = {
    holder: config.instanceId,
    durationMs: config.uploadLeaseMs,
    renew: (id: string, holder: string, expiresAt: string) => records.renewLease(id, holder, expiresAt),
    onRenewalError: (id: string, error: unknown) => logger.warn({ transferId: id, err: error }, 'an upload lease could not be renewed; it expires if this goes on'),
  };
  const events = createTransferEvents((error, event) => logger.error({ err: error, event: event.type }, 'a transfer event subscriber failed'));
  // Within the change: its journal entry is durable before the API answers.
  events.within(journalTransferEvents((event) => journal.append(event)));
  events.within(countTransferEvents(metrics));
  // The console's overview reads these aggregates, counted as each outcome happens.
  const flows = backEnds.database ? openPgFlowCounts(backEnds.database) : await openFileFlowCounts(path.join(config.dataDir, 'flows'));
  opened.push(() => flows.close());
  events.after(countFlows(flows, () => new Date()));
  // Every writer of transfer records saves through these, so a stop can close them before the journal.
  const changes = createRecordChanges({ records, events });
  const transfers = createTransferService({
    records,
    objects,
    events,
    changes,
    signer,
    policies: () => policies.current(),
    lookupInstitution,
    clock: () => new Date(),
    uploadIdleTimeoutMs: config.uploadIdleTimeoutMs,
    processingPublicJwk: processingKey.publicJwk,
    bulkLane,
    ...(sealingThreads ? { sealingThreads } : {}),
    processingPrivateKey: processingKey.privateKey,
    uploadCheckpointBytes: config.uploadCheckpointBytes,
    onUploadResumed: (resumed) => logger.info(resumed, 'resumable upload resumed from its stored bytes'),
    // Every upload holds a lease (one process alone too): the sweep below tells a dead upload, or a
    // paused resumable one past its expiry, from one that streams.
    uploadLease,
    queueing: { thresholdBytes: config.queue.thresholdBytes, available: () => queue.isAvailable(), retryAfterSeconds: QUEUE_RETRY_AFTER_S },
  });
  // Embedded: this process owned every upload, so those the last stop cut short are reset (or, when
  // resumable, paused) now. Both: uploads whose lease expired — their instance is gone, or a paused
  // resumable upload passed its expiry — are reset by whichever instance's sweep gets there first.
  const sweepLeases = (): void => {
    transfers
      .recoverExpiredUploads()
      .then((count) => count > 0 && logger.warn({ recovered: count }, 'uploads whose instance stopped renewing their lease, or paused past their expiry, were reset to authorized'))
      .catch((error: unknown) => logger.warn({ err: error }, 'upload lease sweep failed; it is tried again later'));
  };
  if (backEnds.mode === 'embedded') {
    const interrupted = await transfers.recoverInterruptedUploads();
    if (interrupted > 0) logger.warn({ interrupted }, 'uploads cut short by the last stop were reset to authorized (resumable ones were paused)');
  }
  sweepLeases();
  const leaseSweep = setInterval(sweepLeases, Math.max(100, Math.floor(config.uploadLeaseMs / 2)));
  leaseSweep.unref();
  opened.push(() => clearInterval(leaseSweep));

  const results = createStageResults(objects);
  const coordinator = await createStageCoordinator({
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
  events.after((event) => coordinator.onTransferEvent(event));
  metrics.observeQueueDepth(() => queue.depth());
  // Inline mode has nobody else to run the stages; with Redis, HETAO_QUEUE_WORKERS=0 leaves them to `hetao worker`.
  if (!config.redisUrl || config.queue.workers > 0) {
    startStageWorkers({
      config,
      queue,
      objects,
      records,
      results,
      signer,
      processingKey: processingKey.privateKey,
      pushTls,
      registry: () => registry.current(),
      peerClient,
      pushEndpointOf: (id) => registry.current().institutions.get(id)?.pushEndpoint,
      concurrency: Math.max(config.queue.workers, 1),
      events: workerMetricsEvents(metrics, logger),
      lane: bulkLane,
    });
  }
  const reconcile = (trigger: string): void => {
    coordinator
      .reconcile()
      .then((count) => count > 0 && logger.info({ trigger, reenqueued: count }, 'stages missing from the queue were enqueued again from the records'))
      .catch((error: unknown) => logger.warn({ trigger, err: error }, 'queue reconciliation failed; it is tried again later'));
  };
  queue.onAvailable(() => reconcile('queue-reconnected'));
  reconcile('start');
  const reconcileTimer = setInterval(() => reconcile('periodic'), config.queue.reconcileMs);
  reconcileTimer.unref();
  opened.push(() => clearInterval(reconcileTimer));
  const retentionSweep = setInterval(() => {
    transfers.expireDue().catch((error: unknown) => logger.error({ err: error }, 'retention sweep failed'));
  }, RETENTION_SWEEP_MS);
  retentionSweep.unref();
  opened.push(() => clearInterval(retentionSweep));

  const refusals = createRefusalJournal({ append: (event) => journal.append(event), clock: () => new Date(), windowMs: REFUSAL_WINDOW_MS });
  const refusalFlush = setInterval(() => {
    refusals.flush().catch((error: unknown) => logger.error({ err: error }, 'repeated refusals could not be written to the audit journal'));
  }, REFUSAL_WINDOW_MS);
  refusalFlush.unref();
  opened.push(() => clearInterval(refusalFlush));

  const witnessing = await startWitnessing({ config, backEnds, threads, registry: () => registry.current(), journal, cosigner: logKeys.cosigner, clientTls: pushTls, metrics, logger });
  opened.push(() => witnessing.close());
  cosignedCheckpoints = () => witnessing.cosignedCheckpoints();
  // Receipts of transfers forwarded here go back to their sending gateway, with this journal's proof.
  const receiptRelay = createReceiptRelay({
    objects,
    records,
    journal,
    registry: () => registry.current(),
    client: peerClient,
    onError: (transferId, reason) => logger.warn({ transferId, reason }, 'a receipt could not be relayed to the sending gateway yet; it is tried again'),
  });
  events.after((event) => receiptRelay.onTransferEvent(event));
  const relayTimer = setInterval(() => void receiptRelay.relayAll(), Math.max(200, Math.floor(config.auditCheckpointIntervalMs / 2)));
  relayTimer.unref();
  opened.push(() => clearInterval(relayTimer));

  const resumableUploads = createResumableUploads({
    get: (id, caller) => transfers.get(id, caller),
    checkUpload: (id, caller, bytes) => transfers.checkUpload(id, caller, bytes),
    startResumable: (id, caller) => transfers.startResumable(id, caller),
    endPausedUpload: (id, caller) => transfers.endPausedUpload(id, caller),
    idleTimeoutMs: config.uploadIdleTimeoutMs,
    clock: () => new Date(),
  });
  const api = await buildApiApp({
    connections: config.connections,
    logger,
    tls: tls.current(),
    authenticate: createConnectionAuthenticator(() => registry.current()),
    metrics,
    onInteractiveRequest: () => bulkLane.interactive(),
    bulkUploadBytes: BULK_UPLOAD_BYTES,
    refusals,
    console: {
      witnessing: () => {
        const { peers, conflicts } = witnessing.readiness();
        return { peers: peers as never, conflicts: conflicts.length };
      },
      registry: () => registry.current(),
      journalEntries: async (transferId) => readEntries(journal, await journal.entriesFor(transferId)),
    },
    services: {
      transfers,
      uploads: resumableUploads,
      policies: createPolicyService({
        policies: () => policies.current(),
        registry: () => registry.current(),
        reload: (trigger) => policies.reload(trigger),
        history: policyHistory,
        clock: () => new Date(),
        usPersonsCarried: (sender, recipient, since) => records.usPersonsCarried(sender, recipient, since),
      }),
      flows: createFlowsService({ flows }),
      audit: createAuditService({ journal, transferVisibleTo: async (id, caller) => (await transfers.get(id, caller)).id }),
      // Envelopes forwarded by the peer keep its signature: recipients here verify them with its key too.
      jwks: verificationJwks,
      witness: createWitnessService(witnessing.witness),
      peering: createPeeringService({
        registry: () => registry.current(),
        signer,
        origin: config.auditOrigin,
        clock: () => new Date(),
        inbound: createInboundTransfers({
          records,
          events,
          changes,
          objects,
          policies: () => policies.current(),
          registry: () => registry.current(),
          directoryOf,
          jwks: verificationJwks,
          clock: () => new Date(),
          queueAvailable: () => queue.isAvailable(),
          uploadLease,
        }),
        receipts: createPeerReceipts({ records, changes, registry: () => registry.current(), clock: () => new Date() }),
      }),
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
      audit: auditReadiness(journal),
      witness: witnessing.readiness(),
      peers: { ok: true, directories: peerDirectories.directories.status() },
      ...(await backEnds.readiness()),
      // Redis down degrades (large transfers answer 503) but the gateway still serves: ready stays true.
      queue: config.redisUrl ? { ok: true, mode: 'redis', redis: queue.isAvailable() ? 'connected' : 'unreachable' } : { ok: true, mode: 'inline' },
    }),
  });

  opened.push(() => Promise.allSettled([api.close(), ops.close()]));
  await api.listen({ host: config.host, port: config.port });
  await ops.listen({ host: config.opsHost, port: config.opsPort });
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
      clearInterval(leaseSweep);
      clearInterval(relayTimer);
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
      // Resumable uploads this process was streaming stay paused in their records, for any instance to resume.
      await shutdown.step('resumable-uploads', 'drain', () => resumableUploads.close());
      // A request cut at the deadline may still be saving its last change: it is journaled before the journal closes.
      await shutdown.step('transfers', 'drain', () => transfers.settled());
      await shutdown.step('ops', 'drain', () => ops.close());
      // Running stages finish (inline) or hand their jobs back (BullMQ) before the journal closes.
      await shutdown.step('queue', 'drain', (deadline) => queue.close(deadline));
      clearInterval(refusalFlush);
      await shutdown.step('refusals', 'final', () =>
        refusals.flush({ all: true }).catch((error: unknown) => logger.error({ err: error }, 'repeated refusals could not be written to the audit journal')),
      );
      // A change still being saved when the drain ended (an upload cut at the deadline, reset on a
      // loaded machine) is local work: it gets the final share too, so that it is journaled before the
      // journal closes rather than saved after it.
      await shutdown.step('transfers-final', 'final', () => transfers.settled());
      // The witness rounds end before the journal and the database they read.
      await shutdown.step('witness', 'final', () => Promise.all([witnessing.close(), peerDirectories.close(), peerClient.close()]));
      // A final checkpoint covers every entry written before shutdown.
      // No change is saved from here on unless it is journaled: the ones being saved finish first.
      await shutdown.step('journal', 'final', async () => {
        await changes.close();
        await journal.close();
      });
      await shutdown.step('records', 'final', () => records.close());
      await shutdown.step('flows', 'final', () => flows.close());
      await shutdown.step('policy-history', 'final', () => policyHistory.close());
      await shutdown.step('object-store', 'final', () => objects.close());
      const { database } = backEnds;
      // Last of the back-ends: the records and the journal above use it until they are closed.
      if (database) await shutdown.step('database', 'final', () => database.close());
      await shutdown.step('threads', 'final', () => threads.close());
      return shutdown.finish();
    },
  };
}

/**
 * The process's one thread pool: `io` for durable file steps (store writes, journal appends, the
 * journal's start-up scan), `bulk` for sealing large uploads, below the event loop that serves every
 * small request (Unix niceness 10). Threads start when first needed.
 */
export function createGatewayThreads(sealingThreads: number) {
  return createThreadPool({ lanes: { io: { threads: IO_THREADS }, bulk: { threads: Math.max(1, sealingThreads), niceness: 10 } } });
}

/** Durable steps on one disk gain little from more; journal appends share them with store writes. */
const IO_THREADS = 3;

/** The journal as /readyz reports it: its state, size, latest checkpoint and (shared mode) whether this instance signs them. */
function auditReadiness(journal: AuditJournal) {
  const status = journal.status();
  return {
    ok: status.state === 'ok',
    state: status.state,
    entries: status.size,
    checkpointSize: status.checkpoint?.treeSize ?? 0,
    ...(status.leader !== undefined ? { leader: status.leader } : {}),
  };
}

function urlHost(address: AddressInfo): string {
  return `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

/** What a large upload refused for want of Redis is told to wait. */
const QUEUE_RETRY_AFTER_S = 30;

/** Repeats of one refusal (principal, route, code) within this window are journaled as one entry with their count. */
const REFUSAL_WINDOW_MS = 60_000;

/** How often transfers past their retention lose their content. */
const RETENTION_SWEEP_MS = 60_000;
