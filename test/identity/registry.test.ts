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
      for (const binding of doc.institutions[0]?.certificates as Record<string, unknown>[]) delete binding.sha256;
    });
    const byIssuerSerial = parseRegistry(bytes, FILE);
    expect(byIssuerSerial.findByCertificate(certificateFacts('institutions/hk-uni-genomics'))).toBeDefined();
  });

  it('needs every given field to match: a fingerprint that differs refuses the certificate', () => {
    const bytes = registryWith((doc) => {
      const binding = (doc.institutions[0]?.certificates as Record<string, unknown>[])[0] as Record<string, unknown>;
      binding.sha256 = '0'.repeat(64);
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
