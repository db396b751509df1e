// What officers, admins and regulators may do with the policy set in force: read it, try a manifest
// against it without side effects (dry run), and reload it from its folder. Roles are checked here.
import { GatewayError } from '../errors.js';
import type { Registry } from '../identity/registry.js';
import { requireRole, type Role } from '../identity/require-role.js';
import type { ReloadResult } from '../reload/reloadable.js';
import { recipientCountingUsPersons, twelveMonthsBefore } from './carried-window.js';
import { decideTransfer } from './decide-transfer.js';
import { explainPolicy } from './explain-policy.js';
import type { PolicySet } from './load-policy-set.js';
import type { UsPersonCounts } from './manifest.js';

const OFFICERS: readonly Role[] = ['security-officer', 'admin'];
const READERS: readonly Role[] = ['security-officer', 'admin', 'regulator'];

export interface PolicyCaller {
  readonly id: string;
  readonly role: Role;
}

export function createPolicyService(deps: {
  policies(): PolicySet;
  registry(): Registry;
  reload(trigger: string): Promise<ReloadResult>;
  clock(): Date;
  /** The records' sum of US persons a pair carried since an instant (record-store.ts `usPersonsCarried`), for dry runs decided as the real ones. */
  usPersonsCarried?(sender: string, recipient: string, since: string): Promise<UsPersonCounts>;
}) {
  return {
    /** The policy set in force. @throws GatewayError ERR_IDENTITY_ROLE_FORBIDDEN */
    describe(caller: PolicyCaller) {
      requireRole(caller, READERS, 'the policy set');
      const set = deps.policies();
      return {
        revision: set.revision,
        loadedAt: set.loadedAt,
        files: set.files,
        rules: set.rules.map(({ id, file, jurisdiction, effect, description, basis, unconfirmed }) => ({ id, file: file.slice(set.dir.length + 1), jurisdiction, effect, description, basis, unconfirmed })),
      };
    },

    /**
     * A decision as `from` would get it for `manifest`, with every rule explained; records nothing.
     * @throws GatewayError ERR_IDENTITY_ROLE_FORBIDDEN, ERR_REQUEST_INVALID (unknown sender), ERR_MANIFEST_INVALID
     */
    async evaluate(caller: PolicyCaller, request: { from: string; at?: string; manifest: unknown }) {
      requireRole(caller, OFFICERS, 'the policy dry run');
      const registry = deps.registry();
      const sender = registry.institutions.get(request.from);
      if (!sender) throw new GatewayError('ERR_REQUEST_INVALID', `"${request.from}" is not a registered institution`);
      const set = deps.policies();
      const at = request.at ? new Date(request.at) : deps.clock();
      const lookupInstitution = (id: string) => registry.institutions.get(id);
      // As the real decision: a manifest counting US persons adds what the pair carried in the 12 months before.
      const recipientId = recipientCountingUsPersons(request.manifest);
      const prior = recipientId !== undefined && deps.usPersonsCarried ? await deps.usPersonsCarried(sender.id, recipientId, twelveMonthsBefore(at).toISOString()) : undefined;
      const { manifest, decision } = decideTransfer(set, { sender, manifest: request.manifest, at, lookupInstitution, ...(prior ? { priorUsPersons12m: prior } : {}) });
      const recipient = lookupInstitution(manifest.recipient);
      return { dryRun: true, decision, explanation: recipient ? explainPolicy(set, { manifest, sender, recipient, at, ...(prior ? { priorUsPersons12m: prior } : {}) }) : [] };
    },

    /**
     * Reloads the policy folder now; the previous set stays in force if the files are invalid.
     * @throws GatewayError ERR_IDENTITY_ROLE_FORBIDDEN, ERR_POLICY_RELOAD_REJECTED (with every problem)
     */
    async reload(caller: PolicyCaller) {
      requireRole(caller, OFFICERS, 'a policy reload');
      const result = await deps.reload(`officer:${caller.id}`);
      if (result.outcome === 'rejected') {
        const problems = result.error instanceof GatewayError ? result.error.details?.problems : undefined;
        throw new GatewayError('ERR_POLICY_RELOAD_REJECTED', 'the policy files are invalid; the previous policy set stays in force', { problems, revision: deps.policies().revision });
      }
      return { outcome: result.outcome, revision: deps.policies().revision };
    },
  };
}

export type PolicyService = ReturnType<typeof createPolicyService>;
