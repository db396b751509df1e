// RFC 9457 problem details: the only error shape the gateway answers with. Known failures keep
// their code and details; anything unexpected becomes ERR_INTERNAL with nothing internal in it.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CATALOG, GatewayError, type ErrorCode } from '../errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** RFC 9457 §3.1 members plus our extensions `code` and `requestId`. */
export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance?: string;
  readonly code: ErrorCode;
  readonly requestId?: string;
  readonly [extension: string]: unknown;
}

/** Fastify's own error codes that are the caller's fault, mapped to ours. */
const FRAMEWORK_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'ERR_REQUEST_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ERR_REQUEST_MEDIA_TYPE_UNSUPPORTED',
  FST_ERR_CTP_INVALID_TYPE: 'ERR_REQUEST_MEDIA_TYPE_UNSUPPORTED',
};

/** Maps any thrown value to a GatewayError; unknown errors become ERR_INTERNAL. */
export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  const candidate = error as { code?: string; statusCode?: number; validation?: unknown[]; message?: string };
  const mapped = candidate.code ? FRAMEWORK_CODES[candidate.code] : undefined;
  if (mapped) return new GatewayError(mapped, candidate.message ?? ERROR_CATALOG[mapped].title);
  if (candidate.validation) {
    return new GatewayError('ERR_REQUEST_INVALID', candidate.message ?? 'request invalid', { problems: candidate.validation });
  }
  if (typeof candidate.statusCode === 'number' && candidate.statusCode >= 400 && candidate.statusCode < 500) {
    return new GatewayError('ERR_REQUEST_INVALID', candidate.message ?? 'request invalid');
  }
  return new GatewayError('ERR_INTERNAL', 'the gateway could not complete the request', undefined, { cause: error });
}

export function toProblemDetails(error: GatewayError, requestId?: string): ProblemDetails {
  const { title } = ERROR_CATALOG[error.code];
  // 503s are authored (not ready, retry later); other 5xx messages may carry internals.
  const internal = error.status >= 500 && error.status !== 503;
  return {
    ...(internal ? {} : error.details),
    type: `urn:hetao:error:${error.code}`,
    title,
    status: error.status,
    // A 5xx says what failed in general terms only; the log has the rest.
    detail: internal ? title : error.message,
    code: error.code,
    ...(requestId ? { instance: `urn:hetao:request:${requestId}`, requestId } : {}),
  };
}

/** Sends `error` as problem+json (logging unexpected ones with their stack). */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  const gatewayError = toGatewayError(error);
  if (gatewayError.status >= 500) request.log.error({ err: gatewayError.cause ?? gatewayError, code: gatewayError.code }, 'request failed');
  else request.log.info({ code: gatewayError.code }, gatewayError.message);
  // RFC 9110 §10.2.3: a 503 that knows when to come back says so in the header too.
  const retryAfter = gatewayError.details?.retryAfterSeconds;
  if (gatewayError.status === 503 && typeof retryAfter === 'number') reply.header('retry-after', String(Math.ceil(retryAfter)));
  return reply.code(gatewayError.status).type(PROBLEM_CONTENT_TYPE).send(toProblemDetails(gatewayError, request.id));
}
