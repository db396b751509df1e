// The gateway's one error type. Every failure a caller can see carries a stable `code` (listed in
// docs/errors.md) and the HTTP status it maps to; the HTTP layer renders it as RFC 9457 problem+json.

/** Every stable error code, with the HTTP status it is answered with and a short human title. */
export const ERROR_CATALOG = {
  ERR_CONFIG_INVALID: { status: 500, title: 'Configuration invalid' },
  ERR_REGISTRY_INVALID: { status: 500, title: 'Registry file invalid' },
  ERR_CRL_INVALID: { status: 500, title: 'Certificate revocation list invalid' },
  ERR_IDENTITY_CERTIFICATE_MISSING: { status: 401, title: 'Client certificate required' },
  ERR_IDENTITY_NOT_REGISTERED: { status: 403, title: 'Caller not registered in the zone' },
  ERR_IDENTITY_SUSPENDED: { status: 403, title: 'Caller suspended' },
  ERR_IDENTITY_REVOKED: { status: 403, title: 'Caller revoked' },
  ERR_IDENTITY_INSTITUTION_INACTIVE: { status: 403, title: "Caller's institution not active" },
  ERR_IDENTITY_BINDING_MISMATCH: { status: 403, title: 'Certificate names another principal' },
  ERR_IDENTITY_ROLE_FORBIDDEN: { status: 403, title: 'Role not allowed here' },
  ERR_POLICY_INVALID: { status: 500, title: 'Policy set invalid' },
  ERR_POLICY_RELOAD_REJECTED: { status: 422, title: 'Policy files refused' },
  ERR_POLICY_DENIED: { status: 403, title: 'Transfer denied by policy' },
  ERR_POLICY_REVISION_NOT_FOUND: { status: 404, title: 'No such policy revision' },
  ERR_MANIFEST_INVALID: { status: 400, title: 'Transfer manifest invalid' },
  ERR_TRANSFER_NOT_FOUND: { status: 404, title: 'No such transfer' },
  ERR_TRANSFER_FORBIDDEN: { status: 403, title: 'Not a party to this transfer' },
  ERR_TRANSFER_STATE: { status: 409, title: 'Transfer not in a state for this' },
  ERR_TRANSFER_CONFLICT: { status: 409, title: 'Transfer changed by another request' },
  ERR_TRANSFER_SIZE_MISMATCH: { status: 422, title: 'Content size differs from the declared size' },
  ERR_TRANSFER_DIGEST_MISMATCH: { status: 422, title: 'Content digest differs from the declared SHA-256' },
  ERR_TRANSFER_RECEIPT_MISMATCH: { status: 422, title: 'Receipt digest differs from the sent content' },
  ERR_TRANSFER_RANGE_INVALID: { status: 416, title: 'Range not satisfiable' },
  ERR_TRANSFER_FORMAT_UNAVAILABLE: { status: 406, title: 'Content not stored in the format asked for' },
  ERR_UPLOAD_NOT_FOUND: { status: 404, title: 'No resumable upload in progress' },
  ERR_UPLOAD_OFFSET_MISMATCH: { status: 409, title: 'Upload offset differs from what the gateway has' },
  ERR_TUS_VERSION_UNSUPPORTED: { status: 412, title: 'tus protocol version not supported' },
  ERR_REQUEST_INVALID: { status: 400, title: 'Request invalid' },
  ERR_REQUEST_BODY_TOO_LARGE: { status: 413, title: 'Request body too large' },
  ERR_REQUEST_JSON_TOO_DEEP: { status: 400, title: 'JSON nested too deeply' },
  ERR_REQUEST_MEDIA_TYPE_UNSUPPORTED: { status: 415, title: 'Media type not supported' },
  ERR_ROUTE_NOT_FOUND: { status: 404, title: 'No such resource' },
  ERR_SERVICE_UNAVAILABLE: { status: 503, title: 'Service not ready' },
  ERR_ENVELOPE_FORMAT: { status: 400, title: 'Envelope malformed' },
  ERR_ENVELOPE_SIGNATURE: { status: 400, title: 'Envelope header signature invalid' },
  ERR_ENVELOPE_NOT_RECIPIENT: { status: 403, title: 'Key holds no wrapped key of this envelope' },
  ERR_ENVELOPE_SEGMENT: { status: 400, title: 'Envelope segment fails authentication' },
  ERR_ENVELOPE_TRUNCATED: { status: 400, title: 'Envelope truncated' },
  ERR_ENVELOPE_TRAILING_DATA: { status: 400, title: 'Data after the final envelope segment' },
  ERR_ENVELOPE_SIZE: { status: 400, title: 'Envelope plaintext size mismatch' },
  ERR_ENVELOPE_DIGEST: { status: 400, title: 'Envelope plaintext digest mismatch' },
  ERR_ENVELOPE_KEY_INVALID: { status: 500, title: 'Envelope key unusable' },
  ERR_CRYPT4GH_KEY: { status: 400, title: 'Crypt4GH key unusable' },
  ERR_CRYPT4GH_FORMAT: { status: 400, title: 'Crypt4GH file malformed' },
  ERR_CRYPT4GH_NOT_RECIPIENT: { status: 403, title: 'No Crypt4GH header packet opens with this key' },
  ERR_CRYPT4GH_SEGMENT: { status: 400, title: 'Crypt4GH segment fails authentication' },
  ERR_AUDIT_EVENT_INVALID: { status: 500, title: 'Audit event malformed' },
  ERR_AUDIT_CORRUPT: { status: 500, title: 'Audit journal failed its integrity check' },
  ERR_AUDIT_UNAVAILABLE: { status: 503, title: 'Audit journal not accepting entries' },
  ERR_QUEUE_UNAVAILABLE: { status: 503, title: 'Work queue unavailable' },
  ERR_AUDIT_RANGE_INVALID: { status: 400, title: 'Audit proof or export range invalid' },
  ERR_AUDIT_EXPORT_INVALID: { status: 400, title: 'Audit export fails verification' },
  ERR_WITNESS_REQUEST_INVALID: { status: 400, title: 'Witness request malformed' },
  ERR_WITNESS_SIGNATURE_INVALID: { status: 403, title: 'Checkpoint not signed by the trusted log key' },
  ERR_WITNESS_LOG_UNKNOWN: { status: 404, title: 'Log not witnessed here' },
  ERR_PEER_UNKNOWN: { status: 403, title: 'Caller is not an active peer gateway' },
  ERR_PEER_FORWARD_INVALID: { status: 400, title: 'Forwarded transfer does not verify' },
  ERR_PEER_RECEIPT_INVALID: { status: 422, title: "Peer's receipt proof does not verify" },
  ERR_PEER_PROCESSING_WRAP_MISSING: { status: 422, title: 'Forwarded transfer cannot be inspected here' },
  ERR_WITNESS_SIZE_CONFLICT: { status: 409, title: 'Old size differs from the last cosigned size' },
  ERR_WITNESS_INCONSISTENT: { status: 422, title: 'Checkpoint inconsistent with what the witness cosigned' },
  ERR_WITNESS_KEY_INVALID: { status: 500, title: 'Witness key unusable' },
  ERR_STORAGE_FULL: { status: 507, title: 'Gateway storage full' },
  ERR_STORAGE_UNAVAILABLE: { status: 503, title: 'Gateway storage failing' },
  ERR_DATABASE_UNAVAILABLE: { status: 503, title: 'Database unavailable' },
  ERR_DATABASE_SCHEMA: { status: 500, title: 'Database schema not the one this gateway runs on' },
  ERR_CONNECTION_LIMIT: { status: 503, title: 'Too many connections' },
  ERR_REQUEST_TIMEOUT: { status: 408, title: 'Request body stalled' },
  ERR_INTERNAL: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

/** A failure with a stable code. `details` must never hold secrets or dataset content. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERROR_CATALOG[code].status;
    this.details = details;
  }
}

export function isGatewayError(error: unknown): error is GatewayError {
  return error instanceof GatewayError;
}

/** All codes, for the documentation check. */
export const ERROR_CODES = Object.keys(ERROR_CATALOG) as ErrorCode[];
