// Upload of a transfer's content: authorized → uploading → available (or queued, or quarantined), in
// one streaming pass whatever the store: meter → sealer (inspect + encrypt, on the event loop or in a
// sealing thread) → the store's pending object. Only a clean end commits anything: the envelope body
// and its signed header are written under the transfer's keys, then the record says `available`. On
// any failure the pending object is deleted and the transfer returns to `authorized`, so the sender
// can upload again.
import type { Readable } from 'node:stream';
import type { JWK } from 'jose';
import { GatewayError } from '../errors.js';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import { declaredDataset, type InspectorOptions } from '../inspect/inspection-report.js';
import { judgeInspection } from '../inspect/judge-inspection.js';
import type { Party } from '../policy/decision-input.js';
import type { ObjectStore } from '../storage/object-store.js';
import { isStorageError } from '../storage/storage-errors.js';
import type { BulkLane } from './bulk-lane.js';
import { contentKeys, crypt4ghHeaderKey, envelopeKeys, processingWrapKey } from './envelope-objects.js';
import type { SealingThreads } from './sealing-threads.js';
import { GATEWAY_ACTOR, type TransferActor, type TransferChange } from './transfer-events.js';
import { transition, type TransferRecord } from './transfer-record.js';
import { createUploadSealer, type SealedContent } from './upload-sealer.js';
import { runUploadPass } from './upload-pass.js';
import type { Crypt4ghHolder } from '../crypt4gh/crypt4gh-binding.js';
import type { InspectionReport } from '../inspect/inspection-report.js';

/**
 * Uploads larger than this are bulk: they take the slow lane, are sealed in a sealing thread (when
 * there are any) and do not count as interactive requests. Below it, handing bytes to a thread
 * costs more than it frees.
 */
export const BULK_UPLOAD_BYTES = 1024 * 1024;

export interface UploadDependencies {
  readonly objects: ObjectStore;
  readonly signer: GatewaySigner;
  readonly lookupInstitution: (id: string) => Party | undefined;
  readonly clock: () => Date;
  readonly uploadIdleTimeoutMs: number;
  /** Public half of the gateway's processing key; queued transfers' data keys are also wrapped to it. */
  readonly processingPublicJwk?: JWK;
  /** Bulk (queued) uploads take their turns here so that small requests stay quick. */
  readonly bulkLane?: BulkLane;
  /** Large uploads are inspected and sealed here, off the event loop. */
  readonly sealingThreads?: SealingThreads;
  /**
   * Shared mode: the instance taking an upload holds a lease on the transfer, renewed while the bytes
   * stream, so that another instance can tell a dead upload (lease expired) from a slow one.
   */
  readonly uploadLease?: UploadLeasing;
}

export interface UploadLeasing {
  /** This instance, as lease holder. */
  readonly holder: string;
  /** How long a lease lasts unrenewed; it is renewed every third of that. */
  readonly durationMs: number;
  /** record-store.ts `renewLease`: false once the lease is lost (another instance swept it). */
  renew(id: string, holder: string, expiresAt: string): Promise<boolean>;
  /** A renewal that failed (database unreachable): the lease may expire if it goes on. */
  onRenewalError?(id: string, error: unknown): void;
}

/**
 * Renews `id`'s lease every third of its duration until stopped. When the lease is lost, `lost`
 * aborts with ERR_TRANSFER_CONFLICT: another instance took the transfer back, this upload must stop.
 */
function keepLease(leasing: UploadLeasing, id: string, clock: () => Date): { readonly lost: AbortSignal; stop(): void } {
  const lost = new AbortController();
  let renewing = false;
  const timer = setInterval(() => {
    if (renewing) return;
    renewing = true;
    leasing
      .renew(id, leasing.holder, new Date(clock().getTime() + leasing.durationMs).toISOString())
      .then(
        (held) => {
          if (!held) lost.abort(new GatewayError('ERR_TRANSFER_CONFLICT', `the upload of ${id} lost its lease (another instance returned the transfer to authorized); nothing was kept`));
        },
        (error: unknown) => leasing.onRenewalError?.(id, error),
      )
      .finally(() => (renewing = false));
  }, Math.max(1, Math.floor(leasing.durationMs / 3)));
  timer.unref();
  return { lost: lost.signal, stop: () => clearInterval(timer) };
}

/**
 * The holders' Crypt4GH keys, for a transfer stored as Crypt4GH.
 * @throws GatewayError ERR_TRANSFER_STATE when one has none any more (the registry changed since the transfer was authorized).
 */
function crypt4ghHoldersOf(holders: readonly { institution: string; role: 'recipient' | 'escrow'; crypt4ghPublicKey?: string | undefined }[]): Crypt4ghHolder[] {
  return holders.map(({ institution, role, crypt4ghPublicKey }) => {
    if (!crypt4ghPublicKey) throw new GatewayError('ERR_TRANSFER_STATE', `${institution} has no Crypt4GH key any more`, { holder: institution });
    return { institution, role, publicKey: crypt4ghPublicKey };
  });
}

/** How an upload finishes: inline (judged on what streamed past), or queued for these heavy stages. */
export type UploadRoute = { readonly queued: false } | { readonly queued: true; readonly stages: readonly ('inspect' | 'deliver')[] };

/** Saves the record and emits its change (transfer-service.ts). */
type Save = (record: TransferRecord, change: TransferChange, actor: TransferActor) => Promise<TransferRecord>;

export function createUploadHandler(deps: UploadDependencies) {
  return async function uploadTransfer(record: TransferRecord, actor: TransferActor, source: Readable, save: Save, route: UploadRoute): Promise<TransferRecord> {
    const [headerKey, bodyKey] = envelopeKeys(record.id);
    const { manifest, obligations } = record;
    // Checked before the transfer becomes `uploading`, so a refusal leaves it as it was.
    const holders = [
      { institution: record.recipient, role: 'recipient' as const },
      ...obligations.escrowTo.map((institution) => ({ institution, role: 'escrow' as const })),
    ].map((holder) => {
      const party = deps.lookupInstitution(holder.institution);
      if (!party?.encryptionKey || party.status !== 'active') {
        throw new GatewayError('ERR_TRANSFER_STATE', `${holder.institution} has no usable encryption key any more`, { holder: holder.institution });
      }
      return { ...holder, jwk: party.encryptionKey as Record<string, string>, crypt4ghPublicKey: party.crypt4ghPublicKey };
    });
    const crypt4gh = record.contentFormat === 'crypt4gh' ? crypt4ghHoldersOf(holders) : undefined;
    const declared = declaredDataset(manifest.dataset);
    const large = manifest.dataset.sizeBytes > BULK_UPLOAD_BYTES;
    const threaded = large && deps.sealingThreads !== undefined;
    // A large queued upload is inspected in full in its sealing thread, which has every byte in hand
    // anyway: its inspect stage then judges this report instead of decrypting the envelope and
    // inspecting it a second time. A small one is sealed on the event loop, which must stay free for
    // other requests: its full inspection stays with the worker, which needs the processing key.
    // Crypt4GH has no processing wrap: its uploads are always inspected in full in their pass.
    const fullInPass = crypt4gh ? true : obligations.fullInspection ? !route.queued || threaded : route.queued && threaded;
    const inspectorOptions: InspectorOptions = { declared, mode: fullInPass ? 'full' : 'sampled' };
    const needsProcessingKey = route.queued && route.stages.includes('inspect') && !fullInPass;
    if (needsProcessingKey && !deps.processingPublicJwk) throw new GatewayError('ERR_INTERNAL', 'queued uploads need the gateway processing key');
    const binding = {
      transferId: record.id,
      sender: record.sender,
      recipient: record.recipient,
      policyRevision: record.decision.policyRevision,
      decisionId: record.decision.decisionId,
    };
    const processingHolder = needsProcessingKey && deps.processingPublicJwk ? { institution: 'gateway', role: 'processing' as const, jwk: deps.processingPublicJwk } : undefined;
    const wrapHolders = { holders, ...(processingHolder ? { processingHolder } : {}) };

    const leasing = deps.uploadLease;
    const lease = leasing ? { holder: leasing.holder, expiresAt: new Date(deps.clock().getTime() + leasing.durationMs).toISOString() } : undefined;
    // Of two instances taking the same transfer, the conditional save lets one win (ERR_TRANSFER_CONFLICT for the other).
    const started = await save(transition(record, 'uploading', { at: deps.clock(), event: 'upload-started', by: actor.id }, lease ? { lease } : {}), 'upload-started', actor);
    const held = leasing ? keepLease(leasing, record.id, deps.clock) : undefined;
    const fail = async (error: unknown): Promise<never> => {
      held?.stop();
      const code = error instanceof GatewayError ? error.code : 'ERR_INTERNAL';
      try {
        await save(transition(started, 'authorized', { at: deps.clock(), event: 'upload-failed', by: 'gateway', detail: { code } }), 'upload-failed', GATEWAY_ACTOR);
      } catch (saveError) {
        // The disk could not take the record (reported with its path where it failed); the transfer
        // is `authorized` again all the same (file-record-store.ts), and the sender hears why the upload failed.
        // A conflict: another instance swept this upload's expired lease and returned the transfer already.
        if (!isStorageError(saveError) && !(saveError instanceof GatewayError && saveError.code === 'ERR_TRANSFER_CONFLICT')) throw saveError;
      }
      throw error;
    };
    const finishOptions = { ...wrapHolders, signer: deps.signer };
    // Bulk bytes (large or queued uploads) take their turns in the slow lane.
    const common = { source, declaredSize: manifest.dataset.sizeBytes, idleTimeoutMs: deps.uploadIdleTimeoutMs, ...((route.queued || large) && deps.bulkLane ? { lane: deps.bulkLane.gate() } : {}) };

    const sealer = createUploadSealer({ binding, holders: wrapHolders, inspector: inspectorOptions, ...(threaded && deps.sealingThreads ? { threads: deps.sealingThreads } : {}), ...(crypt4gh ? { crypt4gh } : {}) });
    // Shared mode: a write of this body left behind by an earlier attempt (its instance died, or the
    // store was down when it tried to abort) goes first; this upload holds the lease, nobody else
    // writes the key. One process alone (embedded) removes a crash's leftovers when it starts.
    const pending = await (leasing ? deps.objects.abortIncomplete(bodyKey) : Promise.resolve(0))
      .then(() => deps.objects.createPending(bodyKey))
      .catch((error: unknown) => {
        sealer.discard();
        return fail(error);
      });
    let sealed: SealedContent;
    let report: InspectionReport;
    try {
      await runUploadPass({ ...common, seal: [...sealer.stages, pending.stream], abort: () => pending.abort(), ...(held ? { cancel: held.lost } : {}) });
      ({ sealed, report } = await sealer.finish(finishOptions));
      if (manifest.dataset.sha256 !== undefined && sealed.plaintext.sha256 !== manifest.dataset.sha256) {
        throw new GatewayError('ERR_TRANSFER_DIGEST_MISMATCH', 'the content does not have the declared SHA-256; nothing was kept', { declaredSha256: manifest.dataset.sha256 });
      }
    } catch (error) {
      sealer.discard();
      await pending.abort();
      return fail(error);
    }

    const verdict = judgeInspection(report, declared);
    let size: number;
    try {
      // Independent writes, each durable on its own: waiting for their fsyncs one after another
      // would only add latency. Nothing points at them until the record says `available`.
      const processingWrap = sealed.processingWrap && verdict.outcome !== 'quarantine' ? Buffer.from(JSON.stringify(sealed.processingWrap)) : undefined;
      const [committed, ...others] = await Promise.allSettled([
        pending.commit(),
        deps.objects.put(headerKey, sealed.prefix),
        ...(processingWrap ? [deps.objects.put(processingWrapKey(record.id), processingWrap)] : []),
        ...(sealed.crypt4ghHeader ? [deps.objects.put(crypt4ghHeaderKey(record.id), sealed.crypt4ghHeader)] : []),
      ]);
      const failure = [committed, ...others].find((outcome) => outcome?.status === 'rejected');
      if (failure?.status === 'rejected') throw failure.reason;
      if (committed?.status !== 'fulfilled') throw new GatewayError('ERR_INTERNAL', 'the envelope body was not committed');
      ({ size } = committed.value);
    } catch (error) {
      await pending.abort();
      for (const key of contentKeys(record.id)) await deps.objects.delete(key);
      throw await fail(error);
    }
    // From here the outcome is one conditional save: if the lease was lost meanwhile, it conflicts.
    held?.stop();
    const content = {
      plaintextSize: sealed.plaintext.size,
      plaintextSha256: sealed.plaintext.sha256,
      envelopeSize: sealed.prefix.length + (sealed.crypt4ghHeader?.length ?? 0) + size,
      ...(sealed.crypt4ghHeader ? { crypt4ghSize: sealed.crypt4ghHeader.length + size } : {}),
      holders: holders.map(({ institution, role }) => ({ institution, role })),
    };
    const inspection = { ...report, mode: inspectorOptions.mode, outcome: verdict.outcome, reasons: verdict.reasons };
    const outcome =
      verdict.outcome === 'quarantine'
        ? { next: transition(started, 'quarantined', { at: deps.clock(), event: 'quarantined', by: 'gateway', detail: { reasons: verdict.reasons } }, { content, inspection }), change: 'quarantined' as const }
        : route.queued
          ? { next: transition(started, 'queued', { at: deps.clock(), event: 'queued', by: 'gateway', detail: { stages: route.stages } }, { content, inspection, pendingStages: route.stages }), change: 'queued' as const }
          : { next: transition(started, 'available', { at: deps.clock(), event: 'upload-completed', by: 'gateway', detail: { reasons: verdict.reasons } }, { content, inspection }), change: 'upload-completed' as const };
    try {
      return await save(outcome.next, outcome.change, actor);
    } catch (error) {
      // The lease was lost and the transfer returned to `authorized` by another instance: what this
      // upload committed belongs to no record; the sender's next upload starts clean.
      if (error instanceof GatewayError && error.code === 'ERR_TRANSFER_CONFLICT') {
        for (const key of contentKeys(record.id)) await deps.objects.delete(key).catch(() => undefined);
      }
      throw error;
    }
  };
}
