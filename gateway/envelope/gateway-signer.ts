// The gateway's JWS signing key (Ed25519, EdDSA) and the public JWKS recipients verify with. Earlier
// public keys stay in the JWKS after a rotation, so envelopes signed before it still verify.
import { createPrivateKey, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { CompactSign, type JWK } from 'jose';
import { GatewayError } from '../errors.js';
import { computeJwkThumbprint } from './jwk-thumbprint.js';

export interface GatewaySigner {
  /** RFC 7638 thumbprint of the current public key; the `kid` of every JWS it makes. */
  readonly kid: string;
  /** A compact JWS (EdDSA) over the payload's RFC 8785 canonical JSON, with `kid` and the given `typ`. */
  sign(payload: object, options?: { readonly typ?: string }): Promise<string>;
  /** The current key, then the previous ones: `{ kty, crv, x, kid, use: 'sig', alg: 'EdDSA' }` each. */
  publicJwks(): { keys: JWK[] };
}

export interface GatewaySignerOptions {
  /** Public (or private) PEMs of keys the gateway signed with before; listed in the JWKS, never used to sign. */
  readonly previousPublicKeys?: readonly string[];
}

function toPublicJwk(key: KeyObject, what: string): JWK {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new GatewayError('ERR_ENVELOPE_KEY_INVALID', `${what} is a ${String(key.asymmetricKeyType)} key, expected Ed25519`);
  }
  // createPublicKey() refuses a KeyObject that is already public.
  const { kty, crv, x } = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' });
  const jwk = { kty, crv, x };
  return { ...jwk, kid: computeJwkThumbprint(jwk), use: 'sig', alg: 'EdDSA' };
}

function readKey(pem: string, read: (pem: string) => KeyObject, what: string): KeyObject {
  try {
    return read(pem);
  } catch (error) {
    throw new GatewayError('ERR_ENVELOPE_KEY_INVALID', `${what} is not a readable PEM key`, undefined, { cause: error });
  }
}

/**
 * A signer over the gateway's Ed25519 private key (PKCS#8 PEM).
 * @throws GatewayError `ERR_ENVELOPE_KEY_INVALID` when a key is unreadable or not Ed25519.
 */
export function createGatewaySigner(privateKeyPem: string, options: GatewaySignerOptions = {}): GatewaySigner {
  const privateKey = readKey(privateKeyPem, createPrivateKey, 'the signing key');
  const current = toPublicJwk(privateKey, 'the signing key');
  const previous = (options.previousPublicKeys ?? []).map((pem, i) => toPublicJwk(readKey(pem, createPublicKey, `previous key ${i}`), `previous key ${i}`));
  const keys = [current, ...previous.filter((jwk) => jwk.kid !== current.kid)];
  const kid = current.kid as string;
  // jose signs with a WebCrypto key; handed the KeyObject, it exported and re-imported it for every
  // signature (a JWK round trip, ~2 % of the event loop under small transfers). Imported once instead.
  let signingKey: Promise<webcrypto.CryptoKey> | undefined;
  const keyForSigning = (): Promise<webcrypto.CryptoKey> => {
    if (!signingKey) {
      signingKey = webcrypto.subtle.importKey('pkcs8', privateKey.export({ format: 'der', type: 'pkcs8' }), { name: 'Ed25519' }, false, ['sign']);
      // A failed import is not kept: the next signature tries again (and reports it again).
      signingKey.catch(() => (signingKey = undefined));
    }
    return signingKey;
  };

  return {
    kid,
    async sign(payload, signOptions = {}) {
      const json = canonicalize(payload);
      if (json === undefined) throw new GatewayError('ERR_INTERNAL', 'the JWS payload is not JSON');
      const header = { alg: 'EdDSA', kid, ...(signOptions.typ ? { typ: signOptions.typ } : {}) };
      return new CompactSign(new TextEncoder().encode(json)).setProtectedHeader(header).sign(await keyForSigning());
    },
    publicJwks() {
      return { keys: keys.map((jwk) => ({ ...jwk })) };
    },
  };
}
