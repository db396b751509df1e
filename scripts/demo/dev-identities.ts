// The development identities the demo acts as (certs-dev/): each party calls the gateway with its
// own client certificate, and recipients decrypt with their own encryption key, as they would in
// their own lab.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../../gateway/config.js';
import { createGatewayClient, type GatewayClient } from '../../gateway/client/gateway-client.js';

const CERTS_DEV = path.join(PROJECT_ROOT, 'certs-dev');

/** `institutions/<id>` or `people/<id>`, as the files in certs-dev/ are named. */
export type DevPrincipal = `institutions/${string}` | `people/${string}`;

export const devFile = (name: string): string => path.join(CERTS_DEV, name);

/** The institution's private encryption key (PKCS#8 PEM): it never leaves the recipient's process. */
export const encryptionKeyFile = (institution: string): string => devFile(`institutions/${institution}.dev-only.enc.key.pem`);

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The development zone CA bundle the gateway's server certificate chains to. */
  readonly ca: Buffer;
}

export async function devTlsMaterial(principal: DevPrincipal): Promise<TlsMaterial> {
  const [cert, key, ca] = await Promise.all([
    readFile(devFile(`${principal}.dev-only.cert.pem`)),
    readFile(devFile(`${principal}.dev-only.key.pem`)),
    readFile(devFile('zone-ca-bundle.dev-only.pem')),
  ]);
  return { cert, key, ca };
}

export async function devClient(baseUrl: string, principal: DevPrincipal): Promise<GatewayClient> {
  return createGatewayClient({ baseUrl, ...(await devTlsMaterial(principal)) });
}

/** One client per principal, opened on first use and closed together at the end. */
export function createClientPool(baseUrl: string): { get(principal: DevPrincipal): Promise<GatewayClient>; closeAll(): Promise<void> } {
  const clients = new Map<DevPrincipal, Promise<GatewayClient>>();
  return {
    get(principal) {
      let client = clients.get(principal);
      if (!client) clients.set(principal, (client = devClient(baseUrl, principal)));
      return client;
    },
    async closeAll() {
      const opened = await Promise.allSettled(clients.values());
      await Promise.all(opened.map((result) => (result.status === 'fulfilled' ? result.value.close() : undefined)));
      clients.clear();
    },
  };
}
