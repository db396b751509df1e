// Everything that keeps the API's connections answerable and bounded, installed in one call by
// api-app.ts: refusals known before a body come before it (and instead of `100 Continue`), an
// answer to a body not read to its end closes the connection by lingering, and connections are
// capped and closed when idle.
import type { FastifyInstance } from 'fastify';
import type { ConnectionAuthenticator } from '../identity/authenticate-connection.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import { installUnreadBodyClose } from './close-unread-body.js';
import { installConnectionLimits, type ConnectionLimits } from './connection-limits.js';
import { installRefuseBeforeBody, type PreBodyChecks } from './refuse-before-body.js';

export interface ConnectionGuardDependencies extends PreBodyChecks {
  readonly limits: ConnectionLimits;
  readonly authenticate: ConnectionAuthenticator;
  readonly metrics: GatewayMetrics;
}

/** Fastify constructor options that go with the guards: the server's inactivity timers. */
export function idleTimerOptions(limits: ConnectionLimits): { connectionTimeout: number; keepAliveTimeout: number } {
  return { connectionTimeout: limits.idleTimeoutMs, keepAliveTimeout: limits.idleTimeoutMs };
}

/** Installs the guards; call before any route plugin is registered, so their hooks run first. */
export function installConnectionGuards(app: FastifyInstance, deps: ConnectionGuardDependencies): void {
  installConnectionLimits(app, {
    limits: deps.limits,
    authenticate: deps.authenticate,
    metrics: deps.metrics,
    // Uploads stream their body through the transfer service, which has its own idle timeout.
    streamsBody: (request) => request.routeOptions.config?.bulkContent === 'upload' || request.routeOptions.config?.bulkContent === 'resumable-upload',
  });
  installUnreadBodyClose(app);
  installRefuseBeforeBody(app, { transfers: deps.transfers });
}
