// RFC 7638 JWK thumbprints (SHA-256, base64url), computed synchronously so that factories can name
// their key ids without awaiting. Covers the two key types envelopes use: EC (P-256) and OKP (Ed25519).
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { GatewayError } from '../errors.js';

interface PublicJwkMembers {
  readonly kty?: string;
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
}

/**
 * The RFC 7638 SHA-256 thumbprint of a public EC or OKP JWK (other members are ignored).
 * @throws GatewayError `ERR_ENVELOPE_KEY_INVALID` for any other key type or missing members.
 */
export function computeJwkThumbprint(jwk: PublicJwkMembers): string {
  // Required members only, in lexicographic order, no whitespace (RFC 7638 §3.2).
  let members: string;
  if (jwk.kty === 'EC' && jwk.crv && jwk.x && jwk.y) {
    members = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  } else if (jwk.kty === 'OKP' && jwk.crv && jwk.x) {
    members = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  } else {
    throw new GatewayError('ERR_ENVELOPE_KEY_INVALID', `cannot take the thumbprint of a ${String(jwk.kty)} key`);
  }
  return createHash('sha256').update(members, 'utf8').digest('base64url');
}

/** The thumbprint of the public half of a private or public key. */
export function thumbprintOfKey(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return computeJwkThumbprint(publicKey.export({ format: 'jwk' }));
}
