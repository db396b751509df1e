// The registry parser: schema and consistency errors name file, path and line; bindings match on
// every field they give.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { GatewayError } from '../../gateway/errors.js';
import { readCertificate } from '../../gateway/identity/read-certificate.js';
import { parseRegistry } from '../../gateway/identity/registry.js';
import { resolvePrincipal } from '../../gateway/identity/resolve-principal.js';
import { REGISTRY_FILE, devIdentity } from '../support/dev-pki.js';
import { issueLeaf, throwawayCa } from '../support/throwaway-certificates.js';

const devRegistryText = readFileSync(REGISTRY_FILE, 'utf8');
const FILE = '/etc/hetao/registry.yaml';

function registryWith(edit: (doc: { institutions: Record<string, unknown>[]; people: Record<string, unknown>[] }) => void): Buffer {
  const doc = parse(devRegistryText) as { institutions: Record<string, unknown>[]; people: Record<string, unknown>[] };
  edit(doc);
  return Buffer.from(stringify(doc));
}

function problemsOf(bytes: Buffer): { file: string; path: string; line?: number; message: string }[] {
  try {
    parseRegistry(bytes, FILE);
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('ERR_REGISTRY_INVALID');
    return (error as GatewayError).details?.problems as { file: string; path: string; line?: number; message: string }[];
  }
  throw new Error('the registry was accepted');
}

function certificateFacts(name: string) {
  return readCertificate(new X509Certificate(devIdentity(name).cert).raw);
}

describe('parseRegistry', () => {
  it('accepts the dev registry', () => {
    const registry = parseRegistry(Buffer.from(devRegistryText), FILE);
    expect(registry.institutions.size).toBeGreaterThanOrEqual(5);
    expect(registry.revision).toMatch(/^[0-9a-f]{64}$/);
  });

  it('reports every schema error with file, JSON path and line', () => {
    const problems = problemsOf(
      registryWith((doc) => {
        const first = doc.institutions[0] as Record<string, unknown>;
        first.jurisdiction = 'Hong Kong';
        delete first.legalName;
        (doc.people[0] as Record<string, unknown>).role = 'superuser';
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ file: FILE, path: '/institutions/0/jurisdiction', line: expect.any(Number) }),
        expect.objectContaining({ file: FILE, path: '/institutions/0/legalName' }),
        expect.objectContaining({ file: FILE, path: '/people/0/role', message: expect.stringContaining('security-officer') }),
      ]),
    );
  });

  it('reports YAML syntax errors with the line', () => {
    const problems = problemsOf(Buffer.from('version: 1\ninstitutions: [\n  - id: x\n'));
    expect(problems[0]).toMatchObject({ file: FILE, line: expect.any(Number) });
  });

  it('refuses duplicate ids, unknown institutions, reused certificates, unusable keys and inverted approval dates', () => {
    const problems = problemsOf(
      registryWith((doc) => {
        const [first, second] = doc.institutions as Record<string, unknown>[];
        if (!first || !second) throw new Error('dev registry too small');
        second.id = first.id;
        (doc.people[0] as Record<string, unknown>).institution = 'no-such-institution';
        (doc.people[1] as Record<string, unknown>).certificates = first.certificates;
        (first.encryptionKey as Record<string, unknown>).x = 'AAAA';
        first.approvals = [{ type: 'ethics-approval', id: 'X-1', validFrom: '2027-01-01', validUntil: '2026-01-01' }];
      }),
    );
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining(['/institutions/1/id', '/people/0/institution', '/people/1/certificates/0', '/institutions/0/encryptionKey', '/institutions/0/approvals/0/validUntil']),
    );
  });

  it('refuses a private key where the public encryption key belongs', () => {
    const problems = problemsOf(
      registryWith((doc) => {
        (doc.institutions[0]?.encryptionKey as Record<string, unknown>).d = 'c2VjcmV0';
      }),
    );
    expect(problems.map((p) => p.path)).toContain('/institutions/0/encryptionKey');
  });
});

describe('Crypt4GH public keys in the registry', () => {
  it('are read as base64 of 32 bytes; a low-order key or another length is refused at its path', () => {
    const registry = parseRegistry(Buffer.from(devRegistryText), FILE);
    expect(Buffer.from(registry.institutions.get('hetao-sz-institute')?.crypt4ghPublicKey ?? '', 'base64')).toHaveLength(32);
    expect(registry.institutions.get('hk-uni-genomics')?.crypt4ghPublicKey).toBeUndefined();
    const lowOrder = problemsOf(
      registryWith((doc) => {
        (doc.institutions[0] as Record<string, unknown>).crypt4ghPublicKey = Buffer.alloc(32).toString('base64');
      }),
    );
    expect(lowOrder).toEqual([expect.objectContaining({ path: '/institutions/0/crypt4ghPublicKey', message: expect.stringMatching(/low order/) })]);
    const short = problemsOf(
      registryWith((doc) => {
        (doc.institutions[0] as Record<string, unknown>).crypt4ghPublicKey = Buffer.alloc(31, 9).toString('base64');
      }),
    );
    expect(short.map((problem) => problem.path)).toContain('/institutions/0/crypt4ghPublicKey');
  });
});

describe('certificate binding', () => {
  const registry = parseRegistry(Buffer.from(devRegistryText), FILE);

  it('does not match a certificate of another issuer that reuses a registered serial', () => {
    const rogue = certificateFacts('negative/unknown-ca');
    const real = certificateFacts('institutions/hk-uni-genomics');
    expect(rogue.serial).toBe(real.serial);
    expect(registry.findByCertificate(rogue)).toBeUndefined();
    expect(registry.findByCertificate(real)).toMatchObject({ kind: 'institution', institution: { id: 'hk-uni-genomics' } });
  });

  it('binds by issuer and serial alone when no fingerprint is given', () => {
    const bytes = registryWith((doc) => {
      for (const binding of doc.institutions[0]?.certificates as Record<string, unknown>[]) {
        delete binding.sha256;
        delete binding.certificate;
      }
    });
    const byIssuerSerial = parseRegistry(bytes, FILE);
    expect(byIssuerSerial.findByCertificate(certificateFacts('institutions/hk-uni-genomics'))).toBeDefined();
  });

  it('needs every given field to match: a fingerprint that differs refuses the certificate', () => {
    const bytes = registryWith((doc) => {
      const binding = (doc.institutions[0]?.certificates as Record<string, unknown>[])[0] as Record<string, unknown>;
      binding.sha256 = '0'.repeat(64);
      // Without the PEM, which would have the file refused for saying two things (see below).
      delete binding.certificate;
    });
    const strict = parseRegistry(bytes, FILE);
    expect(strict.findByCertificate(certificateFacts('institutions/hk-uni-genomics'))).toBeUndefined();
  });

  it('refuses a certificate whose SAN names another principal than the binding', () => {
    const bytes = registryWith((doc) => {
      const [genomics, hospital] = doc.institutions;
      if (!genomics || !hospital) throw new Error('dev registry too small');
      hospital.certificates = [...(hospital.certificates as unknown[]), ...(genomics.certificates as unknown[])];
      genomics.certificates = [];
    });
    const crossed = parseRegistry(bytes, FILE);
    expect(() => resolvePrincipal(crossed, certificateFacts('institutions/hk-uni-genomics'))).toThrow(
      expect.objectContaining({ code: 'ERR_IDENTITY_BINDING_MISMATCH' }),
    );
  });
});

describe('peer gateways', () => {
  type Doc = { institutions: Record<string, unknown>[]; people: Record<string, unknown>[]; gateways: Record<string, unknown>[] };
  const withGateways = (edit: (doc: Doc) => void): Buffer => registryWith((doc) => edit(doc as Doc));

  it('lists the gateway on the other side with its operator, log origin and keys, and finds it by its log origin', () => {
    const registry = parseRegistry(Buffer.from(devRegistryText), FILE);
    const peer = registry.gateways.get('hetao-hk-gateway');
    expect(peer).toMatchObject({ operator: 'hetao-hk-operator', logOrigin: 'hetao-hk-gateway.local/audit', witnessName: 'hetao-hk-gateway.local/witness', signingKey: { kty: 'OKP', crv: 'Ed25519' } });
    expect(registry.gatewayByLogOrigin('hetao-hk-gateway.local/audit')).toBe(peer);
    expect(registry.gatewayByLogOrigin('someone-else/audit')).toBeUndefined();
  });

  it('resolves the peer gateway’s client certificate to a principal of kind gateway, role peer-gateway, under its operator', () => {
    const registry = parseRegistry(Buffer.from(devRegistryText), FILE);
    const principal = resolvePrincipal(registry, certificateFacts('peers/hetao-hk-gateway/gateway-client'));
    expect(principal).toMatchObject({ kind: 'gateway', id: 'hetao-hk-gateway', role: 'peer-gateway', institution: { id: 'hetao-hk-operator', jurisdiction: 'HK' } });
  });

  it('refuses a suspended peer gateway, and one whose operator is not active', () => {
    const suspended = parseRegistry(withGateways((doc) => void ((doc.gateways[0] as Record<string, unknown>).status = 'suspended')), FILE);
    expect(() => resolvePrincipal(suspended, certificateFacts('peers/hetao-hk-gateway/gateway-client'))).toThrow(expect.objectContaining({ code: 'ERR_IDENTITY_SUSPENDED' }));
    const operatorRevoked = parseRegistry(
      withGateways((doc) => {
        const operator = doc.institutions.find((institution) => institution.id === 'hetao-hk-operator') as Record<string, unknown>;
        operator.status = 'revoked';
      }),
      FILE,
    );
    expect(() => resolvePrincipal(operatorRevoked, certificateFacts('peers/hetao-hk-gateway/gateway-client'))).toThrow(expect.objectContaining({ code: 'ERR_IDENTITY_INSTITUTION_INACTIVE' }));
  });

  it('refuses an unknown operator, an id taken by an institution, and a second gateway with the same log origin', () => {
    const problems = problemsOf(
      withGateways((doc) => {
        const [peer] = doc.gateways as [Record<string, unknown>];
        doc.gateways.push({ ...peer, id: 'sz-hospital', certificates: [], signingKey: { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) } });
        doc.gateways.push({ ...peer, id: 'another-gateway', operator: 'no-such-operator', certificates: [], logOrigin: 'another.local/audit' });
      }),
    );
    expect(problems.map((p) => p.path)).toEqual(expect.arrayContaining(['/gateways/1/id', '/gateways/1/logOrigin', '/gateways/2/operator']));
  });
});

describe('certificates given in full (PEM)', () => {
  type Binding = Record<string, unknown>;
  const bindingsOf = (entry: Record<string, unknown> | undefined): Binding[] => entry?.certificates as Binding[];
  const genomicsPem = devIdentity('institutions/hk-uni-genomics').cert;
  const ca = throwawayCa();
  const day = 86_400_000;

  it('binds the dev registry’s certificates by PEM as well, cross-checked with their fingerprint, issuer and serial', () => {
    const registry = parseRegistry(Buffer.from(devRegistryText), FILE);
    const bindings = [...registry.institutions.values(), ...registry.people.values(), ...registry.gateways.values()].flatMap((entry) => entry.certificates);
    expect(bindings.length).toBeGreaterThanOrEqual(20);
    for (const binding of bindings) expect(binding.certificate?.notAfter).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(registry.findByCertificate(certificateFacts('people/officer-chan'))?.binding.certificate?.subject).toBe(certificateFacts('people/officer-chan').subject);
  });

  it('finds a principal bound by its PEM alone by the presented certificate, and tells its subject and expiry', () => {
    const notAfter = new Date(Date.now() + 3 * day);
    const shortLived = issueLeaf(ca, { serial: '4a01', commonName: 'short-lived hk-ctc', notBefore: new Date(Date.now() - day), notAfter, uri: 'urn:hetao:inst:hk-ctc' });
    const registry = parseRegistry(
      registryWith((doc) => {
        (doc.institutions[0] as Record<string, unknown>).certificates = [{ certificate: genomicsPem }];
        (doc.people[0] as Record<string, unknown>).certificates = [{ certificate: shortLived }];
      }),
      FILE,
    );
    const genomics = certificateFacts('institutions/hk-uni-genomics');
    const found = registry.findByCertificate(genomics);
    expect(found).toMatchObject({ kind: 'institution', institution: { id: 'hk-uni-genomics' } });
    expect(found?.binding).toEqual({
      sha256: genomics.sha256,
      issuer: genomics.issuer,
      serial: genomics.serial,
      certificate: { subject: genomics.subject, notBefore: genomics.notBefore.toISOString(), notAfter: genomics.notAfter.toISOString() },
    });
    // The PEM itself is not kept.
    expect(JSON.stringify(found?.binding)).not.toContain('BEGIN CERTIFICATE');
    // Found by issuer and serial only when the fingerprint matches too: the PEM pins the exact certificate.
    expect(registry.findByCertificate({ ...genomics, sha256: 'f'.repeat(64) })).toBeUndefined();
    expect(resolvePrincipal(registry, genomics)).toMatchObject({ kind: 'institution', id: 'hk-uni-genomics' });

    const shortFacts = readCertificate(new X509Certificate(shortLived).raw);
    const person = registry.findByCertificate(shortFacts);
    expect(person).toMatchObject({ kind: 'person', person: { id: (parse(devRegistryText) as { people: { id: string }[] }).people[0]?.id } });
    expect(person?.binding.certificate).toEqual({ subject: 'CN=short-lived hk-ctc,O=Test Only,C=HK', notBefore: shortFacts.notBefore.toISOString(), notAfter: new Date(Math.floor(notAfter.getTime() / 1000) * 1000).toISOString() });
    expect(person?.binding.issuer).toBe('CN=Throwaway Test CA,O=Test Only,C=HK');
    expect(person?.binding.serial).toBe('4a01');
  });

  it('refuses the file when the PEM’s SHA-256 disagrees with the sha256 given, naming the path and its line', () => {
    const bytes = registryWith((doc) => {
      const binding = bindingsOf(doc.institutions[0])[0] as Binding;
      binding.certificate = genomicsPem;
      binding.sha256 = '0'.repeat(64);
    });
    const problems = problemsOf(bytes);
    expect(problems).toEqual([
      { file: FILE, path: '/institutions/0/certificates/0/sha256', line: expect.any(Number), message: expect.stringContaining(`differs from the SHA-256 of the certificate given (${certificateFacts('institutions/hk-uni-genomics').sha256})`) },
    ]);
    expect(bytes.toString('utf8').split('\n')[(problems[0]?.line ?? 0) - 1]).toMatch(/sha256: "?0{64}/);
  });

  it('refuses a PEM whose issuer disagrees with the issuer given (a certificate of another CA with the same serial)', () => {
    const rogue = devIdentity('negative/unknown-ca').cert;
    const problems = problemsOf(
      registryWith((doc) => {
        const binding = bindingsOf(doc.institutions[0])[0] as Binding;
        delete binding.sha256;
        binding.certificate = rogue;
      }),
    );
    expect(problems).toEqual([expect.objectContaining({ path: '/institutions/0/certificates/0/issuer', line: expect.any(Number), message: expect.stringContaining('CN=Rogue CA (DEVELOPMENT ONLY)') })]);
  });

  it.each([
    ['text that is no PEM', 'not a certificate'],
    ['a block whose body is not a certificate', '-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n'],
    ['a private key', devIdentity('institutions/hk-uni-genomics').key],
    ['a certificate with its private key', `${genomicsPem}${devIdentity('institutions/hk-uni-genomics').key}`],
    ['a certificate with text after it', `${genomicsPem}trailing words\n`],
    ['a certificate with a second end line', `${genomicsPem.trimEnd()}\n-----END CERTIFICATE-----\n`],
  ])('refuses %s', (_label, pem) => {
    const problems = problemsOf(registryWith((doc) => void ((doc.institutions[0] as Record<string, unknown>).certificates = [{ certificate: pem }])));
    expect(problems).toEqual([expect.objectContaining({ file: FILE, path: '/institutions/0/certificates/0/certificate', line: expect.any(Number) })]);
  });

  it('refuses two certificates in one PEM', () => {
    const chain = `${genomicsPem}${readFileSync(new URL('../../certs-dev/zone-issuing-ca.dev-only.cert.pem', import.meta.url), 'utf8')}`;
    const problems = problemsOf(registryWith((doc) => void ((doc.institutions[0] as Record<string, unknown>).certificates = [{ sha256: certificateFacts('institutions/hk-uni-genomics').sha256, certificate: chain }])));
    expect(problems).toEqual([expect.objectContaining({ path: '/institutions/0/certificates/0/certificate', message: expect.stringMatching(/exactly one PEM certificate.*CERTIFICATE, CERTIFICATE/) })]);
  });

  it('refuses one certificate bound by PEM to two principals', () => {
    const problems = problemsOf(
      registryWith((doc) => {
        (doc.institutions[0] as Record<string, unknown>).certificates = [{ certificate: genomicsPem }];
        (doc.people[0] as Record<string, unknown>).certificates = [{ certificate: genomicsPem }];
      }),
    );
    expect(problems.map((problem) => problem.path)).toEqual(['/people/0/certificates/0']);
  });

  it('still refuses a binding with none of sha256, issuer + serial or certificate', () => {
    const problems = problemsOf(registryWith((doc) => void ((doc.institutions[0] as Record<string, unknown>).certificates = [{}])));
    expect(problems.map((problem) => problem.path)).toContain('/institutions/0/certificates/0');
  });
});
