// The mTLS API: a Fastify app over HTTPS whose TLS layer only lets in certificates of the zone CA
// (unexpired, not revoked), with the /v1 plugin (a registered principal on every route), the
// well-known keys and the OpenAPI docs, and whose every error is RFC 9457 problem+json.
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { RefusalJournal } from '../audit/refusal-journal.js';
import { GatewayError } from '../errors.js';
import type { ConnectionAuthenticator } from '../identity/authenticate-connection.js';
import type { Principal } from '../identity/resolve-principal.js';
import type { TlsMaterial } from '../identity/tls-material.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import { registerJsonBodyParser } from './json-body-parser.js';
import { idleTimerOptions, installConnectionGuards } from './connection-guards.js';
import type { ConnectionLimits } from './connection-limits.js';
import { PROBLEM_CONTENT_TYPE, sendProblem, toProblemDetails } from './problem-details.js';
import type { GatewayServices } from './gateway-services.js';
import { v1Api } from './v1-api.js';
import { consoleRoutes, type ConsoleDependencies } from '../console/console-routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook on every /v1 route; absent elsewhere. */
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    /**
     * Envelope downloads, and uploads above the bulk size, make way for interactive requests.
     * `resumable-upload` (a tus PATCH) streams like an upload but is checked by its own service.
     */
    bulkContent?: 'upload' | 'resumable-upload' | 'download' | 'forwarded-envelope';
  }
}

export interface ApiAppDependencies {
  readonly services: GatewayServices;
  readonly logger: Logger;
  readonly tls: TlsMaterial;
  readonly authenticate: ConnectionAuthenticator;
  readonly metrics: GatewayMetrics;
  /**
   * Told of every interactive request (all but large content up- and downloads) while it runs, so
   * that bulk work can make way (the bulk lane); returns the function to call when it ends.
   */
  readonly onInteractiveRequest?: () => () => void;
  /** Uploads larger than this are bulk, not interactive. */
  readonly bulkUploadBytes?: number;
  /** Where refusals (401/403) on /v1 are journaled. */
  readonly refusals: RefusalJournal;
  /** Connection caps and idle timeout (connection-guards.ts). */
  readonly connections: ConnectionLimits;
  /** What the web console reads beyond the services (gateway/console/); absent, no /console. */
  readonly console?: Pick<ConsoleDependencies, 'registry' | 'journalEntries' | 'witnessing'>;
}

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Envelope downloads, and uploads above `bulkBytes` (or of unknown size), are bulk work. */
function isBulkContent(bulkContent: 'upload' | 'resumable-upload' | 'download' | 'forwarded-envelope' | undefined, contentLength: string | undefined, bulkBytes: number): boolean {
  if (bulkContent === undefined) return false;
  return bulkContent === 'download' || contentLength === undefined || Number(contentLength) > bulkBytes;
}

export async function buildApiApp(deps: ApiAppDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    https: {
      key: deps.tls.key,
      cert: deps.tls.cert,
      ca: deps.tls.ca,
      ...(deps.tls.crl ? { crl: [...deps.tls.crl] } : {}),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    },
    loggerInstance: deps.logger as FastifyBaseLogger,
    genReqId: (req) => {
      const offered = req.headers['x-request-id'];
      return typeof offered === 'string' && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
    },
    // Our own problem+json is the only error shape: let in-flight and kept-alive requests finish on close.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    ...idleTimerOptions(deps.connections),
    frameworkErrors: (error, request, reply) => sendProblem(request, reply, new GatewayError('ERR_REQUEST_INVALID', error.message)),
    clientErrorHandler(error, socket) {
      if ((error as NodeJS.ErrnoException).code === 'ECONNRESET' || !socket.writable) return;
      const body = JSON.stringify(toProblemDetails(new GatewayError('ERR_REQUEST_INVALID', 'malformed HTTP request')));
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    },
  });

  app.decorateRequest('principal', undefined);
  installConnectionGuards(app, { limits: deps.connections, authenticate: deps.authenticate, metrics: deps.metrics, transfers: deps.services.transfers });
  registerJsonBodyParser(app); // depth, UTF-8 and lone surrogates bounded before any recursive work

  // While closing, answer what is in flight and ask keep-alive clients to leave, so close() need
  // not wait for idle sockets to time out.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (deps.onInteractiveRequest && !isBulkContent(request.routeOptions.config?.bulkContent, request.headers['content-length'], deps.bulkUploadBytes ?? 0)) {
      reply.raw.once('close', deps.onInteractiveRequest());
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler((error, request, reply) => sendProblem(request, reply, error));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, new GatewayError('ERR_ROUTE_NOT_FOUND', `no resource at ${request.method} ${request.url.split('?')[0]}`)),
  );

  // OpenAPI from the route schemas: registered before the routes so it sees every one of them.
  await app.register(swagger, {
    openapi: {
      info: { title: 'Hetao research data gateway', version: '1', description: 'mTLS API of the Hetao Shenzhen–Hong Kong research data channel. Errors are RFC 9457 problem+json (docs/errors.md).' },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(v1Api, { prefix: '/v1', services: deps.services, authenticate: deps.authenticate, metrics: deps.metrics, refusals: deps.refusals });
  if (deps.console) {
    const { transfers, policies, flows } = deps.services;
    await app.register(consoleRoutes, { ...deps.console, authenticate: deps.authenticate, transfers, policies, flows, clock: () => new Date() });
  }
  app.get('/.well-known/jwks.json', async (_request, reply) => reply.header('cache-control', 'max-age=300').send(deps.services.jwks()));
  return app;
}
