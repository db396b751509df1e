// What the policy history keeps of the policy reloads: the revision in force at start and every
// revision accepted after it, with its files' text; every reload with its outcome — and, for files
// refused, each problem as file:line (files named relative to the policy folder).
import path from 'node:path';
import { GatewayError } from '../errors.js';
import type { PolicyFileText, PolicyHistory, PolicyProblemView } from './policy-history.js';

interface AcceptedSet {
  readonly revision: string;
  readonly loadedAt: string;
  readonly sources: readonly PolicyFileText[];
}

export function recordPolicyReloads<Set extends AcceptedSet>(history: PolicyHistory, policyDir: string, clock: () => Date) {
  const relative = (file: string): string => (path.isAbsolute(file) && file.startsWith(policyDir) ? path.relative(policyDir, file) || path.basename(file) : file);
  const keep = (set: Set) => history.keepRevision({ revision: set.revision, at: set.loadedAt, files: set.sources });
  return {
    /** The set in force at start: kept once (a restart on the same files adds nothing). */
    keepStarting: keep,
    async applied({ trigger, before, after }: { trigger: string; before: Set; after: Set }): Promise<void> {
      await keep(after);
      await history.recordReload({ at: clock().toISOString(), trigger, outcome: 'applied', before: before.revision, after: after.revision });
    },
    async rejected({ trigger, error }: { trigger: string; error: unknown }): Promise<void> {
      const problems = error instanceof GatewayError && Array.isArray(error.details?.problems) ? (error.details.problems as PolicyProblemView[]) : [];
      await history.recordReload({
        at: clock().toISOString(),
        trigger,
        outcome: 'rejected',
        code: error instanceof GatewayError ? error.code : 'ERR_INTERNAL',
        problems: problems.map(({ file, line, path: where, message }) => ({ file: relative(String(file)), ...(line === undefined ? {} : { line }), ...(where ? { path: where } : {}), message: String(message) })),
      });
    },
  };
}
