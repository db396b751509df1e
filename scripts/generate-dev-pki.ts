// Generates the DEVELOPMENT-ONLY PKI of the Hetao research data gateway into certs-dev/
// (zone CAs, CRLs, server/client/institution/person certificates, negative test cases,
// institution encryption keys) and writes the matching dev registry policies/registry.yaml.
// Nothing produced here may ever be used in production: every subject carries the
// "DEVELOPMENT ONLY" marker, which the gateway refuses when NODE_ENV=production.
//
// Run with `npm run certs:dev`. Re-running regenerates every key, so the registry is
// rewritten too; serial numbers are fixed so issuer+serial bindings stay stable.
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { JsonWebKey } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { calculateJwkThumbprint } from 'jose';
import forge from 'node-forge';
import { Document, Scalar, visit } from 'yaml';
import { formatDistinguishedName } from '../gateway/identity/distinguished-name.js';
import { addDevCrypt4ghKeys } from './add-dev-crypt4gh-keys.js';
import { buildCrlPem } from './build-crl.js';

const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CERTS_DIR = join(PROJECT_ROOT, 'certs-dev');
const REGISTRY_FILE = join(PROJECT_ROOT, 'policies', 'registry.yaml');

const DEV_MARKER_OU = 'DEVELOPMENT ONLY - NOT FOR PRODUCTION';
const GATEWAY_ORGANIZATION = 'Hetao Research Data Gateway (DEVELOPMENT ONLY)';
const OID_ORGANIZATION_IDENTIFIER = '2.5.4.97';

const ALT_NAME_DNS = 2;
const ALT_NAME_URI = 6;
const ALT_NAME_IP = 7;

/** ISO 3166-1 alpha-2: the zone's two sides, and the EU and US partners that collaborate with it. */
type Jurisdiction = 'HK' | 'CN' | 'DE' | 'US';
type Zone = 'hetao-hk' | 'hetao-sz' | 'outside';
type IdentityStatus = 'active' | 'suspended';

interface Approval {
  type: string;
  id: string;
  scope: { projects: string[] };
  validFrom: string;
  validUntil: string;
}

export interface InstitutionSpec {
  id: string;
  legalName: string;
  jurisdiction: Jurisdiction;
  zone: Zone;
  status: IdentityStatus;
  organizationIdentifier: string;
  /** Fixed per institution so the registry binding (issuer + serial) survives regeneration. */
  serial: string;
  approvals?: Approval[];
}

export interface PersonSpec {
  id: string;
  name: string;
  institution: string;
  role: 'security-officer' | 'regulator' | 'admin';
  serial: string;
}

interface RsaKeyPair {
  privateKeyPem: string;
  privateKey: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
}

export interface IssuedCertificate {
  cert: forge.pki.Certificate;
  keys: RsaKeyPair;
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

interface CertificateBinding {
  sha256: string;
  issuer: string;
  serial: string;
  /** The PEM itself, so the registry knows the certificate's expiry; the gateway cross-checks the fields above against it. */
  certificate: string;
}

export interface EncryptionJwk {
  kty: string;
  crv: string;
  x: string;
  y: string;
  kid: string;
  use: 'enc';
  alg: 'ECDH-ES+A256KW';
}

const PROJECT_CANCER_GENOMICS = 'proj-hk-sz-cancer-genomics';

function approval(type: string, id: string, project: string): Approval {
  return { type, id, scope: { projects: [project] }, validFrom: '2026-01-01', validUntil: '2028-12-31' };
}

export const INSTITUTIONS: readonly InstitutionSpec[] = [
  {
    id: 'hk-uni-genomics',
    legalName: 'Lok Ma Chau University Centre for Genomic Medicine (DEV)',
    jurisdiction: 'HK',
    zone: 'hetao-hk',
    status: 'active',
    organizationIdentifier: 'NTRHK-31415926',
    serial: '2101',
    approvals: [
      approval('gba-standard-contract-filing', 'GBA-SC-HK-2026-0012', PROJECT_CANCER_GENOMICS),
      approval('ethics-approval', 'LMCU-IRB-2026-044', PROJECT_CANCER_GENOMICS),
    ],
  },
  {
    id: 'sz-hospital',
    legalName: 'Shenzhen Futian Research Hospital (DEV)',
    jurisdiction: 'CN',
    zone: 'hetao-sz',
    status: 'active',
    organizationIdentifier: 'NTRCN-91440300MA5G00001X',
    serial: '2102',
    approvals: [
      approval('hgr-filing', 'HGR-BF-2026-0345', PROJECT_CANCER_GENOMICS),
      approval('gba-standard-contract-filing', 'GBA-SC-GD-2026-0101', PROJECT_CANCER_GENOMICS),
      approval('ethics-approval', 'SZFH-IRB-2026-017', PROJECT_CANCER_GENOMICS),
      approval('security-assessment', 'CAC-SA-2026-0011', PROJECT_CANCER_GENOMICS),
      approval('standard-contract-filing', 'GD-SCC-2026-0042', PROJECT_CANCER_GENOMICS),
      approval('hgr-international-cooperation-approval', 'HGR-IC-2026-0019', PROJECT_CANCER_GENOMICS),
      approval('hgr-security-review', 'HGR-SR-2026-0004', PROJECT_CANCER_GENOMICS),
    ],
  },
  {
    id: 'hetao-sz-institute',
    legalName: 'Hetao Shenzhen Park Institute of Biomedical Research (DEV)',
    jurisdiction: 'CN',
    zone: 'hetao-sz',
    status: 'active',
    organizationIdentifier: 'NTRCN-91440300MA5G00002Y',
    serial: '2103',
  },
  {
    id: 'hk-ctc',
    legalName: 'Hetao Hong Kong Park Clinical Trial Centre (DEV)',
    jurisdiction: 'HK',
    zone: 'hetao-hk',
    status: 'active',
    organizationIdentifier: 'NTRHK-27182818',
    serial: '2104',
    approvals: [approval('clinical-trial-filing', 'CT-FIL-2026-0007', 'proj-gba-oncology-trial')],
  },
  {
    id: 'cn-outside-institute',
    legalName: 'Chengdu Institute of Health Data Science (DEV)',
    jurisdiction: 'CN',
    zone: 'outside',
    status: 'active',
    organizationIdentifier: 'NTRCN-91510100MA6C00003Z',
    serial: '2105',
  },
  {
    id: 'hk-suspended-lab',
    legalName: 'Sha Tau Kok Bioinformatics Laboratory (DEV)',
    jurisdiction: 'HK',
    zone: 'hetao-hk',
    status: 'suspended',
    organizationIdentifier: 'NTRHK-16180339',
    serial: '2106',
  },
  {
    id: 'hetao-operator',
    legalName: 'Hetao Research Data Gateway Operations Office (DEV)',
    jurisdiction: 'CN',
    zone: 'hetao-sz',
    status: 'active',
    organizationIdentifier: 'NTRCN-91440300MA5G00004W',
    serial: '2107',
  },
  {
    // The regulator's body; its encryption key is the regulator's HGR backup/escrow key.
    id: 'nhc-hgr-office',
    legalName: 'Human Genetic Resources Supervision Office (DEV)',
    jurisdiction: 'CN',
    zone: 'outside',
    status: 'active',
    organizationIdentifier: 'NTRCN-11100000MB0000005V',
    serial: '2108',
  },
  // International partners (issue 17): outside the zone, under their own law (GDPR; the US Data
  // Security Program). Added to an existing dev PKI by add-dev-institutions.ts.
  {
    // Runs the Hong Kong-side gateway (issue 18: a gateway on each side of the channel).
    id: 'hetao-hk-operator',
    legalName: 'Hetao Hong Kong Park Data Gateway Operations (DEV)',
    jurisdiction: 'HK',
    zone: 'hetao-hk',
    status: 'active',
    organizationIdentifier: 'NTRHK-77001122',
    serial: '2111',
  },
  {
    // The Hong Kong side's supervisor (issue 18): its regulator pulls the Hong Kong gateway's exports.
    id: 'hk-pcpd',
    legalName: 'Office of the Privacy Commissioner for Personal Data, Hong Kong (DEV)',
    jurisdiction: 'HK',
    zone: 'outside',
    status: 'active',
    organizationIdentifier: 'NTRHK-77001123',
    serial: '2112',
  },
  {
    id: 'eu-uniklinik',
    legalName: 'Universitaetsklinikum Rheinau (DEV)',
    jurisdiction: 'DE',
    zone: 'outside',
    status: 'active',
    organizationIdentifier: 'NTRDE-HRB998877',
    serial: '2109',
  },
  {
    id: 'us-genomics-institute',
    legalName: 'Chesapeake Institute for Genomic Medicine (DEV)',
    jurisdiction: 'US',
    zone: 'outside',
    status: 'active',
    organizationIdentifier: 'NTRUS-521234567',
    serial: '2110',
  },
];

export const PEOPLE: readonly PersonSpec[] = [
  { id: 'officer-chan', name: 'Chan Tai Man', institution: 'hetao-operator', role: 'security-officer', serial: '2201' },
  { id: 'regulator-wang', name: 'Wang Fang', institution: 'nhc-hgr-office', role: 'regulator', serial: '2202' },
  { id: 'admin-lee', name: 'Lee Ka Yan', institution: 'hetao-operator', role: 'admin', serial: '2203' },
  // The partners' data-protection and security officers.
  { id: 'dpo-weber', name: 'Anna Weber', institution: 'eu-uniklinik', role: 'security-officer', serial: '2204' },
  { id: 'officer-miller', name: 'James Miller', institution: 'us-genomics-institute', role: 'security-officer', serial: '2205' },
  // The Hong Kong side's officer and regulator (issue 18: each side under its own officers and regulators).
  { id: 'officer-wong', name: 'Wong Siu Ming', institution: 'hetao-hk-operator', role: 'security-officer', serial: '2206' },
  { id: 'regulator-ho', name: 'Ho Wai Lam', institution: 'hk-pcpd', role: 'regulator', serial: '2207' },
];

// Serials of the remaining certificates. Values stay below 0x8000 because node-forge writes the
// hex bytes as-is into the DER INTEGER: a leading byte >= 0x80 would make the serial negative.
const SERIALS = {
  rootCa: '1000',
  issuingCa: '1001',
  gatewayServer: '2001',
  gatewayClient: '2002',
  expired: '2901',
  revoked: '2902',
  unregistered: '2903',
  rogueRoot: '1000',
} as const;

// ---------------------------------------------------------------------------------------------
// Dates

/** A gateway on the other side of the channel, as this side's registry lists it. */
export interface PeerGatewaySpec {
  id: string;
  name: string;
  operator: string;
  country: Jurisdiction;
  /** Loopback addresses its TLS server certificate names besides localhost. */
  serverIps: readonly string[];
  apiUrl: string;
  logOrigin: string;
  witnessName: string;
  serials: { server: string; client: string };
}

export const PEER_GATEWAYS: readonly PeerGatewaySpec[] = [
  {
    id: 'hetao-hk-gateway',
    name: 'Hetao Hong Kong-side research data gateway (DEV)',
    operator: 'hetao-hk-operator',
    country: 'HK',
    serverIps: ['127.0.0.1', '127.0.0.3'],
    apiUrl: 'https://127.0.0.3:8443',
    logOrigin: 'hetao-hk-gateway.local/audit',
    witnessName: 'hetao-hk-gateway.local/witness',
    serials: { server: '2011', client: '2012' },
  },
];

export function addDays(date: Date, days: number): Date {
  const result = new Date(date);
  result.setUTCDate(result.getUTCDate() + days);
  return result;
}

export function addYears(date: Date, years: number): Date {
  const result = new Date(date);
  result.setUTCFullYear(result.getUTCFullYear() + years);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Keys

function generateRsaKeyPair(): RsaKeyPair {
  // node:crypto generates in native code; node-forge's pure-JS RSA generation is far slower.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return {
    privateKeyPem,
    privateKey: forge.pki.privateKeyFromPem(privateKeyPem),
    publicKey: forge.pki.publicKeyFromPem(publicKeyPem),
  };
}

function generateEd25519PrivateKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

async function generateEncryptionKey(): Promise<{ privateKeyPem: string; jwk: EncryptionJwk }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y }: JsonWebKey = publicKey.export({ format: 'jwk' });
  if (kty === undefined || crv === undefined || x === undefined || y === undefined) {
    throw new Error('node:crypto returned an incomplete EC public JWK');
  }
  const kid = await calculateJwkThumbprint({ kty, crv, x, y }, 'sha256');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    jwk: { kty, crv, x, y, kid, use: 'enc', alg: 'ECDH-ES+A256KW' },
  };
}

// ---------------------------------------------------------------------------------------------
// Names and extensions

interface SubjectOptions {
  country: Jurisdiction;
  organization: string;
  commonName: string;
  organizationIdentifier?: string;
}

/** Subject in ETSI EN 319 412 order: C, O, OU (dev marker), organizationIdentifier, CN. */
function devSubject(options: SubjectOptions): forge.pki.CertificateField[] {
  const attributes: forge.pki.CertificateField[] = [
    { shortName: 'C', value: options.country },
    { shortName: 'O', value: options.organization },
    { shortName: 'OU', value: DEV_MARKER_OU },
  ];
  if (options.organizationIdentifier !== undefined) {
    attributes.push({ type: OID_ORGANIZATION_IDENTIFIER, value: options.organizationIdentifier });
  }
  attributes.push({ shortName: 'CN', value: options.commonName });
  return attributes;
}

type Extension = Record<string, unknown> & { name: string };

function caExtensions(pathLenConstraint?: number): Extension[] {
  const basicConstraints: Extension = { name: 'basicConstraints', cA: true, critical: true };
  if (pathLenConstraint !== undefined) basicConstraints['pathLenConstraint'] = pathLenConstraint;
  return [
    basicConstraints,
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ];
}

function clientExtensions(uri: string): Extension[] {
  return [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectAltName', altNames: [{ type: ALT_NAME_URI, value: uri }] },
    { name: 'subjectKeyIdentifier' },
  ];
}

function serverExtensions(ips: readonly string[] = ['127.0.0.1']): Extension[] {
  return [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: ALT_NAME_DNS, value: 'localhost' },
        ...ips.map((ip) => ({ type: ALT_NAME_IP, ip })),
        { type: ALT_NAME_IP, ip: '::1' },
      ],
    },
    { name: 'subjectKeyIdentifier' },
  ];
}

function subjectKeyIdentifierBytes(cert: forge.pki.Certificate): string {
  return cert.generateSubjectKeyIdentifier().getBytes();
}

// ---------------------------------------------------------------------------------------------
// Certificates

interface CertificateRequest {
  serial: string;
  subject: forge.pki.CertificateField[];
  validity: Validity;
  extensions: Extension[];
  /** Omitted for a self-signed root. */
  issuer?: IssuedCertificate;
}

function issueCertificate(request: CertificateRequest): IssuedCertificate {
  const keys = generateRsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.serialNumber = request.serial;
  cert.validity.notBefore = request.validity.notBefore;
  cert.validity.notAfter = request.validity.notAfter;
  cert.publicKey = keys.publicKey;
  cert.setSubject(request.subject);

  const extensions = [...request.extensions];
  if (request.issuer === undefined) {
    cert.setIssuer(request.subject);
  } else {
    cert.setIssuer(request.issuer.cert.subject.attributes);
    // forge's `keyIdentifier: true` would take the SKI of the certificate being built, not of
    // its issuer, so the issuer's key identifier is passed explicitly.
    extensions.push({
      name: 'authorityKeyIdentifier',
      keyIdentifier: subjectKeyIdentifierBytes(request.issuer.cert),
    });
  }
  cert.setExtensions(extensions);
  cert.sign(request.issuer?.keys.privateKey ?? keys.privateKey, forge.md.sha256.create());
  return { cert, keys };
}

function certificatePem(issued: IssuedCertificate): string {
  return forge.pki.certificateToPem(issued.cert);
}

function certificateDerBytes(cert: forge.pki.Certificate): string {
  return forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes();
}

/**
 * Registry binding of a certificate. Computed from the re-parsed PEM so the issuer and serial
 * are exactly what the gateway will see when it parses the peer certificate.
 */
function certificateBinding(issued: IssuedCertificate): CertificateBinding {
  const parsed = forge.pki.certificateFromPem(certificatePem(issued));
  return {
    sha256: createHash('sha256').update(Buffer.from(certificateDerBytes(parsed), 'binary')).digest('hex'),
    issuer: formatDistinguishedName(parsed.issuer),
    serial: parsed.serialNumber.toLowerCase(),
    // forge writes CRLF; with LF the YAML shows it as a `|` block instead of a quoted string of escapes.
    certificate: certificatePem(issued).replace(/\r\n/g, '\n'),
  };
}

// ---------------------------------------------------------------------------------------------
// Output

function cleanPreviousOutput(): void {
  for (const subdirectory of ['institutions', 'people', 'negative']) {
    rmSync(join(CERTS_DIR, subdirectory), { recursive: true, force: true });
  }
  for (const entry of readdirSync(CERTS_DIR, { withFileTypes: true })) {
    if (entry.isFile() && entry.name.includes('.dev-only.')) rmSync(join(CERTS_DIR, entry.name));
  }
}

function writeOutput(relativePath: string, contents: string, mode = 0o644): void {
  const path = join(CERTS_DIR, relativePath);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, contents, { mode });
}

/** Writes `<base>.cert.pem` (leaf plus optional chain) and `<base>.key.pem`. */
function writeCertificateAndKey(base: string, issued: IssuedCertificate, chain: IssuedCertificate[] = []): void {
  writeOutput(`${base}.cert.pem`, [issued, ...chain].map(certificatePem).join(''));
  writeOutput(`${base}.key.pem`, issued.keys.privateKeyPem, 0o600);
}

function registryYaml(registry: unknown): string {
  const document = new Document(registry);
  // Quoted so YAML 1.1 parsers (and humans) read approval dates as strings, not timestamps.
  visit(document, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(node.value)) node.type = Scalar.QUOTE_SINGLE;
    },
  });
  const header = [
    '# yaml-language-server: $schema=../schemas/registry.schema.json',
    '# Zone registry (white list) — DEVELOPMENT data generated by scripts/generate-dev-pki.ts; regenerate with `npm run certs:dev`.',
  ].join('\n');
  return `${header}\n${document.toString({ lineWidth: 0 })}`;
}

function findInstitution(id: string): InstitutionSpec {
  const institution = INSTITUTIONS.find((candidate) => candidate.id === id);
  if (institution === undefined) throw new Error(`unknown institution ${id}`);
  return institution;
}

function institutionSubject(institution: InstitutionSpec): forge.pki.CertificateField[] {
  return devSubject({
    country: institution.jurisdiction,
    organization: institution.legalName,
    organizationIdentifier: institution.organizationIdentifier,
    commonName: institution.id,
  });
}

/** An institution's client certificate and encryption key pair, written under certs-dev/institutions/. */
export async function issueInstitution(institution: InstitutionSpec, validity: Validity, issuer: IssuedCertificate): Promise<{ issued: IssuedCertificate; encryptionKey: EncryptionJwk }> {
  const base = `institutions/${institution.id}.dev-only`;
  const issued = issueCertificate({ serial: institution.serial, subject: institutionSubject(institution), validity, extensions: clientExtensions(`urn:hetao:inst:${institution.id}`), issuer });
  writeCertificateAndKey(base, issued);
  const encryptionKey = await generateEncryptionKey();
  writeOutput(`${base}.enc.key.pem`, encryptionKey.privateKeyPem, 0o600);
  writeOutput(`${base}.enc.pub.jwk.json`, `${JSON.stringify(encryptionKey.jwk, null, 2)}\n`);
  return { issued, encryptionKey: encryptionKey.jwk };
}

/** A person's client certificate (O = their institution's legal name), written under certs-dev/people/. */
export function issuePerson(person: PersonSpec, validity: Validity, issuer: IssuedCertificate): IssuedCertificate {
  const institution = findInstitution(person.institution);
  const issued = issueCertificate({
    serial: person.serial,
    subject: devSubject({ country: institution.jurisdiction, organization: institution.legalName, commonName: person.name }),
    validity,
    extensions: clientExtensions(`urn:hetao:person:${person.id}`),
    issuer,
  });
  writeCertificateAndKey(`people/${person.id}.dev-only`, issued);
  return issued;
}

/** An institution's registry entry, bound to these certificates. */
export function institutionEntry(institution: InstitutionSpec, certificates: readonly IssuedCertificate[], encryptionKey: EncryptionJwk) {
  return {
    id: institution.id,
    legalName: institution.legalName,
    organizationIdentifier: institution.organizationIdentifier,
    jurisdiction: institution.jurisdiction,
    zone: institution.zone,
    status: institution.status,
    certificates: certificates.map(certificateBinding),
    encryptionKey,
    ...(institution.approvals === undefined ? {} : { approvals: institution.approvals }),
  };
}

/** A person's registry entry, bound to this certificate. */
export function personEntry(person: PersonSpec, issued: IssuedCertificate) {
  return { id: person.id, name: person.name, institution: person.institution, role: person.role, certificates: [certificateBinding(issued)] };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const now = new Date();
  const yesterday = addDays(now, -1);
  const caValidity: Validity = { notBefore: yesterday, notAfter: addYears(yesterday, 20) };
  const leafValidity: Validity = { notBefore: yesterday, notAfter: addYears(yesterday, 10) };
  const expiredValidity: Validity = { notBefore: addYears(now, -2), notAfter: addYears(now, -1) };

  mkdirSync(CERTS_DIR, { recursive: true });
  cleanPreviousOutput();

  const rootCa = issueCertificate({
    serial: SERIALS.rootCa,
    subject: devSubject({ country: 'CN', organization: GATEWAY_ORGANIZATION, commonName: 'Hetao Zone Root CA (DEVELOPMENT ONLY)' }),
    validity: caValidity,
    extensions: caExtensions(),
  });
  const issuingCa = issueCertificate({
    serial: SERIALS.issuingCa,
    subject: devSubject({ country: 'CN', organization: GATEWAY_ORGANIZATION, commonName: 'Hetao Zone Issuing CA (DEVELOPMENT ONLY)' }),
    validity: caValidity,
    extensions: caExtensions(0),
    issuer: rootCa,
  });
  writeCertificateAndKey('zone-root-ca.dev-only', rootCa);
  writeCertificateAndKey('zone-issuing-ca.dev-only', issuingCa);
  writeOutput('zone-ca-bundle.dev-only.pem', [issuingCa, rootCa].map(certificatePem).join(''));

  const gatewayServer = issueCertificate({
    serial: SERIALS.gatewayServer,
    subject: devSubject({ country: 'CN', organization: GATEWAY_ORGANIZATION, commonName: 'localhost' }),
    validity: leafValidity,
    extensions: serverExtensions(),
    issuer: issuingCa,
  });
  writeCertificateAndKey('gateway-server.dev-only', gatewayServer, [issuingCa]);

  const gatewayClient = issueCertificate({
    serial: SERIALS.gatewayClient,
    subject: devSubject({ country: 'CN', organization: GATEWAY_ORGANIZATION, commonName: 'Hetao Research Data Gateway' }),
    validity: leafValidity,
    extensions: clientExtensions('urn:hetao:gateway'),
    issuer: issuingCa,
  });
  writeCertificateAndKey('gateway-client.dev-only', gatewayClient);
  writeOutput('gateway-signing.dev-only.key.pem', generateEd25519PrivateKeyPem(), 0o600);
  // The key queued transfers' data keys are also wrapped to, so the gateway's workers can inspect them.
  writeOutput('gateway-processing.dev-only.key.pem', (await generateEncryptionKey()).privateKeyPem, 0o600);

  const institutionCerts = new Map<string, IssuedCertificate>();
  const institutionKeys = new Map<string, EncryptionJwk>();
  for (const institution of INSTITUTIONS) {
    const { issued, encryptionKey } = await issueInstitution(institution, leafValidity, issuingCa);
    institutionCerts.set(institution.id, issued);
    institutionKeys.set(institution.id, encryptionKey);
  }

  const personCerts = new Map<string, IssuedCertificate>();
  for (const person of PEOPLE) personCerts.set(person.id, issuePerson(person, leafValidity, issuingCa));

  const expired = issueCertificate({
    serial: SERIALS.expired,
    subject: institutionSubject(findInstitution('sz-hospital')),
    validity: expiredValidity,
    extensions: clientExtensions('urn:hetao:inst:sz-hospital'),
    issuer: issuingCa,
  });
  writeCertificateAndKey('negative/expired.dev-only', expired);

  const revoked = issueCertificate({
    serial: SERIALS.revoked,
    subject: institutionSubject(findInstitution('hetao-sz-institute')),
    validity: leafValidity,
    extensions: clientExtensions('urn:hetao:inst:hetao-sz-institute'),
    issuer: issuingCa,
  });
  writeCertificateAndKey('negative/revoked.dev-only', revoked);

  const rogueRoot = issueCertificate({
    serial: SERIALS.rogueRoot,
    subject: devSubject({ country: 'CN', organization: 'Rogue Issuer (DEVELOPMENT ONLY)', commonName: 'Rogue CA (DEVELOPMENT ONLY)' }),
    validity: caValidity,
    extensions: caExtensions(),
  });
  writeCertificateAndKey('negative/unknown-ca-root.dev-only', rogueRoot);
  // Same subject, SAN and serial as the genuine hk-uni-genomics certificate: only the issuer
  // differs, so the gateway must reject it on the chain, never on names or serial alone.
  const unknownCa = issueCertificate({
    serial: findInstitution('hk-uni-genomics').serial,
    subject: institutionSubject(findInstitution('hk-uni-genomics')),
    validity: leafValidity,
    extensions: clientExtensions('urn:hetao:inst:hk-uni-genomics'),
    issuer: rogueRoot,
  });
  writeCertificateAndKey('negative/unknown-ca.dev-only', unknownCa);

  const unregistered = issueCertificate({
    serial: SERIALS.unregistered,
    subject: devSubject({
      country: 'HK',
      organization: 'Unregistered Genomics Laboratory (DEV)',
      organizationIdentifier: 'NTRHK-99999999',
      commonName: 'unregistered-lab',
    }),
    validity: leafValidity,
    extensions: clientExtensions('urn:hetao:inst:unregistered-lab'),
    issuer: issuingCa,
  });
  writeCertificateAndKey('negative/unregistered.dev-only', unregistered);

  // Node's TLS checks the CRL of every certificate in the chain (CRL_CHECK_ALL), so the root
  // publishes an (empty) CRL for the issuing CA alongside the issuing CA's own CRL.
  const crlWindow = { thisUpdate: yesterday, nextUpdate: addYears(now, 10) };
  const rootCrl = buildCrlPem({ ca: { cert: rootCa.cert, privateKey: rootCa.keys.privateKey }, crlNumber: 1, ...crlWindow, revoked: [] });
  const issuingCrl = buildCrlPem({
    ca: { cert: issuingCa.cert, privateKey: issuingCa.keys.privateKey },
    crlNumber: 1,
    ...crlWindow,
    revoked: [{ serial: SERIALS.revoked, revocationDate: yesterday }],
  });
  writeOutput('zone-crl.dev-only.pem', rootCrl + issuingCrl);

  // The expired and revoked certificates stay bound so that only expiry / the CRL stops them.
  const extraBindings = new Map<string, IssuedCertificate[]>([
    ['sz-hospital', [expired]],
    ['hetao-sz-institute', [revoked]],
  ]);
  const gateways = [];
  for (const peer of PEER_GATEWAYS) gateways.push(await issuePeerGateway(peer, leafValidity, issuingCa));
  const registry = {
    version: 1,
    institutions: INSTITUTIONS.map((institution) => {
      const current = institutionCerts.get(institution.id);
      const encryptionKey = institutionKeys.get(institution.id);
      if (current === undefined || encryptionKey === undefined) throw new Error(`missing output for ${institution.id}`);
      return institutionEntry(institution, [current, ...(extraBindings.get(institution.id) ?? [])], encryptionKey);
    }),
    people: PEOPLE.map((person) => {
      const issued = personCerts.get(person.id);
      if (issued === undefined) throw new Error(`missing output for ${person.id}`);
      return personEntry(person, issued);
    }),
    gateways,
  };
  mkdirSync(dirname(REGISTRY_FILE), { recursive: true });
  writeFileSync(REGISTRY_FILE, registryYaml(registry));
  await addDevCrypt4ghKeys();

  console.log(`DEVELOPMENT-ONLY PKI written to ${CERTS_DIR} and registry to ${REGISTRY_FILE}`);
}

/**
 * A peer gateway's identity under certs-dev/peers/<id>/ — TLS server certificate, client certificate
 * (urn:hetao:gateway:<id>), Ed25519 signing key, processing key — and its entry for this side's
 * registry (`gateways:`).
 */
export async function issuePeerGateway(peer: PeerGatewaySpec, validity: Validity, issuer: IssuedCertificate) {
  const folder = `peers/${peer.id}`;
  const organization = `${peer.name} (DEVELOPMENT ONLY)`;
  const server = issueCertificate({ serial: peer.serials.server, subject: devSubject({ country: peer.country, organization, commonName: 'localhost' }), validity, extensions: serverExtensions(peer.serverIps), issuer });
  writeCertificateAndKey(`${folder}/gateway-server.dev-only`, server, [issuer]);
  const client = issueCertificate({ serial: peer.serials.client, subject: devSubject({ country: peer.country, organization, commonName: peer.name }), validity, extensions: clientExtensions(`urn:hetao:gateway:${peer.id}`), issuer });
  writeCertificateAndKey(`${folder}/gateway-client.dev-only`, client);
  const signingKeyPem = generateEd25519PrivateKeyPem();
  writeOutput(`${folder}/gateway-signing.dev-only.key.pem`, signingKeyPem, 0o600);
  const processing = await generateEncryptionKey();
  writeOutput(`${folder}/gateway-processing.dev-only.key.pem`, processing.privateKeyPem, 0o600);
  const { kty, crv, x } = createPublicKey(signingKeyPem).export({ format: 'jwk' });
  return {
    id: peer.id,
    name: peer.name,
    operator: peer.operator,
    status: 'active' as const,
    apiUrl: peer.apiUrl,
    certificates: [certificateBinding(client)],
    signingKey: { kty, crv, x },
    logOrigin: peer.logOrigin,
    witnessName: peer.witnessName,
    encryptionKey: processing.jwk,
  };
}

// Run as a script (npm run certs:dev); imported, it lends its helpers to add-dev-institutions.ts.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
