// What the peer gateway may ask of this gateway's witness: only a registered peer gateway (role
// peer-gateway) submits checkpoints; the witness itself decides on the log's signature.
import { requireRole, type Role } from '../identity/require-role.js';
import type { TlogWitness } from './tlog-witness.js';

export function createWitnessService(witness: TlogWitness) {
  return {
    /**
     * tlog-witness add-checkpoint; resolves to the cosignature lines.
     * @throws GatewayError ERR_IDENTITY_ROLE_FORBIDDEN for anyone but a peer gateway, and those of TlogWitness.addCheckpoint.
     */
    addCheckpoint(caller: { readonly role: Role }, body: string): Promise<{ readonly cosignatures: string }> {
      requireRole(caller, ['peer-gateway'], 'the witness');
      return witness.addCheckpoint(body);
    },
  };
}

export type WitnessService = ReturnType<typeof createWitnessService>;
