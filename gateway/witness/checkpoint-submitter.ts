// The log side of mutual supervision: this gateway's newest checkpoint (a C2SP signed note) goes to
// each peer gateway's witness (tlog-witness add-checkpoint) with a consistency proof from the size that
// peer cosigned last, and the peer's cosignature, once it verifies with the peer's key, is kept with the
// checkpoint. A peer that knows another size (409) is answered from that size; one that cannot be
// reached is tried again at the next round. The cosigned checkpoints are what exports carry.
import { createPublicKey } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { verifyCosignature } from './cosignature.js';
import type { WitnessedCheckpoint, WitnessState } from './witness-state.js';

/** A peer gateway's witness as this side needs it. */
export interface PeerWitness {
  readonly id: string;
  /** Its API base URL; the witness is at `<apiUrl>/v1/witness/add-checkpoint`. */
  readonly apiUrl: string;
  /** The key name on its cosignatures, and its Ed25519 public key (JWK). */
  readonly witnessName: string;
  readonly signingKey: { readonly kty: 'OKP'; readonly crv: 'Ed25519'; readonly x: string };
}

/** What a submission needs from the audit journal (create-audit-journal.ts's port). */
export interface SubmittedLog {
  latestCheckpoint(): Promise<{ readonly treeSize: number; readonly rootHash: string; readonly note?: string } | undefined>;
  proveConsistency(fromSize: number, toSize: number): Promise<{ readonly proof: readonly string[] }>;
}

/** One HTTP exchange with a peer: the status and the text of its answer. @throws on a network failure. */
export type PostText = (url: string, body: string) => Promise<{ readonly status: number; readonly text: string }>;

export type SubmissionOutcome = 'cosigned' | 'up-to-date' | 'refused' | 'unreachable' | 'no-checkpoint';

export interface PeerSubmissionStatus {
  /** The largest size of this log the peer has cosigned (as kept here). */
  readonly cosignedSize?: number;
  /** When the peer cosigned it (the cosignature's time). */
  readonly cosignedAt?: string;
  readonly lastOutcome?: SubmissionOutcome;
  readonly lastError?: string;
}

const COSIGNED_KEY = (peer: string): string => `cosigned-by:${peer}`;

export function createCheckpointSubmitter(deps: {
  readonly log: SubmittedLog;
  /** Where the cosigned checkpoints are kept (one record per peer, under `cosigned-by:<peer id>`). */
  readonly state: WitnessState;
  readonly post: PostText;
  readonly clock: () => Date;
}) {
  const status = new Map<string, PeerSubmissionStatus>();

  const bodyOf = (oldSize: number, proof: readonly string[], note: string): string => `old ${oldSize}\n${proof.map((hash) => `${hash}\n`).join('')}\n${note}`;

  async function exchange(peer: PeerWitness, oldSize: number, latest: { treeSize: number; note: string }): Promise<{ status: number; text: string }> {
    const proof = oldSize > 0 && oldSize < latest.treeSize ? (await deps.log.proveConsistency(oldSize, latest.treeSize)).proof : [];
    return deps.post(`${peer.apiUrl.replace(/\/+$/, '')}/v1/witness/add-checkpoint`, bodyOf(oldSize, proof, latest.note));
  }

  async function submit(peer: PeerWitness): Promise<SubmissionOutcome> {
    const latest = await deps.log.latestCheckpoint();
    if (!latest?.note) return 'no-checkpoint';
    const kept = await deps.state.get(COSIGNED_KEY(peer.id));
    if (kept && kept.treeSize >= latest.treeSize) return 'up-to-date';
    const note = latest.note;
    let answer = await exchange(peer, kept?.treeSize ?? 0, { treeSize: latest.treeSize, note });
    if (answer.status === 409) {
      // The peer cosigned another size than we kept (ours lost, or another instance submitted): go on from its.
      const known = Number(answer.text.trim());
      if (!Number.isSafeInteger(known) || known < 0 || known > latest.treeSize) throw new GatewayError('ERR_WITNESS_SIZE_CONFLICT', `peer ${peer.id} has cosigned size ${answer.text.trim()}, beyond this log`);
      answer = await exchange(peer, known, { treeSize: latest.treeSize, note });
    }
    if (answer.status !== 200) throw new GatewayError('ERR_WITNESS_REQUEST_INVALID', `peer ${peer.id} refused checkpoint ${latest.treeSize}: ${answer.status} ${answer.text.slice(0, 300)}`);
    const text = note.slice(0, note.indexOf('\n\n') + 1);
    const publicKey = createPublicKey({ key: peer.signingKey, format: 'jwk' });
    const lines = answer.text.split(/(?<=\n)/).filter((line) => line !== '');
    const valid = lines.filter((line) => typeof verifyCosignature(line, text, { name: peer.witnessName, publicKey }) !== 'string');
    if (valid.length === 0) throw new GatewayError('ERR_WITNESS_SIGNATURE_INVALID', `peer ${peer.id} answered no cosignature that verifies with its key ${peer.witnessName}`);
    const cosigned: WitnessedCheckpoint = {
      origin: COSIGNED_KEY(peer.id),
      treeSize: latest.treeSize,
      rootHash: latest.rootHash,
      checkpoint: `${note}${valid.join('')}`,
      cosignedAt: deps.clock().toISOString(),
    };
    // Another instance may have kept a newer one meanwhile: then that one stands.
    await deps.state.compareAndStore(COSIGNED_KEY(peer.id), kept?.treeSize ?? 0, cosigned);
    return 'cosigned';
  }

  return {
    /**
     * Sends the newest checkpoint to `peer` unless it cosigned it already; never rejects (the outcome
     * and any error are in `status()`).
     */
    async submitTo(peer: PeerWitness): Promise<SubmissionOutcome> {
      const previous = status.get(peer.id);
      let outcome: SubmissionOutcome;
      let lastError: string | undefined;
      try {
        outcome = await submit(peer);
      } catch (error) {
        outcome = error instanceof GatewayError ? 'refused' : 'unreachable';
        lastError = (error as Error).message;
      }
      const kept = await deps.state.get(COSIGNED_KEY(peer.id)).catch(() => undefined);
      status.set(peer.id, {
        ...(kept ? { cosignedSize: kept.treeSize, cosignedAt: kept.cosignedAt } : previous?.cosignedSize !== undefined ? { cosignedSize: previous.cosignedSize, ...(previous.cosignedAt ? { cosignedAt: previous.cosignedAt } : {}) } : {}),
        lastOutcome: outcome,
        ...(lastError ? { lastError } : {}),
      });
      return outcome;
    },
    /** The newest checkpoint of this log `peer` cosigned, with its cosignature lines. */
    cosignedBy(peer: string): Promise<WitnessedCheckpoint | undefined> {
      return deps.state.get(COSIGNED_KEY(peer));
    },
    status(): Readonly<Record<string, PeerSubmissionStatus>> {
      return Object.fromEntries(status);
    },
  };
}

export type CheckpointSubmitter = ReturnType<typeof createCheckpointSubmitter>;
