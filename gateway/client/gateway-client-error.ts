// The errors of the lab-side client: the gateway answered with a problem (GatewayClientError), the
// request got no answer at all (GatewayRequestError), or a wait ran out (WaitTimeoutError).
import type { PolicyReason, TransferView } from './transfer-view.js';

/** RFC 9457 members the client reads by name; everything else is an extension member. */
const STANDARD_MEMBERS = new Set(['type', 'title', 'status', 'detail', 'instance', 'code', 'requestId']);

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** A non-2xx answer of the gateway, read from its problem+json body. */
export class GatewayClientError extends Error {
  readonly status: number;
  /** The gateway's stable error code (docs/errors.md), or `HTTP_<status>` when the body was no problem document. */
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly type: string | undefined;
  readonly requestId: string | undefined;
  /** The problem's extension members, e.g. `decisionId`, `policyRevision`, `reasons`, `problems`. */
  readonly extensions: Readonly<Record<string, unknown>>;

  constructor(status: number, problem: Readonly<Record<string, unknown>>) {
    const code = text(problem.code) ?? `HTTP_${status}`;
    const detail = text(problem.detail) ?? text(problem.title) ?? `the gateway answered ${status}`;
    super(`${code}: ${detail}`);
    this.name = 'GatewayClientError';
    this.status = status;
    this.code = code;
    this.title = text(problem.title) ?? '';
    this.detail = detail;
    this.type = text(problem.type);
    this.requestId = text(problem.requestId);
    this.extensions = Object.fromEntries(Object.entries(problem).filter(([name]) => !STANDARD_MEMBERS.has(name)));
  }

  get isPolicyDenial(): boolean {
    return this.code === 'ERR_POLICY_DENIED';
  }

  /** The denying decision's id (policy denials only). */
  get decisionId(): string | undefined {
    return text(this.extensions.decisionId);
  }

  get policyRevision(): string | undefined {
    return text(this.extensions.policyRevision);
  }

  /** Every reason of a policy denial, each with its rule id. Empty for other problems. */
  get reasons(): readonly PolicyReason[] {
    const reasons = this.extensions.reasons;
    return Array.isArray(reasons) ? (reasons as PolicyReason[]) : [];
  }
}

/** The request failed without an answer: connection refused, TLS handshake refused, connection cut, unreadable upload source. */
export class GatewayRequestError extends Error {
  constructor(what: string, cause: unknown) {
    const reason = cause instanceof Error ? ((cause as NodeJS.ErrnoException).code ?? cause.message) : String(cause);
    super(`${what} failed: ${reason}`, { cause });
    this.name = 'GatewayRequestError';
  }
}

/** waitForStatus ran out of time; `last` is the record as last seen. */
export class WaitTimeoutError extends Error {
  readonly last: TransferView;

  constructor(last: TransferView, timeoutMs: number) {
    super(`transfer ${last.id} is still ${last.status} after ${Math.round(timeoutMs / 1000)} s`);
    this.name = 'WaitTimeoutError';
    this.last = last;
  }
}

/** The transfer's content cannot be downloaded in its present status (e.g. queued, quarantined, cancelled). */
export class TransferNotDownloadableError extends Error {
  readonly record: TransferView;

  constructor(record: TransferView) {
    super(`transfer ${record.id} is ${record.status}: its content cannot be downloaded`);
    this.name = 'TransferNotDownloadableError';
    this.record = record;
  }
}
