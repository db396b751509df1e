// The signed directory a gateway publishes to the gateway on the other side of the channel: the
// institutions of its registry with what a sender on the other side needs of them (ids, jurisdiction,
// zone, status, encryption keys), the registry revision they come from, signed with the gateway's
// signing key (a compact JWS, typ hetao-directory+jws). The peer verifies it with the signing key its
// own registry holds for this gateway, so a suspension on one side reaches the other with the next
// revision, and nothing the peer did not sign is ever taken for it.
import { createPublicKey } from 'node:crypto';
import { compactVerify } from 'jose';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import type { Registry } from '../identity/registry.js';

export const DIRECTORY_TYP = 'hetao-directory+jws';

export interface DirectoryInstitution {
  readonly id: string;
  readonly legalName: string;
  readonly jurisdiction: string;
  readonly zone: string;
  readonly status: string;
  readonly encryptionKey: Readonly<Record<string, string>>;
  readonly crypt4ghPublicKey?: string;
}

export interface SignedDirectoryPayload {
  /** The publishing gateway's audit log origin: names the gateway. */
  readonly origin: string;
  /** The registry revision the directory was made from (SHA-256 of the registry file). */
  readonly revision: string;
  readonly issuedAt: string;
  readonly institutions: readonly DirectoryInstitution[];
}

/** The directory of `registry`, signed. */
export async function signDirectory(registry: Registry, options: { readonly origin: string; readonly signer: GatewaySigner; readonly now: Date }): Promise<string> {
  const payload: SignedDirectoryPayload = {
    origin: options.origin,
    revision: registry.revision,
    issuedAt: options.now.toISOString(),
    institutions: [...registry.institutions.values()].map((institution) => ({
      id: institution.id,
      legalName: institution.legalName,
      jurisdiction: institution.jurisdiction,
      zone: institution.zone,
      status: institution.status,
      encryptionKey: institution.encryptionKey,
      ...(institution.crypt4ghPublicKey ? { crypt4ghPublicKey: institution.crypt4ghPublicKey } : {}),
    })),
  };
  return options.signer.sign(payload, { typ: DIRECTORY_TYP });
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Verifies a peer's directory with the Ed25519 key its registry entry gives, for the origin it names.
 * Returns the payload, or the reason it is refused.
 */
export async function verifyDirectory(jws: string, peer: { readonly logOrigin: string; readonly signingKey: object }): Promise<SignedDirectoryPayload | string> {
  let payload: unknown;
  try {
    const verified = await compactVerify(jws, createPublicKey({ key: peer.signingKey as never, format: 'jwk' }), { algorithms: ['EdDSA'] });
    if (verified.protectedHeader.typ !== DIRECTORY_TYP) return `the directory is typed ${String(verified.protectedHeader.typ)}, not ${DIRECTORY_TYP}`;
    payload = JSON.parse(new TextDecoder().decode(verified.payload));
  } catch (error) {
    return `the directory signature does not verify with the peer's key (${(error as Error).message})`;
  }
  if (!isObject(payload) || payload.origin !== peer.logOrigin) return `the directory is not the peer's (origin ${isObject(payload) ? String(payload.origin) : '?'})`;
  if (typeof payload.revision !== 'string' || typeof payload.issuedAt !== 'string' || !Array.isArray(payload.institutions)) return 'the directory lacks its revision, time or institutions';
  for (const institution of payload.institutions) {
    if (!isObject(institution) || typeof institution.id !== 'string' || typeof institution.status !== 'string' || !isObject(institution.encryptionKey)) return 'a directory institution lacks its id, status or encryption key';
  }
  return payload as unknown as SignedDirectoryPayload;
}
