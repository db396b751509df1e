// Upload of a transfer's content: authorized → uploading → available (or queued, or quarantined), in
// one streaming pass whatever the store: meter → sealer (inspect + encrypt, on the event loop or in a
// sealing thread) → the store's pending object. Only a clean end commits anything: the envelope body
// and its signed header are written under the transfer's keys, then the record says `available`. On
// any failure the pending object is deleted and the transfer returns to `authorized`, so the sender
// can upload again.
import type { Stage } from '../queue/stage-queue.js';
import type { Readable } from 'node:stream';
import type { JWK } from 'jose';
import { GatewayError } from '../errors.js';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import { declaredDataset, type InspectorOptions } from '../inspect/inspection-report.js';
import { judgeInspection } from '../inspect/judge-inspection.js';
import type { Party } from '../policy/decision-input.js';
import type { ObjectStore, PendingObject } from '../storage/object-store.js';
import { isStorageError } from '../storage/storage-errors.js';
import type { BulkLane } from './bulk-lane.js';
import { contentKeys, crypt4ghHeaderKey, envelopeKeys, processingWrapKey } from './envelope-objects.js';
import type { SealingThreads } from './sealing-threads.js';
import { GATEWAY_ACTOR, type TransferActor, type TransferChange } from './transfer-events.js';
import { transition, type TransferRecord } from './transfer-record.js';
import { createUploadSealer, type SealedContent, type UploadSealer } from './upload-sealer.js';
import type { SealingMaterial } from './resume-ticket.js';
import type { EnvelopeEncryptorOptions, WrapHolders } from '../envelope/encrypt-envelope.js';
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
export type UploadRoute = { readonly queued: false } | { readonly queued: true; readonly stages: readonly Stage[] };

/** Saves the record and emits its change (transfer-service.ts). */
export type Save = (record: TransferRecord, change: TransferChange, actor: TransferActor) => Promise<TransferRecord>;

/** What an upload of `record` will do, decided before it starts: holders, format, inspection, sealing. */
export interface UploadPlan {
  readonly bodyKey: string;
  readonly headerKey: string;
  readonly holders: readonly { institution: string; role: 'recipient' | 'escrow'; jwk: Record<string, string>; crypt4ghPublicKey?: string | undefined }[];
  readonly crypt4gh: Crypt4ghHolder[] | undefined;
  readonly declared: ReturnType<typeof declaredDataset>;
  readonly inspectorOptions: InspectorOptions;
  readonly binding: EnvelopeEncryptorOptions;
  readonly wrapHolders: WrapHolders;
  readonly large: boolean;
  readonly threaded: boolean;
}

/**
 * Checked before the transfer becomes `uploading`, so a refusal leaves it as it was.
 * @throws GatewayError ERR_TRANSFER_STATE when a holder has no usable key any more; ERR_INTERNAL
 *   for a queued upload without the processing key.
 */
export function planUpload(deps: UploadDependencies, record: TransferRecord, route: UploadRoute): UploadPlan {
  const [headerKey, bodyKey] = envelopeKeys(record.id);
  const { manifest, obligations } = record;
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
  // A transfer across the channel always carries the means for the peer to inspect by its own rules
  // (forward-transfer.ts re-wraps this wrap to the peer's processing key), whatever this side did.
  const needsProcessingKey = route.queued && !crypt4gh && ((route.stages.includes('inspect') && !fullInPass) || route.stages.includes('forward'));
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
  return { bodyKey, headerKey, holders, crypt4gh, declared, inspectorOptions, binding, wrapHolders, large, threaded };
}

/** The sealer an upload of this plan streams through (resuming `resumed` key material when given). */
export function sealerFor(deps: UploadDependencies, plan: UploadPlan, resumed?: SealingMaterial): UploadSealer {
  return createUploadSealer({
    binding: plan.binding,
    holders: plan.wrapHolders,
    inspector: plan.inspectorOptions,
    ...(plan.threaded && deps.sealingThreads ? { threads: deps.sealingThreads } : {}),
    ...(plan.crypt4gh ? { crypt4gh: plan.crypt4gh } : {}),
    ...(resumed ? { resumed } : {}),
  });
}

/** Renews the upload's lease while it streams (shared mode), or does nothing. */
export function holdLease(deps: Pick<UploadDependencies, 'uploadLease' | 'clock'>, id: string): { readonly lost?: AbortSignal; stop(): void } {
  return deps.uploadLease ? keepLease(deps.uploadLease, id, deps.clock) : { stop: () => undefined };
}

/** A lease for this instance from now on, when uploads are leased. */
export function newLease(deps: Pick<UploadDependencies, 'uploadLease' | 'clock'>): { lease: { holder: string; expiresAt: string } } | Record<string, never> {
  const leasing = deps.uploadLease;
  return leasing ? { lease: { holder: leasing.holder, expiresAt: new Date(deps.clock().getTime() + leasing.durationMs).toISOString() } } : {};
}

/**
 * The transfer back to `authorized` after a failed upload. Resolves to 'taken' when the record moved
 * on meanwhile (another instance swept this upload's expired lease, or took it over): then what was
 * stored is no longer this upload's to remove.
 */
export async function resetAfterFailure(deps: UploadDependencies, started: TransferRecord, save: Save, error: unknown): Promise<'reset' | 'taken'> {
  const code = error instanceof GatewayError ? error.code : 'ERR_INTERNAL';
  try {
    await save(transition(started, 'authorized', { at: deps.clock(), event: 'upload-failed', by: 'gateway', detail: { code } }), 'upload-failed', GATEWAY_ACTOR);
  } catch (saveError) {
    if (saveError instanceof GatewayError && saveError.code === 'ERR_TRANSFER_CONFLICT') return 'taken';
    // The disk could not take the record (reported with its path where it failed); the transfer
    // is `authorized` again all the same (file-record-store.ts), and the sender hears why the upload failed.
    if (!isStorageError(saveError)) throw saveError;
  }
  return 'reset';
}

/** The transfer back to `authorized` after a failed upload; the failure is rethrown. */
export async function failUpload(deps: UploadDependencies, started: TransferRecord, save: Save, error: unknown): Promise<never> {
  await resetAfterFailure(deps, started, save, error);
  throw error;
}

/**
 * After the last byte: the sealer's totals checked against the manifest, the body committed with its
 * header (and the processing wrap, or the Crypt4GH header), and the record's outcome saved. On a
 * failure the content is removed and the transfer is `authorized` again.
 */
export async function concludeUpload(
  deps: UploadDependencies,
  input: { plan: UploadPlan; sealer: UploadSealer; body: PendingObject; started: TransferRecord; actor: TransferActor; save: Save; route: UploadRoute; lease: { stop(): void } },
): Promise<TransferRecord> {
  const { plan, sealer, body, started, actor, save, route } = input;
  const fail = (error: unknown): Promise<never> => {
    input.lease.stop();
    return failUpload(deps, started, save, error);
  };
  let sealed: SealedContent;
  let report: InspectionReport;
  try {
    ({ sealed, report } = await sealer.finish({ ...plan.wrapHolders, signer: deps.signer }));
    const declaredSha256 = started.manifest.dataset.sha256;
    if (declaredSha256 !== undefined && sealed.plaintext.sha256 !== declaredSha256) {
      throw new GatewayError('ERR_TRANSFER_DIGEST_MISMATCH', 'the content does not have the declared SHA-256; nothing was kept', { declaredSha256 });
    }
  } catch (error) {
    sealer.discard();
    await body.abort().catch(() => undefined); // a dead store's leftovers go with the next attempt (abortIncomplete)
    return fail(error);
  }

  const verdict = judgeInspection(report, plan.declared);
  let size: number;
  try {
    // Independent writes, each durable on its own: waiting for their fsyncs one after another
    // would only add latency. Nothing points at them until the record says `available`.
    const processingWrap = sealed.processingWrap && verdict.outcome !== 'quarantine' ? Buffer.from(JSON.stringify(sealed.processingWrap)) : undefined;
    const [committed, ...others] = await Promise.allSettled([
      body.commit(),
      deps.objects.put(plan.headerKey, sealed.prefix),
      ...(processingWrap ? [deps.objects.put(processingWrapKey(started.id), processingWrap)] : []),
      ...(sealed.crypt4ghHeader ? [deps.objects.put(crypt4ghHeaderKey(started.id), sealed.crypt4ghHeader)] : []),
    ]);
    const failure = [committed, ...others].find((outcome) => outcome?.status === 'rejected');
    if (failure?.status === 'rejected') throw failure.reason;
    if (committed?.status !== 'fulfilled') throw new GatewayError('ERR_INTERNAL', 'the envelope body was not committed');
    ({ size } = committed.value);
  } catch (error) {
    // The transfer is `authorized` again whatever the cleanup meets: a store that failed the commit
    // may fail these too (its leftovers go with the next attempt's abortIncomplete).
    await body.abort().catch(() => undefined);
    for (const key of contentKeys(started.id)) await deps.objects.delete(key).catch(() => undefined);
    throw await fail(error);
  }
  // From here the outcome is one conditional save: if the lease was lost meanwhile, it conflicts.
  input.lease.stop();
  const content = {
    plaintextSize: sealed.plaintext.size,
    plaintextSha256: sealed.plaintext.sha256,
    envelopeSize: sealed.prefix.length + (sealed.crypt4ghHeader?.length ?? 0) + size,
    ...(sealed.crypt4ghHeader ? { crypt4ghSize: sealed.crypt4ghHeader.length + size } : {}),
    holders: plan.holders.map(({ institution, role }) => ({ institution, role })),
  };
  const inspection = { ...report, mode: plan.inspectorOptions.mode, outcome: verdict.outcome, reasons: verdict.reasons };
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
      for (const key of contentKeys(started.id)) await deps.objects.delete(key).catch(() => undefined);
    }
    throw error;
  }
}

export function createUploadHandler(deps: UploadDependencies) {
  return async function uploadTransfer(record: TransferRecord, actor: TransferActor, source: Readable, save: Save, route: UploadRoute): Promise<TransferRecord> {
    const plan = planUpload(deps, record, route);
    const large = plan.large;
    // Of two instances taking the same transfer, the conditional save lets one win (ERR_TRANSFER_CONFLICT for the other).
    const started = await save(transition(record, 'uploading', { at: deps.clock(), event: 'upload-started', by: actor.id }, newLease(deps)), 'upload-started', actor);
    const held = holdLease(deps, record.id);
    const fail = (error: unknown): Promise<never> => {
      held.stop();
      return failUpload(deps, started, save, error);
    };
    // Bulk bytes (large or queued uploads) take their turns in the slow lane.
    const common = { source, declaredSize: record.manifest.dataset.sizeBytes, idleTimeoutMs: deps.uploadIdleTimeoutMs, ...((route.queued || large) && deps.bulkLane ? { lane: deps.bulkLane.gate() } : {}) };

    const sealer = sealerFor(deps, plan);
    // Shared mode: a write of this body left behind by an earlier attempt (its instance died, or the
    // store was down when it tried to abort) goes first; this upload holds the lease, nobody else
    // writes the key. One process alone (embedded) removes a crash's leftovers when it starts.
    const pending = await (deps.uploadLease ? deps.objects.abortIncomplete(plan.bodyKey) : Promise.resolve(0))
      .then(() => deps.objects.createPending(plan.bodyKey))
      .catch((error: unknown) => {
        sealer.discard();
        return fail(error);
      });
    try {
      await runUploadPass({ ...common, seal: [...sealer.stages, pending.stream], abort: () => pending.abort(), ...(held.lost ? { cancel: held.lost } : {}) });
    } catch (error) {
      sealer.discard();
      await pending.abort().catch(() => undefined); // as in concludeUpload: the reset does not wait on a dead store
      return fail(error);
    }
    return concludeUpload(deps, { plan, sealer, body: pending, started, actor, save, route, lease: held });
  };
}
