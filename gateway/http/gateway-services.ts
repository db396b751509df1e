// What routes call: the core's current state and operations. Routes translate HTTP to these calls.
import type { AuditJournal } from '../audit/create-audit-journal.js';
import type { Registry } from '../identity/registry.js';
import type { PolicySet } from '../policy/load-policy-set.js';
import type { ReloadResult } from '../reloadable.js';
import type { TransferService } from '../transfer/transfer-service.js';

export interface GatewayServices {
  registry(): Registry;
  policies(): PolicySet;
  reloadPolicies(trigger: string): Promise<ReloadResult>;
  now(): Date;
  readonly transfers: TransferService;
  readonly journal: AuditJournal;
  /** The gateway's public signing keys (current first), served at /.well-known/jwks.json. */
  jwks(): { keys: object[] };
}
