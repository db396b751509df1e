// Refusals known before a request body is read are answered before it is read, and with
// `Expect: 100-continue` instead of `100 Continue`. node:http answers `100 Continue` by itself
// unless the server handles 'checkContinue', and Fastify does not: here the server's
// 'checkContinue' handler hands the request to Fastify without it. Fastify then routes it and runs
// its onRequest hooks (the /v1 plugin's authentication) exactly as for any request, so the route
// matching and the authentication are the app's own, whatever the spelling of the URL; the
// preParsing hook below, the last step before any body byte is read, runs the pre-body checks of
// the route and only then writes `100 Continue`. A refusal thrown anywhere before it is answered
// with no `100 Continue` sent (and close-unread-body.ts closes the connection after it).
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.js';
import type { TransferService } from '../transfer/transfer-service.js';

export interface PreBodyChecks {
  readonly transfers: Pick<TransferService, 'checkUpload'>;
}

/** Content types whose parser hands the raw stream on: no body limit applies to them. */
const STREAMED_TYPES = ['application/octet-stream', 'application/offset+octet-stream', 'application/vnd.hetao.envelope'];

function announcedLength(request: FastifyRequest): number | undefined {
  const header = request.headers['content-length'];
  if (header === undefined || !/^\d+$/.test(header)) return undefined;
  return Number(header);
}

function hasBody(request: FastifyRequest): boolean {
  return request.headers['transfer-encoding'] !== undefined || (announcedLength(request) ?? 0) > 0;
}

/**
 * What the route would refuse once it had read the body, when the request already shows it.
 * @throws GatewayError ERR_ROUTE_NOT_FOUND, ERR_REQUEST_BODY_TOO_LARGE, and those of TransferService.checkUpload
 */
async function checkBeforeBody(request: FastifyRequest, checks: PreBodyChecks, awaitingContinue: boolean): Promise<void> {
  // Whatever the router resolved to no route: the not-found answer (api-app.ts), rather than asking
  // for a body only to drop it. Without Expect the body is read first, so its own faults come first.
  if (awaitingContinue && request.is404) throw new GatewayError('ERR_ROUTE_NOT_FOUND', `no resource at ${request.method} ${request.url.split('?')[0]}`);
  const length = announcedLength(request);
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const limit = request.routeOptions.bodyLimit;
  if (length !== undefined && limit !== undefined && length > limit && !STREAMED_TYPES.includes(contentType)) {
    throw new GatewayError('ERR_REQUEST_BODY_TOO_LARGE', `the body of ${length} bytes is larger than the ${limit} bytes this resource accepts; nothing was read`, { limit });
  }
  // The upload route is known by its route option, never by its URL.
  if (request.routeOptions.config?.bulkContent === 'upload' && request.principal) {
    const { id } = request.params as { id: string };
    const principal = request.principal;
    await checks.transfers.checkUpload(id, { id: principal.id, role: principal.role, institution: principal.institution.id }, length);
  }
}

/** Installs the 'checkContinue' handler on the app's server and the pre-body checks on every route. */
export function installRefuseBeforeBody(app: FastifyInstance, checks: PreBodyChecks): void {
  const awaitingContinue = new WeakSet<IncomingMessage>();
  app.server.on('checkContinue', (request: IncomingMessage, response) => {
    awaitingContinue.add(request);
    app.server.emit('request', request, response);
  });
  app.addHook('preParsing', async (request, reply, payload) => {
    const expectsContinue = awaitingContinue.delete(request.raw);
    if (hasBody(request)) await checkBeforeBody(request, checks, expectsContinue);
    if (expectsContinue && !reply.raw.headersSent) reply.raw.writeContinue();
    return payload;
  });
}
