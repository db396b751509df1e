// The two sides of the channel on one machine, from the development identities (certs-dev/): the
// Shenzhen-side gateway on the default dev keys and the Hong Kong-side gateway on those in
// certs-dev/peers/hetao-hk-gateway/, each with its own registry (its side's institutions and people,
// the other gateway as its peer, with that peer's operator), its own policy folder and its
// jurisdiction's policy profile. Used by `npm run demo -- --two-sides`, the two-gateway test and the
// two-gateway benchmark; an operator's real deployment writes these files by hand.
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { PROJECT_ROOT } from '../../gateway/config.js';

const CERTS_DEV = path.join(PROJECT_ROOT, 'certs-dev');
const POLICY_DIR = path.join(PROJECT_ROOT, 'policies');

export const SZ_ORIGIN = 'hetao-gateway.local/audit';
export const SZ_WITNESS = 'hetao-gateway.local/witness';
export const HK_ORIGIN = 'hetao-hk-gateway.local/audit';
export const HK_WITNESS = 'hetao-hk-gateway.local/witness';
/** The loopback addresses of the two sides (127.0.0.0/8 is all loopback on Linux). */
export const SZ_HOST = '127.0.0.1';
export const HK_HOST = '127.0.0.3';

/** A port free on `host` now: the other side's registry names a side's URL before that side starts. */
export async function freePort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const hongKongSideFile = (name: string): string => path.join(CERTS_DEV, 'peers/hetao-hk-gateway', name);

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
  const { kty, crv, x } = createPublicKey(createPrivateKey(await readFile(path.join(CERTS_DEV, 'gateway-signing.dev-only.key.pem'), 'utf8'))).export({ format: 'jwk' });
  const client = new X509Certificate(await readFile(path.join(CERTS_DEV, 'gateway-client.dev-only.cert.pem'))).raw;
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

type RegistryDocument = { institutions: { id: string; jurisdiction: string }[]; people: { institution: string }[]; gateways?: Record<string, unknown>[] };

/** One side's registry: the dev registry's institutions of that side (Hong Kong: jurisdiction HK), their people, and the peer with its operator. */
function registryOf(registry: RegistryDocument, hongKong: boolean, peer: Record<string, unknown>): RegistryDocument {
  const institutions = registry.institutions.filter((institution) => (institution.jurisdiction === 'HK') === hongKong || institution.id === peer.operator);
  const own = new Set(institutions.filter((institution) => institution.id !== peer.operator).map((institution) => institution.id));
  return { ...registry, institutions, people: registry.people.filter((person) => own.has(person.institution)), gateways: [peer] };
}

/**
 * Writes both sides' registries, the Hong Kong side's policy folder and CRL copies under `workDir`;
 * returns each side's settings (to add to the usual ones: ports, logging, queue).
 * @param urls how each side reaches the other: `hongKongFromShenzhen` (maybe through a proxy) and `shenzhenFromHongKong`.
 */
export async function writeChannelSides(workDir: string, urls: { readonly hongKongFromShenzhen: string; readonly shenzhenFromHongKong: string }): Promise<{ sz: Record<string, string>; hk: Record<string, string> }> {
  const registry = parse(await readFile(path.join(POLICY_DIR, 'registry.yaml'), 'utf8')) as RegistryDocument;
  const hkPeer = registry.gateways?.find((gateway) => gateway.id === 'hetao-hk-gateway');
  if (!hkPeer) throw new Error('the dev registry lists no hetao-hk-gateway');
  await mkdir(workDir, { recursive: true });
  const szRegistry = path.join(workDir, 'sz-registry.yaml');
  const hkRegistry = path.join(workDir, 'hk-registry.yaml');
  await writeFile(szRegistry, stringify(registryOf(registry, false, { ...hkPeer, apiUrl: urls.hongKongFromShenzhen })));
  await writeFile(hkRegistry, stringify(registryOf(registry, true, await shenzhenPeerEntry(urls.shenzhenFromHongKong))));
  // The Hong Kong side's folder holds no mainland HGR file: its escrow holder is not registered there.
  const hkPolicies = path.join(workDir, 'hk-policies');
  await mkdir(hkPolicies, { recursive: true });
  for (const file of await readdir(POLICY_DIR)) if (file.endsWith('.policy.yaml') && file !== '30-hgr.policy.yaml') await copyFile(path.join(POLICY_DIR, file), path.join(hkPolicies, file));
  for (const side of ['sz', 'hk']) await copyFile(path.join(CERTS_DEV, 'zone-crl.dev-only.pem'), path.join(workDir, `${side}-crl.pem`));
  return {
    sz: {
      HETAO_HOST: SZ_HOST,
      HETAO_DATA_DIR: path.join(workDir, 'sz-data'),
      HETAO_REGISTRY_FILE: szRegistry,
      HETAO_TLS_CRL: path.join(workDir, 'sz-crl.pem'),
      HETAO_POLICY_PROFILES: 'CN,zone',
    },
    hk: {
      ...hongKongSideEnv(),
      HETAO_HOST: HK_HOST,
      HETAO_DATA_DIR: path.join(workDir, 'hk-data'),
      HETAO_REGISTRY_FILE: hkRegistry,
      HETAO_TLS_CRL: path.join(workDir, 'hk-crl.pem'),
      HETAO_POLICY_DIR: hkPolicies,
      HETAO_POLICY_PROFILES: 'HK,zone',
    },
  };
}
