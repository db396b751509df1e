// What officers, admins and regulators may do with the policy set in force: read it, try a manifest
// against it without side effects (dry run), and reload it from its folder. Roles are checked here.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { GatewayError } from '../errors.js';
import type { Registry } from '../identity/registry.js';
import { requireRole, type Role } from '../identity/require-role.js';
import type { ReloadResult } from '../reload/reloadable.js';
import { recipientCountingUsPersons, twelveMonthsBefore } from './carried-window.js';
import { decideTransfer } from './decide-transfer.js';
import { explainPolicy } from './explain-policy.js';
import { CASES_FILE_SUFFIX, runPolicyCases } from './run-policy-cases.js';
import type { PolicySet } from './load-policy-set.js';
import type { UsPersonCounts } from './manifest.js';
import type { PolicyHistory, PolicyRevisionRecord } from '../policy-history/policy-history.js';
import { diffRevisions } from '../policy-history/diff-revisions.js';

const OFFICERS: readonly Role[] = ['security-officer', 'admin'];
const READERS: readonly Role[] = ['security-officer', 'admin', 'regulator'];

export interface PolicyCaller {
  readonly id: string;
  readonly role: Role;
}

/** The policy cases run against the set in force: per rule, how many allowing and denying cases exercise it; the failing ones. */
export interface CaseCounts {
  readonly cases: number;
  readonly perRule: Readonly<Record<string, { allow: number; deny: number }>>;
  readonly failing: readonly { file: string; name: string; failures: readonly string[] }[];
}

/** The case files' names, sizes and modification times: with the set's and the registry's revisions, what the counts depend on. */
async function caseFilesStamp(dir: string): Promise<string> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith(CASES_FILE_SUFFIX)).sort();
  } catch {
    return 'none';
  }
  const stamps = await Promise.all(names.map(async (name) => stat(path.join(dir, name)).then(({ size, mtimeMs }) => `${name}:${size}:${mtimeMs}`, () => `${name}:gone`)));
  return stamps.join(',');
}

export function createPolicyService(deps: {
  policies(): PolicySet;
  registry(): Registry;
  reload(trigger: string): Promise<ReloadResult>;
  clock(): Date;
  /** Every accepted revision with its files, and every reload (policy-history/); absent: no history kept. */
  history?: PolicyHistory;
  /** The records' sum of US persons a pair carried since an instant (record-store.ts `usPersonsCarried`), for dry runs decided as the real ones. */
  usPersonsCarried?(sender: string, recipient: string, since: string): Promise<UsPersonCounts>;
}) {
  let lastCaseCounts: { key: string; counts: CaseCounts } | undefined;

  async function keptRevision(caller: PolicyCaller, revision: string): Promise<PolicyRevisionRecord> {
    requireRole(caller, READERS, 'the policy history');
    const found = await deps.history?.revision(revision);
    if (!found) throw new GatewayError('ERR_POLICY_REVISION_NOT_FOUND', `no policy revision ${revision.slice(0, 64)} is kept`);
    return found;
  }

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
     * The policy cases kept beside the policies (`tests/*.cases.yaml`, as `hetao policy test` runs them)
     * against the set in force: how many allowing and denying cases exercise each rule, and which fail.
     */
    async caseCounts(caller: PolicyCaller) {
      requireRole(caller, READERS, 'the policy cases');
      const set = deps.policies();
      const dir = path.join(set.dir, 'tests');
      // Running every case takes ~100 ms of the event loop: done again only when the set or a case file changed.
      const registry = deps.registry();
      const key = `${set.revision} ${registry.revision} ${await caseFilesStamp(dir)}`;
      if (lastCaseCounts?.key === key) return lastCaseCounts.counts;
      const results = await runPolicyCases(dir, set, (id) => registry.institutions.get(id));
      const perRule: Record<string, { allow: number; deny: number }> = Object.fromEntries(set.rules.map((rule) => [rule.id, { allow: 0, deny: 0 }]));
      for (const result of results) for (const id of result.exercises) if (perRule[id]) perRule[id][result.expectedEffect] += 1;
      const counts = { cases: results.length, perRule, failing: results.filter((result) => !result.passed).map(({ file, name, failures }) => ({ file: path.basename(file), name, failures })) };
      lastCaseCounts = { key, counts };
      return counts;
    },

    /** Accepted revisions, newest first, with their files named and hashed. */
    async revisions(caller: PolicyCaller, options: { limit?: number } = {}) {
      requireRole(caller, READERS, 'the policy history');
      return { revisions: (await deps.history?.revisions(options)) ?? [] };
    },

    /** One accepted revision with its files' text. @throws GatewayError ERR_POLICY_REVISION_NOT_FOUND */
    revision: keptRevision,

    /** What changed, file by file, from the revision `older` to `newer`. @throws GatewayError ERR_POLICY_REVISION_NOT_FOUND */
    async diff(caller: PolicyCaller, older: string, newer: string) {
      const [from, to] = [await keptRevision(caller, older), await keptRevision(caller, newer)];
      return { from: { revision: from.revision, firstAcceptedAt: from.firstAcceptedAt }, to: { revision: to.revision, firstAcceptedAt: to.firstAcceptedAt }, files: diffRevisions(from, to) };
    },

    /** Reloads, newest first: the revisions before and after, or every problem of the files refused. */
    async reloads(caller: PolicyCaller, options: { limit?: number } = {}) {
      requireRole(caller, READERS, 'the policy history');
      return { reloads: (await deps.history?.reloads(options)) ?? [] };
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
