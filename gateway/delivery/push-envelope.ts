// Push delivery: streams a finished transfer's envelope (already encrypted) to the recipient
// institution's registered HTTPS endpoint over mutual TLS and checks the endpoint's acknowledgement.
//
// Wire protocol (gateway → recipient endpoint)
//
//   PUT <endpoint>/<transferId>            (transferId percent-encoded as one path segment;
//                                           a trailing "/" on the endpoint is dropped first)
//   content-type:      application/vnd.hetao.envelope
//   content-length:    <envelope size in bytes>
//   hetao-transfer-id: <transfer id>
//   hetao-sender:      <sender institution id>
//   hetao-recipient:   <recipient institution id>
//   body:              the envelope bytes (framing prefix with the signed header, then the body)
//
//   The connection is TLS 1.2+ with the gateway's client certificate (issued by the zone CA, SAN
//   urn:hetao:gateway). The gateway trusts only the zone CAs for the endpoint's certificate, checks
//   it against the endpoint's host name as usual and, when the worker asks for it, requires the
//   SAN URI urn:hetao:inst:<recipient id> — before any byte of the request is sent.
//
//   The endpoint answers 200 or 201 with a JSON body (at most 64 KiB):
//     {"transferId": "<the transfer id>", "envelopeSha256": "<SHA-256 of the bytes it received, 64 hex>"}
//   plus "duplicate": true when it already stored this transfer with the same hash. Endpoints must
//   treat a repeated PUT of the same transfer id as idempotent: the worker retries after crashes and
//   timeouts, so the same envelope may arrive more than once. An upload cut short (fewer bytes than
//   content-length) must be discarded, never stored.
//
//   The gateway hashes the bytes as it sends them and accepts only an ack naming this transfer with
//   that hash. Outcomes:
//     ack matches                          → PushAcknowledgement
//     5xx, 408, 429                        → RetryablePushError PUSH_HTTP_STATUS (retryAfterMs from Retry-After)
//     3xx, other 4xx                       → PermanentPushError PUSH_HTTP_STATUS (redirects are not followed)
//     other 2xx, ack not JSON/malformed/too large → RetryablePushError PUSH_ACK_INVALID
//     ack for another transfer or hash     → RetryablePushError PUSH_ACK_MISMATCH
//     connection, DNS or TLS failure       → RetryablePushError PUSH_NETWORK (see below)
//     no activity for timeoutMs            → RetryablePushError PUSH_TIMEOUT
//     caller's signal aborted              → RetryablePushError PUSH_ABORTED
//     endpoint not a plain https URL       → PermanentPushError PUSH_ENDPOINT_INVALID (also: credentials, query, fragment)
//     certificate lacks the recipient URI  → PermanentPushError PUSH_PEER_NOT_RECIPIENT
//
//   A server certificate the zone CAs do not vouch for, or one issued for another host, is
//   PUSH_NETWORK (retryable; the message and `cause.code` say which TLS check failed): nothing was
//   sent, and it is mended on the endpoint's side (a botched certificate rollover) or goes away
//   (an interception), so the queue's bounded retries are the right answer. A zone-valid
//   certificate of another institution is different: the registry and the endpoint disagree about
//   who answers there, which needs a person, hence permanent.
//   Revocation of the endpoint's certificate is not checked yet: PushTls carries no CRL.
//
// Caller errors are not push errors: bad arguments throw TypeError, unusable TLS material throws
// what node:tls throws, an envelope source that yields more or fewer bytes than envelopeSize
// throws EnvelopeSizeMismatchError, and an error thrown by the envelope source itself is rethrown
// unchanged.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { EnvelopeSizeMismatchError, PermanentPushError, RetryablePushError } from './push-errors.js';

export { EnvelopeSizeMismatchError, isPushError, PermanentPushError, RetryablePushError } from './push-errors.js';
export type { PermanentPushCode, PushErrorCode, RetryablePushCode } from './push-errors.js';

export interface PushTls {
  /** PEM, the gateway's client certificate (chain allowed). */
  readonly cert: string;
  /** PEM private key. */
  readonly key: string;
  /** PEM CA certificates trusted for the endpoint's server certificate (the zone CAs). Never the public roots. */
  readonly ca: readonly string[];
}

export interface PushRequest {
  /** https URL registered for the recipient, e.g. https://lab.example:9443/hetao/inbox */
  readonly endpoint: string;
  readonly transferId: string;
  /** Institution ids. */
  readonly sender: string;
  readonly recipient: string;
  /** Prefix + body, streamed; never buffered whole. */
  readonly envelope: AsyncIterable<Uint8Array>;
  /** Exact byte count (sent as content-length). */
  readonly envelopeSize: number;
  readonly tls: PushTls;
  /** When set, the endpoint's server certificate must carry the SAN URI `urn:hetao:inst:<expectedInstitution>`. */
  readonly expectedInstitution?: string;
  /** Whole-request idle timeout (connect, handshake, upload, waiting for and reading the ack), default 60_000. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface PushAcknowledgement {
  readonly endpoint: string;
  /** HTTP status of the endpoint's answer. */
  readonly status: number;
  /** Hex, what WE sent; equals what the endpoint acknowledged. */
  readonly envelopeSha256: string;
  readonly bytes: number;
  /** ISO time we received the ack. */
  readonly acknowledgedAt: string;
  /** The endpoint said it already had this envelope. */
  readonly duplicate: boolean;
}

export const ENVELOPE_MEDIA_TYPE = 'application/vnd.hetao.envelope';
const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_ACK_BYTES = 64 * 1024;
const SHA256_HEX = /^[0-9a-f]{64}$/i;
// Visible ASCII only: these go into header values and the request path.
const HEADER_SAFE = /^[\x21-\x7e]{1,256}$/;

interface Target {
  readonly host: string;
  readonly port: number | undefined;
  readonly path: string;
  /** The endpoint without userinfo, query or fragment: safe to put in messages and logs. */
  readonly label: string;
}

function resolveTarget(endpoint: string, transferId: string): Target {
  const invalid = (label: string, what: string) =>
    new PermanentPushError('PUSH_ENDPOINT_INVALID', `push endpoint ${label} is invalid: ${what}`, { endpoint: label });
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw invalid(JSON.stringify(endpoint.slice(0, 200)), 'not a URL');
  }
  const label = `${url.protocol}//${url.host}${url.pathname}`;
  if (url.protocol !== 'https:') throw invalid(label, `it uses ${url.protocol.slice(0, -1)}, and deliveries go over https only`);
  // Credentials would end up in logs; a query or fragment leaves no clear place for the transfer id.
  if (url.username !== '' || url.password !== '') throw invalid(label, 'it carries user credentials');
  if (url.search !== '' || url.hash !== '') throw invalid(label, 'it has a query or fragment');
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? undefined : Number(url.port),
    path: `${url.pathname.replace(/\/+$/, '')}/${encodeURIComponent(transferId)}`,
    label,
  };
}

function checkArguments(request: PushRequest): void {
  for (const field of ['transferId', 'sender', 'recipient'] as const) {
    if (typeof request[field] !== 'string' || !HEADER_SAFE.test(request[field])) {
      throw new TypeError(`pushEnvelope: ${field} must be 1-256 visible ASCII characters`);
    }
  }
  if (!Number.isSafeInteger(request.envelopeSize) || request.envelopeSize < 0) {
    throw new TypeError('pushEnvelope: envelopeSize must be a non-negative integer');
  }
  if (request.timeoutMs !== undefined && !(Number.isFinite(request.timeoutMs) && request.timeoutMs > 0)) {
    throw new TypeError('pushEnvelope: timeoutMs must be a positive number');
  }
  // An empty list would make node:tls fall back to nothing (every handshake fails) — a config bug worth naming.
  if (request.tls.ca.length === 0) throw new TypeError('pushEnvelope: tls.ca must hold at least one zone CA certificate');
}

/** Counts and hashes the bytes on their way to the socket; refuses to send more or fewer than declared. */
class HashTap extends Transform {
  readonly #hash = createHash('sha256');
  readonly #expected: number;
  readonly #label: string;
  #bytes = 0;
  #sha256: string | undefined;

  constructor(expected: number, label: string) {
    super();
    this.#expected = expected;
    this.#label = label;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The digest, once every expected byte has passed — even before the end of the source reached
   * the tap (an endpoint that has all the bytes may answer and close first).
   */
  get sha256(): string | undefined {
    if (this.#sha256 === undefined && this.#bytes === this.#expected) this.#sha256 = this.#hash.digest('hex');
    return this.#sha256;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.#expected) {
      callback(new EnvelopeSizeMismatchError(this.#label, this.#expected, this.#bytes));
      return;
    }
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#bytes !== this.#expected) {
      callback(new EnvelopeSizeMismatchError(this.#label, this.#expected, this.#bytes));
      return;
    }
    void this.sha256;
    callback();
  }
}

/** Returned from checkServerIdentity so the handshake fails and the failure can be told apart. */
class PeerNotRecipientError extends Error {
  override readonly name = 'PeerNotRecipientError';
}

function peerIdentityCheck(expectedInstitution: string | undefined) {
  return (hostname: string, cert: PeerCertificate): Error | undefined => {
    const hostError = checkServerIdentity(hostname, cert);
    if (hostError !== undefined || expectedInstitution === undefined) return hostError;
    const wanted = `URI:urn:hetao:inst:${expectedInstitution}`;
    // Whole entries only: a prefix match would accept urn:hetao:inst:<id>-evil.
    const names = cert.subjectaltname === undefined ? [] : cert.subjectaltname.split(', ');
    if (names.includes(wanted)) return undefined;
    return new PeerNotRecipientError(
      `the server certificate does not name recipient ${expectedInstitution} (wanted ${wanted}; subjectAltName: ${cert.subjectaltname ?? 'none'})`,
    );
  };
}

function connectionError(error: unknown, about: string, endpoint: string): RetryablePushError | PermanentPushError {
  if (error instanceof PeerNotRecipientError) {
    return new PermanentPushError('PUSH_PEER_NOT_RECIPIENT', `${about} refused before sending: ${error.message}`, { endpoint, cause: error });
  }
  const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'UNKNOWN';
  const message = error instanceof Error ? error.message : String(error);
  const what = /CERT|^UNABLE_TO_/.test(code)
    ? "the endpoint's server certificate was refused"
    : /^ERR_(SSL|TLS)_/.test(code)
      ? 'the TLS handshake failed'
      : 'network error';
  return new RetryablePushError('PUSH_NETWORK', `${about} failed: ${what} (${code}: ${message})`, { endpoint, cause: error });
}

function retryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function statusError(response: IncomingMessage, about: string, endpoint: string): RetryablePushError | PermanentPushError {
  const status = response.statusCode ?? 0;
  const message = `${about} failed: the endpoint answered HTTP ${status}`;
  if (status >= 500 || status === 408 || status === 429) {
    const header = response.headers['retry-after'];
    return new RetryablePushError('PUSH_HTTP_STATUS', message, { endpoint, status, retryAfterMs: retryAfterMs(header) });
  }
  if (status >= 200 && status < 300) {
    return new RetryablePushError('PUSH_ACK_INVALID', `${message}, not 200 or 201 with an acknowledgement`, { endpoint, status });
  }
  return new PermanentPushError('PUSH_HTTP_STATUS', message, { endpoint, status });
}

/** The ack body, or undefined when it is larger than MAX_ACK_BYTES. */
async function readAck(response: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_ACK_BYTES) {
      response.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

interface Ack {
  readonly transferId: string;
  readonly envelopeSha256: string;
  readonly duplicate: boolean;
}

/** The parsed ack, or why it is not one. */
function parseAck(body: Buffer | undefined): Ack | string {
  if (body === undefined) return `the acknowledgement is larger than ${MAX_ACK_BYTES} bytes`;
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return 'the acknowledgement is not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the acknowledgement is not a JSON object';
  const { transferId, envelopeSha256, duplicate } = value as Record<string, unknown>;
  if (typeof transferId !== 'string') return 'the acknowledgement has no transferId string';
  if (typeof envelopeSha256 !== 'string' || !SHA256_HEX.test(envelopeSha256)) return 'the acknowledgement has no envelopeSha256 of 64 hex digits';
  if (duplicate !== undefined && typeof duplicate !== 'boolean') return 'the acknowledgement has a non-boolean duplicate';
  return { transferId, envelopeSha256: envelopeSha256.toLowerCase(), duplicate: duplicate === true };
}

/**
 * Pushes one envelope to the recipient's endpoint and returns its checked acknowledgement.
 * @throws RetryablePushError | PermanentPushError (see the header comment for which is which);
 *   EnvelopeSizeMismatchError, TypeError, or the envelope source's own error for caller-side faults.
 */
export async function pushEnvelope(request: PushRequest): Promise<PushAcknowledgement> {
  checkArguments(request);
  const target = resolveTarget(request.endpoint, request.transferId);
  const endpoint = target.label;
  const about = `push of transfer ${request.transferId} to ${endpoint}`;
  const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (request.signal?.aborted) {
    throw new RetryablePushError('PUSH_ABORTED', `${about} was aborted before it started`, { endpoint, cause: request.signal.reason });
  }

  const req = https.request({
    method: 'PUT',
    host: target.host,
    port: target.port,
    path: target.path,
    headers: {
      'content-type': ENVELOPE_MEDIA_TYPE,
      'content-length': String(request.envelopeSize),
      'hetao-transfer-id': request.transferId,
      'hetao-sender': request.sender,
      'hetao-recipient': request.recipient,
    },
    // A fresh agent per push: no pooled socket or resumed TLS session, since a resumed session
    // skips checkServerIdentity and with it the recipient check.
    agent: false,
    cert: request.tls.cert,
    key: request.tls.key,
    ca: [...request.tls.ca],
    servername: isIP(target.host) === 0 ? target.host : undefined,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    checkServerIdentity: peerIdentityCheck(request.expectedInstitution),
    // Set before connecting, so a silent TCP peer or a stalled handshake times out too.
    timeout: timeoutMs,
  });
  // Every failure, from whichever event, settles this one promise; the first one wins.
  let rejectFailure!: (reason: unknown) => void;
  const failure = new Promise<never>((_resolve, reject) => {
    rejectFailure = reject;
  });
  failure.catch(() => undefined); // raced below; this only keeps a late failure from being "unhandled"
  const fail = (reason: unknown): void => {
    rejectFailure(reason);
    req.destroy();
  };

  const tap = new HashTap(request.envelopeSize, endpoint);
  let sourceFailed = false;
  let sourceError: unknown;
  const envelope = request.envelope;
  // Marks errors of the source itself, so they are rethrown as they are rather than as network errors.
  async function* source(): AsyncGenerator<Uint8Array> {
    try {
      yield* envelope;
    } catch (error) {
      sourceFailed = true;
      sourceError = error;
      throw error;
    }
  }

  req.on('error', (error) => fail(connectionError(error, about, endpoint)));
  req.on('timeout', () => fail(new RetryablePushError('PUSH_TIMEOUT', `${about} timed out: no activity for ${timeoutMs} ms`, { endpoint })));
  const onAbort = (): void =>
    fail(new RetryablePushError('PUSH_ABORTED', `${about} was aborted after ${tap.bytes} bytes`, { endpoint, cause: request.signal?.reason }));
  request.signal?.addEventListener('abort', onAbort, { once: true });

  let markSent!: () => void;
  const sent = new Promise<void>((resolve) => {
    markSent = resolve;
  });
  // Nothing (not even the headers) is written until the handshake, and with it the recipient
  // check, has passed: the source is not touched before then.
  req.once('socket', (socket) => {
    socket.once('secureConnect', () => {
      pipeline(Readable.from(source(), { objectMode: false }), tap, req).then(markSent, (error: unknown) => {
        // The endpoint may answer and close the connection before the request reports 'finish';
        // once every byte went through the tap, that close is not a failure of the upload.
        if ((error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' && tap.sha256 !== undefined && tap.bytes === request.envelopeSize) {
          markSent();
          return;
        }
        if (sourceFailed) fail(sourceError);
        else if (error instanceof EnvelopeSizeMismatchError) fail(error);
        else fail(connectionError(error, about, endpoint));
      });
    });
  });
  const responded = new Promise<IncomingMessage>((resolve) => req.once('response', resolve));

  try {
    const response = await Promise.race([responded, failure]);
    const status = response.statusCode ?? 0;
    if (status !== 200 && status !== 201) {
      response.resume();
      throw statusError(response, about, endpoint);
    }
    const reading = readAck(response).catch((error: unknown) => {
      throw connectionError(error, about, endpoint);
    });
    const body = await Promise.race([reading, failure]);
    const acknowledgedAt = new Date().toISOString();
    // An endpoint may answer before it has read everything; the ack only counts once all was sent.
    await Promise.race([sent, failure]);
    const sha256 = tap.sha256;
    if (sha256 === undefined) throw new Error(`${about}: upload finished without a digest`); // unreachable: _flush ran
    const ack = parseAck(body);
    if (typeof ack === 'string') throw new RetryablePushError('PUSH_ACK_INVALID', `${about} failed: ${ack}`, { endpoint, status });
    if (ack.transferId !== request.transferId) {
      throw new RetryablePushError(
        'PUSH_ACK_MISMATCH',
        `${about} failed: the acknowledgement names transfer ${JSON.stringify(ack.transferId.slice(0, 100))}`,
        { endpoint, status },
      );
    }
    if (ack.envelopeSha256 !== sha256) {
      throw new RetryablePushError(
        'PUSH_ACK_MISMATCH',
        `${about} failed: the endpoint acknowledged SHA-256 ${ack.envelopeSha256}, but ${tap.bytes} bytes with SHA-256 ${sha256} were sent`,
        { endpoint, status },
      );
    }
    return { endpoint: request.endpoint, status, envelopeSha256: sha256, bytes: tap.bytes, acknowledgedAt, duplicate: ack.duplicate };
  } finally {
    request.signal?.removeEventListener('abort', onAbort);
    req.destroy();
  }
}
