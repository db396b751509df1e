// The filesystem object store on real files: small writes are durable steps (one job each in an
// io-lane thread of the pool), large ones stream through pending objects; an appendable write is one
// file per key that outlives a restart of the store.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorCodeOf } from '../support/error-code.js';
import { createFilesystemStore } from '../../gateway/storage/filesystem-store.js';
import type { ObjectStore } from '../../gateway/storage/object-store.js';
import { createThreadPool } from '../../gateway/threads/thread-pool.js';

let root: string;
let store: ObjectStore;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'hetao-store-'));
  store = await createFilesystemStore(root);
});
afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

/** Every file under `folder`, relative. */
async function filesUnder(folder: string): Promise<string[]> {
  return (await readdir(folder, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)));
}

describe('filesystem store', () => {
  it('puts small objects whole, replacing atomically, with no temporary file left', async () => {
    await store.put('records/a.json', Buffer.from('{"v":1}'));
    await store.put('records/a.json', Buffer.from('{"v":2}'));
    await store.put('envelopes/b.header', new Uint8Array([1, 2, 3]));
    expect((await store.get('records/a.json'))?.toString()).toBe('{"v":2}');
    expect(await store.get('envelopes/b.header')).toEqual(Buffer.from([1, 2, 3]));
    expect((await filesUnder(root)).sort()).toEqual(['envelopes/b.header', 'records/a.json']);
  });

  it('runs many puts at once, each to its own object', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `records/r${i}.json`);
    await Promise.all(keys.map((key, i) => store.put(key, Buffer.from(`record ${i}`))));
    for (const [i, key] of keys.entries()) expect((await store.get(key))?.toString()).toBe(`record ${i}`);
  });

  it('a put that cannot be written fails with the system error, and leaves nothing behind', async () => {
    await writeFile(path.join(root, 'blocked'), 'a file where a folder should be');
    await expect(store.put('blocked/x.json', Buffer.from('{}'))).rejects.toMatchObject({ code: expect.stringMatching(/^(ENOTDIR|EEXIST)$/) });
    await store.put('records/ok.json', Buffer.from('{}')); // the store goes on working
    expect((await filesUnder(root)).sort()).toEqual(['blocked', 'records/ok.json']);
  });

  it("runs its durable steps in the pool it is given, and leaves that pool open when it closes", async () => {
    const threads = createThreadPool({ lanes: { io: { threads: 1 } } });
    const first = await createFilesystemStore(root, { threads });
    await first.put('records/shared.json', Buffer.from('{}'));
    await first.close();
    const second = await createFilesystemStore(root, { threads });
    await second.put('records/after.json', Buffer.from('{"after":1}')); // the pool outlived the first store
    expect((await second.get('records/after.json'))?.toString()).toBe('{"after":1}');
    await threads.close();
    await expect(second.put('records/closed.json', Buffer.from('{}'))).rejects.toThrow('the thread pool is closed');
    await second.close();
  });

  it.each([
    ['empty', 0],
    ['small (kept in memory, written whole at commit)', 4096],
    ['exactly the in-memory limit', 1024 * 1024],
    ['one byte past it (spilled to a temporary file)', 1024 * 1024 + 1],
  ])('a pending object, %s, commits exactly its bytes; finishing the stream alone makes nothing visible', async (_name, size) => {
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i += 1) bytes[i] = i % 251;
    const pending = await store.createPending('envelopes/s.body');
    for (let offset = 0; offset < size; offset += 7001) {
      await new Promise<void>((resolve, reject) => pending.stream.write(bytes.subarray(offset, offset + 7001), (error) => (error ? reject(error) : resolve())));
    }
    await new Promise<void>((resolve) => pending.stream.end(resolve));
    expect(await store.get('envelopes/s.body')).toBeUndefined();
    await expect(pending.commit()).resolves.toEqual({ size });
    expect((await store.get('envelopes/s.body'))?.equals(bytes)).toBe(true);
    expect(await filesUnder(root)).toEqual(['envelopes/s.body']);
  });

  it('an aborted pending object leaves nothing, small or spilled', async () => {
    for (const size of [100, 2 * 1024 * 1024]) {
      const pending = await store.createPending('envelopes/gone.body');
      await new Promise<void>((resolve, reject) => pending.stream.write(Buffer.alloc(size, 1), (error) => (error ? reject(error) : resolve())));
      await pending.abort();
    }
    expect(await filesUnder(root)).toEqual([]);
  });

  it("an appendable write's durable bytes outlive a restart of the store (which removes other writes' leftovers), and its commit leaves one file", async () => {
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < bytes.length; i += 1) bytes[i] = (i * 7) % 253;
    const durable = bytes.subarray(0, 2 * 1024 * 1024 + 5);
    const first = await store.openAppendable('envelopes/r.body', 0);
    await new Promise<void>((resolve, reject) => first.stream.write(Buffer.from(durable), (error) => (error ? reject(error) : resolve())));
    expect(await first.checkpoint()).toBe(durable.length);
    await first.release();
    const dead = await store.createPending('envelopes/dead.body');
    await new Promise<void>((resolve, reject) => dead.stream.write(Buffer.alloc(2 * 1024 * 1024, 1), (error) => (error ? reject(error) : resolve())));
    await store.close();

    store = await createFilesystemStore(root); // a restart: leftovers of unfinished writes are removed
    expect(await filesUnder(root)).toEqual(['envelopes/r.body~appending']);
    expect(await store.list('envelopes')).toEqual([]);
    expect(await errorCodeOf(store.openAppendable('envelopes/r.body', durable.length + 1))).toBe('ERR_UPLOAD_NOT_FOUND');
    const resumed = await store.openAppendable('envelopes/r.body', durable.length);
    const kept: Buffer[] = [];
    for await (const chunk of resumed.readKept() as AsyncIterable<Buffer>) kept.push(chunk);
    expect(Buffer.concat(kept).equals(durable)).toBe(true);
    await new Promise<void>((resolve, reject) => resumed.stream.end(Buffer.from(bytes.subarray(durable.length)), (error?: Error | null) => (error ? reject(error) : resolve())));
    await expect(resumed.commit()).resolves.toEqual({ size: bytes.length });
    expect((await store.get('envelopes/r.body'))?.equals(bytes)).toBe(true);
    expect(await filesUnder(root)).toEqual(['envelopes/r.body']);
  });

  it('a pending object streams to a temporary file and commits it under its key', async () => {
    const pending = await store.createPending('envelopes/e.body');
    await new Promise<void>((resolve, reject) => pending.stream.write(Buffer.alloc(3 * 1024 * 1024, 1), (error) => (error ? reject(error) : resolve())));
    await expect(pending.commit()).resolves.toEqual({ size: 3 * 1024 * 1024 });
    expect(await store.stat('envelopes/e.body')).toEqual({ size: 3 * 1024 * 1024 });
  });
});
