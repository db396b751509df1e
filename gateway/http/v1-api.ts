// The /v1 API as one encapsulated Fastify plugin. Its onRequest hook maps the connection's
// certificate to a registered principal before any body byte is read, and it hangs on the routes
// themselves: whatever spelling of a URL the router resolves to a /v1 route runs it, and anything
// that resolves to no route is a 404 from the app. Refused calls (401/403) are journaled here, once
// per window for repeats.
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { RefusalJournal } from '../audit/refusal-journal.js';
import { GatewayError } from '../errors.js';
import type { ConnectionAuthenticator } from '../identity/authenticate-connection.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import type { GatewayServices } from './gateway-services.js';
import { sendProblem, toGatewayError } from './problem-details.js';
import { auditRoutes } from './routes/audit.js';
import { flowRoutes } from './routes/flows.js';
import { witnessRoutes } from './routes/witness.js';
import { peeringRoutes } from './routes/peering.js';
import { policyRoutes } from './routes/policies.js';
import { transferRoutes } from './routes/transfers.js';
import { tusRoutes } from './routes/tus.js';
import { whoamiRoutes } from './routes/whoami.js';

export interface V1ApiOptions {
  readonly services: GatewayServices;
  readonly authenticate: ConnectionAuthenticator;
  readonly metrics: GatewayMetrics;
  readonly refusals: RefusalJournal;
}

/** Refusals of who the caller is or what it may do; policy denials have their own journal entry. */
function isAccessRefusal(error: GatewayError): boolean {
  return (error.status === 401 || error.status === 403) && error.code !== 'ERR_POLICY_DENIED';
}

export async function v1Api(app: FastifyInstance, options: V1ApiOptions): Promise<void> {
  app.addHook('onRequest', async (request, reply) => {
    try {
      const principal = options.authenticate(request.raw.socket as TLSSocket);
      request.principal = principal;
      request.log = request.log.child({ principal: principal.id, role: principal.role });
      reply.log = request.log;
    } catch (error) {
      if (error instanceof GatewayError) options.metrics.authRefusals.inc({ code: error.code });
      throw error;
    }
  });

  app.setErrorHandler(async (error, request, reply) => {
    const refusal = toGatewayError(error);
    if (isAccessRefusal(refusal)) {
      // The authenticated principal, or the registered one a suspension or revocation refused.
      const actor = request.principal ?? (refusal.details?.principal as { kind: 'institution' | 'person' | 'gateway'; id: string } | undefined);
      const certificateSha256 = refusal.details?.certificateSha256;
      // Journaled before the answer leaves; a journal that cannot write does not turn a 403 into a 500.
      await options.refusals
        .record({
          ...(actor ? { actor: { kind: actor.kind, id: actor.id } } : {}),
          ...(typeof certificateSha256 === 'string' ? { certificateSha256 } : {}),
          method: request.method,
          route: request.routeOptions.url ?? 'unmatched',
          code: refusal.code,
        })
        .catch((journalError: unknown) => request.log.error({ err: journalError, code: refusal.code }, 'refusal could not be written to the audit journal'));
    }
    return sendProblem(request, reply, refusal);
  });

  await app.register(whoamiRoutes);
  await app.register(policyRoutes, { policies: options.services.policies });
  await app.register(transferRoutes, { transfers: options.services.transfers });
  await app.register(tusRoutes, { uploads: options.services.uploads });
  await app.register(auditRoutes, { audit: options.services.audit });
  await app.register(flowRoutes, { flows: options.services.flows });
  await app.register(witnessRoutes, { witness: options.services.witness });
  await app.register(peeringRoutes, { peering: options.services.peering });
}
