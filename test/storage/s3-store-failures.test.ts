// The S3 store when its server fails: an S3 server process of this file's own, killed (SIGKILL) in
// the middle of a pending object's stream or before its commit, then restarted on the same folder; a
// port nobody listens on; a server that accepts connections and never answers. Each failure is
// ERR_STORAGE_UNAVAILABLE, reported once to onStorageError, within bounded time — no crash, no hang —
// and nothing becomes visible under the key.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore, PendingObject } from '../../gateway/storage/object-store.js';
import { createS3Store, type S3StoreOptions } from '../../gateway/storage/s3-store.js';
import type { StorageFailure } from '../../gateway/storage/storage-errors.js';
import { multipartUploadsIn, removeTestBucket, uniqueTestBucket, type TestS3Location } from '../support/s3.js';
import { startS3ServerProcess, type S3ServerProcess } from '../support/s3-server-process.js';

const MiB = 1024 * 1024;
const KEY = 'envelopes/killed.body';
/** Generous bounds (the CI machine is loaded): a failure must arrive, not arrive fast. */
const FAILURE_BOUND_MS = 45_000;

/** Rejects with a clear message if `promise` has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/** The error `promise` rejects with (failing the test if it resolves). */
async function failureOf(promise: Promise<unknown>, what: string): Promise<unknown> {
  const outcome = await within(
    promise.then(
      () => ({ resolved: true as const }),
      (error: unknown) => ({ resolved: false as const, error }),
    ),
    FAILURE_BOUND_MS,
    what,
  );
  if (outcome.resolved) throw new Error(`${what} succeeded; it should have failed`);
  return outcome.error;
}

const unavailable = expect.objectContaining({ code: 'ERR_STORAGE_UNAVAILABLE', status: 503 });

/** A loopback port that was free a moment ago. */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function write(pending: PendingObject, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => pending.stream.write(chunk, (error) => (error ? reject(error) : resolve())));
}

describe('S3 store: its server killed', () => {
  let dir: string;
  let server: S3ServerProcess;
  let location: TestS3Location;
  let store: ObjectStore;
  let failures: StorageFailure[];
  const open = (endpoint: string): Promise<ObjectStore> =>
    createS3Store({ ...location, endpoint, forcePathStyle: true, createBucketIfMissing: true, partSizeBytes: 5 * MiB, requestTimeoutMs: 5_000, onStorageError: (failure) => failures.push(failure) });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hetao-s3-killed-'));
    server = await startS3ServerProcess({ dir });
    location = uniqueTestBucket(server.endpoint);
    failures = [];
    store = await open(server.endpoint);
  });
  afterEach(async () => {
    await store.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * The server back on the same folder and port: nothing is visible under the key; the upload the
   * dead server held is still listed (the abort could not reach it) until abortIncomplete removes it.
   */
  const afterRestart = async (): Promise<void> => {
    server = await startS3ServerProcess({ dir, port: server.port });
    location = { ...location, endpoint: server.endpoint };
    expect(await store.stat(KEY)).toBeUndefined();
    expect(await store.get(KEY)).toBeUndefined();
    expect(await store.list('envelopes')).toEqual([]);
    expect((await multipartUploadsIn(location)).map((upload) => upload.key)).toEqual([KEY]);
    expect(await store.abortIncomplete(KEY)).toBe(1);
    expect(await multipartUploadsIn(location)).toEqual([]);
    // The same store works again once its server is back.
    await store.put('records/after.json', Buffer.from('{}'));
    expect((await store.get('records/after.json'))?.toString()).toBe('{}');
    await removeTestBucket(location);
  };

  it('in the middle of a stream: the write fails with ERR_STORAGE_UNAVAILABLE, reported once; abort resolves; nothing visible after a restart', async () => {
    const pending = await store.createPending(KEY);
    let sent = 0;
    // Endless: the stream ends only by failing. Once the upload has begun (its first parts are
    // out), the server is killed; the source goes on until the store refuses more.
    const source = async function* (): AsyncGenerator<Buffer> {
      for (;;) {
        yield Buffer.alloc(256 * 1024, sent / MiB);
        sent += 256 * 1024;
        if (sent === 20 * MiB) {
          await expect.poll(async () => (await multipartUploadsIn(location)).length, { timeout: 30_000, interval: 100 }).toBe(1);
          await server.kill();
        }
      }
    };
    const error = await failureOf(pipeline(Readable.from(source()), pending.stream), 'the stream into the killed server');
    expect(error).toEqual(unavailable);
    expect(sent).toBeGreaterThanOrEqual(20 * MiB);
    expect(failures).toEqual([expect.objectContaining({ code: 'ERR_STORAGE_UNAVAILABLE', path: `s3://${location.bucket}/${KEY}`, operation: 'upload' })]);
    // The caller's error names neither the server nor anything of what was written.
    expect(JSON.stringify((error as { details?: unknown }).details)).not.toContain('127.0.0.1');
    await expect(pending.commit()).rejects.toThrow();
    await within(pending.abort(), FAILURE_BOUND_MS, 'abort after the failure');
    await within(pending.abort(), FAILURE_BOUND_MS, 'a second abort');
    expect(failures).toHaveLength(1);
    await afterRestart();
  });

  it('after the stream, before commit: commit fails with ERR_STORAGE_UNAVAILABLE, reported once; abort resolves; nothing visible after a restart', async () => {
    const pending = await store.createPending(KEY);
    for (let i = 0; i < 12; i += 1) await write(pending, Buffer.alloc(MiB, i));
    await expect.poll(async () => (await multipartUploadsIn(location)).length, { timeout: 30_000, interval: 100 }).toBe(1);
    await new Promise<void>((resolve) => pending.stream.end(resolve));
    await server.kill();
    expect(await failureOf(pending.commit(), 'the commit to the killed server')).toEqual(unavailable);
    expect(failures).toEqual([expect.objectContaining({ code: 'ERR_STORAGE_UNAVAILABLE', operation: 'upload' })]);
    await within(pending.abort(), FAILURE_BOUND_MS, 'abort after the failed commit');
    await afterRestart();
  });
});

describe('S3 store: no server', () => {
  let store: ObjectStore | undefined;
  let failures: StorageFailure[];
  const open = (endpoint: string, options: Partial<S3StoreOptions> = {}): Promise<ObjectStore> =>
    createS3Store({ ...uniqueTestBucket(endpoint), forcePathStyle: true, requestTimeoutMs: 2_000, onStorageError: (failure) => failures.push(failure), ...options });

  beforeEach(() => {
    failures = [];
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  /** Every operation of `store` fails with ERR_STORAGE_UNAVAILABLE, each reported once under its own name. */
  const everyOperationUnavailable = async (opened: ObjectStore, expectedReason: RegExp): Promise<void> => {
    expect(await failureOf(opened.get('records/a.json'), 'get')).toEqual(unavailable);
    expect(await failureOf(opened.put('records/a.json', Buffer.from('{}')), 'put')).toEqual(unavailable);
    expect(await failureOf(opened.stat('records/a.json'), 'stat')).toEqual(unavailable);
    expect(await failureOf(opened.list('records'), 'list')).toEqual(unavailable);
    expect(await failureOf(opened.delete('records/a.json'), 'delete')).toEqual(unavailable);
    expect(await failureOf(opened.abortIncomplete('records/a.json'), 'abortIncomplete')).toEqual(unavailable);
    const chunks = async (): Promise<void> => {
      for await (const chunk of opened.read('records/a.json')) void chunk;
    };
    expect(await failureOf(chunks(), 'read')).toEqual(unavailable);
    const pending = await opened.createPending('envelopes/small.body');
    await write(pending, Buffer.from('small: one PutObject at commit'));
    expect(await failureOf(pending.commit(), 'commit')).toEqual(unavailable);
    await within(pending.abort(), FAILURE_BOUND_MS, 'abort');
    expect(failures.map((failure) => failure.operation)).toEqual(['get', 'put', 'stat', 'list', 'delete', 'abort-incomplete', 'read', 'upload']);
    for (const failure of failures) expect(failure).toEqual(expect.objectContaining({ code: 'ERR_STORAGE_UNAVAILABLE', errno: expect.stringMatching(expectedReason) }));
  };

  it('a port nobody listens on: every operation fails with ERR_STORAGE_UNAVAILABLE (ECONNREFUSED)', async () => {
    store = await open(`http://127.0.0.1:${await unusedPort()}`);
    await everyOperationUnavailable(store, /^ECONNREFUSED$/);
  });

  it('a server that accepts connections and never answers: ERR_STORAGE_UNAVAILABLE once the request timeout has passed', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as { port: number };
      store = await open(`http://127.0.0.1:${port}`, { requestTimeoutMs: 500, maxAttempts: 2 });
      await everyOperationUnavailable(store, /^TIMEOUT$/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
