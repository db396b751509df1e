// The gateway's signed binding of a transfer stored as Crypt4GH: which transfer, sender, recipient
// and decision the file belongs to, whose Crypt4GH keys its header packets were made for, and what
// the body is (plaintext size and SHA-256, segment count, SHA-256 of the sealed data section). It is
// what Crypt4GH lacks: a reader that checks it detects dropped, repeated, reordered or substituted
// segments and a cut at a segment boundary, and knows the gateway vouches for the file. Signed like
// an envelope header (EdDSA JWS over RFC 8785 JSON, its own `typ`) and framed with the same
// HETAOENV prefix, so one reader tells the two apart by `typ` (docs/crypt4gh.md).
import type { JSONWebKeySet } from 'jose';
import { GatewayError } from '../errors.js';
import { frameEnvelopePrefix } from '../envelope/envelope-framing.js';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import { verifyGatewayJws } from '../envelope/read-envelope-header.js';

export const CRYPT4GH_BINDING_JWS_TYPE = 'hetao-crypt4gh-binding+jws';
export const CRYPT4GH_BINDING_VERSION = 1;

export interface Crypt4ghHolder {
  readonly institution: string;
  readonly role: 'recipient' | 'escrow';
  /** The X25519 public key its header packet was sealed to, base64 of 32 bytes. */
  readonly publicKey: string;
}

export interface Crypt4ghBinding {
  readonly version: typeof CRYPT4GH_BINDING_VERSION;
  readonly format: 'crypt4gh-v1';
  readonly transferId: string;
  readonly sender: string;
  readonly recipient: string;
  readonly policyRevision: string;
  readonly decisionId: string;
  readonly holders: readonly Crypt4ghHolder[];
  readonly plaintext: { readonly size: number; /** lowercase hex */ readonly sha256: string };
  readonly segmentCount: number;
  /** Lowercase hex SHA-256 of the data section: every segment, nonce ‖ ciphertext ‖ tag, in order. */
  readonly dataSha256: string;
}

/** The signed binding, framed (HETAOENV ‖ version ‖ length ‖ JWS): the bytes stored in front of the Crypt4GH file. */
export async function signCrypt4ghBinding(binding: Crypt4ghBinding, signer: GatewaySigner): Promise<Buffer> {
  return frameEnvelopePrefix(await signer.sign(binding, { typ: CRYPT4GH_BINDING_JWS_TYPE }));
}

const HEX_SHA256 = /^[0-9a-f]{64}$/;
const BASE64_KEY = /^[A-Za-z0-9+/]{43}=$/;
type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 512;
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/**
 * The binding in a verified payload, checked field by field.
 * @throws GatewayError ERR_ENVELOPE_FORMAT naming the first field that is wrong.
 */
export function checkCrypt4ghBinding(json: unknown): Crypt4ghBinding {
  const wrong = (field: string): never => {
    throw new GatewayError('ERR_ENVELOPE_FORMAT', `the Crypt4GH binding's ${field} is missing or malformed`, { field });
  };
  if (!isObject(json)) return wrong('payload');
  if (json.version !== CRYPT4GH_BINDING_VERSION) wrong('version');
  if (json.format !== 'crypt4gh-v1') wrong('format');
  for (const field of ['transferId', 'sender', 'recipient', 'policyRevision', 'decisionId'] as const) if (!isText(json[field])) wrong(field);
  const holders = json.holders;
  if (!Array.isArray(holders) || holders.length === 0) return wrong('holders');
  for (const holder of holders as unknown[]) {
    if (!isObject(holder) || !isText(holder.institution) || (holder.role !== 'recipient' && holder.role !== 'escrow') || typeof holder.publicKey !== 'string' || !BASE64_KEY.test(holder.publicKey)) wrong('holders');
  }
  if ((holders as Crypt4ghHolder[]).filter((holder) => holder.role === 'recipient' && holder.institution === json.recipient).length !== 1) wrong('holders (exactly one recipient, the binding\'s)');
  const plaintext = json.plaintext;
  if (!isObject(plaintext) || !isCount(plaintext.size) || typeof plaintext.sha256 !== 'string' || !HEX_SHA256.test(plaintext.sha256)) wrong('plaintext');
  if (!isCount(json.segmentCount) || json.segmentCount !== Math.ceil((plaintext as { size: number }).size / 65536)) wrong('segmentCount');
  if (typeof json.dataSha256 !== 'string' || !HEX_SHA256.test(json.dataSha256)) wrong('dataSha256');
  return json as unknown as Crypt4ghBinding;
}

/**
 * Verifies a binding JWS against the gateway's JWKS and checks it.
 * @throws GatewayError ERR_ENVELOPE_SIGNATURE, ERR_ENVELOPE_KEY_INVALID, ERR_ENVELOPE_FORMAT.
 */
export async function verifyCrypt4ghBinding(jws: string, jwks: JSONWebKeySet): Promise<{ binding: Crypt4ghBinding; kid: string }> {
  const { json, kid } = await verifyGatewayJws(jws, jwks, CRYPT4GH_BINDING_JWS_TYPE);
  return { binding: checkCrypt4ghBinding(json), kid };
}
