// The object store of the gateway's shared mode: one S3-compatible bucket that every instance uses,
// through the AWS SDK v3. A pending object streams into a lib-storage Upload (a multipart upload in
// parts of `partSizeBytes`, at most `queueSize` of them in flight, so memory stays bounded whatever
// the size; a body smaller than one part goes as one PutObject) whose body is ended only at commit:
// until then nothing is visible under the key. An abort, a failed upload, or `abortIncomplete` after
// an instance died mid-upload removes the parts. An endpoint that does not answer, drops the
// connection or answers 5xx is GatewayError ERR_STORAGE_UNAVAILABLE (503), reported once to
// `onStorageError` as the filesystem store reports a failing disk (storage-errors.ts).
//
// Appendable writes (resumable uploads) live in s3-appendable-writes.ts: pieces and a tail under a
// hidden folder of their key, composed server-side at commit.
//
// On Node 20 the SDK emits a NodeVersionSupportWarning once per process (its releases after January
// 2027 need Node 22). The SDK's own switch silences it: AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
// in the process's environment, set by whoever starts the process (this module reads no environment).
import { PassThrough, Readable, Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { ObjectStore, PendingObject } from './object-store.js';
import { createS3AppendableWrites } from './s3-appendable-writes.js';
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

/** Why an SDK error means the store is unavailable (an errno-like word), or undefined if it does not. */
function unavailabilityOf(error: unknown): string | undefined {
  const failure = error as { code?: unknown; name?: unknown; $metadata?: { httpStatusCode?: unknown } } | undefined;
  if (typeof failure?.code === 'string' && NETWORK_ERRORS.has(failure.code)) return failure.code;
  if (failure?.name === 'TimeoutError') return 'TIMEOUT';
  const status = failure?.$metadata?.httpStatusCode;
  if (typeof status === 'number' && status >= 500 && status <= 599) return `HTTP_${status}`;
  return undefined;
}

/** Given to a pending object's body when its writer or `abort` gives up: the upload then winds down. */
class UploadGivenUp extends Error {
  constructor() {
    super('the pending object was given up');
  }
}

/** HeadObject answers a bare 404 (NotFound), GetObject NoSuchKey; NoSuchBucket is a 404 too, and no absence. */
function isAbsent(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound';
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

  const appendable = createS3AppendableWrites({ client, bucket, partSize, queueSize, bodyBufferBytes: BODY_BUFFER_BYTES, named, calling, abortUpload });

  return {
    async createPending(key) {
      checkKey(key);
      return pendingUpload(key);
    },
    async openAppendable(key, keep) {
      checkKey(key);
      return appendable.open(key, keep);
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
        let aborted = (await appendable.remove(key)) > 0 ? 1 : 0;
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
