// The operations listener: plain HTTP, bound to loopback by default, for probes and Prometheus.
// Kept apart from the mTLS API so a scraper needs no zone certificate and callers never see it.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import { sendProblem } from './problem-details.js';

/** One readiness check: `ok` plus anything an operator needs to see. */
export interface ReadinessCheck {
  readonly ok: boolean;
  readonly [detail: string]: unknown;
}

export interface OpsAppDependencies {
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** Named checks; the gateway is ready when every one is ok. */
  readonly readiness: () => Promise<Record<string, ReadinessCheck>>;
}

export function buildOpsApp(deps: OpsAppDependencies): FastifyInstance {
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }), return503OnClosing: false, forceCloseConnections: true });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    const checks = await deps.readiness();
    const ready = Object.values(checks).every((check) => check.ok);
    if (!ready) return sendProblem(request, reply, new GatewayError('ERR_SERVICE_UNAVAILABLE', 'the gateway is not ready', { checks }));
    return { status: 'ready', checks };
  });

  app.get('/metrics', async (_request, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.setErrorHandler((error, request, reply) => sendProblem(request, reply, error));
  app.setNotFoundHandler((request, reply) => sendProblem(request, reply, new GatewayError('ERR_ROUTE_NOT_FOUND', `no resource at ${request.method} ${request.url.split('?')[0]}`)));
  return app;
}
