// The object store contract on the S3 store (a bucket of its own on the run's local S3 server, in
// 5 MiB parts so that the contract's 12 MiB objects go as multipart uploads, and appendable writes in
// 5 MiB pieces), plus what only S3 has: no test may leave a multipart upload behind
// (ListMultipartUploads), nor an appendable write's hidden objects once it is committed or aborted.
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore, PendingObject } from '../../gateway/storage/object-store.js';
import { createS3Store } from '../../gateway/storage/s3-store.js';
import type { StorageFailure } from '../../gateway/storage/storage-errors.js';
import { errorCodeOf } from '../support/error-code.js';
import { multipartUploadsIn, removeTestBucket, testS3Client, uniqueTestBucket, type TestS3Location } from '../support/s3.js';
import { describeObjectStoreContract } from './object-store.contract.js';

const MiB = 1024 * 1024;

/** Every object in the bucket, hidden ones included, sorted. */
async function objectsIn(location: TestS3Location): Promise<string[]> {
  const client = testS3Client(location);
  try {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: location.bucket, ContinuationToken: token }));
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  } finally {
    client.destroy();
  }
}

function write(pending: PendingObject, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => pending.stream.write(chunk, (error) => (error ? reject(error) : resolve())));
}

/** `mebibytes` MiB, each filled with its own number (from `first` on). */
async function writeMebibytes(pending: PendingObject, first: number, mebibytes: number): Promise<void> {
  for (let i = first; i < first + mebibytes; i += 1) await write(pending, Buffer.alloc(MiB, i));
}

const openS3Store = (location: TestS3Location, onStorageError?: (failure: StorageFailure) => void): Promise<ObjectStore> =>
  createS3Store({ ...location, forcePathStyle: true, createBucketIfMissing: true, partSizeBytes: 5 * MiB, ...(onStorageError ? { onStorageError } : {}) });

describeObjectStoreContract('S3 store', async () => {
  const location = uniqueTestBucket();
  return {
    store: await openS3Store(location),
    async cleanup() {
      const left = await multipartUploadsIn(location);
      await removeTestBucket(location);
      expect(left, 'multipart uploads left in the bucket').toEqual([]);
    },
  };
});

describe('S3 store: multipart uploads', () => {
  let location: TestS3Location;
  let store: ObjectStore;
  let failures: StorageFailure[];
  beforeEach(async () => {
    location = uniqueTestBucket();
    failures = [];
    store = await openS3Store(location, (failure) => failures.push(failure));
  });
  afterEach(async () => {
    await store.close();
    await removeTestBucket(location);
  });

  /** Writes 12 MiB (past two 5 MiB parts) and waits until the store has begun its multipart upload. */
  const begunUpload = async (key: string) => {
    const pending = await store.createPending(key);
    const chunk = Buffer.alloc(MiB, 0x5a);
    for (let i = 0; i < 12; i += 1) await new Promise<void>((resolve, reject) => pending.stream.write(Buffer.from(chunk), (error) => (error ? reject(error) : resolve())));
    await expect.poll(async () => (await multipartUploadsIn(location)).map((upload) => upload.key), { timeout: 30_000, interval: 100 }).toEqual([key]);
    return pending;
  };

  it('abort removes the upload begun for a pending object, parts and all', async () => {
    const pending = await begunUpload('envelopes/aborted.body');
    await pending.abort();
    expect(await multipartUploadsIn(location)).toEqual([]);
    expect(await store.stat('envelopes/aborted.body')).toBeUndefined();
  });

  it("a writer's own failure (a sender's cut connection) is its own, no storage failure; the upload winds down and abort leaves nothing", async () => {
    const pending = await store.createPending('envelopes/cut.body');
    const cut = Object.assign(new Error('the sender went away'), { code: 'ECONNRESET' });
    async function* sender(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 12; i += 1) yield Buffer.alloc(MiB, i);
      await expect.poll(async () => (await multipartUploadsIn(location)).length, { timeout: 30_000, interval: 100 }).toBe(1);
      throw cut;
    }
    await expect(pipeline(Readable.from(sender()), pending.stream)).rejects.toBe(cut);
    await pending.abort();
    expect(failures).toEqual([]);
    expect(await multipartUploadsIn(location)).toEqual([]);
    expect(await store.stat('envelopes/cut.body')).toBeUndefined();
  });

  it('abortIncomplete removes the upload a dead writer left of its key, and only that one', async () => {
    await begunUpload('envelopes/dead.body');
    const alive = await store.createPending('envelopes/dead.body.v2');
    await new Promise<void>((resolve) => alive.stream.end(Buffer.alloc(6 * MiB, 1), () => resolve()));
    await expect.poll(async () => (await multipartUploadsIn(location)).length, { timeout: 30_000, interval: 100 }).toBe(2);
    expect(await store.abortIncomplete('envelopes/dead.body')).toBe(1);
    expect((await multipartUploadsIn(location)).map((upload) => upload.key)).toEqual(['envelopes/dead.body.v2']);
    await expect(alive.commit()).resolves.toEqual({ size: 6 * MiB });
    expect(await multipartUploadsIn(location)).toEqual([]);
    expect(await store.list('envelopes')).toEqual(['envelopes/dead.body.v2']);
  });
});

describe('S3 store: appendable writes', () => {
  let location: TestS3Location;
  let store: ObjectStore;
  beforeEach(async () => {
    location = uniqueTestBucket();
    store = await openS3Store(location);
  });
  afterEach(async () => {
    await store.close();
    await removeTestBucket(location);
  });

  it('hold pieces of 5 MiB and a tail in a hidden folder, and leave neither them nor a multipart upload once committed or aborted', async () => {
    const committed = await store.openAppendable('envelopes/c.body', 0);
    await writeMebibytes(committed, 0, 12);
    expect(await committed.checkpoint()).toBe(12 * MiB);
    expect(await objectsIn(location)).toEqual(['envelopes/c.body~appending/000001', 'envelopes/c.body~appending/000002', `envelopes/c.body~appending/tail.000002.${2 * MiB}`]);
    expect(await store.list('envelopes')).toEqual([]);
    await writeMebibytes(committed, 12, 1);
    await new Promise<void>((resolve) => committed.stream.end(resolve));
    await expect(committed.commit()).resolves.toEqual({ size: 13 * MiB });
    expect(await objectsIn(location)).toEqual(['envelopes/c.body']);
    expect(await multipartUploadsIn(location)).toEqual([]);
    const expected = Buffer.concat(Array.from({ length: 13 }, (_, i) => Buffer.alloc(MiB, i)));
    expect((await store.get('envelopes/c.body'))?.equals(expected)).toBe(true);

    const aborted = await store.openAppendable('envelopes/a.body', 0);
    await writeMebibytes(aborted, 0, 12);
    await aborted.checkpoint();
    await writeMebibytes(aborted, 12, 6); // a piece being stored as abort comes
    await aborted.abort();
    expect(await objectsIn(location)).toEqual(['envelopes/c.body']);
    expect(await multipartUploadsIn(location)).toEqual([]);
  });

  it('never takes a stale tail (one older than the last piece) for durable bytes', async () => {
    const key = 'envelopes/stale.body';
    const dying = await store.openAppendable(key, 0);
    await writeMebibytes(dying, 0, 3);
    expect(await dying.checkpoint()).toBe(3 * MiB); // a tail of 3 MiB after no piece
    await writeMebibytes(dying, 3, 3); // piece 000001 fills and is stored; no checkpoint follows
    await expect.poll(() => objectsIn(location), { timeout: 30_000, interval: 100 }).toContain(`${key}~appending/000001`);
    // As after a kill: the writer neither checkpoints nor releases. Durable: piece 1, the tail not.
    expect(await errorCodeOf(store.openAppendable(key, 5 * MiB + 1))).toBe('ERR_UPLOAD_NOT_FOUND');
    const resumed = await store.openAppendable(key, 3 * MiB);
    const kept: Buffer[] = [];
    for await (const chunk of resumed.readKept() as AsyncIterable<Buffer>) kept.push(chunk);
    expect(Buffer.concat(kept).equals(Buffer.concat([0, 1, 2].map((i) => Buffer.alloc(MiB, i))))).toBe(true);
    await resumed.release();
    expect(await objectsIn(location)).toEqual([`${key}~appending/tail.000000.${3 * MiB}`]);
    expect(await errorCodeOf(store.openAppendable(key, 3 * MiB + 1))).toBe('ERR_UPLOAD_NOT_FOUND');
  });

  it('a tail is never written over: a checkpoint whose PUT was cut half-way (a server that keeps the half, as the test server does) costs nothing that was durable', async () => {
    const key = 'envelopes/cut-tail.body';
    const writer = await store.openAppendable(key, 0);
    await writeMebibytes(writer, 0, 2);
    expect(await writer.checkpoint()).toBe(2 * MiB);
    await writer.release();
    // The next checkpoint's tail (4 MiB), of which the server kept only 1 MiB when the writer died.
    const client = testS3Client(location);
    await client.send(new PutObjectCommand({ Bucket: location.bucket, Key: `${key}~appending/tail.000000.${4 * MiB}`, Body: Buffer.alloc(MiB, 9) }));
    client.destroy();
    expect(await errorCodeOf(store.openAppendable(key, 2 * MiB + 1))).toBe('ERR_UPLOAD_NOT_FOUND');
    const resumed = await store.openAppendable(key, 2 * MiB);
    const kept: Buffer[] = [];
    for await (const chunk of resumed.readKept() as AsyncIterable<Buffer>) kept.push(chunk);
    expect(Buffer.concat(kept).equals(Buffer.concat([0, 1].map((i) => Buffer.alloc(MiB, i))))).toBe(true);
    // The broken tail is gone with the open; the durable one stays.
    expect(await objectsIn(location)).toEqual([`${key}~appending/tail.000000.${2 * MiB}`]);
    await resumed.abort();
  });

  it('names an endpoint nobody answers on ERR_STORAGE_UNAVAILABLE', async () => {
    const listener = createServer();
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const { port } = listener.address() as { port: number };
    await new Promise((resolve) => listener.close(resolve));
    const failures: StorageFailure[] = [];
    const down = await createS3Store({ ...location, endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, partSizeBytes: 5 * MiB, maxAttempts: 1, onStorageError: (failure) => failures.push(failure) });
    try {
      expect(await errorCodeOf(down.openAppendable('envelopes/down.body', 0))).toBe('ERR_STORAGE_UNAVAILABLE');
      expect(await errorCodeOf(down.openAppendable('envelopes/down.body', 10))).toBe('ERR_STORAGE_UNAVAILABLE');
      expect(failures.map((failure) => failure.errno)).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
    } finally {
      await down.close();
    }
  });
});
