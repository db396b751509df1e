// The zone registry (white list): institutions and people, the certificates bound to them, their
// encryption keys and approvals. Parsed and checked whole; an invalid file never becomes a registry
// (nor does one nested deeper than the JSON bound or holding a lone surrogate).
import { createHash, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { isUsableX25519PublicKey } from '../crypt4gh/crypt4gh-keys.js';
import { GatewayError } from '../errors.js';
import { findJsonValueProblem } from '../input/json-bounds.js';
import { describeSchemaErrors, formatProblems, parseYamlWithPositions, type FileProblem } from '../input/schema-problems.js';
import { findYamlDepthProblem } from '../input/yaml-bounds.js';
import registrySchema from '../../schemas/registry.schema.json' with { type: 'json' };

export type Jurisdiction = string;
export type Zone = 'hetao-sz' | 'hetao-hk' | 'outside';
export type RegistryStatus = 'active' | 'suspended' | 'revoked';
export type PersonRole = 'security-officer' | 'regulator' | 'admin';

export interface CertificateBinding {
  readonly sha256?: string;
  readonly issuer?: string;
  readonly serial?: string;
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

interface RegistryDocument {
  version: 1;
  institutions: Institution[];
  people: Person[];
  gateways?: PeerGateway[];
}

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
addFormats.default(ajv);
const validateRegistryDocument = ajv.compile<RegistryDocument>(registrySchema);

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
  if (!validateRegistryDocument(parsed.value)) {
    throw invalid(file, describeSchemaErrors(validateRegistryDocument.errors ?? [], parsed.lineOf).map((p) => ({ file, ...p })));
  }
  const document = parsed.value;
  const problems: FileProblem[] = [];
  const at = (path: string, message: string): void => {
    const line = parsed.lineOf(path);
    problems.push({ file, path, ...(line === undefined ? {} : { line }), message });
  };

  const institutions = indexById(document.institutions, '/institutions', at);
  const people = indexById(document.people, '/people', at);
  const gateways = indexById(document.gateways ?? [], '/gateways', at);
  const bySha256 = new Map<string, RegistryEntry>();
  const byIssuerSerial = new Map<string, RegistryEntry>();

  const bind = (entry: UnboundEntry, bindings: readonly CertificateBinding[], path: string): void => {
    bindings.forEach((binding, index) => {
      const full = { ...entry, binding } as RegistryEntry;
      const keys: [Map<string, RegistryEntry>, string | undefined][] = [
        [bySha256, binding.sha256],
        [byIssuerSerial, binding.issuer === undefined ? undefined : issuerSerialKey(binding.issuer, binding.serial ?? '')],
      ];
      for (const [index_, key] of keys) {
        if (key === undefined) continue;
        if (index_.has(key)) at(`${path}/certificates/${index}`, 'binds a certificate already bound to another principal');
        else index_.set(key, full);
      }
    });
  };

  document.institutions.forEach((institution, index) => {
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
  document.people.forEach((person, index) => {
    const path = `/people/${index}`;
    const institution = institutions.get(person.institution);
    if (!institution) at(`${path}/institution`, `names unknown institution "${person.institution}"`);
    else bind({ kind: 'person', person, institution }, person.certificates, path);
  });
  const byLogOrigin = new Map<string, PeerGateway>();
  (document.gateways ?? []).forEach((gateway, index) => {
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

  deepFreeze(document);
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
