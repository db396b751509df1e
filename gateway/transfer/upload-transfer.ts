// Upload of a transfer's content: authorized → uploading → available (or quarantined), in one
// streaming pass. Only a clean end commits anything: the envelope body and its signed header are
// written under the transfer's keys, then the record says `available`. On any failure the pending
// object is deleted and the transfer returns to `authorized`, so the sender can upload again.
import type { Readable } from 'node:stream';
import type { JWK } from 'jose';
import { GatewayError } from '../errors.js';
import { createDetachedEnvelopeEncryptor, createEnvelopeEncryptor, type EnvelopeEncryptor, type FinishedEnvelope } from '../envelope/encrypt-envelope.js';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import { createInspector } from '../inspect/create-inspector.js';
import type { InspectionReport, InspectorOptions } from '../inspect/inspection-report.js';
import { judgeInspection } from '../inspect/judge-inspection.js';
import type { Party } from '../policy/decision-input.js';
import type { ObjectStore } from '../storage/object-store.js';
import { isStorageError } from '../storage/storage-errors.js';
import type { Caller } from './caller.js';
import { transition, type TransferRecord } from './transfer-record.js';
import type { BulkLane } from './bulk-lane.js';
import type { SealingThreads } from './sealing-threads.js';
import { createInspectionTap, runUploadPass } from './upload-pass.js';

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
  /** Large uploads are inspected, sealed and written here, off the event loop. */
  readonly sealingThreads?: SealingThreads;
}

/** How an upload finishes: inline (judged on what streamed past), or queued for these heavy stages. */
export type UploadRoute = { readonly queued: false } | { readonly queued: true; readonly stages: readonly ('inspect' | 'deliver')[] };

/** Header (framing prefix with the signed JWS) and body of a transfer's envelope. */
export function envelopeKeys(id: string): [header: string, body: string] {
  return [`envelopes/${id}.header`, `envelopes/${id}.body`];
}

/** The data key wrapped to the gateway's processing key (a JWE), kept only while stages are pending. */
export function processingWrapKey(id: string): string {
  return `envelopes/${id}.processing`;
}

type Save = (record: TransferRecord, change: { event: string; by: string }) => Promise<TransferRecord>;

export function createUploadHandler(deps: UploadDependencies) {
  return async function uploadTransfer(record: TransferRecord, caller: Caller, source: Readable, save: Save, route: UploadRoute): Promise<TransferRecord> {
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
    const inspectorOptions: InspectorOptions = {
      declared: {
        format: manifest.dataset.format,
        subjects: manifest.dataset.subjects,
        humanGeneticResources: manifest.dataset.humanGeneticResources,
        deidentification: manifest.dataset.deidentification,
        category: manifest.dataset.category,
      },
      // A queued transfer is inspected in full by a worker; the upload pass only samples it.
      mode: obligations.fullInspection && !route.queued ? 'full' : 'sampled',
    };
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
    const sealingThreads = large && deps.objects.createPendingFile ? deps.sealingThreads : undefined;
    const detached = sealingThreads ? createDetachedEnvelopeEncryptor(binding) : undefined;
    const onLoop = detached ? undefined : createEnvelopeEncryptor(binding);
    const encryptor = (detached ?? onLoop) as Pick<EnvelopeEncryptor, 'wrapEarly' | 'discard'>;
    // Wrapping the data key does not depend on the content: it runs while the upload goes on.
    encryptor.wrapEarly(wrapHolders);

    let started: TransferRecord;
    try {
      started = await save(transition(record, 'uploading', { at: deps.clock(), event: 'upload-started', by: caller.id }), { event: 'upload-started', by: caller.id });
    } catch (error) {
      encryptor.discard();
      throw error;
    }
    const fail = async (error: unknown): Promise<never> => {
      const code = error instanceof GatewayError ? error.code : 'ERR_INTERNAL';
      try {
        await save(transition(started, 'authorized', { at: deps.clock(), event: 'upload-failed', by: 'gateway', detail: { code } }), { event: 'upload-failed', by: 'gateway' });
      } catch (saveError) {
        // The disk could not take the record (reported with its path where it failed); the transfer
        // is `authorized` again all the same (record-store.ts), and the sender hears why the upload failed.
        if (!isStorageError(saveError)) throw saveError;
      }
      throw error;
    };
    const finishOptions = { ...wrapHolders, signer: deps.signer };
    // Bulk bytes (large or queued uploads) take their turns in the slow lane.
    const common = { source, declaredSize: manifest.dataset.sizeBytes, idleTimeoutMs: deps.uploadIdleTimeoutMs, ...((route.queued || large) && deps.bulkLane ? { lane: deps.bulkLane.gate() } : {}) };

    let pending: { commit(): Promise<{ size: number }>; abort(): Promise<void> } | undefined;
    let sealed: FinishedEnvelope;
    let report: InspectionReport;
    try {
      if (detached && sealingThreads && deps.objects.createPendingFile) {
        // Large: inspected, sealed and written in a sealing thread; the event loop only moves bytes.
        const file = await deps.objects.createPendingFile(bodyKey);
        pending = file;
        const sealing = sealingThreads.seal({ file: file.path, sealing: detached.sealing, inspector: inspectorOptions });
        await runUploadPass({ ...common, seal: [sealing.sink], abort: () => file.abort() });
        const sealedBody = await sealing.result;
        report = sealedBody.report;
        sealed = await detached.finish({ ...finishOptions, body: sealedBody.body });
      } else if (onLoop) {
        const inspector = createInspector(inspectorOptions);
        const target = await deps.objects.createPending(bodyKey);
        pending = target;
        await runUploadPass({ ...common, seal: [createInspectionTap((chunk) => inspector.write(chunk)), onLoop.body, target.stream], abort: () => target.abort() });
        sealed = await onLoop.finish(finishOptions);
        report = inspector.finish();
      } else {
        throw new GatewayError('ERR_INTERNAL', 'no envelope encryptor for the upload');
      }
      if (manifest.dataset.sha256 !== undefined && sealed.header.plaintext.sha256 !== manifest.dataset.sha256) {
        throw new GatewayError('ERR_TRANSFER_DIGEST_MISMATCH', 'the content does not have the declared SHA-256; nothing was kept', { declaredSha256: manifest.dataset.sha256 });
      }
    } catch (error) {
      encryptor.discard();
      await pending?.abort();
      return fail(error);
    }

    const verdict = judgeInspection(report, {
      format: manifest.dataset.format,
      subjects: manifest.dataset.subjects,
      humanGeneticResources: manifest.dataset.humanGeneticResources,
      deidentification: manifest.dataset.deidentification,
      category: manifest.dataset.category,
    });
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
      for (const key of [headerKey, bodyKey, processingWrapKey(record.id)]) await deps.objects.delete(key);
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
      return save(transition(started, 'quarantined', { at: deps.clock(), event: 'quarantined', by: 'gateway', detail: { reasons: verdict.reasons } }, { content, inspection }), { event: 'quarantined', by: caller.id });
    }
    if (route.queued) {
      const queued = transition(started, 'queued', { at: deps.clock(), event: 'queued', by: 'gateway', detail: { stages: route.stages } }, { content, inspection, pendingStages: route.stages });
      return save(queued, { event: 'queued', by: caller.id });
    }
    return save(transition(started, 'available', { at: deps.clock(), event: 'upload-completed', by: 'gateway', detail: { reasons: verdict.reasons } }, { content, inspection }), { event: 'upload-completed', by: caller.id });
  };
}
