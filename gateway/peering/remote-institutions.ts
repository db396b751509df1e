// Institutions registered at a peer gateway, as this side knows them: from the peer's signed
// directory as last verified, only while the peer is active here. A lab names such an institution as
// a recipient like a local one; its party carries `servedBy`, the peer that serves it.
import type { Registry } from '../identity/registry.js';
import type { Party } from '../policy/decision-input.js';
import type { SignedDirectoryPayload } from './signed-directory.js';

export function remoteInstitutionOf(
  registry: Registry,
  directoryOf: (peer: string) => SignedDirectoryPayload | undefined,
  id: string,
  onlyPeer?: string,
): Party | undefined {
  for (const peer of registry.gateways.values()) {
    if ((peer.status ?? 'active') !== 'active' || (onlyPeer !== undefined && peer.id !== onlyPeer)) continue;
    const entry = directoryOf(peer.id)?.institutions.find((institution) => institution.id === id);
    if (entry) return { id: entry.id, jurisdiction: entry.jurisdiction, zone: entry.zone as Party['zone'], status: entry.status as Party['status'], encryptionKey: entry.encryptionKey, servedBy: peer.id };
  }
  return undefined;
}
