// The object store behind transfers: envelopes (header and body) and records. An interface so an
// S3-compatible store can replace the filesystem one without touching the transfer code.
import type { Readable, Writable } from 'node:stream';

/** An object being written: invisible under its key until `commit` renames it into place. */
export interface PendingObject {
  /**
   * Takes the object's bytes. A chunk written is the store's from then on (the filesystem store
   * moves whole buffers to the thread that writes them, detaching them here): the writer neither
   * reads nor changes it afterwards. The upload pass writes sealed bytes nobody else holds.
   */
  readonly stream: Writable;
  /** Flushes to stable storage and makes the object visible atomically. */
  commit(): Promise<{ size: number }>;
  /** Deletes what was written; safe to call after a failure or twice. */
  abort(): Promise<void>;
}

/**
 * An object written over several sessions, possibly by several processes one after another (a
 * resumable upload): what a checkpoint made durable survives the process that wrote it, and a later
 * `openAppendable` of the same key keeps it and appends after it. Invisible under its key until commit.
 */
export interface AppendableObject extends PendingObject {
  /** Bytes kept from earlier sessions (the `keep` asked of openAppendable): appending starts here. */
  readonly keptBytes: number;
  /** Streams the kept bytes, `0 … keptBytes − 1`, so that the writer can rebuild its state from them; call before writing. */
  readKept(): Readable;
  /**
   * Makes durable every byte whose write has completed (its callback called) when this is called,
   * and resolves to how many bytes from the start of the object are durable now. Writing may go on
   * meanwhile. A later openAppendable may keep up to that many bytes, even after this process died.
   */
  checkpoint(): Promise<number>;
  /**
   * Stops writing without deleting: the durable bytes stay for a later openAppendable; bytes not made
   * durable may be lost. The object is unusable afterwards (commit and abort are no-ops that resolve).
   */
  release(): Promise<void>;
}

export interface ObjectStore {
  /** Starts writing `key` (keys are `a/b/c`-style, `[A-Za-z0-9._-]` segments). */
  createPending(key: string): Promise<PendingObject>;
  /**
   * Starts or resumes an appendable write of `key`. `keep` 0 starts afresh, removing whatever
   * unfinished write of `key` there was. `keep` > 0 keeps the first `keep` durable bytes of the
   * unfinished appendable write of `key` (what earlier checkpoints made durable, in any process),
   * drops whatever follows them, and appends after them.
   * @throws GatewayError ERR_UPLOAD_NOT_FOUND when fewer than `keep` durable bytes exist; the store's
   *   own failures as for createPending (ERR_STORAGE_UNAVAILABLE, ERR_STORAGE_FULL…).
   */
  openAppendable(key: string, keep: number): Promise<AppendableObject>;
  /** Writes a small object atomically (temp file, fsync, rename). */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** Reads a small object; undefined when absent. */
  get(key: string): Promise<Buffer | undefined>;
  /** Size of an object; undefined when absent. */
  stat(key: string): Promise<{ size: number } | undefined>;
  /** Streams an object, optionally a byte range (inclusive `end`, as HTTP ranges). */
  read(key: string, range?: { start: number; end: number }): Readable;
  delete(key: string): Promise<void>;
  /**
   * Removes the unfinished writes of `key` that a process left behind when it died mid-upload (the
   * filesystem store's temporary files, the S3 store's multipart uploads); resolves to how many it
   * removed (an appendable write counts as one, durable bytes and all). The gateway calls it when an upload's lease expires: the instance that held it was
   * killed, and its pending object will never be committed or aborted. A committed object under
   * `key` is untouched; a pending object of `key` still open in this process loses what it wrote
   * (its commit then fails), so call it only when whoever wrote is known to be gone.
   */
  abortIncomplete(key: string): Promise<number>;
  /** Keys directly under a prefix folder (e.g. `records/`). */
  list(prefix: string): Promise<string[]>;
  /** Releases what the store holds open; call once nothing uses it any more. */
  close(): Promise<void>;
}
