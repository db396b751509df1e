// Reading and verifying an envelope's header: the JWS signature against the gateway's JWKS (by
// kid), the JWS type, then the header's own consistency. Tools use `readEnvelopeHeader` to look at
// an envelope (which key signed it, for whom it is) before, or without, decrypting it.
import { compactVerify, createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { GatewayError } from '../errors.js';
import { createByteQueue } from './byte-queue.js';
import { parseEnvelopePrefix, PREFIX_FIXED_BYTES } from './envelope-framing.js';
import { checkEnvelopeHeader, ENVELOPE_ALGORITHMS, ENVELOPE_JWS_TYPE, type EnvelopeHeader } from './envelope-header.js';

export interface VerifiedHeader {
  readonly header: EnvelopeHeader;
  /** SHA-256 of the canonical binding (32 bytes). */
  readonly bindingHash: Buffer;
  /** The gateway key that signed it. */
  readonly kid: string;
}

/**
 * Verifies a JWS the gateway signed, of type `typ`, and parses its payload as JSON. Anything wrong
 * inside the JWS bytes (syntax, unknown kid, bad signature) is a signature failure: those bytes are
 * authenticated as a whole.
 * @throws GatewayError `ERR_ENVELOPE_SIGNATURE` when it does not verify against `jwks`;
 *   `ERR_ENVELOPE_KEY_INVALID` when `jwks` is not a JWKS; `ERR_ENVELOPE_FORMAT` for another typ or a
 *   payload that is not UTF-8 JSON.
 */
export async function verifyGatewayJws(jws: string, jwks: JSONWebKeySet, typ: string): Promise<{ json: unknown; kid: string }> {
  let keySet;
  try {
    keySet = createLocalJWKSet(jwks);
  } catch (error) {
    throw new GatewayError('ERR_ENVELOPE_KEY_INVALID', `the gateway JWKS is not a JSON Web Key Set: ${(error as Error).message}`, undefined, { cause: error });
  }
  const kid = peekKid(jws);
  let verified;
  try {
    if (kid === undefined) throw new Error('its protected header names no kid');
    verified = await compactVerify(jws, keySet, { algorithms: [ENVELOPE_ALGORITHMS.signature] });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message =
      code === 'ERR_JWKS_NO_MATCHING_KEY' ? `the header is signed by key ${kid ?? '(no kid)'}, which is not in the gateway's JWKS`
      : code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' ? `the header signature does not verify (key ${kid ?? '(no kid)'}): the header was altered`
      : `the header is not a valid JWS: ${(error as Error).message}`;
    throw new GatewayError('ERR_ENVELOPE_SIGNATURE', message, { kid, reason: code }, { cause: error });
  }
  const { protectedHeader, payload } = verified;
  if (protectedHeader.typ !== typ) {
    throw new GatewayError('ERR_ENVELOPE_FORMAT', `the signed header has typ ${String(protectedHeader.typ)}, not ${typ}`);
  }
  try {
    return { json: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)), kid: kid as string };
  } catch {
    throw new GatewayError('ERR_ENVELOPE_FORMAT', 'the signed header is not UTF-8 JSON');
  }
}

/**
 * Verifies a header JWS and checks its payload.
 * @throws GatewayError as verifyGatewayJws; `ERR_ENVELOPE_FORMAT` / `ERR_ENVELOPE_SIZE` for a
 *   verified but invalid header (see checkEnvelopeHeader).
 */
export async function verifyEnvelopeHeader(headerJws: string, jwks: JSONWebKeySet): Promise<VerifiedHeader> {
  const { json, kid } = await verifyGatewayJws(headerJws, jwks, ENVELOPE_JWS_TYPE);
  const { header, bindingHash } = checkEnvelopeHeader(json);
  return { header, bindingHash, kid };
}

function peekKid(headerJws: string): string | undefined {
  try {
    const kid = decodeProtectedHeader(headerJws).kid;
    return typeof kid === 'string' ? kid : undefined;
  } catch {
    return undefined;
  }
}

export interface EnvelopeHeaderInfo {
  readonly headerJws: string;
  /** The signing key named by the JWS (not verified unless `verified`). */
  readonly kid: string | undefined;
  /** The header payload: checked and authentic only when `verified`; without a JWKS, for display only. */
  readonly header: EnvelopeHeader | undefined;
  readonly verified: boolean;
  /** Offset of the first body byte. */
  readonly bodyOffset: number;
}

async function readPrefixBytes(source: Uint8Array | AsyncIterable<Uint8Array>): Promise<{ headerJws: string; bodyOffset: number }> {
  const queue = createByteQueue();
  let headerLength: number | undefined;
  const enough = (): boolean => {
    if (headerLength === undefined && queue.length >= PREFIX_FIXED_BYTES) headerLength = parseEnvelopePrefix(queue.take(PREFIX_FIXED_BYTES)).headerLength;
    return headerLength !== undefined && queue.length >= headerLength;
  };
  if (source instanceof Uint8Array) {
    queue.push(source);
  } else {
    // Stop reading as soon as the header is in: the body is not needed.
    for await (const chunk of source) {
      queue.push(chunk);
      if (enough()) break;
    }
  }
  if (!enough() || headerLength === undefined) throw new GatewayError('ERR_ENVELOPE_TRUNCATED', 'the envelope ends inside its header');
  return { headerJws: queue.take(headerLength).toString('latin1'), bodyOffset: PREFIX_FIXED_BYTES + headerLength };
}

/**
 * The header of an envelope given as bytes or a byte stream (only the prefix is read). With `jwks`
 * the header is verified and checked; without, it is only decoded, for tools that must first learn
 * which key signed it.
 * @throws GatewayError `ERR_ENVELOPE_FORMAT` for bad framing; `ERR_ENVELOPE_TRUNCATED` when it ends
 *   inside the header; with `jwks`, whatever {@link verifyEnvelopeHeader} throws.
 */
export async function readEnvelopeHeader(
  source: Uint8Array | AsyncIterable<Uint8Array>,
  options: { readonly jwks?: JSONWebKeySet } = {},
): Promise<EnvelopeHeaderInfo> {
  const { headerJws, bodyOffset } = await readPrefixBytes(source);
  if (options.jwks) {
    const { header, kid } = await verifyEnvelopeHeader(headerJws, options.jwks);
    return { headerJws, kid, header, verified: true, bodyOffset };
  }
  let header: EnvelopeHeader | undefined;
  try {
    const payload = headerJws.split('.')[1] ?? '';
    header = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as EnvelopeHeader;
  } catch {
    header = undefined;
  }
  return { headerJws, kid: peekKid(headerJws), header, verified: false, bodyOffset };
}
