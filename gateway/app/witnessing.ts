// Mutual supervision, assembled: this gateway witnesses each peer gateway's audit log (the witness
// answers POST /v1/witness/add-checkpoint) and sends its own checkpoints to each peer's witness every
// round, keeping the cosignatures. Both keep their state in the back-end of the mode (files, or
// PostgreSQL for every instance). A checkpoint that contradicts what this witness cosigned is
// refused, counted, journaled as an alert and shown on /readyz.
import { createPublicKey } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import type { AuditJournal } from '../audit/create-audit-journal.js';
import type { CosignedCheckpoint } from '../audit/export-range.js';
import type { GatewayConfig } from '../config.js';
import type { PushTls } from '../delivery/push-envelope.js';
import type { Registry } from '../identity/registry.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import type { ThreadPool } from '../threads/thread-pool.js';
import { createCheckpointSubmitter, type CheckpointSubmitter } from '../witness/checkpoint-submitter.js';
import type { Cosigner } from '../witness/cosignature.js';
import { openFileWitnessState } from '../witness/file-witness-state.js';
import { openPgWitnessState } from '../witness/pg-witness-state.js';
import { createTlogWitness, type TlogWitness, type WitnessConflict } from '../witness/tlog-witness.js';
import type { BackEnds } from './back-ends.js';

/** A witness exchange that takes longer is abandoned until the next round. */
const PEER_REQUEST_TIMEOUT_MS = 10_000;

export interface Witnessing {
  readonly witness: TlogWitness;
  readonly submitter: CheckpointSubmitter;
  /** Sends the newest checkpoint to every active peer now (a round also runs on its own timer). */
  submitRound(): Promise<void>;
  /** The newest checkpoint of this log each active peer cosigned, for exports. */
  cosignedCheckpoints(): Promise<readonly CosignedCheckpoint[]>;
  /** For /readyz: each peer's cosigned size and last outcome, and the conflicts seen. */
  readiness(): { ok: true; vkey: string; peers: Record<string, unknown>; conflicts: readonly (WitnessConflict & { at: string })[] };
  close(): Promise<void>;
}

export async function startWitnessing(deps: {
  readonly config: GatewayConfig;
  readonly backEnds: BackEnds;
  readonly threads: ThreadPool<'io'>;
  readonly registry: () => Registry;
  readonly journal: AuditJournal;
  readonly cosigner: Cosigner;
  /** The gateway's client identity (the same as for push delivery): peers know it from their registry. */
  readonly clientTls: PushTls;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
}): Promise<Witnessing> {
  const { config, registry, journal, metrics, logger } = deps;
  const state = deps.backEnds.database ? openPgWitnessState(deps.backEnds.database) : await openFileWitnessState({ dir: path.join(config.dataDir, 'witness'), threads: deps.threads });
  const conflicts: (WitnessConflict & { at: string })[] = [];

  const witness = createTlogWitness({
    state,
    cosigner: deps.cosigner,
    clock: () => new Date(),
    trustedLogs: (origin) => {
      const peer = registry().gatewayByLogOrigin(origin);
      if (!peer || (peer.status ?? 'active') !== 'active') return undefined;
      return { name: peer.logOrigin, publicKey: createPublicKey({ key: peer.signingKey, format: 'jwk' }) };
    },
    onConflict: (conflict) => {
      metrics.witnessConflicts.inc({ origin: conflict.origin, kind: conflict.kind });
      conflicts.push({ ...conflict, at: new Date().toISOString() });
      if (conflicts.length > 100) conflicts.shift();
      logger.error({ conflict }, 'a peer gateway presented a checkpoint that contradicts one this witness cosigned: refused');
      journal
        .append({ type: 'witness.conflict', actor: { kind: 'gateway', id: 'gateway' }, details: { ...conflict } })
        .catch((error: unknown) => logger.error({ err: error, conflict }, 'the witness conflict could not be journaled'));
    },
  });

  const agent = new Agent({ connect: { cert: deps.clientTls.cert, key: deps.clientTls.key, ca: [...deps.clientTls.ca] } });
  const submitter = createCheckpointSubmitter({
    log: journal,
    state,
    clock: () => new Date(),
    post: async (url, body) => {
      const response = await request(url, {
        dispatcher: agent,
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body,
        headersTimeout: PEER_REQUEST_TIMEOUT_MS,
        bodyTimeout: PEER_REQUEST_TIMEOUT_MS,
      });
      return { status: response.statusCode, text: await response.body.text() };
    },
  });

  let round: Promise<void> | undefined;
  const submitRound = (): Promise<void> => {
    // One round at a time: a slow peer does not pile rounds up.
    round ??= (async () => {
      for (const peer of registry().gateways.values()) {
        if ((peer.status ?? 'active') !== 'active') continue;
        const before = submitter.status()[peer.id]?.lastOutcome;
        const outcome = await submitter.submitTo(peer);
        if (outcome === 'cosigned' || outcome === 'refused' || outcome === 'unreachable') metrics.witnessSubmissions.inc({ peer: peer.id, outcome });
        // Said once when it starts failing and once when it recovers (the metric counts every round).
        const failing = (value: string | undefined): boolean => value === 'refused' || value === 'unreachable';
        if (failing(outcome) && outcome !== before) logger.warn({ peer: peer.id, error: submitter.status()[peer.id]?.lastError }, 'checkpoints cannot be cosigned by the peer gateway; they are sent again every round');
        if (!failing(outcome) && failing(before)) logger.info({ peer: peer.id }, 'the peer gateway cosigns checkpoints again');
      }
    })().finally(() => {
      round = undefined;
    });
    return round;
  };
  // Checkpoints come every HETAO_AUDIT_CHECKPOINT_INTERVAL_MS; a round at twice that rate sends each soon after.
  const timer = setInterval(() => void submitRound(), Math.max(100, Math.floor(config.auditCheckpointIntervalMs / 2)));
  timer.unref();

  return {
    witness,
    submitter,
    submitRound,
    async cosignedCheckpoints() {
      const cosigned: CosignedCheckpoint[] = [];
      for (const peer of registry().gateways.values()) {
        const kept = await submitter.cosignedBy(peer.id);
        if (kept) cosigned.push({ witness: peer.witnessName, treeSize: kept.treeSize, note: kept.checkpoint });
      }
      return cosigned;
    },
    readiness: () => ({ ok: true, vkey: deps.cosigner.vkey, peers: submitter.status(), conflicts: [...conflicts] }),
    async close() {
      clearInterval(timer);
      await round?.catch(() => undefined);
      await agent.close();
      await state.close();
    },
  };
}
