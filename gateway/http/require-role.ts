// Role checks for routes that are not for lab systems. Roles come from the registry, never from
// the certificate.
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.js';
import type { Principal } from '../identity/resolve-principal.js';

/** @throws GatewayError ERR_IDENTITY_ROLE_FORBIDDEN when the caller has none of `roles`. */
export function requireRole(request: FastifyRequest, roles: readonly Principal['role'][]): Principal {
  const principal = request.principal;
  if (!principal || !roles.includes(principal.role)) {
    throw new GatewayError('ERR_IDENTITY_ROLE_FORBIDDEN', `this resource is for ${roles.join(', ')}; the caller is ${principal?.role ?? 'unknown'}`, {
      requiredRoles: roles,
    });
  }
  return principal;
}
