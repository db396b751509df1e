// What the peer gateway may ask of this one about the channel: this side's signed directory. Only a
// registered peer gateway (role peer-gateway) may.
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import type { Registry } from '../identity/registry.js';
import { requireRole, type Role } from '../identity/require-role.js';
import { signDirectory } from './signed-directory.js';

export function createPeeringService(deps: { readonly registry: () => Registry; readonly signer: GatewaySigner; readonly origin: string; readonly clock: () => Date }) {
  return {
    /** @throws GatewayError ERR_IDENTITY_ROLE_FORBIDDEN for anyone but a peer gateway. */
    async directory(caller: { readonly role: Role }): Promise<{ readonly jws: string }> {
      requireRole(caller, ['peer-gateway'], 'the peering directory');
      return { jws: await signDirectory(deps.registry(), { origin: deps.origin, signer: deps.signer, now: deps.clock() }) };
    },
  };
}

export type PeeringService = ReturnType<typeof createPeeringService>;
