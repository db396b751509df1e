// Bounds on the API's connections, so that file descriptors cannot run out and one institution
// cannot starve the others: open connections are capped in total and per principal (the
// institution of the client certificate, or the certificate itself when the registry does not
// know it), and idle connections are closed. A connection over a cap is let through TLS and its
// first request is answered 503 problem+json with Retry-After and `Connection: close` (a refusal
// during the handshake would reach the client as a bare TLS error, with nothing to say why or when
// to come back); beyond the caps plus a small headroom for those answers, the server stops
// accepting at all (node's maxConnections), so refusals themselves cannot exhaust descriptors.
import type { Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.js';
import type { ConnectionAuthenticator } from '../identity/authenticate-connection.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import { linger } from './close-unread-body.js';
import { sendProblem } from './problem-details.js';

export interface ConnectionLimits {
  /** Open API connections at most, all principals together. */
  readonly maxConnections: number;
  /** Open API connections at most per principal (institution or unknown certificate). */
  readonly maxPerPrincipal: number;
  /** A connection with no request in flight, or a request body that stalls, is closed after this long. */
  readonly idleTimeoutMs: number;
}

/** Connections accepted beyond the caps only to be told 503; beyond them the server stops accepting. */
export const REFUSAL_HEADROOM = 64;

/** What a refused client is told to wait. */
const RETRY_AFTER_SECONDS = 5;

export interface ConnectionLimitDependencies {
  readonly limits: ConnectionLimits;
  readonly authenticate: ConnectionAuthenticator;
  readonly metrics: GatewayMetrics;
  /** Requests whose body a route streams itself (uploads): their own idle timeout applies. */
  readonly streamsBody: (request: FastifyRequest) => boolean;
}

/** Whom a connection counts against: the institution of its principal, or its certificate. */
function principalKey(socket: TLSSocket, authenticate: ConnectionAuthenticator): string {
  try {
    return `institution:${authenticate(socket).institution.id}`;
  } catch {
    return `certificate:${socket.getPeerCertificate(false).fingerprint256 ?? 'none'}`;
  }
}

interface InFlight {
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
}

/**
 * Installs the caps and the idle timeout on the app's server. The server's inactivity timer
 * (Fastify's `connectionTimeout` and `keepAliveTimeout`, set to `idleTimeoutMs`) decides when a
 * connection is idle; this decides what then happens.
 */
export function installConnectionLimits(app: FastifyInstance, deps: ConnectionLimitDependencies): void {
  const { limits, metrics } = deps;
  const server = app.server as unknown as TlsServer;
  server.maxConnections = limits.maxConnections + REFUSAL_HEADROOM;
  const perPrincipal = new Map<string, number>();
  let total = 0;
  const refused = new WeakMap<Socket, 'total' | 'principal'>();
  const inFlight = new WeakMap<Socket, InFlight>();

  server.on('secureConnection', (socket: TLSSocket) => {
    const key = principalKey(socket, deps.authenticate);
    const reason = total >= limits.maxConnections ? 'total' : (perPrincipal.get(key) ?? 0) >= limits.maxPerPrincipal ? 'principal' : undefined;
    if (reason) {
      refused.set(socket, reason);
      metrics.connectionsRefused.inc({ reason });
      return;
    }
    total += 1;
    perPrincipal.set(key, (perPrincipal.get(key) ?? 0) + 1);
    metrics.connectionsOpen.inc();
    socket.once('close', () => {
      total -= 1;
      const left = (perPrincipal.get(key) ?? 1) - 1;
      if (left > 0) perPrincipal.set(key, left);
      else perPrincipal.delete(key);
      metrics.connectionsOpen.dec();
    });
  });

  app.addHook('onRequest', async (request, reply) => {
    const socket = request.raw.socket;
    inFlight.set(socket, { request, reply });
    reply.raw.once('close', () => {
      if (inFlight.get(socket)?.request === request) inFlight.delete(socket);
    });
    const reason = refused.get(socket);
    if (reason === undefined) return;
    reply.header('connection', 'close');
    throw new GatewayError(
      'ERR_CONNECTION_LIMIT',
      reason === 'total' ? 'the gateway has as many connections open as it serves; try again later' : 'your institution has as many connections open as one principal may; close some or try again later',
      { limit: reason, retryAfterSeconds: RETRY_AFTER_SECONDS },
    );
  });

  // Without a listener node destroys a timed-out socket, mid-answer or not; with one, it is ours.
  server.on('timeout', (socket: Socket) => {
    const current = inFlight.get(socket);
    if (!current) {
      linger(socket);
      return;
    }
    const { request, reply } = current;
    if (!request.raw.complete && !reply.raw.headersSent && !deps.streamsBody(request)) {
      // A body that stopped arriving: answered, and close-unread-body.ts closes the connection.
      sendProblem(request, reply, new GatewayError('ERR_REQUEST_TIMEOUT', `the request body sent nothing for ${limits.idleTimeoutMs} ms`));
      return;
    }
    // An answer the client stopped reading holds a descriptor for nothing; a handler still working
    // (or an upload, which has its own idle timeout) is left alone.
    if (reply.raw.headersSent && !reply.raw.writableFinished) socket.destroy();
  });
}
