// The errors of the lab-side client: the gateway answered with a problem (GatewayClientError), the
// request got no answer at all (GatewayRequestError, with the cause in words when it is known), the
// TLS identity is unusable (ClientCredentialsError), or a wait ran out (WaitTimeoutError).
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
  /** The low-level error code (e.g. `UND_ERR_SOCKET`, `ECONNREFUSED`, `UNABLE_TO_GET_ISSUER_CERT_LOCALLY`), when there is one. */
  readonly code: string | undefined;
  /** The cause in words (explain-connection-failure.ts), when it could be told. */
  readonly explanation: string | undefined;

  constructor(what: string, cause: unknown, explanation?: string) {
    const code = cause instanceof Error ? (cause as NodeJS.ErrnoException).code : undefined;
    const reason = cause instanceof Error ? (code ?? cause.message) : String(cause);
    super(explanation ? `${what} failed: ${explanation} (${reason})` : `${what} failed: ${reason}`, { cause });
    this.name = 'GatewayRequestError';
    this.code = code;
    this.explanation = explanation;
  }
}

export type ClientCredentialsProblem = 'unreadable-certificate' | 'unreadable-key' | 'key-mismatch';

/** The client certificate or key cannot be used, found before connecting. */
export class ClientCredentialsError extends Error {
  readonly problem: ClientCredentialsProblem;

  constructor(problem: ClientCredentialsProblem, message: string) {
    super(message);
    this.name = 'ClientCredentialsError';
    this.problem = problem;
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
