// The appendable writes of the S3 store (s3-store.ts): objects written over several sessions, a
// resumable upload's, which a later openAppendable of the same key keeps and appends after.
//
// An appendable write (a resumable upload) cannot be an unfinished multipart upload: S3 can neither
// read one back nor say which parts it holds everywhere (the test server has no ListParts). So it is
// ordinary objects under a hidden folder of its key, `<key>~appending/` (`~` is no key character: no
// key lies there, and a listing shows the folder only as a common prefix): pieces `000001`, `000002`…
// of exactly `partSizeBytes` each, PUT as they fill, and at each checkpoint a new tail holding the
// bytes after the last full piece, named by the pieces it follows and its length (a tail older than
// the last piece is stale, one whose size is not its length was cut half-way: neither is used), the
// one before removed only once it is whole. Commit composes the object server-side: a multipart upload of the
// pieces (UploadPartCopy) and the bytes still in memory, then removes the hidden folder.
//
// The store hands in its client and settings, and its way of naming a failed request's error
// (ERR_STORAGE_UNAVAILABLE, reported once), so that both name the same failures the same way.
import { Readable, Writable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { GatewayError } from '../errors.js';
import type { AppendableObject } from './object-store.js';

/** The hidden folder of an appendable write is `<key>~appending/`: `~` is no key character. */
const APPENDING_MARK = '~appending';
/** Piece names: numbers of this many digits, which sort as the pieces follow one another. */
const PIECE_DIGITS = 6;
const PIECE_NAME = /^\d{6}$/;
/**
 * Tail names: `tail.<pieces it follows>.<its length>`. A tail is never written over: each checkpoint
 * puts a new one, then removes the one before, so a PUT cut half-way (a crash) never costs the tail
 * that was durable — and since the name says the length, a server that keeps half a PUT (the test
 * server writes objects in place) shows a tail whose size does not match, which is never used.
 */
const TAIL_NAME = /^tail\.(\d{6})\.(\d+)$/;
/** Keys per DeleteObjects request (S3's limit). */
const DELETE_BATCH = 1000;

const appendingFolderOf = (key: string): string => `${key}${APPENDING_MARK}/`;
const pieceKeyOf = (key: string, number: number): string => `${appendingFolderOf(key)}${String(number).padStart(PIECE_DIGITS, '0')}`;
const tailKeyOf = (key: string, follows: number, length: number): string => `${appendingFolderOf(key)}tail.${String(follows).padStart(PIECE_DIGITS, '0')}.${length}`;

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

/** A tail the bucket holds whole (its size is the length its name says). */
interface StoredTail {
  readonly objectKey: string;
  readonly follows: number;
  readonly length: number;
}

/** What an appendable write holds in the bucket: its pieces (number → size) and its whole tails. */
interface AppendingObjects {
  readonly keys: readonly string[];
  readonly pieces: ReadonlyMap<number, number>;
  readonly tails: readonly StoredTail[];
}

/**
 * Where openAppendable leaves an appendable write: the pieces kept whole, then the bytes of the one
 * cut, which the bucket's tail holds too (no tail without them).
 */
interface KeptState {
  readonly pieces: number;
  readonly straddling: Buffer | undefined;
  readonly keptBytes: number;
  /** The tail object holding `straddling`, when there is one. */
  readonly tailKey?: string;
}

/** What the appendable writes use of the store (s3-store.ts). */
export interface S3AppendableContext {
  readonly client: S3Client;
  readonly bucket: string;
  /** Size of a piece (the store's part size). */
  readonly partSize: number;
  /** Pieces of one appendable write being stored (or copied at commit) at once. */
  readonly queueSize: number;
  /** What an appendable object takes in before the writer waits (besides the pieces). */
  readonly bodyBufferBytes: number;
  /** An unavailable store's error named (and reported, once per call) as ERR_STORAGE_UNAVAILABLE; others as they are. */
  readonly named: (error: unknown, key: string, operation: string) => unknown;
  /** Runs `request`, its error named as `named` does. */
  readonly calling: <T>(key: string, operation: string, request: () => Promise<T>) => Promise<T>;
  /** Aborts a multipart upload; resolves to false if it was gone already (aborted or completed meanwhile). */
  readonly abortUpload: (key: string, uploadId: string) => Promise<boolean>;
}

export interface S3AppendableWrites {
  /** The store's openAppendable, for a key already checked: `keep` bytes kept (0: a fresh start, leftovers removed). */
  open(key: string, keep: number): Promise<AppendableObject>;
  /**
   * Removes what an appendable write of `key` holds in the bucket; resolves to the number of objects
   * removed (0: none was there). Its errors are the SDK's, for the caller to name.
   */
  remove(key: string): Promise<number>;
}

/** The appendable writes of the store that `context` describes. */
export function createS3AppendableWrites(context: S3AppendableContext): S3AppendableWrites {
  const { client, bucket, partSize, queueSize, bodyBufferBytes, named, calling, abortUpload } = context;

  /** The objects under `key`'s hidden folder. */
  const appendingObjectsOf = async (key: string): Promise<AppendingObjects> => {
    const folder = appendingFolderOf(key);
    const keys: string[] = [];
    const pieces = new Map<number, number>();
    const tails: StoredTail[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: folder, ContinuationToken: token }));
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue;
        keys.push(object.Key);
        const name = object.Key.slice(folder.length);
        if (PIECE_NAME.test(name)) pieces.set(Number(name), object.Size ?? 0);
        const tail = TAIL_NAME.exec(name);
        if (tail && Number(tail[2]) === object.Size) tails.push({ objectKey: object.Key, follows: Number(tail[1]), length: Number(tail[2]) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return { keys, pieces, tails };
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

  /** Puts a tail of `bytes` after `follows` pieces; resolves to its object key. */
  const putTail = async (key: string, follows: number, bytes: Buffer): Promise<string> => {
    const objectKey = tailKeyOf(key, follows, bytes.length);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: objectKey, Body: bytes, ContentLength: bytes.length }));
    return objectKey;
  };

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
    // Of the tails that follow the last whole piece, the longest is the newest (bytes only follow).
    const tail = held.tails.filter((candidate) => candidate.follows === whole && candidate.length < partSize).sort((a, b) => b.length - a.length)[0];
    const tailBytes = tail?.length ?? 0;
    if (whole * partSize + tailBytes < keep) throw noUploadToResume(key, keep, whole * partSize + tailBytes);
    const pieces = Math.floor(keep / partSize);
    const cut = keep - pieces * partSize;
    let straddling: Buffer | undefined;
    let keptTail: string | undefined;
    if (cut > 0) {
      const inTail = pieces === whole && tail !== undefined;
      straddling = await firstBytesOf(inTail ? tail.objectKey : pieceKeyOf(key, pieces + 1), cut);
      keptTail = inTail && cut === tailBytes ? tail.objectKey : await putTail(key, pieces, straddling);
    }
    const staleTails = held.tails.map((stored) => stored.objectKey).filter((objectKey) => objectKey !== keptTail);
    // Tails that are not whole (a PUT cut half-way on a server that keeps halves) go too.
    const brokenTails = held.keys.filter((objectKey) => objectKey.slice(appendingFolderOf(key).length).startsWith('tail.') && !held.tails.some((stored) => stored.objectKey === objectKey));
    await deleteKeys([...[...held.pieces.keys()].filter((number) => number > pieces).map((number) => pieceKeyOf(key, number)), ...staleTails, ...brokenTails]);
    return { pieces, straddling, keptBytes: keep, ...(keptTail ? { tailKey: keptTail } : {}) };
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
    /** That tail's object, replaced (never written over) at each checkpoint that changes it. */
    let tailKey = kept.tailKey;
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
      highWaterMark: bodyBufferBytes,
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
              const previous = tailKey;
              tailKey = tail.length > 0 ? await putTail(key, covered, tail) : undefined;
              // Only once the new tail is whole does the one before it go.
              if (previous !== undefined && previous !== tailKey) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: previous }));
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
    async open(key, keep) {
      checkKeep(keep);
      const kept = await calling(key, 'open-appendable', async (): Promise<KeptState> => {
        if (keep > 0) return keepDurable(key, keep);
        await removeAppending(key);
        return { pieces: 0, straddling: undefined, keptBytes: 0 };
      });
      return appendableUpload(key, kept);
    },
    remove: removeAppending,
  };
}
