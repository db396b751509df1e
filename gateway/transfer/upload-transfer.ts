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
import { envelopeKeys, processingWrapKey, contentKeys } from './envelope-objects.js';
import type { SealingThreads } from './sealing-threads.js';
import { GATEWAY_ACTOR, type TransferActor, type TransferChange } from './transfer-events.js';
import { transition, type TransferRecord } from './transfer-record.js';
import { createUploadSealer } from './upload-sealer.js';
import { runUploadPass } from './upload-pass.js';
import type { FinishedEnvelope } from '../envelope/encrypt-envelope.js';
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
      return { ...holder, jwk: party.encryptionKey as Record<string, string> };
    });
    if (route.queued && !deps.processingPublicJwk) throw new GatewayError('ERR_INTERNAL', 'queued uploads need the gateway processing key');
    const declared = declaredDataset(manifest.dataset);
    // A queued transfer is inspected in full by a worker; the upload pass only samples it.
    const inspectorOptions: InspectorOptions = { declared, mode: obligations.fullInspection && !route.queued ? 'full' : 'sampled' };
    const binding = {
      transferId: record.id,
      sender: record.sender,
      recipient: record.recipient,
      policyRevision: record.decision.policyRevision,
      decisionId: record.decision.decisionId,
    };
    const processingHolder = route.queued && deps.processingPublicJwk ? { institution: 'gateway', role: 'processing' as const, jwk: deps.processingPublicJwk } : undefined;
    const wrapHolders = { holders, ...(processingHolder ? { processingHolder } : {}) };
    const large = manifest.dataset.sizeBytes > BULK_UPLOAD_BYTES;

    const started = await save(transition(record, 'uploading', { at: deps.clock(), event: 'upload-started', by: actor.id }), 'upload-started', actor);
    const fail = async (error: unknown): Promise<never> => {
      const code = error instanceof GatewayError ? error.code : 'ERR_INTERNAL';
      try {
        await save(transition(started, 'authorized', { at: deps.clock(), event: 'upload-failed', by: 'gateway', detail: { code } }), 'upload-failed', GATEWAY_ACTOR);
      } catch (saveError) {
        // The disk could not take the record (reported with its path where it failed); the transfer
        // is `authorized` again all the same (file-record-store.ts), and the sender hears why the upload failed.
        if (!isStorageError(saveError)) throw saveError;
      }
      throw error;
    };
    const finishOptions = { ...wrapHolders, signer: deps.signer };
    // Bulk bytes (large or queued uploads) take their turns in the slow lane.
    const common = { source, declaredSize: manifest.dataset.sizeBytes, idleTimeoutMs: deps.uploadIdleTimeoutMs, ...((route.queued || large) && deps.bulkLane ? { lane: deps.bulkLane.gate() } : {}) };

    const sealer = createUploadSealer({ binding, holders: wrapHolders, inspector: inspectorOptions, ...(large && deps.sealingThreads ? { threads: deps.sealingThreads } : {}) });
    const pending = await deps.objects.createPending(bodyKey).catch((error: unknown) => {
      sealer.discard();
      return fail(error);
    });
    let sealed: FinishedEnvelope;
    let report: InspectionReport;
    try {
      await runUploadPass({ ...common, seal: [...sealer.stages, pending.stream], abort: () => pending.abort() });
      ({ sealed, report } = await sealer.finish(finishOptions));
      if (manifest.dataset.sha256 !== undefined && sealed.header.plaintext.sha256 !== manifest.dataset.sha256) {
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
    const content = {
      plaintextSize: sealed.header.plaintext.size,
      plaintextSha256: sealed.header.plaintext.sha256,
      envelopeSize: sealed.prefix.length + size,
      holders: holders.map(({ institution, role }) => ({ institution, role })),
    };
    const inspection = { ...report, outcome: verdict.outcome, reasons: verdict.reasons };
    if (verdict.outcome === 'quarantine') {
      return save(transition(started, 'quarantined', { at: deps.clock(), event: 'quarantined', by: 'gateway', detail: { reasons: verdict.reasons } }, { content, inspection }), 'quarantined', actor);
    }
    if (route.queued) {
      const queued = transition(started, 'queued', { at: deps.clock(), event: 'queued', by: 'gateway', detail: { stages: route.stages } }, { content, inspection, pendingStages: route.stages });
      return save(queued, 'queued', actor);
    }
    return save(transition(started, 'available', { at: deps.clock(), event: 'upload-completed', by: 'gateway', detail: { reasons: verdict.reasons } }, { content, inspection }), 'upload-completed', actor);
  };
}
