// The one entry point for a transfer decision: validate the manifest, look up the recipient, decide.
// The sender is always the authenticated institution, never a manifest field.
import type { Party } from './decision-input.js';
import { evaluatePolicy, type Decision, type EvaluateOptions } from './evaluate-policy.js';
import type { PolicySet } from './load-policy-set.js';
import { hashManifest, parseManifest, type Manifest, type UsPersonCounts } from './manifest.js';

export interface TransferRequest {
  readonly sender: Party;
  /** The manifest as received (validated here). */
  readonly manifest: unknown;
  readonly at: Date;
  /** The pair's US persons of the 12 months before (DecisionInput.priorUsPersons12m). */
  readonly priorUsPersons12m?: UsPersonCounts;
  readonly lookupInstitution: (id: string) => Party | undefined;
}

/** @throws GatewayError ERR_MANIFEST_INVALID listing every problem of the manifest. */
export function decideTransfer(set: PolicySet, request: TransferRequest, options?: EvaluateOptions): { manifest: Manifest; decision: Decision } {
  const manifest = parseManifest(request.manifest);
  const decision = evaluatePolicy(
    set,
    {
      manifest,
      manifestSha256: hashManifest(manifest),
      sender: request.sender,
      recipient: request.lookupInstitution(manifest.recipient),
      at: request.at,
      ...(request.priorUsPersons12m ? { priorUsPersons12m: request.priorUsPersons12m } : {}),
      lookupInstitution: request.lookupInstitution,
    },
    options,
  );
  return { manifest, decision };
}
