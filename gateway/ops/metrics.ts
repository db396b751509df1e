// Prometheus metrics (prom-client), one registry per gateway instance so several gateways in one
// test process do not share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly reloads: Counter<'source' | 'result'>;
  readonly revisionInfo: Gauge<'source' | 'revision'>;
  readonly authRefusals: Counter<'code'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly stageDuration: Histogram<'stage' | 'outcome'>;
  readonly stageRetries: Counter<'stage'>;
  readonly stageFailures: Counter<'stage'>;
  readonly stageReenqueued: Counter<'stage'>;
  /** Writes that failed for want of space or on a failing disk, by errno (ENOSPC, EDQUOT, EROFS, EIO) and operation. */
  readonly storageErrors: Counter<'code' | 'operation'>;
  /** API connections refused over a cap (http/connection-limits.ts), by which cap: total or principal. */
  readonly connectionsRefused: Counter<'reason'>;
  /** API connections open and counted against the caps. */
  readonly connectionsOpen: Gauge;
  /** Transfer events (domain events of the transfer service), by event: changes, downloads, refusals. */
  readonly transferEvents: Counter<'event'>;
  /** Shared mode: 1 while this instance signs the audit checkpoints (holds the leader lock). */
  readonly auditLeader: Gauge;
  /** Checkpoints of a peer's log this gateway refused as a witness because they contradict what it cosigned (split view, inconsistent). */
  readonly witnessConflicts: Counter<'origin' | 'kind'>;
  /** This gateway's checkpoints sent to a peer witness, by peer and outcome (cosigned, refused, unreachable). */
  readonly witnessSubmissions: Counter<'peer' | 'outcome'>;
  /** Shared mode: reports the database pool (connections open, idle, callers waiting) at each scrape. */
  observeDatabasePool(stats: () => { readonly total: number; readonly idle: number; readonly waiting: number }): void;
  /** Reports queue depth per stage at each scrape. */
  observeQueueDepth(depth: () => Promise<Record<string, number>>): void;
  /** Marks `revision` as the one in force for `source` (the previous one is removed). */
  markRevision(source: string, revision: string): void;
}

export function createMetrics(): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'hetao_' });
  const revisionInForce = new Map<string, string>();
  let queueDepth: (() => Promise<Record<string, number>>) | undefined;
  let databasePool: (() => { readonly total: number; readonly idle: number; readonly waiting: number }) | undefined;
  new Gauge({
    name: 'hetao_database_pool_connections',
    help: 'Shared mode: PostgreSQL pool connections by state (total open, idle) and callers waiting for one.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      if (!databasePool) return;
      const { total, idle, waiting } = databasePool();
      this.set({ state: 'total' }, total);
      this.set({ state: 'idle' }, idle);
      this.set({ state: 'waiting' }, waiting);
    },
  });
  new Gauge({
    name: 'hetao_queue_depth',
    help: 'Jobs waiting, delayed or running per stage (absent while Redis is unreachable).',
    labelNames: ['stage'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      if (!queueDepth) return;
      // A scrape while Redis is down leaves the gauge empty rather than failing the whole scrape.
      const depth = await queueDepth().catch(() => undefined);
      for (const [stage, count] of Object.entries(depth ?? {})) this.set({ stage }, count);
    },
  });
  const revisionInfo = new Gauge({
    name: 'hetao_revision_info',
    help: 'Revision (SHA-256) in force per source; value 1 for the current one.',
    labelNames: ['source', 'revision'] as const,
    registers: [registry],
  });
  return {
    registry,
    reloads: new Counter({
      name: 'hetao_reloads_total',
      help: 'Reloads of registry, CRL or policies by result (applied, unchanged, rejected).',
      labelNames: ['source', 'result'],
      registers: [registry],
    }),
    revisionInfo,
    markRevision(source, revision) {
      const previous = revisionInForce.get(source);
      if (previous !== undefined) revisionInfo.remove({ source, revision: previous });
      revisionInForce.set(source, revision);
      revisionInfo.set({ source, revision }, 1);
    },
    authRefusals: new Counter({
      name: 'hetao_auth_refusals_total',
      help: 'Callers refused after TLS by the registry, by error code.',
      labelNames: ['code'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'hetao_http_request_duration_seconds',
      help: 'API request duration by route and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    stageDuration: new Histogram({
      name: 'hetao_stage_duration_seconds',
      help: 'Duration of queued stages (inspect, deliver) as the worker measured it, by outcome.',
      labelNames: ['stage', 'outcome'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800],
      registers: [registry],
    }),
    stageRetries: new Counter({ name: 'hetao_stage_retries_total', help: 'Stage attempts that failed and will be retried.', labelNames: ['stage'], registers: [registry] }),
    stageFailures: new Counter({ name: 'hetao_stage_failures_total', help: 'Stages that failed for good.', labelNames: ['stage'], registers: [registry] }),
    stageReenqueued: new Counter({
      name: 'hetao_stage_reenqueued_total',
      help: 'Stages enqueued again because the queue had lost them (Redis flushed or restarted).',
      labelNames: ['stage'],
      registers: [registry],
    }),
    storageErrors: new Counter({
      name: 'hetao_storage_errors_total',
      help: 'Writes to the data folder that failed for want of space or on a failing disk, by errno (code) and operation.',
      labelNames: ['code', 'operation'],
      registers: [registry],
    }),
    connectionsRefused: new Counter({
      name: 'hetao_connections_refused_total',
      help: 'API connections over HETAO_MAX_CONNECTIONS (reason total) or HETAO_MAX_CONNECTIONS_PER_PRINCIPAL (reason principal), answered 503 and closed.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    connectionsOpen: new Gauge({ name: 'hetao_connections_open', help: 'API connections open and counted against the connection caps.', registers: [registry] }),
    transferEvents: new Counter({
      name: 'hetao_transfer_events_total',
      help: 'Transfer events by event: each change of a record (authorized, upload-completed, queued, received, …), downloaded, policy-denied.',
      labelNames: ['event'],
      registers: [registry],
    }),
    auditLeader: new Gauge({ name: 'hetao_audit_leader', help: 'Shared mode: 1 while this instance signs the audit checkpoints (PostgreSQL advisory lock), else 0.', registers: [registry] }),
    witnessConflicts: new Counter({
      name: 'hetao_witness_conflicts_total',
      help: "Checkpoints of a peer gateway's log refused by this witness because they contradict what it cosigned, by origin and kind (split-view, inconsistent).",
      labelNames: ['origin', 'kind'],
      registers: [registry],
    }),
    witnessSubmissions: new Counter({
      name: 'hetao_witness_submissions_total',
      help: "This gateway's checkpoints sent to a peer gateway's witness, by peer and outcome (cosigned, refused, unreachable).",
      labelNames: ['peer', 'outcome'],
      registers: [registry],
    }),
    observeDatabasePool(stats) {
      databasePool = stats;
    },
    observeQueueDepth(depth) {
      queueDepth = depth;
    },
  };
}

