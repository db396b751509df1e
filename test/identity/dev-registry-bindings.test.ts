// The committed dev registry and the script that regenerates it agree: every binding holds the
// certificate's PEM beside its fingerprint, issuer and serial, exactly as scripts/generate-dev-pki.ts
// writes it, so a regeneration changes values, never the shape.
import { readFileSync } from 'node:fs';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { Document, parse } from 'yaml';
import { institutionEntry, INSTITUTIONS, personEntry, PEOPLE, type IssuedCertificate } from '../../scripts/generate-dev-pki.js';
import { REGISTRY_FILE, devIdentity } from '../support/dev-pki.js';

type Binding = { sha256: string; issuer: string; serial: string; certificate?: string };
const registry = parse(readFileSync(REGISTRY_FILE, 'utf8')) as { institutions: { id: string; certificates: Binding[] }[]; people: { id: string; certificates: Binding[] }[] };

function issued(name: string): IssuedCertificate {
  const { cert, key } = devIdentity(name);
  const parsed = forge.pki.certificateFromPem(cert);
  return { cert: parsed, keys: { privateKeyPem: key, privateKey: forge.pki.privateKeyFromPem(key) as forge.pki.rsa.PrivateKey, publicKey: parsed.publicKey as forge.pki.rsa.PublicKey } };
}

describe('dev registry bindings', () => {
  it.each(PEOPLE.map((person) => person.id))('person %s: the committed binding is the one the script writes', (id) => {
    const person = PEOPLE.find((candidate) => candidate.id === id);
    if (!person) throw new Error(`${id} is not in the script`);
    const committed = registry.people.find((entry) => entry.id === id)?.certificates;
    expect(committed?.[0]?.certificate).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
    expect(personEntry(person, issued(`people/${id}`)).certificates).toEqual(committed);
  });

  it.each(INSTITUTIONS.map((institution) => institution.id))('institution %s: its current certificate’s binding is the one the script writes', (id) => {
    const institution = INSTITUTIONS.find((candidate) => candidate.id === id);
    if (!institution) throw new Error(`${id} is not in the script`);
    const written = institutionEntry(institution, [issued(`institutions/${id}`)], {} as never).certificates[0];
    expect(registry.institutions.find((entry) => entry.id === id)?.certificates[0]).toEqual(written);
  });

  it('writes the PEM as a YAML literal block', () => {
    const binding = personEntry(PEOPLE[0] as (typeof PEOPLE)[number], issued(`people/${PEOPLE[0]?.id}`)).certificates[0];
    expect(new Document({ certificates: [binding] }).toString({ lineWidth: 0 })).toContain('    certificate: |\n      -----BEGIN CERTIFICATE-----\n');
  });
});
