// The policy history port: every policy revision the gateway accepted, kept with its files' text as
// read, and every reload attempt with its outcome (the revisions before and after, or the code and the
// file:line problems of the files refused), so that security officers can see what was enforced when
// and what was tried. Both only grow. Implementations: a folder of files (embedded) and two
// PostgreSQL tables (shared mode); both pass test/ports/policy-history.contract.ts.
import { createHash } from 'node:crypto';
import { GatewayError } from '../errors.js';

export interface PolicyFileText {
  /** e.g. '30-hgr.policy.yaml'. */
  readonly name: string;
  /** The file as read (UTF-8 decoded), byte for byte what was enforced. */
  readonly text: string;
}

export interface PolicyRevisionRecord {
  /** The policy set's revision: 64 lowercase hex (SHA-256, load-policy-set.ts). */
  readonly revision: string;
  /** When this revision was first accepted (ISO 8601, as Date#toISOString writes it). */
  readonly firstAcceptedAt: string;
  readonly files: readonly PolicyFileText[];
}

export interface PolicyFileDigest {
  readonly name: string;
  /** Hex SHA-256 of the file's text (UTF-8). */
  readonly sha256: string;
}

/** A revision as listed: its files named and hashed, their texts left out. */
export interface PolicyRevisionSummary {
  readonly revision: string;
  readonly firstAcceptedAt: string;
  readonly files: readonly PolicyFileDigest[];
}

/** One problem of a refused policy file, where it is (file:line, and the path within the YAML). */
export interface PolicyProblemView {
  readonly file: string;
  readonly line?: number;
  readonly path?: string;
  readonly message: string;
}

/** `trigger`: who or what asked, e.g. `officer:<person id>`, `sighup`, `file-change` (reload-audit.ts). */
export type PolicyReloadRecord =
  | { readonly at: string; readonly trigger: string; readonly outcome: 'applied'; readonly before: string; readonly after: string }
  | { readonly at: string; readonly trigger: string; readonly outcome: 'rejected'; readonly code: string; readonly problems: readonly PolicyProblemView[] };

export interface PolicyHistory {
  /**
   * Keeps a revision with its files; idempotent on `revision` (a second call with the same revision
   * changes nothing, keeps the first time). `at` is normalized to Date#toISOString form.
   */
  keepRevision(revision: { revision: string; at: string; files: readonly PolicyFileText[] }): Promise<void>;
  /** Appends one reload attempt (`at` normalized as above). */
  recordReload(reload: PolicyReloadRecord): Promise<void>;
  /** Revisions newest first (by firstAcceptedAt, then the later kept first), without file texts; at most `limit` (default 50). */
  revisions(options?: { limit?: number }): Promise<readonly PolicyRevisionSummary[]>;
  /** One revision with its files' texts, or undefined (also for a string that is no revision at all). */
  revision(revision: string): Promise<PolicyRevisionRecord | undefined>;
  /** Reload attempts newest first (by `at`, then the later recorded first), at most `limit` (default 50). */
  reloads(options?: { limit?: number }): Promise<readonly PolicyReloadRecord[]>;
  close(): Promise<void>;
}

export const DEFAULT_HISTORY_LIMIT = 50;

const REVISION = /^[0-9a-f]{64}$/;

/** Whether `value` has the form of a revision (the file implementation names files by it). */
export const isPolicyRevisionId = (value: unknown): value is string => typeof value === 'string' && REVISION.test(value);

export const sha256OfText = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * `at` in Date#toISOString form, so that both implementations answer the same string (PostgreSQL's
 * timestamptz gives back a Date, not the text it was given).
 * @throws GatewayError ERR_INTERNAL for a string that is no instant: a caller's bug.
 */
export function isoInstantOf(at: string): string {
  const time = Date.parse(at);
  if (Number.isNaN(time)) throw new GatewayError('ERR_INTERNAL', `policy history: ${JSON.stringify(at)} is not an ISO 8601 instant`);
  return new Date(time).toISOString();
}

/** The `limit` asked for, or the default. @throws GatewayError ERR_REQUEST_INVALID unless a positive integer. */
export function historyLimitOf(options: { limit?: number } | undefined): number {
  const limit = options?.limit ?? DEFAULT_HISTORY_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new GatewayError('ERR_REQUEST_INVALID', `the limit must be a positive integer, not ${String(limit)}`, { limit });
  return limit;
}

/**
 * The revision to keep, checked and copied field by field (nothing else of the caller's objects is
 * stored, so both implementations give back the same).
 * @throws GatewayError ERR_INTERNAL for a malformed revision or two files of one name: a caller's bug.
 */
export function revisionToKeep(revision: { revision: string; at: string; files: readonly PolicyFileText[] }): PolicyRevisionRecord {
  if (!isPolicyRevisionId(revision.revision)) throw new GatewayError('ERR_INTERNAL', `policy history: ${JSON.stringify(revision.revision)} is not a revision (64 lowercase hex)`);
  const names = new Set<string>();
  for (const file of revision.files) {
    if (names.has(file.name)) throw new GatewayError('ERR_INTERNAL', `policy history: revision ${revision.revision} names ${JSON.stringify(file.name)} twice`);
    names.add(file.name);
  }
  return { revision: revision.revision, firstAcceptedAt: isoInstantOf(revision.at), files: revision.files.map(({ name, text }) => ({ name, text })) };
}

/** The reload to record, copied field by field with `at` normalized (see revisionToKeep). */
export function reloadToRecord(reload: PolicyReloadRecord): PolicyReloadRecord {
  const at = isoInstantOf(reload.at);
  if (reload.outcome === 'applied') return { at, trigger: reload.trigger, outcome: 'applied', before: reload.before, after: reload.after };
  return { at, trigger: reload.trigger, outcome: 'rejected', code: reload.code, problems: reload.problems.map(policyProblemView) };
}

/** A problem copied field by field, in one key order (a jsonb column gives them back in its own). */
export const policyProblemView = ({ file, line, path, message }: PolicyProblemView): PolicyProblemView => ({
  file,
  ...(line === undefined ? {} : { line }),
  ...(path === undefined ? {} : { path }),
  message,
});

export const summaryOf = (record: PolicyRevisionRecord): PolicyRevisionSummary => ({
  revision: record.revision,
  firstAcceptedAt: record.firstAcceptedAt,
  files: record.files.map((file) => ({ name: file.name, sha256: sha256OfText(file.text) })),
});

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const isProblemView = (value: unknown): value is PolicyProblemView =>
  isRecord(value) &&
  typeof value.file === 'string' &&
  typeof value.message === 'string' &&
  (value.line === undefined || Number.isSafeInteger(value.line)) &&
  (value.path === undefined || typeof value.path === 'string');

/** Whether a value read back (a line of a file, a row's JSON) is a reload record. */
export function isPolicyReloadRecord(value: unknown): value is PolicyReloadRecord {
  if (!isRecord(value) || typeof value.at !== 'string' || typeof value.trigger !== 'string') return false;
  if (value.outcome === 'applied') return typeof value.before === 'string' && typeof value.after === 'string';
  return value.outcome === 'rejected' && typeof value.code === 'string' && Array.isArray(value.problems) && value.problems.every(isProblemView);
}

/** Whether a value read back is a revision record with its files. */
export function isPolicyRevisionRecord(value: unknown): value is PolicyRevisionRecord {
  return (
    isRecord(value) &&
    isPolicyRevisionId(value.revision) &&
    typeof value.firstAcceptedAt === 'string' &&
    Array.isArray(value.files) &&
    value.files.every((file) => isRecord(file) && typeof file.name === 'string' && typeof file.text === 'string')
  );
}
