// Paths and key material of the committed development PKI, for tests.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';

export const CERTS_DEV = path.resolve(import.meta.dirname, '../../certs-dev');
export const REGISTRY_FILE = path.resolve(import.meta.dirname, '../../policies/registry.yaml');
export const POLICY_DIR = path.resolve(import.meta.dirname, '../../policies');

/** A client identity of the dev PKI, e.g. `institutions/hk-uni-genomics` or `negative/revoked`. */
export interface ClientIdentity {
  readonly name: string;
  readonly cert: string;
  readonly key: string;
}

export function devIdentity(name: string): ClientIdentity {
  return {
    name,
    cert: readFileSync(path.join(CERTS_DEV, `${name}.dev-only.cert.pem`), 'utf8'),
    key: readFileSync(path.join(CERTS_DEV, `${name}.dev-only.key.pem`), 'utf8'),
  };
}

export function devFile(name: string): string {
  return path.join(CERTS_DEV, name);
}

export const zoneCaBundle = (): string => readFileSync(devFile('zone-ca-bundle.dev-only.pem'), 'utf8');

/** The issuing CA with its private key, to sign CRLs in tests. */
export function issuingCa(): { cert: forge.pki.Certificate; privateKey: forge.pki.rsa.PrivateKey } {
  return {
    cert: forge.pki.certificateFromPem(readFileSync(devFile('zone-issuing-ca.dev-only.cert.pem'), 'utf8')),
    privateKey: forge.pki.privateKeyFromPem(readFileSync(devFile('zone-issuing-ca.dev-only.key.pem'), 'utf8')) as forge.pki.rsa.PrivateKey,
  };
}

export function rootCa(): { cert: forge.pki.Certificate; privateKey: forge.pki.rsa.PrivateKey } {
  return {
    cert: forge.pki.certificateFromPem(readFileSync(devFile('zone-root-ca.dev-only.cert.pem'), 'utf8')),
    privateKey: forge.pki.privateKeyFromPem(readFileSync(devFile('zone-root-ca.dev-only.key.pem'), 'utf8')) as forge.pki.rsa.PrivateKey,
  };
}
