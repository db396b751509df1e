// What the peer gateway may ask of this one about the channel: this side's signed directory, and the
// transfers it forwards (offer, envelope, receipt). Only a registered, active peer gateway (role
// peer-gateway) may.
import type { Readable } from 'node:stream';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import type { Registry } from '../identity/registry.js';
import { requireRole, type Role } from '../identity/require-role.js';
import type { InboundTransfers, InboundView } from './inbound-transfers.js';
import type { createPeerReceipts } from './peer-receipts.js';
import { signDirectory } from './signed-directory.js';

type PeerCaller = { readonly id: string; readonly role: Role };

export function createPeeringService(deps: {
  readonly registry: () => Registry;
  readonly signer: GatewaySigner;
  readonly origin: string;
  readonly clock: () => Date;
  readonly inbound: InboundTransfers;
  readonly receipts: ReturnType<typeof createPeerReceipts>;
}) {
  return {
    /** @throws GatewayError ERR_IDENTITY_ROLE_FORBIDDEN for anyone but a peer gateway. */
    async directory(caller: { readonly role: Role }): Promise<{ readonly jws: string }> {
      requireRole(caller, ['peer-gateway'], 'the peering directory');
      return { jws: await signDirectory(deps.registry(), { origin: deps.origin, signer: deps.signer, now: deps.clock() }) };
    },
    offer(caller: PeerCaller, body: unknown): Promise<{ created: boolean; view: InboundView }> {
      requireRole(caller, ['peer-gateway'], 'forwarded transfers');
      return deps.inbound.offer(caller, body);
    },
    receiveEnvelope(caller: PeerCaller, id: string, source: Readable, announcedBytes: number | undefined): Promise<InboundView> {
      requireRole(caller, ['peer-gateway'], 'forwarded transfers');
      return deps.inbound.receiveEnvelope(caller, id, source, announcedBytes);
    },
    acceptReceipt(caller: PeerCaller, id: string, message: unknown): Promise<{ transferId: string; status: string }> {
      requireRole(caller, ['peer-gateway'], 'receipts of forwarded transfers');
      return deps.receipts.accept(caller, id, message);
    },
  };
}

export type PeeringService = ReturnType<typeof createPeeringService>;
