// Failures of a push delivery, split by what the queue worker should do next: retry later
// (RetryablePushError) or give up and flag the transfer (PermanentPushError). The split lives in
// the type so the worker never has to parse codes or messages to decide. Messages name the
// endpoint and never carry envelope bytes.

export type RetryablePushCode =
  | 'PUSH_NETWORK'
  | 'PUSH_TIMEOUT'
  | 'PUSH_HTTP_STATUS'
  | 'PUSH_ACK_INVALID'
  | 'PUSH_ACK_MISMATCH'
  | 'PUSH_ABORTED';

export type PermanentPushCode = 'PUSH_ENDPOINT_INVALID' | 'PUSH_PEER_NOT_RECIPIENT' | 'PUSH_HTTP_STATUS';

export type PushErrorCode = RetryablePushCode | PermanentPushCode;

export interface PushErrorDetails {
  /** The endpoint as registered (not the per-transfer URL). */
  readonly endpoint: string;
  /** HTTP status of the endpoint's answer, when there was one. */
  readonly status?: number;
  /** The endpoint's Retry-After (429/503), in milliseconds, when it sent a usable one. */
  readonly retryAfterMs?: number;
  readonly cause?: unknown;
}

/** Thrown for failures a retry may mend (network, timeouts, 5xx, 408, 429, ack mismatch, abort). */
export class RetryablePushError extends Error {
  override readonly name = 'RetryablePushError';
  readonly retryable = true as const;
  readonly code: RetryablePushCode;
  readonly endpoint: string;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(code: RetryablePushCode, message: string, details: PushErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.endpoint = details.endpoint;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** Thrown for failures a retry cannot mend (bad endpoint URL, non-https, 4xx other than 408/429, 3xx, wrong peer). */
export class PermanentPushError extends Error {
  override readonly name = 'PermanentPushError';
  readonly retryable = false as const;
  readonly code: PermanentPushCode;
  readonly endpoint: string;
  readonly status: number | undefined;

  constructor(code: PermanentPushCode, message: string, details: PushErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.endpoint = details.endpoint;
    this.status = details.status;
  }
}

/**
 * The envelope source yielded more or fewer bytes than `envelopeSize`. Deliberately neither a
 * Retryable nor a PermanentPushError: it is our bug or stored data corruption, not anything the
 * endpoint did, so the caller must treat it like any other internal failure.
 */
export class EnvelopeSizeMismatchError extends Error {
  override readonly name = 'EnvelopeSizeMismatchError';
  readonly expected: number;
  /** Bytes seen when the mismatch was noticed (for "too many": the first count past `expected`). */
  readonly actual: number;

  constructor(endpoint: string, expected: number, actual: number) {
    super(
      actual > expected
        ? `push to ${endpoint} stopped: the envelope source yielded more than the declared ${expected} bytes`
        : `push to ${endpoint} stopped: the envelope source ended after ${actual} of the declared ${expected} bytes`,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

export function isPushError(error: unknown): error is RetryablePushError | PermanentPushError {
  return error instanceof RetryablePushError || error instanceof PermanentPushError;
}
