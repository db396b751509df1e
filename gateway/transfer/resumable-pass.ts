// One resumable upload's pass: the ordinary upload pass (upload-transfer.ts: meter, inspection,
// sealing — in a thread for large ones — the store, commit) written into an appendable object, so
// that it can stop and go on, here or on another instance, after a restart as well as after a cut.
//
// - While bytes stream, every few tens of MiB (HETAO_UPLOAD_CHECKPOINT_BYTES) the store makes what it has durable and the
//   record notes how far that is, in whole sealed segments (`resumable`), with the body's key
//   material sealed to the gateway's processing key (resume-ticket.ts).
// - When the sender pauses (a PATCH ends or is cut), `pause` lets everything that came in reach the
//   store, checkpoints, and parks the upload: its lease passes to PAUSED_UPLOAD_HOLDER until the
//   upload expires, so any instance may take it over and the lease sweep ends it at its expiry.
// - Any instance resuming it opens the appendable object keeping the durable segments, and rebuilds
//   the pass's state (plaintext SHA-256, inspector, segment count) by opening those segments again:
//   node:crypto cannot save a hash's state, and replaying ciphertext keeps plaintext off the disk.
// - A segment not yet complete is plaintext in memory only; after a restart it is sent again.
import type { KeyObject } from 'node:crypto';
import { PassThrough, Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { GatewayError } from '../errors.js';
import type { AppendableObject } from '../storage/object-store.js';
import { openResumeTicket, sealResumeTicket } from './resume-ticket.js';
import { GATEWAY_ACTOR, type TransferActor } from './transfer-events.js';
import { PAUSED_UPLOAD_HOLDER, recordEvent, transition, type ResumableProgress, type TransferRecord } from './transfer-record.js';
import { concludeUpload, holdLease, newLease, planUpload, resetAfterFailure, sealerFor, type Save, type UploadDependencies, type UploadRoute } from './upload-transfer.js';
import { runUploadPass } from './upload-pass.js';
import type { UploadSealer } from './upload-sealer.js';

/** How often a pause looks whether the bytes in flight have reached the store. */
const SETTLE_POLL_MS = 5;
/** A streaming upload that received nothing for this long is checkpointed. */
const IDLE_CHECKPOINT_MS = 1000;
/** Replayed stored bytes go to the sealer in pieces of at most this (a thread message each). */
const REPLAY_PIECE_BYTES = 1024 * 1024;

export interface ResumablePassDependencies extends UploadDependencies {
  /** Opens the resume tickets of uploads begun by any instance (they all share the processing key). */
  readonly processingPrivateKey?: KeyObject;
  /** Saves a record without an event: a checkpoint is progress, not a change of the transfer. */
  readonly saveProgress: (record: TransferRecord) => Promise<TransferRecord>;
  /** Told when an upload resumed from stored bytes, and what rebuilding its state from them cost. */
  readonly onResumed?: (resumed: { transferId: string; replayedBytes: number; replayMs: number }) => void;
  /** A streaming upload's progress is made durable every this many bytes (HETAO_UPLOAD_CHECKPOINT_BYTES): the most a crash costs the sender, besides a segment. */
  readonly checkpointBytes: number;
}

export interface ResumablePass {
  /** Plaintext bytes the pass has taken: those kept when it started, and every byte written since. */
  readonly offset: number;
  /** Takes the sender's next bytes (at `offset`); waits while the pass is behind. */
  write(chunk: Buffer): Promise<void>;
  /** The last byte is in: the pass finishes (`done`). */
  end(): void;
  /**
   * The sender stopped for now: waits until what came in is stored, makes it durable, parks the
   * upload until it expires. Resolves to the durable offset (≤ `offset`, by at most a segment or two).
   * A cut request is an event of the transfer (`upload-paused`, journaled); the end of a request
   * that sent what it meant to (a client sending in chunks) is progress only, saved without one.
   */
  pause(cause: 'cut' | 'request-ended'): Promise<number>;
  /**
   * The sender is back, here: the upload is taken again from its parked state (progress, no event).
   * @throws GatewayError ERR_TRANSFER_CONFLICT when another instance took it or the sweep ended it
   *   meanwhile (release this pass; the upload goes on from the record).
   */
  proceed(): Promise<void>;
  /** Stops this pass without ending the upload: what is durable stays for whoever resumes it. */
  release(): Promise<void>;
  /** Ends the upload, keeping nothing (tus termination; a size overrun): the transfer is `authorized` again. */
  abort(reason: GatewayError): Promise<void>;
  /** The record once the pass finished; rejects with its failure (or ERR_UPLOAD_NOT_FOUND once released). */
  readonly done: Promise<TransferRecord>;
}

/** Counts the bytes that pass, telling `onBytes` of each chunk. */
function createCounter(onBytes: (total: number) => void = () => undefined): Transform & { bytes: number } {
  const counter = Object.assign(
    new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        counter.bytes += chunk.length;
        onBytes(counter.bytes);
        callback(null, chunk);
      },
    }),
    { bytes: 0 },
  );
  return counter;
}

/** Sealed segments a sealer has completed once it took `taken` plaintext bytes, `kept` of them replayed. */
function sealedSegments(sealer: UploadSealer, taken: number, kept: number): number {
  const size = sealer.segment.plaintextBytes;
  if (!sealer.holdsLastSegment) return Math.floor(taken / size);
  // Our envelope seals a segment once a later byte exists (the last one carries the final flag).
  return taken === kept ? kept / size : Math.max(kept / size, Math.ceil(taken / size) - 1);
}

const isParkedOrExpired = (record: TransferRecord, now: Date): boolean =>
  !record.lease || record.lease.holder === PAUSED_UPLOAD_HOLDER || Date.parse(record.lease.expiresAt) <= now.getTime();

/**
 * Starts (the transfer is `authorized`) or resumes (it is `uploading`, parked, with durable progress)
 * the resumable upload of `record`, ready for bytes at the returned pass's `offset`.
 * @throws GatewayError ERR_TRANSFER_CONFLICT (another instance is streaming it), ERR_UPLOAD_NOT_FOUND
 *   (nothing to resume: no progress, or it cannot be opened here), ERR_TRANSFER_STATE, and the
 *   store's failures; a failure after the transfer was taken returns it to `authorized`.
 */
export async function startResumablePass(deps: ResumablePassDependencies, record: TransferRecord, actor: TransferActor, save: Save, route: UploadRoute): Promise<ResumablePass> {
  const plan = planUpload(deps, record, route);
  const resuming = record.status === 'uploading' ? record.resumable : undefined;
  if (record.status === 'uploading') {
    if (!resuming) throw new GatewayError('ERR_UPLOAD_NOT_FOUND', `the upload of ${record.id} in progress is not resumable; wait for it to end`);
    if (!isParkedOrExpired(record, deps.clock())) throw new GatewayError('ERR_TRANSFER_CONFLICT', `the upload of ${record.id} is being written through another gateway instance; try again shortly`);
    if (!deps.processingPrivateKey) throw new GatewayError('ERR_UPLOAD_NOT_FOUND', `this gateway has no processing key to resume the upload of ${record.id}`);
  }
  const material = resuming && deps.processingPrivateKey ? await openResumeTicket(record.id, resuming.ticket, deps.processingPrivateKey) : undefined;
  const sealer = sealerFor(deps, plan, material);
  material?.dataKey.fill(0);

  let current: TransferRecord;
  let progress: ResumableProgress | undefined = resuming;
  try {
    if (resuming) {
      current = await save(recordEvent(record, { at: deps.clock(), event: 'upload-resumed', by: actor.id, detail: { offset: resuming.plaintextBytes } }, { lease: newLease(deps).lease }), 'upload-resumed', actor);
    } else {
      if (deps.processingPublicJwk) {
        const fresh = sealer.material();
        try {
          progress = { ticket: await sealResumeTicket(record.id, fresh, deps.processingPublicJwk), plaintextBytes: 0, storedBytes: 0 };
        } finally {
          fresh.dataKey.fill(0);
        }
      }
      current = await save(transition(record, 'uploading', { at: deps.clock(), event: 'upload-started', by: actor.id }, { ...newLease(deps), ...(progress ? { resumable: progress } : {}) }), 'upload-started', actor);
    }
  } catch (error) {
    sealer.discard();
    throw error;
  }

  let held = holdLease(deps, record.id);
  /** Stops the pass from outside: a lost lease, a release, a termination. */
  const cancel = new AbortController();
  /** Whether this pass holds the lease now (not paused): a renewal answered after a pause is no loss. */
  let holding = true;
  const forwardLoss = (lease: typeof held): void =>
    lease.lost?.addEventListener(
      'abort',
      () => {
        if (holding && held === lease) cancel.abort(lease.lost?.reason);
      },
      { once: true },
    );
  forwardLoss(held);
  let releasing = false;

  let body: AppendableObject | undefined;
  const kept = resuming?.plaintextBytes ?? 0;
  try {
    const replayStarted = performance.now();
    body = await deps.objects.openAppendable(plan.bodyKey, resuming?.storedBytes ?? 0);
    for await (const chunk of body.readKept() as AsyncIterable<Buffer>) {
      for (let at = 0; at < chunk.length; at += REPLAY_PIECE_BYTES) await sealer.replay(chunk.subarray(at, at + REPLAY_PIECE_BYTES));
    }
    if (resuming) deps.onResumed?.({ transferId: record.id, replayedBytes: resuming.storedBytes, replayMs: Math.round(performance.now() - replayStarted) });
  } catch (error) {
    sealer.discard();
    held.stop();
    if ((await resetAfterFailure(deps, current, save, error)) === 'reset') await deps.objects.abortIncomplete(plan.bodyKey).catch(() => undefined);
    else await body?.release();
    throw error;
  }
  const appendable = body;

  const source = new PassThrough({ highWaterMark: 1024 * 1024 });
  // Destroyed before the pipeline took it (terminated at once), its error would have no listener.
  source.on('error', () => undefined);
  let written = 0;
  let nextCheckpoint = kept + deps.checkpointBytes;
  // A sender that stalls without a cut (a link that died silently) still gets what arrived made
  // durable, once nothing has come for a moment.
  const idleCheckpoint = setTimeout(() => void settle().catch(() => undefined), IDLE_CHECKPOINT_MS);
  idleCheckpoint.unref();
  const taken = createCounter((bytes) => {
    idleCheckpoint.refresh();
    if (kept + bytes < nextCheckpoint || !progress) return;
    nextCheckpoint = kept + bytes + deps.checkpointBytes;
    checkpoint().catch(() => undefined); // a failed checkpoint is retried at the next one or the pause
  });
  const stored = createCounter();

  /** One save of the record at a time: checkpoints, pauses and the end all move its revision. */
  let saving: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const run = saving.then(work, work);
    saving = run.catch(() => undefined);
    return run;
  };

  /** The stream is over (the last byte is in, or the pass failed): the object is the end's to commit or remove. */
  let streamEnded = false;

  /** Makes what the store has durable and notes it in the record, in whole segments. */
  const checkpoint = (): Promise<number> =>
    serially(async () => {
      // A checkpoint asked for while the stream ended (an idle one that was waiting) must not touch
      // an object being committed or removed.
      if (streamEnded) return progress?.plaintextBytes ?? 0;
      const durable = await appendable.checkpoint();
      const segments = Math.floor(durable / sealer.segment.sealedBytes);
      const plaintextBytes = Math.min(segments * sealer.segment.plaintextBytes, record.manifest.dataset.sizeBytes);
      if (progress && plaintextBytes > progress.plaintextBytes) {
        progress = { ticket: progress.ticket, plaintextBytes, storedBytes: segments * sealer.segment.sealedBytes };
        // The whole record is saved: while streaming, with a fresh lease, never the expiry this pass
        // last saved (renewals moved it on since; an old one would let the sweep take a live upload).
        current = await deps.saveProgress({ ...current, resumable: progress, ...(holding ? newLease(deps) : {}) });
      }
      return progress?.plaintextBytes ?? 0;
    });

  const passing = runUploadPass({
    source,
    declaredSize: record.manifest.dataset.sizeBytes - kept,
    seal: [taken, ...sealer.stages, stored, appendable.stream],
    abort: async () => undefined, // what becomes of the stored bytes is decided below
    idleTimeoutMs: deps.uploadIdleTimeoutMs,
    cancel: cancel.signal,
    ...(deps.bulkLane && (route.queued || plan.large) ? { lane: deps.bulkLane.gate() } : {}),
  });
  const streamOver = (): void => {
    streamEnded = true;
    clearTimeout(idleCheckpoint);
  };
  const done = passing.then(
    async () => {
      streamOver();
      await saving;
      return concludeUpload(deps, { plan, sealer, body: appendable, started: current, actor, save, route, lease: held });
    },
    async (error: unknown) => {
      streamOver();
      sealer.discard();
      held.stop();
      const idle = error instanceof GatewayError && error.details?.idleTimeoutMs !== undefined;
      const lostLease = error instanceof GatewayError && error.code === 'ERR_TRANSFER_CONFLICT';
      // Released, expired or taken over: the durable bytes belong to the upload, not to this pass.
      if (releasing || idle || lostLease) {
        await appendable.release();
        throw releasing ? new GatewayError('ERR_UPLOAD_NOT_FOUND', `this instance let go of the upload of ${record.id}; resume it (HEAD, then PATCH)`) : error;
      }
      await saving;
      // Reset first: if the record moved on (swept, taken over), the stored bytes are not ours to remove.
      // The caller hears the upload's own failure, not a cleanup's that a dead store also refused.
      if ((await resetAfterFailure(deps, current, save, error)) === 'taken') await appendable.release().catch(() => undefined);
      else await appendable.abort().catch(() => undefined);
      throw error;
    },
  );
  done.catch(() => undefined); // the session reports it

  /** Resolves once `condition` holds; rejects when the pass ended first. */
  const until = async (condition: () => boolean): Promise<void> => {
    let ended = false;
    void done.then(
      () => (ended = true),
      () => (ended = true),
    );
    while (!condition()) {
      if (ended || cancel.signal.aborted) throw new GatewayError('ERR_UPLOAD_NOT_FOUND', `the upload of ${record.id} ended meanwhile`);
      await sleep(SETTLE_POLL_MS);
    }
  };

  /**
   * Every byte written reaches the sealer, the sealer hands on what it holds in batches, and every
   * segment it completed reaches the store: then a checkpoint covers them all. Resolves to the durable offset.
   */
  const settle = async (): Promise<number> => {
    await until(() => taken.bytes === written);
    sealer.flush();
    const expected = sealedSegments(sealer, kept + written, kept) * sealer.segment.sealedBytes - (resuming?.storedBytes ?? 0);
    await until(() => stored.bytes - stored.readableLength >= expected && appendable.stream.writableLength === 0);
    return checkpoint();
  };

  return {
    get offset() {
      return kept + written;
    },
    write(chunk) {
      if (source.destroyed) return Promise.reject(new GatewayError('ERR_REQUEST_INVALID', 'the upload was aborted'));
      written += chunk.length;
      if (source.write(chunk)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const drained = (): void => {
          source.off('close', closed);
          resolve();
        };
        const closed = (): void => {
          source.off('drain', drained);
          reject(new GatewayError('ERR_REQUEST_INVALID', 'the upload was aborted'));
        };
        source.once('drain', drained);
        source.once('close', closed);
      });
    },
    end() {
      source.end();
    },
    async pause(cause) {
      const durableOffset = await settle();
      holding = false;
      held.stop();
      await serially(async () => {
        const lease = { holder: PAUSED_UPLOAD_HOLDER, expiresAt: new Date(deps.clock().getTime() + deps.uploadIdleTimeoutMs).toISOString() };
        current =
          cause === 'cut'
            ? await save(recordEvent(current, { at: deps.clock(), event: 'upload-paused', by: 'gateway', detail: { offset: durableOffset } }, { lease }), 'upload-paused', GATEWAY_ACTOR)
            : await deps.saveProgress({ ...current, lease });
      });
      return durableOffset;
    },
    async proceed() {
      await serially(async () => {
        current = await deps.saveProgress({ ...current, ...newLease(deps) });
      });
      held = holdLease(deps, record.id);
      holding = true;
      forwardLoss(held);
    },
    async release() {
      releasing = true;
      source.destroy(new GatewayError('ERR_UPLOAD_NOT_FOUND', 'released'));
      await done.catch(() => undefined);
    },
    async abort(reason) {
      source.destroy(reason);
      await done.catch(() => undefined);
    },
    done,
  };
}
