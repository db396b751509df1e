// The envelope header: its binding (what is fixed before the first byte is encrypted, hashed into
// every segment), the wrapped data keys, and what is known only at the end (plaintext size, digest,
// segment count). Also the checks a reader applies to a header after its signature has verified.
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { GatewayError } from '../errors.js';
import { MAX_SEGMENTS, NONCE_PREFIX_BYTES, SALT_BYTES } from './stream-aead.js';

export const ENVELOPE_VERSION = 1;
/** `typ` of the header JWS, so that nothing else the gateway signs passes as an envelope header. */
export const ENVELOPE_JWS_TYPE = 'hetao-envelope+jws';
export const DEFAULT_SEGMENT_SIZE = 64 * 1024;
export const MIN_SEGMENT_SIZE = 1024;
export const MAX_SEGMENT_SIZE = 16 * 1024 * 1024;

export const ENVELOPE_ALGORITHMS = Object.freeze({
  body: 'A256GCM-HKDF-SHA256-STREAM',
  keyWrap: 'ECDH-ES+A256KW',
  keyWrapEnc: 'A256GCM',
  signature: 'EdDSA',
} as const);

export type EnvelopeAlgorithms = typeof ENVELOPE_ALGORITHMS;

/** Fixed before encryption starts; its SHA-256 is the HKDF info and every segment's AAD. */
export interface EnvelopeBinding {
  readonly version: typeof ENVELOPE_VERSION;
  readonly transferId: string;
  readonly algorithms: EnvelopeAlgorithms;
  readonly segmentSize: number;
  /** base64url, 32 bytes. */
  readonly salt: string;
  /** base64url, 7 bytes. */
  readonly noncePrefix: string;
  readonly sender: string;
  readonly recipient: string;
  readonly policyRevision: string;
  readonly decisionId: string;
}

/** `processing`: the gateway's own wrap for its workers, kept outside the header (never valid in one). */
export type HolderRole = 'recipient' | 'escrow' | 'processing';

/** The data key wrapped for one holder (compact JWE, ECDH-ES+A256KW / A256GCM). */
export interface WrappedKey {
  readonly institution: string;
  /** RFC 7638 thumbprint of the holder's public key, also the JWE's `kid`. */
  readonly kid: string;
  readonly role: HolderRole;
  readonly jwe: string;
}

/** The signed header (the payload of the header JWS). */
export interface EnvelopeHeader {
  readonly binding: EnvelopeBinding;
  /** Lowercase hex SHA-256 of the binding's RFC 8785 canonical JSON. */
  readonly bindingSha256: string;
  readonly wrappedKeys: readonly WrappedKey[];
  readonly plaintext: { readonly size: number; /** lowercase hex */ readonly sha256: string };
  readonly segmentCount: number;
}

/** SHA-256 of the binding's RFC 8785 canonical JSON (32 bytes). */
export function hashBinding(binding: EnvelopeBinding): Buffer {
  return createHash('sha256').update(canonicalize(binding) ?? '', 'utf8').digest();
}

/** The number of segments a plaintext of `size` bytes takes: the final segment is empty only when size is 0. */
export function countSegments(size: number, segmentSize: number): number {
  return size === 0 ? 1 : Math.ceil(size / segmentSize);
}

const BINDING_KEYS = ['algorithms', 'decisionId', 'noncePrefix', 'policyRevision', 'recipient', 'salt', 'segmentSize', 'sender', 'transferId', 'version'];
const HEADER_KEYS = ['binding', 'bindingSha256', 'plaintext', 'segmentCount', 'wrappedKeys'];
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 512;

function fail(message: string): never {
  throw new GatewayError('ERR_ENVELOPE_FORMAT', `envelope header: ${message}`);
}

function expectKeys(value: Json, keys: readonly string[], where: string): void {
  const actual = Object.keys(value).sort();
  if (actual.join() !== [...keys].sort().join()) fail(`${where} has fields [${actual.join(', ')}], expected [${[...keys].sort().join(', ')}]`);
}

function base64urlBytes(value: unknown, length: number, where: string): void {
  if (typeof value !== 'string' || !BASE64URL.test(value) || Buffer.from(value, 'base64url').length !== length) fail(`${where} is not ${length} bytes of base64url`);
}

function checkBinding(value: unknown): asserts value is EnvelopeBinding {
  if (!isObject(value)) fail('binding is not an object');
  expectKeys(value, BINDING_KEYS, 'binding');
  if (value.version !== ENVELOPE_VERSION) fail(`version ${String(value.version)} is not supported (this reader knows ${ENVELOPE_VERSION})`);
  if (canonicalize(value.algorithms) !== canonicalize(ENVELOPE_ALGORITHMS)) fail(`algorithms ${JSON.stringify(value.algorithms)} are not supported`);
  const size = value.segmentSize;
  if (!Number.isSafeInteger(size) || (size as number) < MIN_SEGMENT_SIZE || (size as number) > MAX_SEGMENT_SIZE) fail(`segmentSize ${String(size)} is outside ${MIN_SEGMENT_SIZE}…${MAX_SEGMENT_SIZE}`);
  base64urlBytes(value.salt, SALT_BYTES, 'salt');
  base64urlBytes(value.noncePrefix, NONCE_PREFIX_BYTES, 'noncePrefix');
  for (const field of ['transferId', 'sender', 'recipient', 'policyRevision', 'decisionId'] as const) {
    if (!isText(value[field])) fail(`binding.${field} is not a non-empty string`);
  }
}

function checkWrappedKeys(value: unknown, recipient: string): asserts value is WrappedKey[] {
  if (!Array.isArray(value) || value.length === 0) fail('wrappedKeys is not a non-empty array');
  value.forEach((entry: unknown, i) => {
    if (!isObject(entry)) fail(`wrappedKeys[${i}] is not an object`);
    expectKeys(entry, ['institution', 'jwe', 'kid', 'role'], `wrappedKeys[${i}]`);
    if (!isText(entry.institution) || !isText(entry.kid)) fail(`wrappedKeys[${i}] lacks institution or kid`);
    if (entry.role !== 'recipient' && entry.role !== 'escrow') fail(`wrappedKeys[${i}].role is ${String(entry.role)}`);
    if (typeof entry.jwe !== 'string' || entry.jwe.split('.').length !== 5) fail(`wrappedKeys[${i}].jwe is not a compact JWE`);
  });
  const recipients = (value as WrappedKey[]).filter((entry) => entry.role === 'recipient');
  if (recipients.length !== 1 || recipients[0]?.institution !== recipient) fail(`wrappedKeys must hold exactly one recipient entry, for ${recipient}`);
}

/**
 * Checks a verified header payload: exact fields and types, supported version and algorithms, the
 * binding hash, and that size, segment size and segment count agree. Returns the binding hash.
 * @throws GatewayError `ERR_ENVELOPE_FORMAT` for a malformed or unsupported header;
 *   `ERR_ENVELOPE_SIZE` when the segment count does not fit the plaintext size.
 */
export function checkEnvelopeHeader(value: unknown): { header: EnvelopeHeader; bindingHash: Buffer } {
  if (!isObject(value)) fail('payload is not a JSON object');
  expectKeys(value, HEADER_KEYS, 'header');
  checkBinding(value.binding);
  const bindingHash = hashBinding(value.binding);
  if (typeof value.bindingSha256 !== 'string' || !HEX_SHA256.test(value.bindingSha256)) fail('bindingSha256 is not a lowercase hex SHA-256');
  if (value.bindingSha256 !== bindingHash.toString('hex')) fail('bindingSha256 differs from the SHA-256 of the canonical binding');
  checkWrappedKeys(value.wrappedKeys, value.binding.recipient);
  const plaintext = value.plaintext;
  if (!isObject(plaintext)) fail('plaintext is not an object');
  expectKeys(plaintext, ['sha256', 'size'], 'plaintext');
  if (!Number.isSafeInteger(plaintext.size) || (plaintext.size as number) < 0) fail('plaintext.size is not a non-negative integer');
  if (typeof plaintext.sha256 !== 'string' || !HEX_SHA256.test(plaintext.sha256)) fail('plaintext.sha256 is not a lowercase hex SHA-256');
  const count = value.segmentCount;
  if (!Number.isSafeInteger(count) || (count as number) < 1 || (count as number) > MAX_SEGMENTS) fail(`segmentCount ${String(count)} is outside 1…${MAX_SEGMENTS}`);
  const expected = countSegments(plaintext.size as number, value.binding.segmentSize);
  if (count !== expected) {
    throw new GatewayError('ERR_ENVELOPE_SIZE', `envelope header: ${String(count)} segments cannot hold ${String(plaintext.size)} bytes in segments of ${value.binding.segmentSize} (expected ${expected})`);
  }
  return { header: value as unknown as EnvelopeHeader, bindingHash };
}
