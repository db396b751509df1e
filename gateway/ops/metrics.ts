// Prometheus metrics (prom-client), one registry per gateway instance so several gateways in one
// test process do not share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly reloads: Counter<'source' | 'result'>;
  readonly revisionInfo: Gauge<'source' | 'revision'>;
  readonly authRefusals: Counter<'code'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  /** Marks `revision` as the one in force for `source` (the previous one is removed). */
  markRevision(source: string, revision: string): void;
}

export function createMetrics(): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'hetao_' });
  const revisionInForce = new Map<string, string>();
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
  };
}

