// What every step of the demo gets: the gateway, a scratch folder, a client per dev identity, and
// what earlier steps left for later ones (ids the receipt and audit steps look for).
import type { GatewayClient } from '../../gateway/client/gateway-client.js';
import type { DevPrincipal } from './dev-identities.js';

export interface SentGenomics {
  readonly id: string;
  /** SHA-256 (hex) of the VCF as the hospital sent it. */
  readonly sha256: string;
}

export interface DemoResults {
  genomics?: SentGenomics;
  deniedDecisionId?: string;
  quarantinedId?: string;
  receivedId?: string;
}

export interface DemoContext {
  readonly gatewayUrl: string;
  /** Generated datasets, downloads and the audit export go here. */
  readonly workDir: string;
  /** When the demo began: the audit export starts a little before it. */
  readonly startedAt: Date;
  client(principal: DevPrincipal): Promise<GatewayClient>;
  readonly results: DemoResults;
}
