// The one role check of the services: roles come from the registry (through the principal), never
// from the certificate or the URL.
import { GatewayError } from '../errors.js';
import type { Principal } from './resolve-principal.js';

export type Role = Principal['role'];

/** @throws GatewayError ERR_IDENTITY_ROLE_FORBIDDEN when `role` is not one of `allowed`. */
export function requireRole(caller: { readonly role: Role }, allowed: readonly Role[], what: string): void {
  if (!allowed.includes(caller.role)) {
    throw new GatewayError('ERR_IDENTITY_ROLE_FORBIDDEN', `${what} is for ${allowed.join(', ')}; the caller is ${caller.role}`, { requiredRoles: allowed });
  }
}
