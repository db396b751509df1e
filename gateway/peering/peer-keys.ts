// The keys this gateway accepts for envelopes and records signed on the other side of the channel:
// its own JWKS, plus each active peer gateway's registered signing key (kid = its RFC 7638
// thumbprint, as the peer's own JWKS names it; `hetao_peer` says whose it is). An envelope forwarded
// by the peer keeps the peer's signature, so the recipient here and this gateway's workers verify it
// with these keys.
import type { JSONWebKeySet, JWK } from 'jose';
import { computeJwkThumbprint } from '../envelope/jwk-thumbprint.js';
import type { Registry } from '../identity/registry.js';

export function withPeerKeys(own: { readonly keys: readonly JWK[] }, registry: Registry): JSONWebKeySet {
  const peers: JWK[] = [];
  for (const peer of registry.gateways.values()) {
    if ((peer.status ?? 'active') !== 'active') continue;
    const { kty, crv, x } = peer.signingKey;
    peers.push({ kty, crv, x, kid: computeJwkThumbprint({ kty, crv, x }), use: 'sig', alg: 'EdDSA', hetao_peer: peer.id } as JWK);
  }
  return { keys: [...own.keys, ...peers.filter((peer) => !own.keys.some((key) => key.kid === peer.kid))] };
}
