// The object store contract on the S3 store (a bucket of its own on the run's local S3 server, in
// 5 MiB parts so that the contract's 12 MiB objects go as multipart uploads), plus what only S3 has:
// no test may leave a multipart upload behind (ListMultipartUploads).
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../gateway/storage/object-store.js';
import { createS3Store } from '../../gateway/storage/s3-store.js';
import type { StorageFailure } from '../../gateway/storage/storage-errors.js';
import { multipartUploadsIn, removeTestBucket, uniqueTestBucket, type TestS3Location } from '../support/s3.js';
import { describeObjectStoreContract } from './object-store.contract.js';

const MiB = 1024 * 1024;

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
