// `tsx scripts/write-dev-p12.ts`: a PKCS#12 file (.p12) for each development person in certs-dev/people/
// — key, certificate and the zone's issuing CA — so that a browser can present it to the console
// (docs/console.md: import it, password `hetao-dev`). Development only: the password is public like the
// keys. Idempotent: writes only the files that are missing.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';

export const DEV_P12_PASSWORD = 'hetao-dev';
const CERTS_DEV = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'certs-dev');

export function writeDevP12Files(): string[] {
  const issuing = forge.pki.certificateFromPem(readFileSync(path.join(CERTS_DEV, 'zone-issuing-ca.dev-only.cert.pem'), 'utf8'));
  const written: string[] = [];
  for (const name of readdirSync(path.join(CERTS_DEV, 'people'))) {
    if (!name.endsWith('.dev-only.cert.pem')) continue;
    const id = name.slice(0, -'.dev-only.cert.pem'.length);
    const target = path.join(CERTS_DEV, 'people', `${id}.dev-only.p12`);
    if (existsSync(target)) continue;
    const cert = forge.pki.certificateFromPem(readFileSync(path.join(CERTS_DEV, 'people', name), 'utf8'));
    const key = forge.pki.privateKeyFromPem(readFileSync(path.join(CERTS_DEV, 'people', `${id}.dev-only.key.pem`), 'utf8'));
    const p12 = forge.pkcs12.toPkcs12Asn1(key, [cert, issuing], DEV_P12_PASSWORD, { algorithm: '3des', friendlyName: `${id} (Hetao DEV)` });
    writeFileSync(target, Buffer.from(forge.asn1.toDer(p12).getBytes(), 'binary'));
    written.push(id);
  }
  return written;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) console.log(`written: ${writeDevP12Files().join(', ') || 'nothing (all present)'}`);
