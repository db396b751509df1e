// The transfer service: the state machine's operations, each checking who may do what. Routes
// translate HTTP to these calls; the stage coordinator calls the queue's. Every operation saves the
// record (durably, through the RecordStore port) and emits its domain event before it returns: the
// journal's entry for it is written before the API answers (transfer-events.ts).
import { randomBytes, type KeyObject } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import { requireRole } from '../identity/require-role.js';
import { recipientCountingUsPersons, twelveMonthsBefore } from '../policy/carried-window.js';
import type { Party } from '../policy/decision-input.js';
import { decideTransfer } from '../policy/decide-transfer.js';
import type { PolicySet } from '../policy/load-policy-set.js';
import type { UsPersonCounts } from '../policy/manifest.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { Caller } from './caller.js';
import { downloadStream } from './download-stream.js';
import { contentKeys, envelopeKeys, processingWrapKey } from './envelope-objects.js';
import type { RecordPage, RecordStore } from './record-store.js';
import { actorOf, GATEWAY_ACTOR, type TransferActor, type TransferChange, type TransferEvents } from './transfer-events.js';
import { authorizedRecord, contentIsAvailable, PAUSED_UPLOAD_HOLDER, recordEvent, transition, type TransferRecord, type TransferStatus } from './transfer-record.js';
import type { StageResult } from './stage-results.js';
import type { Stage } from '../queue/stage-queue.js';
import { createUploadHandler, type UploadDependencies, type UploadRoute } from './upload-transfer.js';
import { chooseContentFormat } from './content-format.js';
import { createRecordChanges, type RecordChanges } from './record-changes.js';
import { startResumablePass, type ResumablePass } from './resumable-pass.js';
import { leadingBytesOf, type DownloadForm } from './stored-content.js';

export interface TransferServiceDependencies extends UploadDependencies {
  /** Opens resumable uploads' resume tickets (resumable-pass.ts); without it an upload resumes only in the process that began it. */
  readonly processingPrivateKey?: KeyObject;
  /** Resumable uploads checkpoint every this many bytes (default 64 MiB). */
  readonly uploadCheckpointBytes?: number;
  /** Told when a resumable upload resumed from stored bytes (resumable-pass.ts). */
  readonly onUploadResumed?: (resumed: { transferId: string; replayedBytes: number; replayMs: number }) => void;
  readonly records: RecordStore;
  /** Where every change, download and refusal is announced; the journal subscribes within it. */
  readonly events: TransferEvents;
  /** Where changes are saved and announced, shared with the other writers of records (default: one over records and events). */
  readonly changes?: RecordChanges;
  readonly objects: ObjectStore;
  readonly policies: () => PolicySet;
  readonly lookupInstitution: (id: string) => Party | undefined;
  readonly clock: () => Date;
  /** Where uploads go: see `routeOf`. Absent = everything inline (unit tests of the inline path). */
  readonly queueing?: {
    readonly thresholdBytes: number;
    /** Whether a queued upload may start now (Redis reachable); checked before any byte is read. */
    readonly available: () => boolean;
    /** Seconds a refused caller should wait before trying again. */
    readonly retryAfterSeconds: number;
  };
}

/** Time-ordered ids: lists sort by id, newest first. */
export function newTransferId(now: Date): string {
  return `tr-${now.getTime().toString(36).padStart(9, '0')}-${randomBytes(8).toString('hex')}`;
}

/** An upload in progress finishes (or fails) first; finished states have nothing left to expire. */
const EXPIRABLE: readonly TransferStatus[] = ['authorized', 'available', 'delivered', 'received', 'quarantined'];

export function createTransferService(deps: TransferServiceDependencies) {
  /** Operations that may still save a record and emit its event: a stop waits for them (`settled`). */
  const running = new Set<Promise<unknown>>();
  const tracked = <T>(work: Promise<T>): Promise<T> => {
    running.add(work);
    void work.then(
      () => running.delete(work),
      () => running.delete(work),
    );
    return work;
  };
  const locks = new Map<string, Promise<unknown>>();
  /** Operations on one transfer run one at a time; different transfers run in parallel. */
  const exclusive = async <T>(id: string, work: () => Promise<T>): Promise<T> => {
    const previous = locks.get(id) ?? Promise.resolve();
    const run = tracked(previous.then(work, work));
    const settled = run.catch(() => undefined);
    locks.set(id, settled);
    try {
      return await run;
    } finally {
      if (locks.get(id) === settled) locks.delete(id);
    }
  };

  /** The record as stored (with its new revision) is what is announced and handed on. */
  const changes = deps.changes ?? createRecordChanges(deps);
  const save = (record: TransferRecord, change: TransferChange, actor: TransferActor): Promise<TransferRecord> => changes.save(record, change, actor);

  const find = async (id: string): Promise<TransferRecord> => {
    const record = await deps.records.get(id);
    if (!record) throw new GatewayError('ERR_TRANSFER_NOT_FOUND', `no transfer ${id}`);
    return record;
  };

  const holdersOf = (record: TransferRecord): string[] => [record.recipient, ...record.obligations.escrowTo];

  const canRead = (record: TransferRecord, caller: Caller): boolean =>
    caller.role === 'regulator' || caller.institution === record.sender || caller.institution === record.recipient || record.obligations.escrowTo.includes(caller.institution);

  /** A record the caller is a party to (sender, recipient, escrow holder) or supervises (regulator). */
  const visible = async (id: string, caller: Caller): Promise<TransferRecord> => {
    const record = await find(id);
    if (!canRead(record, caller)) throw new GatewayError('ERR_TRANSFER_FORBIDDEN', `${caller.institution} is not a party to transfer ${id}`);
    return record;
  };

  const requireInstitution = (caller: Caller, institution: string, action: string): void => {
    if (caller.role !== 'institution' || caller.institution !== institution) {
      throw new GatewayError('ERR_TRANSFER_FORBIDDEN', `only ${institution}'s lab system may ${action} this transfer`);
    }
  };

  const removeContent = async (id: string): Promise<void> => {
    for (const key of contentKeys(id)) await deps.objects.delete(key);
  };

  const upload = createUploadHandler(deps);

  /**
   * Large transfers, and those whose obligations or recipient need heavy work (full inspection, push
   * delivery), take the queued path; the rest finish inline.
   */
  const routeOf = (record: TransferRecord): UploadRoute => {
    if (!deps.queueing) return { queued: false };
    // Across the channel, the envelope waits at this side until the peer takes it: always through the queue.
    if (record.peer?.direction === 'outbound') return { queued: true, stages: ['inspect', 'forward'] };
    const push = deps.lookupInstitution(record.recipient)?.pushEndpoint !== undefined;
    const heavy = record.manifest.dataset.sizeBytes > deps.queueing.thresholdBytes || record.obligations.fullInspection || push;
    return heavy ? { queued: true, stages: push ? ['inspect', 'deliver'] : ['inspect'] } : { queued: false };
  };

  /** @throws GatewayError ERR_QUEUE_UNAVAILABLE for a queued upload while the queue is unreachable (before any byte is read). */
  const refuseWhileQueueDown = (route: UploadRoute): void => {
    if (route.queued && !deps.queueing?.available()) {
      throw new GatewayError('ERR_QUEUE_UNAVAILABLE', 'large and heavy transfers go through the work queue, which is unreachable right now; nothing was read — try again later', {
        retryAfterSeconds: deps.queueing?.retryAfterSeconds ?? 30,
      });
    }
  };

  /** Stage `stage` is the next one pending on `record`. */
  const isNextStage = (record: TransferRecord, stage: Stage): boolean => record.pendingStages?.[0] === stage;

  const createTransfer = async (caller: Caller, manifestBody: unknown): Promise<TransferRecord> => {
    if (caller.role !== 'institution') throw new GatewayError('ERR_TRANSFER_FORBIDDEN', 'transfers are sent by institutions (lab systems), not by people');
    const sender = deps.lookupInstitution(caller.institution);
    if (!sender) throw new GatewayError('ERR_IDENTITY_NOT_REGISTERED', `${caller.institution} is not registered`);
    // A manifest that counts US persons is decided on what the pair carried in the 12 months before
    // (28 CFR 202.205), read and followed by this record's save under the pair's lock: two transfers
    // of one pair cannot both be decided on a sum that leaves the other out.
    const recipientId = recipientCountingUsPersons(manifestBody);
    if (recipientId === undefined) return decideAndRecord(caller, sender, manifestBody, deps.clock(), undefined);
    return deps.records.withPairLock(sender.id, recipientId, async () => {
      const now = deps.clock();
      const prior = await deps.records.usPersonsCarried(sender.id, recipientId, twelveMonthsBefore(now).toISOString());
      return decideAndRecord(caller, sender, manifestBody, now, prior);
    });
  };

  const decideAndRecord = async (caller: Caller, sender: Party, manifestBody: unknown, now: Date, priorUsPersons12m: UsPersonCounts | undefined): Promise<TransferRecord> => {
    const { manifest, decision } = decideTransfer(deps.policies(), {
      sender,
      manifest: manifestBody,
      at: now,
      lookupInstitution: deps.lookupInstitution,
      ...(priorUsPersons12m ? { priorUsPersons12m } : {}),
    });
    if (decision.effect === 'deny') {
      await deps.events.emit({ type: 'refused', decision, manifest, actor: actorOf(caller) });
      throw new GatewayError('ERR_POLICY_DENIED', 'the transfer is denied by policy', {
        decisionId: decision.decisionId,
        policyRevision: decision.policyRevision,
        reasons: decision.reasons,
      });
    }
    const recipient = deps.lookupInstitution(manifest.recipient);
    const contentFormat = chooseContentFormat(
      manifest,
      [manifest.recipient, ...decision.obligations.escrowTo].map((holder) => ({ id: holder, party: deps.lookupInstitution(holder) })),
    );
    const record = authorizedRecord({
      id: newTransferId(now),
      sender: sender.id,
      manifest,
      decision,
      at: now,
      by: caller.id,
      ...(contentFormat === 'crypt4gh' ? { contentFormat } : {}),
      ...(recipient?.servedBy ? { peer: { gateway: recipient.servedBy, direction: 'outbound' as const } } : {}),
    });
    return save(record, 'authorized', actorOf(caller));
  };

  /** The peer gateway took the envelope (`delivered`, until its receipt comes back) or refused it by its own rules. */
  const applyForwardResult = async (record: TransferRecord, result: Extract<StageResult, { stage: 'forward' }>, rest: readonly Stage[], at: Date): Promise<TransferRecord> => {
    const peer = record.peer ?? { gateway: 'unknown', direction: 'outbound' as const };
    await deps.objects.delete(processingWrapKey(record.id));
    if (result.outcome === 'refused') {
      await removeContent(record.id);
      const detail = { peer: peer.gateway, ...result.refusal };
      return save(transition(record, 'refused-by-peer', { at, event: 'refused-by-peer', by: 'gateway', detail }, { pendingStages: [], peer: { ...peer, refusal: result.refusal } }), 'refused-by-peer', GATEWAY_ACTOR);
    }
    const detail = { peer: peer.gateway, envelopeSha256: result.delivery.envelopeSha256, duplicate: result.delivery.duplicate };
    if (record.status !== 'available') return save(recordEvent(record, { at, event: 'forwarded', by: 'gateway', detail }, { pendingStages: rest }), 'forwarded', GATEWAY_ACTOR);
    return save(transition(record, 'delivered', { at, event: 'forwarded', by: 'gateway', detail }, { delivery: result.delivery, pendingStages: rest }), 'forwarded', GATEWAY_ACTOR);
  };

  return {
    /**
     * Decides a manifest for the calling institution and, if allowed, records the transfer.
     * @throws GatewayError ERR_POLICY_DENIED (with decision id and reasons), ERR_MANIFEST_INVALID
     */
    create(caller: Caller, manifestBody: unknown): Promise<TransferRecord> {
      return tracked(createTransfer(caller, manifestBody));
    },

    /**
     * Resolves once the operations running now have finished: a stop waits for it before it closes
     * the journal, so a change cut short by the stop (an upload whose connection was closed) is still
     * saved and journaled. One pass, not until none runs: stages still start operations during a stop,
     * and ones that finish within a microtask kept a loop over them spinning without end.
     */
    async settled(): Promise<void> {
      await Promise.allSettled([...running]);
    },


    /** Streams the content in; see upload-transfer.ts. */
    upload(id: string, caller: Caller, source: Readable): Promise<TransferRecord> {
      return exclusive(id, async () => {
        const record = await find(id);
        requireInstitution(caller, record.sender, 'upload to');
        const route = routeOf(record);
        if (record.status === 'authorized') refuseWhileQueueDown(route);
        return upload(record, actorOf(caller), source, save, route);
      });
    },

    /**
     * Starts or resumes the resumable (tus) upload of transfer `id` (see resumable-pass.ts). The
     * transfer stays locked in this process until the pass is done, released or failed.
     * @throws GatewayError those of startResumablePass, ERR_TRANSFER_NOT_FOUND, ERR_TRANSFER_FORBIDDEN, ERR_QUEUE_UNAVAILABLE
     */
    startResumable(id: string, caller: Caller): Promise<ResumablePass> {
      let handOver!: (pass: ResumablePass) => void;
      let refuse!: (error: unknown) => void;
      const handed = new Promise<ResumablePass>((resolve, reject) => ((handOver = resolve), (refuse = reject)));
      exclusive(id, async () => {
        const record = await find(id);
        requireInstitution(caller, record.sender, 'upload to');
        const route = routeOf(record);
        if (record.status === 'authorized') refuseWhileQueueDown(route);
        const pass = await startResumablePass({ ...deps, saveProgress: (next) => deps.records.save(next), checkpointBytes: deps.uploadCheckpointBytes ?? 64 * 1024 * 1024, ...(deps.onUploadResumed ? { onResumed: deps.onUploadResumed } : {}) }, record, actorOf(caller), save, route);
        handOver(pass);
        return pass.done;
      }).catch(refuse); // once handed over, the pass reports its own end
      return handed;
    },

    /**
     * Ends a paused resumable upload that no instance is streaming (tus termination of an upload
     * begun elsewhere or before a restart): its stored bytes are removed, the transfer is `authorized`.
     * @throws GatewayError ERR_UPLOAD_NOT_FOUND (no paused upload), ERR_TRANSFER_CONFLICT (another instance streams it), ERR_TRANSFER_FORBIDDEN
     */
    endPausedUpload(id: string, caller: Caller): Promise<void> {
      return exclusive(id, async () => {
        const record = await find(id);
        requireInstitution(caller, record.sender, 'end the upload of');
        if (record.status !== 'uploading' || !record.resumable) throw new GatewayError('ERR_UPLOAD_NOT_FOUND', `no paused upload of transfer ${id}`);
        if (record.lease && record.lease.holder !== PAUSED_UPLOAD_HOLDER && Date.parse(record.lease.expiresAt) > deps.clock().getTime()) {
          throw new GatewayError('ERR_TRANSFER_CONFLICT', `the upload of ${id} is being written through another gateway instance`);
        }
        await deps.objects.abortIncomplete(envelopeKeys(id)[1]);
        await save(transition(record, 'authorized', { at: deps.clock(), event: 'upload-failed', by: caller.id, detail: { code: 'terminated' } }), 'upload-failed', actorOf(caller));
      });
    },

    /**
     * The refusals of an upload that are known before its first byte (the HTTP layer answers them
     * instead of `100 Continue`, and without reading the body): `upload` would refuse the same.
     * @param announcedBytes the request's Content-Length, when it has one.
     * @throws GatewayError ERR_TRANSFER_NOT_FOUND, ERR_TRANSFER_FORBIDDEN, ERR_TRANSFER_STATE,
     *   ERR_TRANSFER_SIZE_MISMATCH, ERR_QUEUE_UNAVAILABLE
     */
    async checkUpload(id: string, caller: Caller, announcedBytes: number | undefined): Promise<void> {
      const record = await find(id);
      requireInstitution(caller, record.sender, 'upload to');
      // An upload in progress holds the transfer's lock: a second one would wait for it, then fail.
      if (record.status !== 'authorized') throw new GatewayError('ERR_TRANSFER_STATE', `transfer ${id} is ${record.status}, not waiting for its content`, { status: record.status });
      const declaredSize = record.manifest.dataset.sizeBytes;
      if (announcedBytes !== undefined && announcedBytes !== declaredSize) {
        throw new GatewayError('ERR_TRANSFER_SIZE_MISMATCH', `the request announces ${announcedBytes} bytes, the manifest declared ${declaredSize}; nothing was read`, {
          declaredSize,
          announcedSize: announcedBytes,
        });
      }
      refuseWhileQueueDown(routeOf(record));
    },

    get(id: string, caller: Caller): Promise<TransferRecord> {
      return visible(id, caller);
    },

    /**
     * The calling institution's transfers, as sender or recipient, newest first.
     * @throws GatewayError ERR_IDENTITY_ROLE_FORBIDDEN for people: officers, admins and regulators have no transfers of their own
     */
    list(caller: Caller, query: { as: 'sender' | 'recipient'; status?: TransferStatus; after?: string; limit: number }): Promise<RecordPage> {
      requireRole(caller, ['institution'], 'the transfer list');
      return deps.records.list({ party: caller.institution, ...query });
    },

    /**
     * The envelope of an available transfer, for its recipient and escrow holders.
     * @throws GatewayError ERR_TRANSFER_FORBIDDEN, ERR_TRANSFER_STATE, ERR_TRANSFER_RANGE_INVALID
     */
    async openDownload(id: string, caller: Caller, range?: { start: number; end?: number }, form: DownloadForm = 'hetao-envelope') {
      const record = await visible(id, caller);
      if (!holdersOf(record).includes(caller.institution)) throw new GatewayError('ERR_TRANSFER_FORBIDDEN', 'only the recipient and escrow holders may download the content');
      if (!contentIsAvailable(record.status) || !record.content) throw new GatewayError('ERR_TRANSFER_STATE', `transfer ${id} is ${record.status}`, { status: record.status });
      const bodyKey = envelopeKeys(id)[1];
      const prefix = await leadingBytesOf(deps.objects, record, form);
      const body = await deps.objects.stat(bodyKey);
      if (!prefix || !body) throw new GatewayError('ERR_INTERNAL', `content of ${id} is missing`);
      const total = prefix.length + body.size;
      const start = range?.start ?? 0;
      const end = Math.min(range?.end ?? total - 1, total - 1);
      if (start > end || start >= total) throw new GatewayError('ERR_TRANSFER_RANGE_INVALID', `range ${start}-${range?.end ?? ''} is outside 0-${total - 1}`, { size: total });
      await tracked(deps.events.emit({ type: 'downloaded', record, actor: actorOf(caller), range: { start, end } }));
      return {
        total,
        start,
        end,
        partial: range !== undefined,
        stream: downloadStream(
          prefix.subarray(Math.min(start, prefix.length), Math.min(end + 1, prefix.length)),
          end >= prefix.length ? deps.objects.read(bodyKey, { start: Math.max(start - prefix.length, 0), end: end - prefix.length }) : undefined,
        ),
      };
    },

    /** The recipient confirms what it decrypted. A mismatch is recorded and refused. */
    receipt(id: string, caller: Caller, sha256: string): Promise<TransferRecord> {
      return exclusive(id, async () => {
        const record = await visible(id, caller);
        requireInstitution(caller, record.recipient, 'confirm receipt of');
        if (!contentIsAvailable(record.status) || !record.content) throw new GatewayError('ERR_TRANSFER_STATE', `transfer ${id} is ${record.status}`, { status: record.status });
        const at = deps.clock();
        const matches = sha256 === record.content.plaintextSha256;
        const receipts = [...record.receipts, { at: at.toISOString(), by: caller.id, sha256, matches }];
        if (!matches) {
          await save(recordEvent(record, { at, event: 'receipt-mismatch', by: caller.id, detail: { sha256 } }, { receipts }), 'receipt-mismatch', actorOf(caller));
          throw new GatewayError('ERR_TRANSFER_RECEIPT_MISMATCH', 'the receipt digest differs from the SHA-256 of the content sent', { expectedLength: 64 });
        }
        return save(transition(record, 'received', { at, event: 'received', by: caller.id, detail: { sha256 } }, { receipts }), 'received', actorOf(caller));
      });
    },

    /** The sender withdraws a transfer before receipt; its content is deleted. */
    cancel(id: string, caller: Caller): Promise<TransferRecord> {
      return exclusive(id, async () => {
        const record = await visible(id, caller);
        requireInstitution(caller, record.sender, 'cancel');
        const cancelled = transition(record, 'cancelled', { at: deps.clock(), event: 'cancelled', by: caller.id }, { pendingStages: [] });
        await removeContent(id);
        return save(cancelled, 'cancelled', actorOf(caller));
      });
    },

    /** A worker started the inspect stage: queued → processing (once; a restarted job changes nothing). */
    markProcessing(id: string): Promise<TransferRecord | undefined> {
      return exclusive(id, async () => {
        const record = await deps.records.get(id);
        if (!record || record.status !== 'queued' || !isNextStage(record, 'inspect')) return record;
        return save(transition(record, 'processing', { at: deps.clock(), event: 'processing-started', by: 'gateway' }), 'processing-started', GATEWAY_ACTOR);
      });
    },

    /**
     * Applies what a worker found. Returns the record, whose `pendingStages[0]` is the next stage to
     * enqueue; a result for a stage that is not pending any more (cancelled, applied) changes nothing.
     */
    applyStageResult(id: string, result: StageResult): Promise<TransferRecord | undefined> {
      return exclusive(id, async () => {
        const record = await deps.records.get(id);
        if (!record || !isNextStage(record, result.stage)) return record;
        const at = deps.clock();
        const rest = (record.pendingStages ?? []).slice(1);
        if (result.stage === 'inspect') {
          // A transfer across the channel keeps its processing wrap until it is forwarded (forward-transfer.ts re-wraps it for the peer).
          if (!rest.includes('forward')) await deps.objects.delete(processingWrapKey(id));
          const inspection = { ...(record.inspection ?? {}), full: result.inspection };
          if (result.outcome === 'quarantine') {
            return save(transition(record, 'quarantined', { at, event: 'quarantined', by: 'gateway', detail: { reasons: result.reasons, stage: 'inspect' } }, { inspection, pendingStages: [] }), 'quarantined', GATEWAY_ACTOR);
          }
          return save(transition(record, 'available', { at, event: 'processing-completed', by: 'gateway', detail: { reasons: result.reasons } }, { inspection, pendingStages: rest }), 'processing-completed', GATEWAY_ACTOR);
        }
        if (result.stage === 'forward') return applyForwardResult(record, result, rest, at);
        const detail = { endpoint: result.delivery.endpoint, envelopeSha256: result.delivery.envelopeSha256, duplicate: result.delivery.duplicate };
        // The recipient may have pulled and confirmed it already; the push is then recorded, the state kept.
        if (record.status !== 'available') {
          return save(recordEvent({ ...record, delivery: result.delivery }, { at, event: 'delivered', by: 'gateway', detail }, { pendingStages: rest }), 'delivered', GATEWAY_ACTOR);
        }
        return save(transition(record, 'delivered', { at, event: 'delivered', by: 'gateway', detail }, { delivery: result.delivery, pendingStages: rest }), 'delivered', GATEWAY_ACTOR);
      });
    },

    /** A stage failed for good: inspection failures fail the transfer (content deleted); a failed push leaves it to pull. */
    failStage(id: string, stage: Stage, reason: string): Promise<TransferRecord | undefined> {
      return exclusive(id, async () => {
        const record = await deps.records.get(id);
        if (!record || !isNextStage(record, stage)) return record;
        const at = deps.clock();
        if (stage === 'forward') {
          // Nobody here can take it: the recipient is the peer's.
          await removeContent(id);
          return save(transition(record, 'failed', { at, event: 'forward-failed', by: 'gateway', detail: { reason } }, { pendingStages: [] }), 'forward-failed', GATEWAY_ACTOR);
        }
        if (stage === 'inspect') {
          await removeContent(id);
          return save(transition(record, 'failed', { at, event: 'processing-failed', by: 'gateway', detail: { reason } }, { pendingStages: [] }), 'processing-failed', GATEWAY_ACTOR);
        }
        return save(recordEvent(record, { at, event: 'delivery-failed', by: 'gateway', detail: { reason } }, { pendingStages: [] }), 'delivery-failed', GATEWAY_ACTOR);
      });
    },

    /** Whether `stage` is the next stage pending on transfer `id`. */
    async isPending(id: string, stage: Stage): Promise<boolean> {
      const record = await deps.records.get(id);
      return record !== undefined && isNextStage(record, stage);
    },

    /** Transfers with a stage still to run, and that stage: what the queue must hold. */
    async *pendingStages(): AsyncGenerator<{ id: string; stage: Stage }> {
      for await (const record of deps.records.select({ withPendingStages: true })) {
        const stage = record.pendingStages?.[0];
        if (stage && (record.status === 'queued' || record.status === 'processing' || stage === 'deliver' || stage === 'forward')) yield { id: record.id, stage };
      }
    },

    /**
     * Uploads cut short by a crash or restart: their pending objects were never committed (the store
     * removes them at start-up), so the transfers go back to `authorized` and can be uploaded again.
     * A resumable upload keeps what it stored durably: it is parked, to be resumed until it expires.
     */
    async recoverInterruptedUploads(): Promise<number> {
      let recovered = 0;
      for await (const record of deps.records.select({ statuses: ['uploading'] })) {
        await exclusive(record.id, async () => {
          const current = await find(record.id);
          if (current.status !== 'uploading') return;
          if (current.resumable) {
            const expiresAt = new Date(deps.clock().getTime() + deps.uploadIdleTimeoutMs).toISOString();
            const detail = { offset: current.resumable.plaintextBytes, cause: 'restart' };
            await save(recordEvent(current, { at: deps.clock(), event: 'upload-paused', by: 'gateway', detail }, { lease: { holder: PAUSED_UPLOAD_HOLDER, expiresAt } }), 'upload-paused', GATEWAY_ACTOR);
          } else {
            await save(transition(current, 'authorized', { at: deps.clock(), event: 'upload-interrupted', by: 'gateway' }), 'upload-interrupted', GATEWAY_ACTOR);
          }
          recovered += 1;
        });
      }
      return recovered;
    },

    /**
     * Uploads whose instance stopped renewing their lease (killed, cut off), and paused resumable
     * uploads past their expiry, go back to `authorized`, and their unfinished envelope write (an S3
     * multipart upload, an appendable object) is removed, so the sender can upload again through any
     * instance. Of instances sweeping at once, the conditional save lets one do it. Run periodically
     * by every instance.
     */
    async recoverExpiredUploads(): Promise<number> {
      let recovered = 0;
      const now = deps.clock();
      for await (const record of deps.records.select({ statuses: ['uploading'], leaseExpiredBy: now.toISOString() })) {
        await exclusive(record.id, async () => {
          const current = await deps.records.get(record.id);
          // Renewed, finished or swept since the selection.
          if (current?.status !== 'uploading' || (current.lease && current.lease.expiresAt > now.toISOString())) return;
          // A resumable upload whose instance died keeps what it stored durably: paused, until it expires.
          if (current.resumable && current.lease?.holder !== PAUSED_UPLOAD_HOLDER) {
            const expiresAt = new Date(now.getTime() + deps.uploadIdleTimeoutMs).toISOString();
            const detail = { offset: current.resumable.plaintextBytes, cause: 'lease-expired', holder: current.lease?.holder ?? null };
            try {
              await save(recordEvent(current, { at: now, event: 'upload-paused', by: 'gateway', detail }, { lease: { holder: PAUSED_UPLOAD_HOLDER, expiresAt } }), 'upload-paused', GATEWAY_ACTOR);
            } catch (error) {
              if (!(error instanceof GatewayError && error.code === 'ERR_TRANSFER_CONFLICT')) throw error;
            }
            return;
          }
          await deps.objects.abortIncomplete(envelopeKeys(current.id)[1]);
          try {
            await save(transition(current, 'authorized', { at: now, event: 'upload-interrupted', by: 'gateway', detail: { holder: current.lease?.holder ?? null } }), 'upload-interrupted', GATEWAY_ACTOR);
            recovered += 1;
          } catch (error) {
            if (!(error instanceof GatewayError && error.code === 'ERR_TRANSFER_CONFLICT')) throw error;
          }
        });
      }
      return recovered;
    },

    /** Deletes the content of transfers past their retention (run periodically). */
    async expireDue(): Promise<number> {
      const now = deps.clock();
      let expired = 0;
      for await (const record of deps.records.select({ statuses: EXPIRABLE, retentionEndsBy: now.toISOString() })) {
        await exclusive(record.id, async () => {
          const current = await find(record.id);
          if (!EXPIRABLE.includes(current.status)) return; // changed since the selection
          await removeContent(current.id);
          await save(transition(current, 'expired', { at: now, event: 'retention-expired', by: 'gateway' }), 'retention-expired', GATEWAY_ACTOR);
          expired += 1;
        });
      }
      return expired;
    },
  };
}

export type TransferService = ReturnType<typeof createTransferService>;
