// The object store of the gateway's shared mode: one S3-compatible bucket that every instance uses,
// through the AWS SDK v3. A pending object streams into a lib-storage Upload (a multipart upload in
// parts of `partSizeBytes`, at most `queueSize` of them in flight, so memory stays bounded whatever
// the size; a body smaller than one part goes as one PutObject) whose body is ended only at commit:
// until then nothing is visible under the key. An abort, a failed upload, or `abortIncomplete` after
// an instance died mid-upload removes the parts. An endpoint that does not answer, drops the
// connection or answers 5xx is GatewayError ERR_STORAGE_UNAVAILABLE (503), reported once to
// `onStorageError` as the filesystem store reports a failing disk (storage-errors.ts).
//
// An appendable write (a resumable upload) cannot be an unfinished multipart upload: S3 can neither
// read one back nor say which parts it holds everywhere (the test server has no ListParts). So it is
// ordinary objects under a hidden folder of its key, `<key>~appending/` (`~` is no key character: no
// key lies there, and a listing shows the folder only as a common prefix): pieces `000001`, `000002`…
// of exactly `partSizeBytes` each, PUT as they fill, and at each checkpoint a `tail` holding the bytes
// after the last full piece, whose metadata names the pieces it follows (a tail older than the last
// piece is stale, never used). Commit composes the object server-side: a multipart upload of the
// pieces (UploadPartCopy) and the bytes still in memory, then removes the hidden folder.
//
// On Node 20 the SDK emits a NodeVersionSupportWarning once per process (its releases after January
// 2027 need Node 22). The SDK's own switch silences it: AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
// in the process's environment, set by whoever starts the process (this module reads no environment).
import { PassThrough, Readable, Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { GatewayError } from '../errors.js';
import type { AppendableObject, ObjectStore, PendingObject } from './object-store.js';
import { isStorageError, toUnavailableStorageError, type StorageErrorObserver } from './storage-errors.js';

const MiB = 1024 * 1024;
const KEY_PATTERN = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
/** S3 refuses smaller parts (but the last). */
const MIN_PART_BYTES = 5 * MiB;
const DEFAULT_PART_BYTES = 8 * MiB;
const DEFAULT_QUEUE_SIZE = 4;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_ATTEMPTS = 3;
/** What a pending object takes in before the writer waits for the upload (besides the parts). */
const BODY_BUFFER_BYTES = MiB;

/** The hidden folder of an appendable write is `<key>~appending/`: `~` is no key character. */
const APPENDING_MARK = '~appending';
/** Piece names: numbers of this many digits, which sort as the pieces follow one another. */
const PIECE_DIGITS = 6;
const PIECE_NAME = /^\d{6}$/;
const TAIL_NAME = 'tail';
/** The tail's metadata entry naming how many pieces it follows. */
const TAIL_FOLLOWS = 'follows';
/** Keys per DeleteObjects request (S3's limit). */
const DELETE_BATCH = 1000;

const appendingFolderOf = (key: string): string => `${key}${APPENDING_MARK}/`;
const pieceKeyOf = (key: string, number: number): string => `${appendingFolderOf(key)}${String(number).padStart(PIECE_DIGITS, '0')}`;
const tailKeyOf = (key: string): string => `${appendingFolderOf(key)}${TAIL_NAME}`;

/** Socket errors of an endpoint that went away or cannot be reached. */
const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN']);

export interface S3StoreOptions {
  /** e.g. `http://127.0.0.1:9000` for a local S3-compatible server; absent: AWS itself. */
  readonly endpoint?: string;
  readonly region: string;
  readonly bucket: string;
  /** Absent: the SDK's default chain (environment, shared files, instance role…). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** `endpoint/bucket/key` URLs instead of `bucket.endpoint/key` (most non-AWS servers want it). */
  readonly forcePathStyle?: boolean;
  /** Size of a multipart upload's parts: default 8 MiB, at least 5 MiB (S3's minimum). */
  readonly partSizeBytes?: number;
  /**
   * Parts of one pending object in flight at once (default 4). A pending object holds at most about
   * (queueSize + 1) parts plus 2 MiB of buffers in memory; an appendable write as many pieces (of
   * partSizeBytes each), and one more while a checkpoint copies its tail.
   */
  readonly queueSize?: number;
  /**
   * How long a request may connect, or go without a byte moving either way, before it counts as
   * failed (default 30 s). The SDK retries failed requests (`maxAttempts`), so a server that holds
   * connections open without answering is named unavailable after up to maxAttempts × this. A reader
   * that stops consuming a `read` stream for longer than this loses it (the socket times out).
   */
  readonly requestTimeoutMs?: number;
  /** Attempts per request, the first included (default 3; the SDK backs off between them). */
  readonly maxAttempts?: number;
  /** Creates the bucket at start when it does not exist (tests, the dev compose); otherwise it must exist. */
  readonly createBucketIfMissing?: boolean;
  /** Told of every request that failed because the store is unavailable (one report per failure). */
  readonly onStorageError?: StorageErrorObserver;
  /**
   * When the SDK adds and checks CRC checksums: 'when-required' (the default: only for operations
   * that demand one) or 'when-supported' (the SDK's own default: on every upload and download). The
   * default is 'when-required' because s3rver, the local test server, mis-verifies the checksum
   * headers the SDK sends by default; real S3 accepts both. Integrity does not rest on it: envelope
   * bodies are AEAD segments, so a corrupted byte fails decryption.
   */
  readonly checksums?: 'when-required' | 'when-supported';
}

function checkKey(key: string): void {
  if (!KEY_PATTERN.test(key) || key.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw new Error(`invalid object key ${JSON.stringify(key)}`);
  }
}

function checkKeep(keep: number): void {
  if (!Number.isSafeInteger(keep) || keep < 0) throw new Error(`keep must be a whole number of bytes, not ${keep}`);
}

function noUploadToResume(key: string, keep: number, durableBytes: number): GatewayError {
  return new GatewayError('ERR_UPLOAD_NOT_FOUND', `no unfinished write of ${key} holds the ${keep} bytes to keep`, { keep, durableBytes });
}

/** Ends `stream` (if its writer has not) and resolves once it has finished. */
function ended(stream: Writable): Promise<void> {
  if (stream.writableFinished) return Promise.resolve();
  return new Promise((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
}

/** Runs `work` on every item, at most `limit` at once; stops starting new ones after a failure. */
async function eachAtMost<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item).catch((error: unknown) => {
        failed = true;
        throw error;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The numbers first … last (none when last < first). */
const numbersFrom = (first: number, last: number): number[] => Array.from({ length: Math.max(0, last - first + 1) }, (_, i) => first + i);

/** What an appendable write holds in the bucket: its pieces (number → size) and its tail's size, if any. */
interface AppendingObjects {
  readonly keys: readonly string[];
  readonly pieces: ReadonlyMap<number, number>;
  readonly tailSize: number | undefined;
}

/**
 * Where openAppendable leaves an appendable write: the pieces kept whole, then the bytes of the one
 * cut, which the bucket's tail holds too (no tail without them).
 */
interface KeptState {
  readonly pieces: number;
  readonly straddling: Buffer | undefined;
  readonly keptBytes: number;
}

/** Why an SDK error means the store is unavailable (an errno-like word), or undefined if it does not. */
function unavailabilityOf(error: unknown): string | undefined {
  const failure = error as { code?: unknown; name?: unknown; $metadata?: { httpStatusCode?: unknown } } | undefined;
  if (typeof failure?.code === 'string' && NETWORK_ERRORS.has(failure.code)) return failure.code;
  if (failure?.name === 'TimeoutError') return 'TIMEOUT';
  const status = failure?.$metadata?.httpStatusCode;
  if (typeof status === 'number' && status >= 500 && status <= 599) return `HTTP_${status}`;
  return undefined;
}

/** HeadObject answers a bare 404 (NotFound), GetObject NoSuchKey; NoSuchBucket is a 404 too, and no absence. */
function isAbsent(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound';
}

/** Given to a pending object's body when its writer or `abort` gives up: the upload then winds down. */
class UploadGivenUp extends Error {
  constructor() {
    super('the pending object was given up');
  }
}

/**
 * Opens the store. Nothing is asked of the server unless `createBucketIfMissing` is set, so a store
 * on an endpoint that is down opens, and its operations fail with ERR_STORAGE_UNAVAILABLE.
 */
export async function createS3Store(options: S3StoreOptions): Promise<ObjectStore> {
  const { bucket } = options;
  const partSize = options.partSizeBytes ?? DEFAULT_PART_BYTES;
  if (!Number.isInteger(partSize) || partSize < MIN_PART_BYTES) throw new Error(`partSizeBytes must be a whole number of at least ${MIN_PART_BYTES} (S3's smallest part), not ${partSize}`);
  const queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
  if (!Number.isInteger(queueSize) || queueSize < 1) throw new Error(`queueSize must be a whole number of at least 1, not ${queueSize}`);
  const timeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const checksums = options.checksums === 'when-supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
  const client = new S3Client({
    region: options.region,
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: { accessKeyId: options.credentials.accessKeyId, secretAccessKey: options.credentials.secretAccessKey } } : {}),
    forcePathStyle: options.forcePathStyle ?? false,
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
    maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    requestHandler: { connectionTimeout: timeout, socketTimeout: timeout },
  });
  const observe = options.onStorageError;

  /** An unavailable store's error named (and reported, once per call) as ERR_STORAGE_UNAVAILABLE; others as they are. */
  const named = (error: unknown, key: string, operation: string): unknown => {
    if (isStorageError(error)) return error;
    const reason = unavailabilityOf(error);
    return reason ? toUnavailableStorageError(reason, { path: `s3://${bucket}/${key}`, operation }, observe, error) : error;
  };
  const calling = async <T>(key: string, operation: string, request: () => Promise<T>): Promise<T> => {
    try {
      return await request();
    } catch (error) {
      throw named(error, key, operation);
    }
  };

  if (options.createBucketIfMissing) {
    await calling('', 'create-bucket', async () => {
      try {
        await client.send(new HeadBucketCommand({ Bucket: bucket }));
      } catch (error) {
        if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404) throw error;
        await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((created: unknown) => {
          // Another instance may have created it meanwhile.
          if ((created as { name?: string }).name !== 'BucketAlreadyOwnedByYou') throw created;
        });
      }
    });
  }

  /** Resolves to false if the upload was gone already (aborted or completed meanwhile). */
  const abortUpload = (key: string, uploadId: string): Promise<boolean> =>
    client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).then(
      () => true,
      (error: unknown) => {
        if ((error as { name?: string }).name !== 'NoSuchUpload') throw error;
        return false;
      },
    );

  const pendingUpload = (key: string): PendingObject => {
    // The upload reads `body`; the writer writes `stream`. Ending `stream` does not end `body`: only
    // commit does, for lib-storage completes the upload (and makes the object visible) when its body ends.
    const body = new PassThrough({ highWaterMark: BODY_BUFFER_BYTES });
    const upload = new Upload({ client, params: { Bucket: bucket, Key: key, Body: body }, partSize, queueSize, leavePartsOnError: false });
    let state: 'open' | 'committing' | 'committed' | 'failed' | 'aborted' = 'open';
    let written = 0;
    let givenUp = false;
    let failure: unknown;
    let aborting: Promise<void> | undefined;
    /** The write waiting for `body` to drain. */
    let waiting: ((error?: Error) => void) | undefined;
    const release = (error?: Error): void => {
      body.removeListener('drain', release);
      const resume = waiting;
      waiting = undefined;
      resume?.(error);
    };
    // Settles with the upload's error, or undefined once the object is complete.
    const outcome: Promise<unknown> = upload.done().then(
      () => undefined,
      (error: unknown) => error,
    );
    void outcome.then((error) => {
      if (error === undefined || givenUp) return;
      // Named and reported once; the waiting write, later writes and commit all get this one.
      failure ??= named(error, key, 'upload');
      release(failure as Error);
    });

    const stream = new Writable({
      highWaterMark: BODY_BUFFER_BYTES,
      write(chunk: Buffer, _encoding, callback) {
        if (failure !== undefined) return callback(failure as Error);
        written += chunk.length;
        if (body.write(chunk)) return callback();
        waiting = callback;
        body.once('drain', release);
      },
      // The upload's failures reach the writer through its writes and commit, never as an 'error'
      // event of their own: a writer that is not writing may not be listening.
      final(callback) {
        callback();
      },
      destroy(error, callback) {
        if (error && state === 'open') {
          // The writer gave up (its source failed): let the upload wind down and remove its parts.
          givenUp = true;
          body.destroy(new UploadGivenUp());
          release(error);
        }
        callback(error);
      },
    });

    return {
      stream,
      async commit() {
        if (state !== 'open') throw new Error(`object ${key} already settled`);
        state = 'committing';
        try {
          if (!stream.writableFinished) await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
          if (failure !== undefined) throw failure;
          body.end();
          const error = await outcome;
          if (error !== undefined) throw failure ?? named(error, key, 'commit');
        } catch (error) {
          state = 'failed';
          throw error;
        }
        state = 'committed';
        return { size: written };
      },
      abort() {
        aborting ??= (async () => {
          if (state === 'committing') await outcome;
          if (state === 'committed') return;
          state = 'aborted';
          givenUp = true;
          // Destroyed first, so that the write waiting for room is told it failed without an 'error' event.
          stream.destroy();
          release(new UploadGivenUp());
          // Wakes the parts waiting for bytes; lib-storage aborts the multipart upload once the
          // parts in flight are done (leavePartsOnError false). Asked again here, for that abort
          // may itself have failed; an unavailable store leaves the parts to `abortIncomplete`
          // (after the lease) and to the bucket's lifecycle rule for incomplete uploads.
          body.destroy(new UploadGivenUp());
          await outcome;
          if (upload.uploadId) await abortUpload(key, upload.uploadId).catch(() => undefined);
        })();
        return aborting;
      },
    };
  };

  /** The objects under `key`'s hidden folder. */
  const appendingObjectsOf = async (key: string): Promise<AppendingObjects> => {
    const folder = appendingFolderOf(key);
    const keys: string[] = [];
    const pieces = new Map<number, number>();
    let tailSize: number | undefined;
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: folder, ContinuationToken: token }));
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue;
        keys.push(object.Key);
        const name = object.Key.slice(folder.length);
        if (PIECE_NAME.test(name)) pieces.set(Number(name), object.Size ?? 0);
        else if (name === TAIL_NAME) tailSize = object.Size ?? 0;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return { keys, pieces, tailSize };
  };

  const deleteKeys = async (keys: readonly string[]): Promise<void> => {
    for (let at = 0; at < keys.length; at += DELETE_BATCH) {
      const batch = keys.slice(at, at + DELETE_BATCH);
      const answer = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
      const refused = answer.Errors ?? [];
      if (refused.length > 0) throw new Error(`could not delete ${refused.length} objects, e.g. ${refused[0]?.Key}: ${refused[0]?.Code} ${refused[0]?.Message}`);
    }
  };

  const removeAppending = async (key: string): Promise<number> => {
    const { keys } = await appendingObjectsOf(key);
    await deleteKeys(keys);
    return keys.length;
  };

  /** How many pieces the tail follows, as its metadata says; undefined if it is gone. */
  const tailFollowsOf = async (key: string): Promise<number | undefined> => {
    try {
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: tailKeyOf(key) }));
      const follows = Number(head.Metadata?.[TAIL_FOLLOWS]);
      return Number.isSafeInteger(follows) ? follows : undefined;
    } catch (error) {
      if (isAbsent(error)) return undefined;
      throw error;
    }
  };

  const putTail = (key: string, follows: number, bytes: Buffer): Promise<unknown> =>
    client.send(new PutObjectCommand({ Bucket: bucket, Key: tailKeyOf(key), Body: bytes, ContentLength: bytes.length, Metadata: { [TAIL_FOLLOWS]: String(follows) } }));

  /** Bytes `0 … length − 1` of an object (less than a piece: they go to memory). */
  const firstBytesOf = async (objectKey: string, length: number): Promise<Buffer> => {
    const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey, Range: `bytes=0-${length - 1}` }));
    const bytes = response.Body ? await response.Body.transformToByteArray() : new Uint8Array(0);
    if (bytes.length !== length) throw new Error(`${objectKey} answered ${bytes.length} bytes where ${length} were asked for: changed meanwhile`);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };

  /**
   * The durable bytes are the pieces from 000001 on, as long as they follow one another whole, then
   * the tail if it follows the last of them. `keep` of them stay: the piece (or tail) that `keep`
   * cuts gives its first bytes to memory and a tail of their own, the pieces after it go. The tail is
   * written before the pieces are deleted, so that a crash meanwhile leaves still `keep` durable bytes.
   */
  const keepDurable = async (key: string, keep: number): Promise<KeptState> => {
    const held = await appendingObjectsOf(key);
    let whole = 0;
    while (held.pieces.get(whole + 1) === partSize) whole += 1;
    const tailFollows = held.tailSize === undefined ? undefined : await tailFollowsOf(key);
    const tailBytes = tailFollows === whole && held.tailSize !== undefined && held.tailSize < partSize ? held.tailSize : 0;
    if (whole * partSize + tailBytes < keep) throw noUploadToResume(key, keep, whole * partSize + tailBytes);
    const pieces = Math.floor(keep / partSize);
    const cut = keep - pieces * partSize;
    let straddling: Buffer | undefined;
    if (cut > 0) {
      const inTail = pieces === whole;
      straddling = await firstBytesOf(inTail ? tailKeyOf(key) : pieceKeyOf(key, pieces + 1), cut);
      if (!(inTail && cut === tailBytes)) await putTail(key, pieces, straddling);
    } else if (held.tailSize !== undefined) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: tailKeyOf(key) }));
    }
    await deleteKeys([...held.pieces.keys()].filter((number) => number > pieces).map((number) => pieceKeyOf(key, number)));
    return { pieces, straddling, keptBytes: keep };
  };

  /**
   * Written bytes gather in memory; each full piece is PUT at once, at most `queueSize` at a time (a
   * write waits for room: memory stays within about queueSize + 1 pieces).
   */
  const appendableUpload = (key: string, kept: KeptState): AppendableObject => {
    let state: 'open' | 'committing' | 'committed' | 'failed' | 'aborted' | 'released' = 'open';
    /** The bytes after the last piece cut. */
    let buffer: Buffer[] = kept.straddling ? [kept.straddling] : [];
    let bufferBytes = kept.straddling?.length ?? 0;
    /** Pieces cut so far, stored or being stored. */
    let pieces = kept.pieces;
    /** Pieces the last checkpoint covered (its tail follows them): release deletes those after. */
    let durablePieces = kept.pieces;
    /** Bytes of the tail the bucket holds (after the durable pieces). */
    let tailBytes = kept.straddling?.length ?? 0;
    /** A checkpoint failed: which tail the bucket holds is not known, so release deletes nothing. */
    let uncertain = false;
    /** No piece is stored any more (release, abort): the bucket is left to them. */
    let stopped = false;
    let failure: unknown;
    const storing = new Map<number, Promise<void>>();
    let checkpoints: Promise<unknown> = Promise.resolve();
    let uploadId: string | undefined;
    let committing: Promise<unknown> | undefined;
    let settling: Promise<void> | undefined;

    const takePiece = (): Buffer => {
      const parts: Buffer[] = [];
      for (let needed = partSize; needed > 0; ) {
        const first = buffer[0] as Buffer;
        if (first.length <= needed) {
          parts.push(first);
          buffer.shift();
          needed -= first.length;
        } else {
          parts.push(first.subarray(0, needed));
          buffer[0] = first.subarray(needed);
          needed = 0;
        }
      }
      bufferBytes -= partSize;
      return Buffer.concat(parts, partSize);
    };
    const storePiece = (number: number, bytes: Buffer): void => {
      const stored = client
        .send(new PutObjectCommand({ Bucket: bucket, Key: pieceKeyOf(key, number), Body: bytes, ContentLength: bytes.length }))
        .then(
          () => undefined,
          (error: unknown) => {
            // Named and reported once; later writes, checkpoints and commit all get this one.
            failure ??= named(error, key, 'upload');
          },
        )
        .then(() => {
          storing.delete(number);
        });
      storing.set(number, stored);
    };
    const cutPieces = async (): Promise<void> => {
      while (bufferBytes >= partSize && !stopped) {
        while (storing.size >= queueSize) await Promise.race(storing.values());
        if (failure !== undefined) throw failure;
        if (stopped) return;
        pieces += 1;
        storePiece(pieces, takePiece());
      }
    };
    /** Stops storing and waits for what was under way, so that nothing lands in the bucket afterwards. */
    const stop = async (): Promise<void> => {
      stopped = true;
      stream.destroy();
      buffer = [];
      bufferBytes = 0;
      await checkpoints;
      await Promise.all(storing.values());
    };
    const settled = (): Error => new Error(`appendable object ${key} already settled`);

    const stream = new Writable({
      highWaterMark: BODY_BUFFER_BYTES,
      write(chunk: Buffer, _encoding, callback) {
        if (failure !== undefined) return callback(failure as Error);
        buffer.push(chunk);
        bufferBytes += chunk.length;
        cutPieces().then(() => callback(), callback);
      },
    });

    /** The object from the pieces (copied server-side) and the bytes in memory as the last part. */
    const composeFromPieces = async (): Promise<void> => {
      const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      const id = created.UploadId as string;
      uploadId = id;
      try {
        const parts: CompletedPart[] = [];
        await eachAtMost(numbersFrom(1, pieces), queueSize, async (number) => {
          const copied = await client.send(new UploadPartCopyCommand({ Bucket: bucket, Key: key, UploadId: id, PartNumber: number, CopySource: `${bucket}/${pieceKeyOf(key, number)}` }));
          parts.push({ PartNumber: number, ETag: copied.CopyPartResult?.ETag });
        });
        if (bufferBytes > 0) {
          const last = Buffer.concat(buffer, bufferBytes);
          const uploaded = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: id, PartNumber: pieces + 1, Body: last, ContentLength: last.length }));
          parts.push({ PartNumber: pieces + 1, ETag: uploaded.ETag });
        }
        parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
        await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: id, MultipartUpload: { Parts: parts } }));
      } catch (error) {
        await abortUpload(key, id).catch(() => undefined);
        throw error;
      }
    };
    const putWhole = async (): Promise<void> => {
      const bytes = Buffer.concat(buffer, bufferBytes);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentLength: bytes.length }));
    };

    return {
      stream,
      keptBytes: kept.keptBytes,
      readKept() {
        const { pieces: whole, straddling } = kept;
        async function* chunks(): AsyncGenerator<Uint8Array> {
          for (const number of numbersFrom(1, whole)) {
            try {
              const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: pieceKeyOf(key, number) }));
              if (response.Body) yield* response.Body as Readable;
            } catch (error) {
              throw named(error, key, 'read');
            }
          }
          if (straddling) yield straddling;
        }
        return Readable.from(chunks(), { objectMode: false });
      },
      checkpoint() {
        if (state !== 'open') return Promise.reject(settled());
        // What the writes completed so far hold, taken now: release may empty the buffer meanwhile.
        const covered = pieces;
        const tail = Buffer.concat(buffer, bufferBytes);
        // One after another: a tail must never be overwritten by an older one.
        const run = checkpoints.then(async () => {
          await Promise.all([...storing].filter(([number]) => number <= covered).map(([, stored]) => stored));
          if (failure !== undefined) throw failure;
          // Bytes only ever follow: the same pieces and tail length are the same bytes, durable already.
          const unchanged = covered === durablePieces && tail.length === tailBytes;
          if (!unchanged) {
            await calling(key, 'checkpoint', async () => {
              if (tail.length > 0) await putTail(key, covered, tail);
              else if (tailBytes > 0) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: tailKeyOf(key) }));
            });
          }
          durablePieces = covered;
          tailBytes = tail.length;
          return covered * partSize + tail.length;
        });
        checkpoints = run.catch(() => {
          uncertain = true;
        });
        return run;
      },
      commit() {
        if (state === 'released') return Promise.resolve({ size: 0 });
        if (state !== 'open') return Promise.reject(settled());
        state = 'committing';
        const commit = (async () => {
          try {
            await ended(stream);
            // No tail or piece may land after the clean-up below.
            await checkpoints;
            await Promise.all(storing.values());
            if (failure !== undefined) throw failure;
            const size = pieces * partSize + bufferBytes;
            await calling(key, 'commit', () => (pieces === 0 ? putWhole() : composeFromPieces()));
            state = 'committed';
            buffer = [];
            // Invisible leftovers: if they stay, abortIncomplete or a fresh start of the key removes them.
            await removeAppending(key).catch((error: unknown) => named(error, key, 'delete'));
            return { size };
          } catch (error) {
            state = 'failed';
            throw error;
          }
        })();
        committing = commit;
        return commit;
      },
      abort() {
        settling ??= (async () => {
          await committing?.catch(() => undefined);
          if (state === 'committed' || state === 'released') return;
          state = 'aborted';
          await stop();
          if (uploadId) await abortUpload(key, uploadId).catch(() => undefined);
          await calling(key, 'delete', () => removeAppending(key));
        })();
        // A failed clean-up may be asked again.
        settling.catch(() => (settling = undefined));
        return settling;
      },
      release() {
        settling ??= (async () => {
          if (state !== 'open') return;
          state = 'released';
          await stop();
          if (uncertain) return;
          // Pieces no checkpoint covered go: a later openAppendable finds what the last one reported.
          const uncovered = numbersFrom(durablePieces + 1, pieces).map((number) => pieceKeyOf(key, number));
          await calling(key, 'delete', () => deleteKeys(uncovered));
        })();
        settling.catch(() => (settling = undefined));
        return settling;
      },
    };
  };

  return {
    async createPending(key) {
      checkKey(key);
      return pendingUpload(key);
    },
    async openAppendable(key, keep) {
      checkKey(key);
      checkKeep(keep);
      const kept = await calling(key, 'open-appendable', async (): Promise<KeptState> => {
        if (keep > 0) return keepDurable(key, keep);
        await removeAppending(key);
        return { pieces: 0, straddling: undefined, keptBytes: 0 };
      });
      return appendableUpload(key, kept);
    },
    async put(key, bytes) {
      checkKey(key);
      await calling(key, 'put', () => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentLength: bytes.byteLength })));
    },
    async get(key) {
      checkKey(key);
      return calling(key, 'get', async () => {
        try {
          const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
          const bytes = response.Body ? await response.Body.transformToByteArray() : new Uint8Array(0);
          return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        } catch (error) {
          if (isAbsent(error)) return undefined;
          throw error;
        }
      });
    },
    async stat(key) {
      checkKey(key);
      return calling(key, 'stat', async () => {
        try {
          const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
          return { size: head.ContentLength ?? 0 };
        } catch (error) {
          if (isAbsent(error)) return undefined;
          throw error;
        }
      });
    },
    read(key, range) {
      checkKey(key);
      async function* chunks(): AsyncGenerator<Uint8Array> {
        try {
          const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }));
          if (response.Body) yield* response.Body as Readable;
        } catch (error) {
          throw named(error, key, 'read');
        }
      }
      return Readable.from(chunks(), { objectMode: false });
    },
    async delete(key) {
      checkKey(key);
      await calling(key, 'delete', () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
    },
    async abortIncomplete(key) {
      checkKey(key);
      return calling(key, 'abort-incomplete', async () => {
        // An appendable write counts as one, whatever number of objects it holds.
        let aborted = (await removeAppending(key)) > 0 ? 1 : 0;
        let markers: { KeyMarker?: string; UploadIdMarker?: string } = {};
        for (;;) {
          // Prefix matches `key.v2` too: only uploads of exactly this key are aborted.
          const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key, ...markers }));
          for (const upload of page.Uploads ?? []) {
            if (upload.Key === key && upload.UploadId && (await abortUpload(key, upload.UploadId))) aborted += 1;
          }
          if (!page.IsTruncated) return aborted;
          markers = { KeyMarker: page.NextKeyMarker, UploadIdMarker: page.NextUploadIdMarker };
        }
      });
    },
    async list(prefix) {
      const folder = prefix.replace(/\/$/, '');
      checkKey(folder);
      return calling(folder, 'list', async () => {
        const keys: string[] = [];
        let token: string | undefined;
        do {
          // The delimiter keeps sub-folders' keys out (they come back as CommonPrefixes), and with
          // them the hidden folders of appendable writes (`<key>~appending/`).
          const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${folder}/`, Delimiter: '/', ContinuationToken: token }));
          for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
        return keys;
      });
    },
    async close() {
      client.destroy();
    },
  };
}
