// This side's view of each peer gateway's signed directory: fetched from the peer
// (GET <apiUrl>/v1/peering/directory), verified with the key this side's registry holds for it, and
// kept while it verifies; a directory that does not verify, or is older than the one held, never
// replaces it. What a lab will name as a remote recipient comes from here.
import type { PeerGateway } from '../identity/registry.js';
import { verifyDirectory, type SignedDirectoryPayload } from './signed-directory.js';

/** One GET to a peer: its status and text. @throws on a network failure. */
export type GetText = (url: string) => Promise<{ readonly status: number; readonly text: string }>;

export interface PeerDirectoryStatus {
  readonly revision?: string;
  readonly issuedAt?: string;
  readonly institutions?: number;
  /** Institutions of the peer that are not active (suspended or revoked): what a sender here must not name. */
  readonly inactive?: readonly string[];
  readonly lastError?: string;
}

export function createPeerDirectories(deps: { readonly get: GetText }) {
  const held = new Map<string, SignedDirectoryPayload>();
  const errors = new Map<string, string>();

  return {
    /** Fetches and verifies `peer`'s directory; never rejects (the error is in `status()`). */
    async refresh(peer: PeerGateway): Promise<void> {
      try {
        const answer = await deps.get(`${peer.apiUrl.replace(/\/+$/, '')}/v1/peering/directory`);
        if (answer.status !== 200) throw new Error(`the peer answered ${answer.status}: ${answer.text.slice(0, 200)}`);
        const { jws } = JSON.parse(answer.text) as { jws?: unknown };
        const verified = await verifyDirectory(String(jws), peer);
        if (typeof verified === 'string') throw new Error(verified);
        const current = held.get(peer.id);
        // A replayed older directory (a suspension undone) is refused.
        if (current && verified.issuedAt < current.issuedAt) throw new Error(`the directory of ${verified.issuedAt} is older than the one held (${current.issuedAt})`);
        held.set(peer.id, verified);
        errors.delete(peer.id);
      } catch (error) {
        errors.set(peer.id, (error as Error).message);
      }
    },
    /** The peer's directory as last verified. */
    of(peer: string): SignedDirectoryPayload | undefined {
      return held.get(peer);
    },
    status(): Readonly<Record<string, PeerDirectoryStatus>> {
      const peers = new Set([...held.keys(), ...errors.keys()]);
      return Object.fromEntries(
        [...peers].map((peer) => {
          const directory = held.get(peer);
          const error = errors.get(peer);
          const inactive = directory?.institutions.filter((institution) => institution.status !== 'active').map((institution) => institution.id);
          return [peer, { ...(directory ? { revision: directory.revision, issuedAt: directory.issuedAt, institutions: directory.institutions.length, inactive } : {}), ...(error ? { lastError: error } : {}) }];
        }),
      );
    },
  };
}

export type PeerDirectories = ReturnType<typeof createPeerDirectories>;
