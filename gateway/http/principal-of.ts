// The authenticated principal of a /v1 request, and the same caller as the services name it.
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.js';
import type { Principal } from '../identity/resolve-principal.js';
import type { Caller } from '../transfer/caller.js';

/**
 * The /v1 plugin's authentication hook sets the principal before any handler runs; a route outside
 * that plugin has none, and then this refuses rather than answer 500.
 * @throws GatewayError ERR_IDENTITY_CERTIFICATE_MISSING
 */
export function principalOf(request: FastifyRequest): Principal {
  const principal = request.principal;
  if (!principal) throw new GatewayError('ERR_IDENTITY_CERTIFICATE_MISSING', 'no authenticated principal for this request');
  return principal;
}

export function callerOf(request: FastifyRequest): Caller {
  const principal = principalOf(request);
  return { id: principal.id, role: principal.role, institution: principal.institution.id };
}
