// The two sides of the channel in tests: the Hong Kong-side gateway runs on its dev identity in
// certs-dev/peers/hetao-hk-gateway/; the Shenzhen side is the default dev gateway, which the Hong Kong
// side's registry lists as its peer.
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { devFile } from './dev-pki.js';

export const SZ_ORIGIN = 'hetao-gateway.local/audit';
export const SZ_WITNESS = 'hetao-gateway.local/witness';
export const HK_ORIGIN = 'hetao-hk-gateway.local/audit';
export const HK_WITNESS = 'hetao-hk-gateway.local/witness';

export const hongKongSideFile = (name: string): string => devFile(`peers/hetao-hk-gateway/${name}`);

/** The Hong Kong-side gateway's settings: its TLS identities, keys and log names. */
export function hongKongSideEnv(): Record<string, string> {
  return {
    HETAO_TLS_CERT: hongKongSideFile('gateway-server.dev-only.cert.pem'),
    HETAO_TLS_KEY: hongKongSideFile('gateway-server.dev-only.key.pem'),
    HETAO_PUSH_CLIENT_CERT: hongKongSideFile('gateway-client.dev-only.cert.pem'),
    HETAO_PUSH_CLIENT_KEY: hongKongSideFile('gateway-client.dev-only.key.pem'),
    HETAO_SIGNING_KEY: hongKongSideFile('gateway-signing.dev-only.key.pem'),
    HETAO_PROCESSING_KEY: hongKongSideFile('gateway-processing.dev-only.key.pem'),
    HETAO_AUDIT_ORIGIN: HK_ORIGIN,
    HETAO_WITNESS_NAME: HK_WITNESS,
  };
}

/** The Shenzhen-side (default dev) gateway as a `gateways:` entry of the Hong Kong side's registry. */
export async function shenzhenPeerEntry(apiUrl: string): Promise<Record<string, unknown>> {
  const { kty, crv, x } = createPublicKey(createPrivateKey(await readFile(devFile('gateway-signing.dev-only.key.pem'), 'utf8'))).export({ format: 'jwk' });
  const client = new X509Certificate(await readFile(devFile('gateway-client.dev-only.cert.pem'))).raw;
  return {
    id: 'hetao-sz-gateway',
    name: 'Hetao Shenzhen-side gateway (DEV)',
    operator: 'hetao-operator',
    apiUrl,
    certificates: [{ sha256: createHash('sha256').update(client).digest('hex') }],
    signingKey: { kty, crv, x },
    logOrigin: SZ_ORIGIN,
    witnessName: SZ_WITNESS,
  };
}
