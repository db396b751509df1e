// Adds the DEVELOPMENT-ONLY identities that generate-dev-pki.ts lists but certs-dev/ does not hold
// yet — institutions (certificate, TLS key, encryption key), people (certificate, TLS key) and peer
// gateways (TLS server and client certificates, signing and processing keys, under peers/<id>/) —
// issued by the existing dev issuing CA, and their entries in policies/registry.yaml, without
// touching any existing file or key: every other test fixture stays as it is. Run:
// `tsx scripts/add-dev-institutions.ts` (idempotent; it adds nothing when nothing is missing).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';
import { parseDocument, type YAMLSeq } from 'yaml';
import { addDays, addYears, institutionEntry, INSTITUTIONS, issueInstitution, issuePeerGateway, issuePerson, PEER_GATEWAYS, PEOPLE, personEntry, type IssuedCertificate } from './generate-dev-pki.js';

const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CERTS_DIR = join(PROJECT_ROOT, 'certs-dev');
const REGISTRY_FILE = join(PROJECT_ROOT, 'policies', 'registry.yaml');

/** The dev issuing CA as generate-dev-pki.ts left it: its certificate and key. */
function existingIssuingCa(): IssuedCertificate {
  const cert = forge.pki.certificateFromPem(readFileSync(join(CERTS_DIR, 'zone-issuing-ca.dev-only.cert.pem'), 'utf8'));
  const privateKeyPem = readFileSync(join(CERTS_DIR, 'zone-issuing-ca.dev-only.key.pem'), 'utf8');
  const privateKey = forge.pki.privateKeyFromPem(privateKeyPem) as forge.pki.rsa.PrivateKey;
  return { cert, keys: { privateKeyPem, privateKey, publicKey: cert.publicKey as forge.pki.rsa.PublicKey } };
}

export async function addDevInstitutions(): Promise<string[]> {
  const issuer = existingIssuingCa();
  const now = new Date();
  const validity = { notBefore: addDays(now, -1), notAfter: addYears(now, 10) };
  const registry = parseDocument(readFileSync(REGISTRY_FILE, 'utf8'));
  const listed = (section: 'institutions' | 'people' | 'gateways'): string[] => (((registry.get(section) as YAMLSeq | undefined)?.toJSON() ?? []) as { id: string }[]).map((entry) => entry.id);
  const added: string[] = [];

  for (const institution of INSTITUTIONS) {
    if (existsSync(join(CERTS_DIR, `institutions/${institution.id}.dev-only.cert.pem`)) && listed('institutions').includes(institution.id)) continue;
    const { issued, encryptionKey } = await issueInstitution(institution, validity, issuer);
    (registry.get('institutions') as YAMLSeq).add(registry.createNode(institutionEntry(institution, [issued], encryptionKey)));
    added.push(institution.id);
  }

  for (const person of PEOPLE) {
    if (existsSync(join(CERTS_DIR, `people/${person.id}.dev-only.cert.pem`)) && listed('people').includes(person.id)) continue;
    (registry.get('people') as YAMLSeq).add(registry.createNode(personEntry(person, issuePerson(person, validity, issuer))));
    added.push(person.id);
  }

  for (const peer of PEER_GATEWAYS) {
    if (existsSync(join(CERTS_DIR, `peers/${peer.id}/gateway-client.dev-only.cert.pem`)) && listed('gateways').includes(peer.id)) continue;
    if (!registry.has('gateways')) registry.set('gateways', registry.createNode([]));
    (registry.get('gateways') as YAMLSeq).add(registry.createNode(await issuePeerGateway(peer, validity, issuer)));
    added.push(peer.id);
  }

  if (added.length > 0) writeFileSync(REGISTRY_FILE, registry.toString({ lineWidth: 0 }));
  return added;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) console.log(`added: ${(await addDevInstitutions()).join(', ') || 'nothing (all present)'}`);
