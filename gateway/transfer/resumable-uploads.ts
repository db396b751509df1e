// Resumable uploads (the tus 1.0 protocol's core, creation, termination and expiration; the HTTP
// side is http/routes/tus.ts). An upload is one resumable pass (resumable-pass.ts: the ordinary
// upload pass into an appendable object) that each PATCH writes into, in order, from the offset the
// gateway says it has.
//
// Two places know the offset. The pass this process runs for an upload knows every byte it took;
// the transfer record knows what is stored durably, in whole segments, for any instance. A PATCH
// that continues this process's pass at its offset goes straight on; one that starts from the
// record's offset (after a restart, on another instance, or here after another instance had the
// upload) resumes from the durable bytes, and this process lets go of its own pass. When a PATCH
// ends or is cut, the pass pauses: what came in is stored durably (but for a segment not yet
// complete, which stays in memory) and the upload is parked until it expires.
//
// A client learns that its connection died long before the server does (tusd's "upload locks"):
// when the sender comes back (HEAD or PATCH) while its last PATCH still streams here, that PATCH is
// one it gave up on. It is stopped — what it took is kept — and the new request is answered from
// where it stopped, instead of from a moving offset or with a refusal until TCP notices.
import type { Readable } from 'node:stream';
import { setImmediate as afterPendingIo, setTimeout as sleep } from 'node:timers/promises';
import { GatewayError } from '../errors.js';
import type { Caller } from './caller.js';
import type { ResumablePass } from './resumable-pass.js';
import { PAUSED_UPLOAD_HOLDER, type TransferRecord } from './transfer-record.js';

/**
 * A PATCH its sender gave up on is stopped once it has waited this long for bytes: what its
 * connection had already delivered (acknowledged to the client, in the socket's buffers) is taken
 * first rather than thrown away.
 */
const DRAINED_AFTER_MS = 50;

/** Where a PATCH's reading of its body stands. */
interface BodyReading {
  /** Since when it waits for the next chunk (performance.now()); undefined while it handles one or before it starts. */
  waitingSince?: number;
  over: boolean;
}

/** Ends `body` as if cut once its reader has taken what arrived and waits for more. */
async function stopOnceDrained(body: Readable, reading: BodyReading): Promise<void> {
  while (!reading.over) {
    await sleep(DRAINED_AFTER_MS);
    await afterPendingIo(); // bytes that came in meanwhile reach the reader before we judge
    if (reading.waitingSince !== undefined && performance.now() - reading.waitingSince >= DRAINED_AFTER_MS) {
      body.destroy();
      return;
    }
  }
}

export interface ResumableUploadsDependencies {
  /** transfer-service.ts `get`: the record, when the caller may see it. */
  readonly get: (id: string, caller: Caller) => Promise<TransferRecord>;
  /** transfer-service.ts `checkUpload`: the refusals known before any byte. */
  readonly checkUpload: (id: string, caller: Caller, announcedBytes: number | undefined) => Promise<void>;
  /** transfer-service.ts `startResumable`: starts or resumes the upload's pass. */
  readonly startResumable: (id: string, caller: Caller) => Promise<ResumablePass>;
  /** transfer-service.ts `endPausedUpload`: ends an upload no instance is streaming. */
  readonly endPausedUpload: (id: string, caller: Caller) => Promise<void>;
  /** How long an upload may receive nothing before it expires (HETAO_UPLOAD_IDLE_TIMEOUT_MS). */
  readonly idleTimeoutMs: number;
  readonly clock: () => Date;
}

export interface UploadProgress {
  readonly offset: number;
  readonly length: number;
  /** When the upload is aborted if nothing more arrives (ISO 8601). */
  readonly expiresAt: string;
  /** The record once the last byte is in and the pass finished (`available`, `queued`, `quarantined`). */
  readonly record?: TransferRecord;
}

interface Session {
  readonly id: string;
  readonly sender: string;
  readonly length: number;
  lastActivity: number;
  /** The PATCH writing now: `stop` ends its body as if cut, once drained; `over` settles once what it took is paused or finished. */
  writing?: { readonly stop: () => void; readonly over: Promise<unknown> };
  /** This process's pass, once a PATCH started it. */
  pass?: ResumablePass;
  /** The pass is paused: the next PATCH here takes the upload again first. */
  paused: boolean;
}

export function createResumableUploads(deps: ResumableUploadsDependencies) {
  const sessions = new Map<string, Session>();
  /** PATCHes in progress, to their answers: a stop lets them pause their uploads first. */
  const appends = new Set<Promise<unknown>>();

  const expiry = (session: Session): string => new Date(session.lastActivity + deps.idleTimeoutMs).toISOString();
  const progressOf = (session: Session, record?: TransferRecord): UploadProgress => ({
    offset: session.pass?.offset ?? 0,
    length: session.length,
    expiresAt: expiry(session),
    ...(record ? { record } : {}),
  });

  /** An upload created but never written to has no pass to time it out: it expires here. */
  const expireUnstarted = (): void => {
    const now = deps.clock().getTime();
    for (const [id, session] of sessions) if (!session.pass && !session.writing && now - session.lastActivity > deps.idleTimeoutMs) sessions.delete(id);
  };

  const requireSender = (record: TransferRecord, caller: Caller): void => {
    if (caller.role !== 'institution' || caller.institution !== record.sender) throw new GatewayError('ERR_TRANSFER_FORBIDDEN', `only the sender may upload to transfer ${record.id}`);
  };

  /** The paused upload the record describes, resumable by any instance; undefined when there is none. */
  const pausedIn = (record: TransferRecord): { offset: number; expiresAt: string } | undefined => {
    if (record.status !== 'uploading' || !record.resumable) return undefined;
    const paused = record.lease?.holder === PAUSED_UPLOAD_HOLDER ? record.lease : undefined;
    // Past its expiry a paused upload is gone, whether or not the sweep has removed it yet.
    if (paused && Date.parse(paused.expiresAt) <= deps.clock().getTime()) return undefined;
    return { offset: record.resumable.plaintextBytes, expiresAt: paused ? paused.expiresAt : new Date(deps.clock().getTime() + deps.idleTimeoutMs).toISOString() };
  };

  /** Drops this process's pass (its durable bytes stay for whoever resumes the upload). */
  const letGo = async (session: Session): Promise<void> => {
    const pass = session.pass;
    delete session.pass;
    session.paused = false;
    await pass?.release();
  };

  /** The pass a PATCH at `offset` writes into: this process's own, or one resumed from the record. */
  const passFor = async (session: Session, record: TransferRecord, caller: Caller, offset: number): Promise<ResumablePass> => {
    const own = session.pass;
    if (own && offset === own.offset) {
      if (!session.paused) return own;
      try {
        await own.proceed();
        session.paused = false;
        return own;
      } catch (error) {
        // Another instance took the upload, or the sweep ended it: go on from what the record says.
        if (!(error instanceof GatewayError && error.code === 'ERR_TRANSFER_CONFLICT')) throw error;
        await letGo(session);
        record = await deps.get(session.id, caller);
      }
    }
    const lease = record.status === 'uploading' ? record.lease : undefined;
    if (lease && lease.holder !== PAUSED_UPLOAD_HOLDER && Date.parse(lease.expiresAt) > deps.clock().getTime()) {
      throw new GatewayError('ERR_TRANSFER_CONFLICT', `the upload of ${record.id} is being written through another gateway instance; try again shortly`);
    }
    const stored = pausedIn(record);
    const expected = stored?.offset ?? (record.status === 'authorized' ? 0 : undefined);
    if (expected === undefined) throw new GatewayError('ERR_UPLOAD_NOT_FOUND', `no upload of transfer ${record.id} is in progress (finished, failed, expired or never started)`);
    if (offset !== expected) {
      const at = session.pass?.offset ?? expected;
      throw new GatewayError('ERR_UPLOAD_OFFSET_MISMATCH', `the upload of ${record.id} is at offset ${at}, not ${offset}`, { offset: at });
    }
    await letGo(session);
    const pass = await deps.startResumable(session.id, caller);
    session.pass = pass;
    session.paused = false;
    pass.done.then(
      () => undefined,
      () => {
        // Failed, expired or released: a later PATCH starts from the record.
        if (session.pass === pass) {
          delete session.pass;
          if (!session.writing) sessions.delete(session.id);
        }
      },
    );
    return pass;
  };

  /**
   * The sender is back: the PATCH still streaming here, if any, is stopped and has paused (or
   * finished) before this resolves, with the record as it left it.
   */
  const stopWriting = async (id: string, caller: Caller, record: TransferRecord): Promise<TransferRecord> => {
    let stopped = false;
    for (let session = sessions.get(id); session?.writing; session = sessions.get(id)) {
      session.writing.stop();
      await session.writing.over.catch(() => undefined);
      stopped = true;
    }
    return stopped ? deps.get(id, caller) : record;
  };

  async function appendTo(id: string, caller: Caller, offset: number, body: Readable): Promise<UploadProgress> {
    const seen = await deps.get(id, caller);
    requireSender(seen, caller);
    const record = await stopWriting(id, caller, seen);
    // Nothing awaited from here until `writing` is set: no other request slips in between.
    let session = sessions.get(id);
    if (!session) {
      session = { id, sender: record.sender, length: record.manifest.dataset.sizeBytes, lastActivity: deps.clock().getTime(), paused: false };
      sessions.set(id, session);
    }
    const current = session;
    const reading: BodyReading = { over: false };
    const over = writeInto(current, record, caller, offset, body, reading);
    current.writing = { stop: () => void stopOnceDrained(body, reading), over };
    try {
      return await over;
    } finally {
      reading.over = true;
      if (current.writing?.over === over) delete current.writing;
    }
  }

  async function writeInto(current: Session, record: TransferRecord, caller: Caller, offset: number, body: Readable, reading: BodyReading): Promise<UploadProgress> {
    const id = current.id;
    try {
      const pass = await passFor(current, record, caller, offset);
      let passFailed = false;
      let cut = false;
      try {
        reading.waitingSince = performance.now();
        for await (const chunk of body as AsyncIterable<Buffer>) {
          delete reading.waitingSince;
          if (pass.offset + chunk.length > current.length) {
            const error = new GatewayError('ERR_TRANSFER_SIZE_MISMATCH', `the content is larger than the declared ${current.length} bytes`, { declaredSize: current.length });
            await pass.abort(error);
            throw error;
          }
          // Refused only once the pass has failed (the store, the lease): its own error is the answer.
          passFailed = await pass.write(chunk).then(
            () => false,
            () => true,
          );
          if (passFailed) break;
          current.lastActivity = deps.clock().getTime();
          reading.waitingSince = performance.now();
        }
      } catch (error) {
        if (error instanceof GatewayError && error.code === 'ERR_TRANSFER_SIZE_MISMATCH') throw error;
        // A cut connection: what arrived is kept, the client resumes from the offset.
        cut = true;
      } finally {
        reading.over = true;
      }
      if (passFailed) {
        await pass.done;
        throw new GatewayError('ERR_UPLOAD_NOT_FOUND', `the upload of ${id} ended`);
      }
      if (pass.offset < current.length) {
        const pausing = pass.pause(cut ? 'cut' : 'request-ended').catch(async (error: unknown) => {
          if (current.pass === pass) await letGo(current);
          throw error instanceof GatewayError ? error : new GatewayError('ERR_UPLOAD_NOT_FOUND', `the upload of ${id} could not be paused; resume it from the offset HEAD gives`);
        });
        await pausing;
        current.paused = true;
        return progressOf(current);
      }
      pass.end();
      const finished = await pass.done;
      sessions.delete(id);
      return progressOf(current, finished);
    } catch (error) {
      if (!current.pass) sessions.delete(id);
      throw error;
    }
  }

  return {
    /**
     * tus creation: a resumable upload of an `authorized` transfer, of exactly its declared size.
     * @throws GatewayError those of checkUpload (ERR_TRANSFER_STATE, ERR_TRANSFER_SIZE_MISMATCH,
     *   ERR_TRANSFER_FORBIDDEN, ERR_QUEUE_UNAVAILABLE); ERR_TRANSFER_CONFLICT when one is already in progress.
     */
    async create(id: string, caller: Caller, length: number): Promise<UploadProgress> {
      expireUnstarted();
      const record = await deps.get(id, caller);
      requireSender(record, caller);
      if (sessions.get(id)?.pass || pausedIn(record)) throw new GatewayError('ERR_TRANSFER_CONFLICT', `an upload of transfer ${id} is already in progress; resume it (HEAD, then PATCH)`);
      await deps.checkUpload(id, caller, length);
      const session: Session = { id, sender: record.sender, length, lastActivity: deps.clock().getTime(), paused: false };
      sessions.set(id, session);
      return progressOf(session);
    },

    /** tus HEAD: how much the gateway has (a PATCH still streaming here is stopped first). @throws GatewayError ERR_UPLOAD_NOT_FOUND, ERR_TRANSFER_FORBIDDEN */
    async progress(id: string, caller: Caller): Promise<UploadProgress> {
      expireUnstarted();
      const seen = await deps.get(id, caller);
      requireSender(seen, caller);
      const record = await stopWriting(id, caller, seen);
      const session = sessions.get(id);
      if (session && (session.pass || record.status === 'authorized')) return progressOf(session);
      const stored = pausedIn(record);
      if (!stored) throw new GatewayError('ERR_UPLOAD_NOT_FOUND', `no upload of transfer ${id} is in progress (finished, failed, expired or never started)`);
      return { offset: stored.offset, length: record.manifest.dataset.sizeBytes, expiresAt: stored.expiresAt };
    },

    /**
     * tus PATCH: `body` continues the upload at `offset`. A cut body keeps what arrived; the last
     * byte ends the pass, and this resolves with its record.
     * A PATCH still streaming here is stopped first (its sender is back).
     * @throws GatewayError ERR_UPLOAD_NOT_FOUND; ERR_TRANSFER_CONFLICT (a PATCH is writing through
     *   another instance); ERR_UPLOAD_OFFSET_MISMATCH; ERR_TRANSFER_SIZE_MISMATCH past the
     *   declared length; whatever the pass fails with (the upload is then over).
     */
    append(id: string, caller: Caller, offset: number, body: Readable): Promise<UploadProgress> {
      const appending = appendTo(id, caller, offset, body);
      appends.add(appending);
      void appending.catch(() => undefined).then(() => appends.delete(appending));
      return appending;
    },
    /** tus termination: the upload is aborted and nothing of it is kept; the transfer is `authorized` again. */
    async terminate(id: string, caller: Caller): Promise<void> {
      const record = await deps.get(id, caller);
      requireSender(record, caller);
      const session = sessions.get(id);
      sessions.delete(id);
      if (session?.pass) {
        await session.pass.abort(new GatewayError('ERR_REQUEST_INVALID', 'the upload was terminated by its sender; nothing was kept'));
        return;
      }
      if (session && record.status === 'authorized') return; // created, never written to
      await deps.endPausedUpload(id, caller);
    },

    /** The gateway stops: this process lets go of its passes; their uploads stay paused, to be resumed. */
    async close(): Promise<void> {
      // A PATCH cut by the stop is still storing what it received: it pauses first, then is let go.
      await Promise.allSettled([...appends]);
      const open = [...sessions.values()];
      sessions.clear();
      await Promise.all(open.map((session) => letGo(session)));
    },
  };
}

export type ResumableUploads = ReturnType<typeof createResumableUploads>;
