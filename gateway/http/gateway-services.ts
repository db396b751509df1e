// What routes call: the core's services. Routes translate HTTP to these calls; each service checks
// who may do what.
import type { AuditService } from '../audit/audit-service.js';
import type { PolicyService } from '../policy/policy-service.js';
import type { ResumableUploads } from '../transfer/resumable-uploads.js';
import type { TransferService } from '../transfer/transfer-service.js';

export interface GatewayServices {
  readonly transfers: TransferService;
  /** Resumable (tus) uploads of transfers' content. */
  readonly uploads: ResumableUploads;
  readonly policies: PolicyService;
  readonly audit: AuditService;
  /** The gateway's public signing keys (current first), served at /.well-known/jwks.json. */
  jwks(): { keys: object[] };
}
