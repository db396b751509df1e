// Resumable uploads (the tus 1.0 protocol's core, creation, termination and expiration; the HTTP
// side is http/routes/tus.ts). One upload of a transfer is one ordinary upload pass
// (upload-transfer.ts: meter, inspection, sealing in a thread for large ones, the store, durable
// commit), fed from a stream of its own that each PATCH writes into, in order, from the offset the
// gateway says it has. A cut PATCH leaves the pass waiting for the next one; the partial segment it
// holds stays in memory, never on disk. The pass's idle timeout is the upload's expiry: nothing
// arriving for that long aborts it, and nothing of it is kept.
//
// In this process only: a gateway restart ends the pass (the transfer goes back to `authorized`, as
// for any interrupted upload) and the client's next HEAD gets 404, so it starts again from zero.
import { PassThrough, type Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import type { Caller } from './caller.js';
import type { TransferRecord } from './transfer-record.js';

export interface ResumableUploadsDependencies {
  /** transfer-service.ts `get`: the record, when the caller may see it. */
  readonly get: (id: string, caller: Caller) => Promise<TransferRecord>;
  /** transfer-service.ts `checkUpload`: the refusals known before any byte. */
  readonly checkUpload: (id: string, caller: Caller, announcedBytes: number | undefined) => Promise<void>;
  /** transfer-service.ts `upload`: the one upload pass, fed from `source`. */
  readonly upload: (id: string, caller: Caller, source: Readable) => Promise<TransferRecord>;
  /** How long an upload may receive nothing before it is aborted (HETAO_UPLOAD_IDLE_TIMEOUT_MS). */
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
  readonly source: PassThrough;
  received: number;
  lastActivity: number;
  /** A PATCH is writing: another one is refused. */
  busy: boolean;
  /** The pass, started by the first PATCH. */
  pass?: Promise<TransferRecord>;
  /** How the pass ended, once it did. */
  ended?: { readonly record: TransferRecord } | { readonly error: unknown };
}

export function createResumableUploads(deps: ResumableUploadsDependencies) {
  const sessions = new Map<string, Session>();

  const progressOf = (session: Session, record?: TransferRecord): UploadProgress => ({
    offset: session.received,
    length: session.length,
    expiresAt: new Date(session.lastActivity + deps.idleTimeoutMs).toISOString(),
    ...(record ? { record } : {}),
  });

  /** An upload created but never written to has no pass to time it out: it expires here. */
  const expireUnstarted = (): void => {
    const now = deps.clock().getTime();
    for (const [id, session] of sessions) if (!session.pass && now - session.lastActivity > deps.idleTimeoutMs) sessions.delete(id);
  };

  /** The caller's live upload of `id`; gone (404) once it finished, failed, expired or was terminated. */
  const sessionOf = (id: string, caller: Caller): Session => {
    expireUnstarted();
    const session = sessions.get(id);
    if (!session || session.ended) throw new GatewayError('ERR_UPLOAD_NOT_FOUND', `no upload of transfer ${id} is in progress (finished, failed, expired or never started)`);
    if (caller.role !== 'institution' || caller.institution !== session.sender) throw new GatewayError('ERR_TRANSFER_FORBIDDEN', `only the sender may upload to transfer ${id}`);
    return session;
  };

  const startPass = (session: Session, caller: Caller): void => {
    session.pass = deps.upload(session.id, caller, session.source);
    session.pass.then(
      (record) => (session.ended = { record }),
      (error: unknown) => {
        session.ended = { error };
        sessions.delete(session.id);
      },
    );
  };

  /** Writes `chunk`, waiting while the pass is behind; rejects when the pass has ended meanwhile. */
  const write = (session: Session, chunk: Buffer): Promise<void> => {
    // Destroyed (the pass failed) while we were not waiting on it: its 'close' has been and gone.
    if (session.source.destroyed) return Promise.reject(new GatewayError('ERR_REQUEST_INVALID', 'the upload was aborted'));
    if (session.source.write(chunk)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const drained = (): void => {
        session.source.off('close', closed);
        resolve();
      };
      const closed = (): void => {
        session.source.off('drain', drained);
        reject(new GatewayError('ERR_REQUEST_INVALID', 'the upload was aborted'));
      };
      session.source.once('drain', drained);
      session.source.once('close', closed);
    });
  };

  return {
    /**
     * tus creation: a resumable upload of an `authorized` transfer, of exactly its declared size.
     * @throws GatewayError those of checkUpload (ERR_TRANSFER_STATE, ERR_TRANSFER_SIZE_MISMATCH,
     *   ERR_TRANSFER_FORBIDDEN, ERR_QUEUE_UNAVAILABLE); ERR_TRANSFER_CONFLICT when one is already in progress.
     */
    async create(id: string, caller: Caller, length: number): Promise<UploadProgress> {
      expireUnstarted();
      const existing = sessions.get(id);
      if (existing && !existing.ended) throw new GatewayError('ERR_TRANSFER_CONFLICT', `an upload of transfer ${id} is already in progress; resume it (HEAD, then PATCH)`);
      await deps.checkUpload(id, caller, length);
      const record = await deps.get(id, caller);
      const source = new PassThrough({ highWaterMark: 1024 * 1024 });
      // Terminated or cut off before the pass has piped it (a first PATCH fits in the buffer and
      // returns while the pass is still starting), its error would have no listener and take the
      // process down; the pass reports it anyway once it pipes the destroyed stream.
      source.on('error', () => undefined);
      const session: Session = { id, sender: record.sender, length, source, received: 0, lastActivity: deps.clock().getTime(), busy: false };
      sessions.set(id, session);
      return progressOf(session);
    },

    /** tus HEAD: how much the gateway has. @throws GatewayError ERR_UPLOAD_NOT_FOUND, ERR_TRANSFER_FORBIDDEN */
    progress(id: string, caller: Caller): UploadProgress {
      return progressOf(sessionOf(id, caller));
    },

    /**
     * tus PATCH: `body` continues the upload at `offset`. A cut body keeps what arrived; the last
     * byte ends the pass, and this resolves with its record.
     * @throws GatewayError ERR_UPLOAD_NOT_FOUND; ERR_TRANSFER_CONFLICT (another PATCH is writing);
     *   ERR_UPLOAD_OFFSET_MISMATCH; ERR_TRANSFER_SIZE_MISMATCH past the declared length; whatever the
     *   pass fails with (the upload is then over).
     */
    async append(id: string, caller: Caller, offset: number, body: Readable): Promise<UploadProgress> {
      const session = sessionOf(id, caller);
      if (session.busy) throw new GatewayError('ERR_TRANSFER_CONFLICT', `another request is writing to the upload of ${id}`);
      if (offset !== session.received) throw new GatewayError('ERR_UPLOAD_OFFSET_MISMATCH', `the upload of ${id} is at offset ${session.received}, not ${offset}`, { offset: session.received });
      session.busy = true;
      try {
        if (!session.pass) startPass(session, caller);
        try {
          for await (const chunk of body as AsyncIterable<Buffer>) {
            if (session.received + chunk.length > session.length) {
              const error = new GatewayError('ERR_TRANSFER_SIZE_MISMATCH', `the content is larger than the declared ${session.length} bytes`, { declaredSize: session.length });
              session.source.destroy(error);
              throw error;
            }
            await write(session, chunk);
            session.received += chunk.length;
            session.lastActivity = deps.clock().getTime();
          }
        } catch (error) {
          if (error instanceof GatewayError && error.code === 'ERR_TRANSFER_SIZE_MISMATCH') throw error;
          // The pass failed under us (the store, the lease): its own error is the answer, and the upload is over.
          if (session.source.destroyed) await (session.pass as Promise<TransferRecord>);
          // A cut connection: what arrived is kept, the client resumes from `received`.
          return progressOf(session);
        }
        if (session.received < session.length) return progressOf(session);
        session.source.end();
        const record = await (session.pass as Promise<TransferRecord>);
        sessions.delete(id);
        return progressOf(session, record);
      } finally {
        session.busy = false;
      }
    },

    /** tus termination: the upload is aborted and nothing of it is kept; the transfer is `authorized` again. */
    async terminate(id: string, caller: Caller): Promise<void> {
      const session = sessionOf(id, caller);
      sessions.delete(id);
      session.source.destroy(new GatewayError('ERR_REQUEST_INVALID', 'the upload was terminated by its sender; nothing was kept'));
      await session.pass?.catch(() => undefined);
    },
  };
}

export type ResumableUploads = ReturnType<typeof createResumableUploads>;
