// Maps an already TLS-verified client certificate to the principal the registry binds it to.
// Unknown, suspended or revoked means deny: every refusal is a GatewayError with a stable code.
import { GatewayError } from '../errors.js';
import type { CertificateFacts } from './read-certificate.js';
import type { Institution, PersonRole, Registry, RegistryStatus } from './registry.js';

/**
 * Who is calling. Institutions act as lab systems; people act in the role the registry gives them;
 * the gateway on the other side of the channel acts as `peer-gateway` (its operator is its institution).
 */
export interface Principal {
  readonly kind: 'institution' | 'person' | 'gateway';
  /** Institution, person or gateway id. */
  readonly id: string;
  readonly name: string;
  readonly role: 'institution' | PersonRole | 'peer-gateway';
  readonly institution: Institution;
  readonly certificate: {
    readonly sha256: string;
    readonly subject: string;
    readonly issuer: string;
    readonly serial: string;
    readonly notAfter: Date;
  };
  /** Registry revision the principal was resolved under. */
  readonly registryRevision: string;
}

const URI_PREFIX = { institution: 'urn:hetao:inst:', person: 'urn:hetao:person:', gateway: 'urn:hetao:gateway:' } as const;

/**
 * @throws GatewayError ERR_IDENTITY_NOT_REGISTERED, ERR_IDENTITY_SUSPENDED, ERR_IDENTITY_REVOKED,
 *   ERR_IDENTITY_INSTITUTION_INACTIVE, ERR_IDENTITY_BINDING_MISMATCH
 */
export function resolvePrincipal(registry: Registry, cert: CertificateFacts): Principal {
  const entry = registry.findByCertificate(cert);
  const fingerprint = { certificateSha256: cert.sha256 };
  if (!entry) {
    throw new GatewayError('ERR_IDENTITY_NOT_REGISTERED', 'the client certificate is not bound to any institution or person in the zone registry', fingerprint);
  }
  const { kind, institution } = entry;
  const id = entry.kind === 'person' ? entry.person.id : entry.kind === 'gateway' ? entry.gateway.id : institution.id;
  const claimed = cert.uris.filter((uri) => Object.values(URI_PREFIX).some((prefix) => uri.startsWith(prefix)));
  if (claimed.length > 0 && !claimed.includes(`${URI_PREFIX[kind]}${id}`)) {
    throw new GatewayError('ERR_IDENTITY_BINDING_MISMATCH', 'the certificate names a different principal than the registry binds it to', {
      ...fingerprint,
      certificateNames: claimed,
    });
  }
  // Refusals of a known principal name it, so that the audit journal can.
  const known = { ...fingerprint, principal: { kind, id } };
  if (entry.kind === 'person' || entry.kind === 'gateway') {
    assertActive((entry.kind === 'person' ? entry.person.status : entry.gateway.status) ?? 'active', `${entry.kind} ${id}`, known);
    if (institution.status !== 'active') {
      throw new GatewayError('ERR_IDENTITY_INSTITUTION_INACTIVE', `institution ${institution.id} of ${entry.kind} ${id} is ${institution.status}`, {
        ...known,
        institution: institution.id,
        status: institution.status,
      });
    }
  } else {
    assertActive(institution.status, `institution ${id}`, known);
  }
  return Object.freeze({
    kind,
    id,
    name: entry.kind === 'person' ? entry.person.name : entry.kind === 'gateway' ? entry.gateway.name : institution.legalName,
    role: entry.kind === 'person' ? entry.person.role : entry.kind === 'gateway' ? 'peer-gateway' : 'institution',
    institution,
    certificate: Object.freeze({ sha256: cert.sha256, subject: cert.subject, issuer: cert.issuer, serial: cert.serial, notAfter: cert.notAfter }),
    registryRevision: registry.revision,
  });
}

function assertActive(status: RegistryStatus, who: string, known: Record<string, unknown>): void {
  if (status === 'suspended') throw new GatewayError('ERR_IDENTITY_SUSPENDED', `${who} is suspended in the zone registry`, { ...known, status });
  if (status === 'revoked') throw new GatewayError('ERR_IDENTITY_REVOKED', `${who} is revoked in the zone registry`, { ...known, status });
}
