// What routes call: the core's services. Routes translate HTTP to these calls; each service checks
// who may do what.
import type { AuditService } from '../audit/audit-service.js';
import type { PolicyService } from '../policy/policy-service.js';
import type { ResumableUploads } from '../transfer/resumable-uploads.js';
import type { TransferService } from '../transfer/transfer-service.js';
import type { PeeringService } from '../peering/peering-service.js';
import type { WitnessService } from '../witness/witness-service.js';
import type { FlowsService } from '../flows/flows-service.js';

export interface GatewayServices {
  readonly transfers: TransferService;
  /** Resumable (tus) uploads of transfers' content. */
  readonly uploads: ResumableUploads;
  readonly policies: PolicyService;
  readonly audit: AuditService;
  /** What crossed, and what was stopped, summed over a period. */
  readonly flows: FlowsService;
  /** This gateway as a witness of the peer gateway's audit log. */
  readonly witness: WitnessService;
  /** This side's signed directory, for the peer gateway. */
  readonly peering: PeeringService;
  /** The gateway's public signing keys (current first), served at /.well-known/jwks.json. */
  jwks(): { keys: object[] };
}
