// The zone registry (white list): institutions and people, the certificates bound to them, their
// encryption keys and approvals. Parsed and checked whole; an invalid file never becomes a registry
// (nor does one nested deeper than the JSON bound or holding a lone surrogate).
import { schemaValidator } from '../input/schema-validator.js';
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isUsableX25519PublicKey } from '../crypt4gh/crypt4gh-keys.js';
import { GatewayError } from '../errors.js';
import { findJsonValueProblem } from '../input/json-bounds.js';
import { describeSchemaErrors, formatProblems, parseYamlWithPositions, type FileProblem } from '../input/schema-problems.js';
import { findYamlDepthProblem } from '../input/yaml-bounds.js';
import { readCertificate, type CertificateFacts } from './read-certificate.js';
import registrySchema from '../../schemas/registry.schema.json' with { type: 'json' };

export type Jurisdiction = string;
export type Zone = 'hetao-sz' | 'hetao-hk' | 'outside';
export type RegistryStatus = 'active' | 'suspended' | 'revoked';
export type PersonRole = 'security-officer' | 'regulator' | 'admin';

export interface CertificateBinding {
  /** Given, or the fingerprint of `certificate` when the binding gives the certificate itself. */
  readonly sha256?: string;
  readonly issuer?: string;
  readonly serial?: string;
  /** Read from the PEM the binding gives (the PEM itself is not kept); absent: expiry unknown. */
  readonly certificate?: BoundCertificate;
}

/** What the registry knows of a certificate it holds in full. */
export interface BoundCertificate {
  /** RFC 4514, most specific first. */
  readonly subject: string;
  /** ISO 8601. */
  readonly notBefore: string;
  /** ISO 8601. */
  readonly notAfter: string;
}

/** A binding as the file writes it: `certificate` is the PEM. */
interface CertificateBindingSource {
  readonly sha256?: string;
  readonly issuer?: string;
  readonly serial?: string;
  readonly certificate?: string;
}

export interface Approval {
  readonly type: string;
  readonly id: string;
  readonly scope?: { readonly projects?: readonly string[]; readonly categories?: readonly string[]; readonly recipients?: readonly string[] };
  readonly validFrom: string;
  readonly validUntil: string;
}

export interface Institution {
  readonly id: string;
  readonly legalName: string;
  readonly organizationIdentifier?: string;
  readonly jurisdiction: Jurisdiction;
  readonly zone: Zone;
  readonly status: RegistryStatus;
  readonly certificates: readonly CertificateBinding[];
  readonly encryptionKey: Readonly<Record<string, string>>;
  /** Crypt4GH (X25519) public key, base64 of 32 bytes. */
  readonly crypt4ghPublicKey?: string;
  readonly pushEndpoint?: string;
  readonly attributes?: Readonly<Record<string, string | number | boolean>>;
  readonly approvals?: readonly Approval[];
}

export interface Person {
  readonly id: string;
  readonly name: string;
  readonly institution: string;
  readonly role: PersonRole;
  readonly status?: RegistryStatus;
  readonly certificates: readonly CertificateBinding[];
}

/** A gateway on the other side of the channel (or another peer), as this gateway knows it. */
export interface PeerGateway {
  readonly id: string;
  readonly name: string;
  /** The institution that runs it. */
  readonly operator: string;
  readonly status?: RegistryStatus;
  readonly apiUrl: string;
  readonly certificates: readonly CertificateBinding[];
  /** Ed25519 public JWK: its signed notes, cosignatures and signed records. */
  readonly signingKey: Readonly<{ kty: 'OKP'; crv: 'Ed25519'; x: string; kid?: string }>;
  /** The origin of its audit log's checkpoints, also its note key name. */
  readonly logOrigin: string;
  /** The key name on its cosignatures of this gateway's checkpoints. */
  readonly witnessName: string;
  readonly encryptionKey?: Readonly<Record<string, string>>;
}

export type RegistryEntry =
  | { readonly kind: 'institution'; readonly institution: Institution; readonly binding: CertificateBinding }
  | { readonly kind: 'person'; readonly person: Person; readonly institution: Institution; readonly binding: CertificateBinding }
  | { readonly kind: 'gateway'; readonly gateway: PeerGateway; readonly institution: Institution; readonly binding: CertificateBinding };

export interface Registry {
  /** SHA-256 of the file's bytes, lowercase hex: names the exact registry a decision was made under. */
  readonly revision: string;
  readonly file: string;
  readonly institutions: ReadonlyMap<string, Institution>;
  readonly people: ReadonlyMap<string, Person>;
  /** Peer gateways by id. */
  readonly gateways: ReadonlyMap<string, PeerGateway>;
  /** The peer gateway whose audit log has this origin. */
  gatewayByLogOrigin(origin: string): PeerGateway | undefined;
  /** The principal a certificate is bound to, if any. */
  findByCertificate(cert: { sha256: string; issuer: string; serial: string }): RegistryEntry | undefined;
}

/** A registry entry before its certificate binding is known (distributes over the union). */
type UnboundEntry = RegistryEntry extends infer E ? (E extends RegistryEntry ? Omit<E, 'binding'> : never) : never;

/** An institution, person or gateway as the file writes it, before its bindings are read. */
type AsWritten<T extends { readonly certificates: readonly CertificateBinding[] }> = Omit<T, 'certificates'> & { certificates: CertificateBindingSource[] };

interface RegistryDocument {
  version: 1;
  institutions: AsWritten<Institution>[];
  people: AsWritten<Person>[];
  gateways?: AsWritten<PeerGateway>[];
}

const registryValidator = schemaValidator<RegistryDocument>(registrySchema, { allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true }, { formats: true });

/**
 * Reads and checks a registry file.
 * @throws GatewayError ERR_REGISTRY_INVALID with `problems` (file, path, line, message) for every error found.
 */
export async function loadRegistry(file: string): Promise<Registry> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (cause) {
    throw invalid(file, [{ file, path: '', message: `cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'error'})` }]);
  }
  return parseRegistry(bytes, file);
}

/** Parses registry bytes; see {@link loadRegistry}. */
export function parseRegistry(bytes: Buffer, file: string): Registry {
  const text = bytes.toString('utf8');
  const tooDeep = findYamlDepthProblem(text);
  if (tooDeep) throw invalid(file, [{ file, path: '', ...tooDeep }]);
  const parsed = parseYamlWithPositions(text, file);
  if (Array.isArray(parsed)) throw invalid(file, parsed);
  // Before the schema check and deepFreeze recurse over it.
  const unfit = findJsonValueProblem(parsed.value);
  if (unfit) {
    const line = parsed.lineOf(unfit.path);
    throw invalid(file, [{ file, ...unfit, ...(line === undefined ? {} : { line }) }]);
  }
  const validateRegistryDocument = registryValidator();
  if (!validateRegistryDocument(parsed.value)) {
    throw invalid(file, describeSchemaErrors(validateRegistryDocument.errors ?? [], parsed.lineOf).map((p) => ({ file, ...p })));
  }
  const document = parsed.value;
  const problems: FileProblem[] = [];
  const at = (path: string, message: string): void => {
    const line = parsed.lineOf(path);
    problems.push({ file, path, ...(line === undefined ? {} : { line }), message });
  };

  // Certificates given as PEM are read first: their fingerprints bind like written ones.
  const readBindings = <T extends { readonly certificates: readonly CertificateBinding[] }>(items: readonly AsWritten<T>[], path: string): T[] =>
    items.map((item, i) => ({ ...item, certificates: item.certificates.map((binding, j) => readBinding(binding, `${path}/${i}/certificates/${j}`, at)) }) as unknown as T);
  const institutionList = readBindings<Institution>(document.institutions, '/institutions');
  const personList = readBindings<Person>(document.people, '/people');
  const gatewayList = readBindings<PeerGateway>(document.gateways ?? [], '/gateways');

  const institutions = indexById(institutionList, '/institutions', at);
  const people = indexById(personList, '/people', at);
  const gateways = indexById(gatewayList, '/gateways', at);
  const bySha256 = new Map<string, RegistryEntry>();
  const byIssuerSerial = new Map<string, RegistryEntry>();

  const bind = (entry: UnboundEntry, bindings: readonly CertificateBinding[], path: string): void => {
    bindings.forEach((binding, index) => {
      const full = { ...entry, binding } as RegistryEntry;
      const keys: [Map<string, RegistryEntry>, string | undefined][] = [
        [bySha256, binding.sha256],
        [byIssuerSerial, binding.issuer === undefined ? undefined : issuerSerialKey(binding.issuer, binding.serial ?? '')],
      ];
      let alreadyBound = false;
      for (const [index_, key] of keys) {
        if (key === undefined) continue;
        if (index_.has(key)) alreadyBound = true;
        else index_.set(key, full);
      }
      // Once per binding, though its fingerprint and its issuer + serial may both collide.
      if (alreadyBound) at(`${path}/certificates/${index}`, 'binds a certificate already bound to another principal');
    });
  };

  institutionList.forEach((institution, index) => {
    const path = `/institutions/${index}`;
    try {
      createPublicKey({ key: institution.encryptionKey as never, format: 'jwk' });
    } catch {
      at(`${path}/encryptionKey`, 'is not a usable public key');
    }
    if (institution.crypt4ghPublicKey !== undefined && !isUsableX25519PublicKey(Buffer.from(institution.crypt4ghPublicKey, 'base64'))) {
      at(`${path}/crypt4ghPublicKey`, 'is not a usable X25519 public key (low order)');
    }
    institution.approvals?.forEach((approval, i) => {
      if (approval.validUntil < approval.validFrom) at(`${path}/approvals/${i}/validUntil`, 'is before validFrom');
    });
    bind({ kind: 'institution', institution }, institution.certificates, path);
  });
  personList.forEach((person, index) => {
    const path = `/people/${index}`;
    const institution = institutions.get(person.institution);
    if (!institution) at(`${path}/institution`, `names unknown institution "${person.institution}"`);
    else bind({ kind: 'person', person, institution }, person.certificates, path);
  });
  const byLogOrigin = new Map<string, PeerGateway>();
  gatewayList.forEach((gateway, index) => {
    const path = `/gateways/${index}`;
    if (institutions.has(gateway.id) || people.has(gateway.id)) at(`${path}/id`, `"${gateway.id}" is also the id of an institution or person`);
    try {
      createPublicKey({ key: gateway.signingKey as never, format: 'jwk' });
    } catch {
      at(`${path}/signingKey`, 'is not a usable Ed25519 public key');
    }
    if (gateway.encryptionKey !== undefined) {
      try {
        createPublicKey({ key: gateway.encryptionKey as never, format: 'jwk' });
      } catch {
        at(`${path}/encryptionKey`, 'is not a usable public key');
      }
    }
    if (byLogOrigin.has(gateway.logOrigin)) at(`${path}/logOrigin`, `another gateway's log has origin "${gateway.logOrigin}"`);
    else byLogOrigin.set(gateway.logOrigin, gateway);
    const operator = institutions.get(gateway.operator);
    if (!operator) at(`${path}/operator`, `names unknown institution "${gateway.operator}"`);
    else bind({ kind: 'gateway', gateway, institution: operator }, gateway.certificates, path);
  });
  if (problems.length > 0) throw invalid(file, problems);

  deepFreeze([institutionList, personList, gatewayList]);
  return Object.freeze({
    revision: createHash('sha256').update(bytes).digest('hex'),
    file,
    institutions,
    people,
    gateways,
    gatewayByLogOrigin: (origin: string) => byLogOrigin.get(origin),
    findByCertificate(cert: { sha256: string; issuer: string; serial: string }) {
      const candidate = bySha256.get(cert.sha256) ?? byIssuerSerial.get(issuerSerialKey(cert.issuer, cert.serial));
      return candidate && bindingMatches(candidate.binding, cert) ? candidate : undefined;
    },
  });
}

const PEM_LABEL = /-----BEGIN ([^-\r\n]*)-----/g;

/**
 * The binding as the gateway uses it: a PEM is read into its fingerprint (and issuer + serial when
 * not written) and its subject and validity; any field also written must agree with it, so the file
 * cannot say two different things about one binding.
 */
function readBinding(source: CertificateBindingSource, path: string, at: (path: string, message: string) => void): CertificateBinding {
  const { certificate: pem, ...written } = source;
  if (pem === undefined) return written;
  const labels = [...pem.matchAll(PEM_LABEL)].map((match) => match[1]);
  const text = pem.trim();
  // Nothing but one CERTIFICATE block: a key or a chain pasted by mistake is refused, not half-read.
  const ends = text.split('-----END ').length - 1;
  if (labels.length !== 1 || labels[0] !== 'CERTIFICATE' || ends !== 1 || !text.startsWith('-----BEGIN CERTIFICATE-----') || !text.endsWith('-----END CERTIFICATE-----')) {
    at(`${path}/certificate`, `must hold exactly one PEM certificate block and nothing else (found ${labels.length === 0 ? 'none' : labels.join(', ')})`);
    return written;
  }
  let facts: CertificateFacts;
  try {
    facts = readCertificate(new X509Certificate(pem).raw);
  } catch (cause) {
    at(`${path}/certificate`, `is not a readable X.509 certificate (${cause instanceof Error ? cause.message : String(cause)})`);
    return written;
  }
  if (written.sha256 !== undefined && written.sha256 !== facts.sha256) at(`${path}/sha256`, `differs from the SHA-256 of the certificate given (${facts.sha256})`);
  if (written.issuer !== undefined && written.issuer !== facts.issuer) at(`${path}/issuer`, `differs from the issuer of the certificate given (${facts.issuer})`);
  if (written.serial !== undefined && written.serial !== facts.serial) at(`${path}/serial`, `differs from the serial of the certificate given (${facts.serial})`);
  return {
    sha256: facts.sha256,
    issuer: facts.issuer,
    serial: facts.serial,
    certificate: { subject: facts.subject, notBefore: facts.notBefore.toISOString(), notAfter: facts.notAfter.toISOString() },
  };
}

/** A binding matches when every field it gives equals the certificate's. */
function bindingMatches(binding: CertificateBinding, cert: { sha256: string; issuer: string; serial: string }): boolean {
  return (
    (binding.sha256 === undefined || binding.sha256 === cert.sha256) &&
    (binding.issuer === undefined || (binding.issuer === cert.issuer && binding.serial === cert.serial))
  );
}

function issuerSerialKey(issuer: string, serial: string): string {
  return `${issuer}\u0000${serial}`;
}

function indexById<T extends { id: string }>(items: readonly T[], path: string, at: (path: string, message: string) => void): Map<string, T> {
  const index = new Map<string, T>();
  items.forEach((item, i) => {
    if (index.has(item.id)) at(`${path}/${i}/id`, `duplicates id "${item.id}"`);
    else index.set(item.id, item);
  });
  return index;
}

function invalid(file: string, problems: FileProblem[]): GatewayError {
  return new GatewayError('ERR_REGISTRY_INVALID', `registry ${file} is invalid:\n${formatProblems(problems)}`, { problems });
}

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}
