// The object store port's contract: what every ObjectStore (gateway/storage/object-store.ts) does,
// run by test/ports/object-store.test.ts against each implementation. Small objects (put, get, stat,
// ranged reads, overwrite, delete), folders (list), pending objects (invisible until commit, abort
// leaves nothing, a second commit refused, several MiB streamed in many chunks, ranges across the
// part boundaries of a 12 MiB object), appendable objects (written over several sessions: what a
// checkpoint made durable is kept, read back and appended to; released, aborted, started afresh,
// refused beyond what is durable), unfinished writes of a dead writer (abortIncomplete), key rules, close.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppendableObject, ObjectStore, PendingObject } from '../../gateway/storage/object-store.js';
import { errorCodeOf } from '../support/error-code.js';

export interface ObjectStoreUnderTest {
  /** A store with no objects in it. */
  readonly store: ObjectStore;
  /** Removes what the store left behind (called after the store is closed). */
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;
/**
 * Past any in-memory buffer or first part a store keeps (the S3 store's parts are 5 MiB in the
 * tests, 8 MiB by default), so that a store holds some of it where a crash would leave it.
 */
const LARGE = 12 * MiB + 777;

/**
 * Bytes `offset … offset + length` of an endless deterministic pattern (SHA-256 of each 32-byte
 * block's number): no period a misplaced range could hide in, and any window is cheap to rebuild.
 */
function patternBytes(offset: number, length: number): Buffer {
  // Always a buffer of its own: a chunk written is the store's (it may move it to another thread).
  const out = Buffer.alloc(length);
  let written = 0;
  while (written < length) {
    const at = offset + written;
    const page = patternPage(Math.floor(at / PATTERN_PAGE));
    written += page.copy(out, written, at % PATTERN_PAGE, Math.min(PATTERN_PAGE, (at % PATTERN_PAGE) + length - written));
  }
  return out;
}

/** The pattern is computed a page at a time, once per file: the same bytes, without hashing them again for every read and write. */
const PATTERN_PAGE = 256 * 1024;
const patternPages = new Map<number, Buffer>();

function patternPage(index: number): Buffer {
  let page = patternPages.get(index);
  if (!page) {
    page = Buffer.alloc(PATTERN_PAGE);
    const firstBlock = (index * PATTERN_PAGE) / 32;
    for (let block = 0; block < PATTERN_PAGE / 32; block += 1) {
      createHash('sha256').update(`block ${firstBlock + block}`).digest().copy(page, block * 32);
    }
    patternPages.set(index, page);
  }
  return page;
}

/** `total` bytes of the pattern in chunks of uneven sizes (~40–80 kB), generated one at a time. */
function patternChunks(total: number): Generator<Buffer> {
  return patternRange(0, total);
}

/** Bytes `start … end − 1` of the pattern, in chunks as patternChunks. */
function* patternRange(start: number, end: number): Generator<Buffer> {
  for (let offset = start, i = 0; offset < end; i += 1) {
    const size = Math.min(end - offset, 40_000 + (i % 13) * 3_001);
    yield patternBytes(offset, size);
    offset += size;
  }
}

async function sha256Of(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of source) hash.update(chunk);
  return hash.digest('hex');
}

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Writes with backpressure: resolves once the stream took the chunk. */
function write(pending: PendingObject, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => pending.stream.write(chunk, (error) => (error ? reject(error) : resolve())));
}

function end(pending: PendingObject): Promise<void> {
  return new Promise((resolve) => pending.stream.end(resolve));
}

/** Writes bytes `start … end − 1` of the pattern, chunk by chunk, each taken before the next. */
async function writePattern(object: PendingObject, start: number, end: number): Promise<void> {
  for (const chunk of patternRange(start, end)) await write(object, chunk);
}

/** The error a read fails with, thrown at once or emitted by the stream; undefined if it read through. */
async function readFailure(read: () => Readable): Promise<unknown> {
  try {
    await bytesOf(read());
    return undefined;
  } catch (error) {
    return error;
  }
}

const INVALID_KEYS = ['../escape', 'records/../../escape', 'records//a.json', '/absolute/a.json', '', 'records/', 'records/./a.json', '.', 'back\\slash'];

export function describeObjectStoreContract(name: string, open: () => Promise<ObjectStoreUnderTest>): void {
  describe(`${name}: the object store contract`, () => {
    let store: ObjectStore;
    let cleanup: () => Promise<void>;
    let closed: boolean;
    beforeEach(async () => {
      ({ store, cleanup } = await open());
      closed = false;
    });
    afterEach(async () => {
      if (!closed) await store.close();
      await cleanup();
    });

    describe('small objects', () => {
      it('put, get and stat: the same bytes back, absent objects undefined', async () => {
        const bytes = new Uint8Array([0, 1, 2, 254, 255]);
        await store.put('envelopes/a.header', bytes);
        await store.put('records/empty.json', new Uint8Array(0));
        const got = await store.get('envelopes/a.header');
        expect(Buffer.isBuffer(got)).toBe(true);
        expect(got).toEqual(Buffer.from(bytes));
        expect(await store.stat('envelopes/a.header')).toEqual({ size: 5 });
        expect(await store.get('records/empty.json')).toEqual(Buffer.alloc(0));
        expect(await store.stat('records/empty.json')).toEqual({ size: 0 });
        expect(await store.get('envelopes/absent.header')).toBeUndefined();
        expect(await store.stat('envelopes/absent.header')).toBeUndefined();
        expect(await store.get('no-such-folder/absent')).toBeUndefined();
      });

      it('keeps its own copy: changing the array after put changes nothing stored', async () => {
        const bytes = Buffer.from('original');
        await store.put('records/copy.json', bytes);
        bytes.write('CHANGED!');
        expect((await store.get('records/copy.json'))?.toString()).toBe('original');
      });

      it('reads whole or by inclusive byte range: first byte, last byte, middle, whole', async () => {
        const bytes = patternBytes(0, 1000);
        await store.put('envelopes/r.body', bytes);
        const read = (range?: { start: number; end: number }): Promise<Buffer> => bytesOf(store.read('envelopes/r.body', range));
        expect(await read()).toEqual(bytes);
        expect(await read({ start: 0, end: 0 })).toEqual(bytes.subarray(0, 1));
        expect(await read({ start: 999, end: 999 })).toEqual(bytes.subarray(999));
        expect(await read({ start: 100, end: 353 })).toEqual(bytes.subarray(100, 354));
        expect(await read({ start: 0, end: 999 })).toEqual(bytes);
      });

      it('fails to read an absent object', async () => {
        expect(await readFailure(() => store.read('envelopes/absent.body'))).toBeInstanceOf(Error);
      });

      it('an overwrite replaces the object as a whole, shorter or longer', async () => {
        await store.put('records/o.json', Buffer.from('a much longer first version'));
        await store.put('records/o.json', Buffer.from('short'));
        expect((await store.get('records/o.json'))?.toString()).toBe('short');
        expect(await store.stat('records/o.json')).toEqual({ size: 5 });
        await store.put('records/o.json', Buffer.from('longer third version'));
        expect((await bytesOf(store.read('records/o.json'))).toString()).toBe('longer third version');
      });

      it('runs many puts at once, each to its own object', async () => {
        const keys = Array.from({ length: 40 }, (_, i) => `records/r${i}.json`);
        await Promise.all(keys.map((key, i) => store.put(key, Buffer.from(`record ${i}`))));
        for (const [i, key] of keys.entries()) expect((await store.get(key))?.toString()).toBe(`record ${i}`);
      });

      it('deletes: the object is gone; deleting an absent object, or twice, is fine', async () => {
        await store.put('envelopes/d.body', Buffer.from('doomed'));
        await store.put('envelopes/kept.body', Buffer.from('kept'));
        await store.delete('envelopes/d.body');
        expect(await store.get('envelopes/d.body')).toBeUndefined();
        expect(await store.stat('envelopes/d.body')).toBeUndefined();
        await store.delete('envelopes/d.body');
        await store.delete('envelopes/never-was.body');
        await store.delete('no-such-folder/never-was.body');
        expect(await store.list('envelopes')).toEqual(['envelopes/kept.body']);
        expect((await store.get('envelopes/kept.body'))?.toString()).toBe('kept');
      });
    });

    describe('listing', () => {
      it('lists the committed objects directly under a folder, with or without the trailing slash', async () => {
        await store.put('box/a', Buffer.from('a'));
        await store.put('box/b.json', Buffer.from('b'));
        await store.put('box/inner/c', Buffer.from('c'));
        await store.put('boxes/d', Buffer.from('d')); // shares the prefix string, not the folder
        await store.put('top', Buffer.from('t'));
        const pending = await store.createPending('box/pending');
        await write(pending, Buffer.from('not yet'));
        expect((await store.list('box')).sort()).toEqual(['box/a', 'box/b.json']);
        expect((await store.list('box/')).sort()).toEqual(['box/a', 'box/b.json']);
        expect(await store.list('box/inner')).toEqual(['box/inner/c']);
        expect(await store.list('boxes/')).toEqual(['boxes/d']);
        expect(await store.list('nothing-here')).toEqual([]);
        await end(pending);
        await pending.commit();
        expect((await store.list('box')).sort()).toEqual(['box/a', 'box/b.json', 'box/pending']);
      });
    });

    describe('pending objects', () => {
      it('are invisible until commit (not on finishing the stream), then visible whole with their size', async () => {
        const first = patternBytes(0, 2 * MiB); // past any in-memory buffer a store may keep
        const second = patternBytes(2 * MiB, 1000);
        // Written chunks are the store's (it may move them to another thread): their digest first.
        const expected = await sha256Of([first, second]);
        const pending = await store.createPending('envelopes/p.body');
        await write(pending, first);
        const invisible = async (): Promise<void> => {
          expect(await store.get('envelopes/p.body')).toBeUndefined();
          expect(await store.stat('envelopes/p.body')).toBeUndefined();
          expect(await store.list('envelopes')).toEqual([]);
          expect(await readFailure(() => store.read('envelopes/p.body'))).toBeInstanceOf(Error);
        };
        await invisible();
        await write(pending, second);
        await end(pending);
        await invisible();
        await expect(pending.commit()).resolves.toEqual({ size: 2 * MiB + 1000 });
        expect(await store.stat('envelopes/p.body')).toEqual({ size: 2 * MiB + 1000 });
        expect(await sha256Of(store.read('envelopes/p.body'))).toBe(expected);
        expect(await store.list('envelopes')).toEqual(['envelopes/p.body']);
      });

      it('commit of an empty pending object makes an empty object', async () => {
        const pending = await store.createPending('envelopes/empty.body');
        await end(pending);
        await expect(pending.commit()).resolves.toEqual({ size: 0 });
        expect(await store.get('envelopes/empty.body')).toEqual(Buffer.alloc(0));
      });

      it('replace an existing object only at commit', async () => {
        await store.put('envelopes/o.body', Buffer.from('old'));
        const pending = await store.createPending('envelopes/o.body');
        await write(pending, Buffer.from('new content'));
        await end(pending);
        expect((await store.get('envelopes/o.body'))?.toString()).toBe('old');
        await pending.commit();
        expect((await store.get('envelopes/o.body'))?.toString()).toBe('new content');
      });

      it('abort leaves nothing, small or large, and leaves an existing object as it was; aborting twice is fine', async () => {
        for (const size of [100, 3 * MiB, LARGE]) {
          const pending = await store.createPending('envelopes/gone.body');
          for (const chunk of patternChunks(size)) await write(pending, chunk);
          await pending.abort();
          await pending.abort();
          expect(await store.stat('envelopes/gone.body')).toBeUndefined();
        }
        await store.put('envelopes/kept.body', Buffer.from('kept'));
        const over = await store.createPending('envelopes/kept.body');
        await write(over, Buffer.from('never to be seen'));
        await over.abort();
        expect((await store.get('envelopes/kept.body'))?.toString()).toBe('kept');
        expect(await store.list('envelopes')).toEqual(['envelopes/kept.body']);
      });

      it('refuse a second commit, and a commit after abort', async () => {
        const pending = await store.createPending('envelopes/once.body');
        await write(pending, Buffer.from('once'));
        await end(pending);
        await pending.commit();
        await expect(pending.commit()).rejects.toThrow();
        expect((await store.get('envelopes/once.body'))?.toString()).toBe('once');
        const aborted = await store.createPending('envelopes/aborted.body');
        await write(aborted, Buffer.from('aborted'));
        await aborted.abort();
        await expect(aborted.commit()).rejects.toThrow();
        expect(await store.stat('envelopes/aborted.body')).toBeUndefined();
      });

      it('stream several MiB in many chunks, with backpressure, and read back the same bytes, whole and by range', async () => {
        const size = 6 * MiB + 12_345;
        const pending = await store.createPending('envelopes/large.body');
        await pipeline(Readable.from(patternChunks(size)), pending.stream);
        expect(await store.stat('envelopes/large.body')).toBeUndefined();
        await expect(pending.commit()).resolves.toEqual({ size });
        expect(await store.stat('envelopes/large.body')).toEqual({ size });
        expect(await sha256Of(store.read('envelopes/large.body'))).toBe(await sha256Of(patternChunks(size)));
        const window = { start: MiB - 3, end: MiB + 70_000 }; // across chunk boundaries
        expect((await bytesOf(store.read('envelopes/large.body', window))).equals(patternBytes(window.start, window.end - window.start + 1))).toBe(true);
        expect(await bytesOf(store.read('envelopes/large.body', { start: size - 1, end: size - 1 }))).toEqual(patternBytes(size - 1, 1));
      });

      it('a large object reads back by ranges across the boundaries of its parts (5, 8, 10 MiB), and across several', async () => {
        const pending = await store.createPending('envelopes/parts.body');
        await pipeline(Readable.from(patternChunks(LARGE)), pending.stream);
        await expect(pending.commit()).resolves.toEqual({ size: LARGE });
        const windows = [
          ...[5 * MiB, 8 * MiB, 10 * MiB].map((boundary) => ({ start: boundary - 1000, end: boundary + 999 })),
          { start: 5 * MiB - 1, end: 5 * MiB }, // the last byte of a part and the first of the next
          { start: 3 * MiB + 12_345, end: 11 * MiB + 6 }, // three boundaries
        ];
        for (const window of windows) {
          expect((await bytesOf(store.read('envelopes/parts.body', window))).equals(patternBytes(window.start, window.end - window.start + 1))).toBe(true);
        }
        expect(await sha256Of(store.read('envelopes/parts.body'))).toBe(await sha256Of(patternChunks(LARGE)));
      });
    });

    describe('appendable objects', () => {
      const KEY = 'envelopes/resumed.body';
      /** Past one S3 piece (5 MiB in the tests) and short of the next: a keep that cuts a piece. */
      const MID_PIECE = 7 * MiB + 5;

      /** Opens, writes pattern bytes `from … to − 1`, checkpoints (expecting all of them durable), releases. */
      const session = async (key: string, from: number, to: number): Promise<number> => {
        const object = await store.openAppendable(key, from);
        await writePattern(object, from, to);
        const durable = await object.checkpoint();
        expect(durable).toBe(to);
        await object.release();
        return durable;
      };
      const keptDigest = async (object: AppendableObject): Promise<string> => sha256Of(object.readKept() as AsyncIterable<Uint8Array>);

      it('is written over several sessions: each keeps what the last checkpoint made durable, reads it back exactly and appends after it', async () => {
        const first = await session(KEY, 0, 3 * MiB + 5);
        const second = await store.openAppendable(KEY, first);
        expect(second.keptBytes).toBe(first);
        expect(await keptDigest(second)).toBe(await sha256Of(patternRange(0, first)));
        await writePattern(second, first, 9 * MiB + 11);
        const durable = await second.checkpoint();
        expect(durable).toBe(9 * MiB + 11);
        await second.release();

        const last = await store.openAppendable(KEY, durable);
        expect(last.keptBytes).toBe(durable);
        expect(await keptDigest(last)).toBe(await sha256Of(patternRange(0, durable)));
        await writePattern(last, durable, LARGE);
        await end(last);
        await expect(last.commit()).resolves.toEqual({ size: LARGE });

        expect(await store.stat(KEY)).toEqual({ size: LARGE });
        expect(await sha256Of(store.read(KEY))).toBe(await sha256Of(patternChunks(LARGE)));
        const windows = [
          { start: 5 * MiB - 1000, end: 5 * MiB + 999 },
          { start: 10 * MiB - 1, end: 10 * MiB },
          { start: first - 10, end: durable + 10 }, // across the sessions' seams
          { start: LARGE - 100, end: LARGE - 1 },
        ];
        for (const window of windows) {
          expect((await bytesOf(store.read(KEY, window))).equals(patternBytes(window.start, window.end - window.start + 1))).toBe(true);
        }
        // Nothing of the appendable write is left behind.
        expect(await store.list('envelopes')).toEqual([KEY]);
        expect(await store.abortIncomplete(KEY)).toBe(0);
        expect(await errorCodeOf(store.openAppendable(KEY, 1))).toBe('ERR_UPLOAD_NOT_FOUND');
      });

      it('keeps a shorter prefix than what is durable, cut mid-piece, drops what followed it, and continues with other bytes', async () => {
        await session(KEY, 0, LARGE);
        const cut = await store.openAppendable(KEY, MID_PIECE);
        expect(await keptDigest(cut)).toBe(await sha256Of(patternRange(0, MID_PIECE)));
        await cut.release();
        expect(await errorCodeOf(store.openAppendable(KEY, MID_PIECE + 1))).toBe('ERR_UPLOAD_NOT_FOUND'); // dropped at the cut

        const resumed = await store.openAppendable(KEY, MID_PIECE);
        expect(await keptDigest(resumed)).toBe(await sha256Of(patternRange(0, MID_PIECE)));
        const other = { start: 100 * MiB, end: 100 * MiB + 6 * MiB + 3 }; // bytes of another stretch of the pattern
        await writePattern(resumed, other.start, other.end);
        await end(resumed);
        const size = MID_PIECE + (other.end - other.start);
        await expect(resumed.commit()).resolves.toEqual({ size });
        expect(await sha256Of(store.read(KEY))).toBe(await sha256Of([...patternRange(0, MID_PIECE), ...patternRange(other.start, other.end)]));
        const seam = await bytesOf(store.read(KEY, { start: MID_PIECE - 3, end: MID_PIECE + 2 }));
        expect(seam.equals(Buffer.concat([patternBytes(MID_PIECE - 3, 3), patternBytes(other.start, 3)]))).toBe(true);
      });

      it('refuses to keep more than is durable, or anything of a key never written (ERR_UPLOAD_NOT_FOUND), and the write stays resumable', async () => {
        const durable = await session(KEY, 0, 1000);
        expect(await errorCodeOf(store.openAppendable(KEY, durable + 1))).toBe('ERR_UPLOAD_NOT_FOUND');
        expect(await errorCodeOf(store.openAppendable('envelopes/never.body', 1))).toBe('ERR_UPLOAD_NOT_FOUND');
        expect(await errorCodeOf(store.openAppendable('no-such-folder/never.body', 1))).toBe('ERR_UPLOAD_NOT_FOUND');
        const resumed = await store.openAppendable(KEY, durable);
        expect(await keptDigest(resumed)).toBe(await sha256Of(patternRange(0, durable)));
        await resumed.abort();
      });

      it('does not keep bytes written after the last checkpoint once released', async () => {
        const object = await store.openAppendable(KEY, 0);
        await writePattern(object, 0, 2 * MiB + 3);
        const durable = await object.checkpoint();
        expect(durable).toBe(2 * MiB + 3);
        await writePattern(object, durable, 11 * MiB); // past S3 pieces of their own
        await object.release();
        expect(await errorCodeOf(store.openAppendable(KEY, durable + 1))).toBe('ERR_UPLOAD_NOT_FOUND');
        const resumed = await store.openAppendable(KEY, durable);
        expect(await keptDigest(resumed)).toBe(await sha256Of(patternRange(0, durable)));
        await resumed.abort();
      });

      it('makes durable at a checkpoint at least the writes completed when it was asked for, while writing goes on', async () => {
        const object = await store.openAppendable(KEY, 0);
        const total = 8 * MiB;
        let completed = 0;
        let checkpoint: Promise<number> | undefined;
        let asked = 0;
        const writes: Promise<void>[] = [];
        for (const chunk of patternRange(0, total)) {
          const length = chunk.length;
          writes.push(write(object, chunk).then(() => void (completed += length)));
          if (!checkpoint && completed >= 3 * MiB) {
            asked = completed;
            checkpoint = object.checkpoint();
          }
          if (!object.stream.writableNeedDrain) continue;
          await new Promise((resolve) => object.stream.once('drain', resolve));
        }
        await Promise.all(writes);
        const durable = await (checkpoint ?? object.checkpoint());
        expect(durable).toBeGreaterThanOrEqual(asked);
        expect(durable).toBeLessThanOrEqual(total);
        await object.release();
        const resumed = await store.openAppendable(KEY, durable);
        expect(await keptDigest(resumed)).toBe(await sha256Of(patternRange(0, durable)));
        await resumed.abort();
      });

      it('keep 0 starts afresh over an unfinished write, which is gone', async () => {
        await session(KEY, 0, 2 * MiB);
        const fresh = await store.openAppendable(KEY, 0);
        expect(fresh.keptBytes).toBe(0);
        expect(await bytesOf(fresh.readKept())).toEqual(Buffer.alloc(0));
        expect(await fresh.checkpoint()).toBe(0);
        await fresh.release();
        expect(await errorCodeOf(store.openAppendable(KEY, 1))).toBe('ERR_UPLOAD_NOT_FOUND');
        const again = await store.openAppendable(KEY, 0);
        await write(again, Buffer.from('fresh'));
        await end(again);
        await expect(again.commit()).resolves.toEqual({ size: 5 });
        expect((await store.get(KEY))?.toString()).toBe('fresh');
      });

      it('abort removes everything, durable bytes and all; aborting twice is fine, commit is refused', async () => {
        const object = await store.openAppendable(KEY, 0);
        await writePattern(object, 0, LARGE);
        await object.checkpoint();
        await writePattern(object, LARGE, LARGE + 1000);
        await object.abort();
        await object.abort();
        await expect(object.commit()).rejects.toThrow();
        expect(await store.stat(KEY)).toBeUndefined();
        expect(await store.list('envelopes')).toEqual([]);
        expect(await errorCodeOf(store.openAppendable(KEY, 1))).toBe('ERR_UPLOAD_NOT_FOUND');
        expect(await store.abortIncomplete(KEY)).toBe(0);
      });

      it('abortIncomplete removes the appendable write a dead writer left, and only that', async () => {
        await store.put(KEY, Buffer.from('committed before'));
        await session(KEY, 0, LARGE);
        const other = await session(`${KEY}.v2`, 0, 1000); // the key is a prefix of this one
        expect(await store.abortIncomplete(KEY)).toBeGreaterThanOrEqual(1);
        expect(await store.abortIncomplete(KEY)).toBe(0);
        expect(await errorCodeOf(store.openAppendable(KEY, 1))).toBe('ERR_UPLOAD_NOT_FOUND');
        expect((await store.get(KEY))?.toString()).toBe('committed before');
        const resumed = await store.openAppendable(`${KEY}.v2`, other);
        expect(await keptDigest(resumed)).toBe(await sha256Of(patternRange(0, other)));
        await resumed.abort();
      });

      it('is invisible under its key until commit (an older object stays as it was), and in no listing', async () => {
        await store.put(KEY, Buffer.from('old'));
        const object = await store.openAppendable(KEY, 0);
        await writePattern(object, 0, 6 * MiB);
        await object.checkpoint();
        await end(object);
        expect((await store.get(KEY))?.toString()).toBe('old');
        expect(await store.stat(KEY)).toEqual({ size: 3 });
        expect(await store.list('envelopes')).toEqual([KEY]);
        const unseen = await store.openAppendable('envelopes/unseen.body', 0);
        await write(unseen, Buffer.from('not yet'));
        await unseen.checkpoint();
        expect(await store.stat('envelopes/unseen.body')).toBeUndefined();
        expect(await store.get('envelopes/unseen.body')).toBeUndefined();
        expect(await readFailure(() => store.read('envelopes/unseen.body'))).toBeInstanceOf(Error);
        expect(await store.list('envelopes')).toEqual([KEY]);
        await expect(object.commit()).resolves.toEqual({ size: 6 * MiB });
        expect(await sha256Of(store.read(KEY))).toBe(await sha256Of(patternRange(0, 6 * MiB)));
        expect(await store.list('envelopes')).toEqual([KEY]);
        await unseen.abort();
      });

      it('once released, commit and abort are no-ops that resolve, and the durable bytes stay', async () => {
        const object = await store.openAppendable(KEY, 0);
        await writePattern(object, 0, 1000);
        const durable = await object.checkpoint();
        await object.release();
        await object.release();
        await expect(object.commit()).resolves.toBeDefined();
        await expect(object.abort()).resolves.toBeUndefined();
        expect(await store.stat(KEY)).toBeUndefined();
        const resumed = await store.openAppendable(KEY, durable);
        expect(await keptDigest(resumed)).toBe(await sha256Of(patternRange(0, durable)));
        await resumed.abort();
      });

      it('a small object (less than one piece), resumed, commits exactly its bytes; an empty one commits empty', async () => {
        const durable = await session(KEY, 0, 1000);
        const resumed = await store.openAppendable(KEY, durable);
        await writePattern(resumed, durable, 1500);
        await end(resumed);
        await expect(resumed.commit()).resolves.toEqual({ size: 1500 });
        expect(await store.get(KEY)).toEqual(patternBytes(0, 1500));
        expect(await bytesOf(store.read(KEY, { start: 999, end: 1000 }))).toEqual(patternBytes(999, 2));

        const empty = await store.openAppendable('envelopes/empty.body', 0);
        await end(empty);
        await expect(empty.commit()).resolves.toEqual({ size: 0 });
        expect(await store.get('envelopes/empty.body')).toEqual(Buffer.alloc(0));
        expect((await store.list('envelopes')).sort()).toEqual(['envelopes/empty.body', KEY]);
      });

      it('commits what was kept alone, whole pieces or not, with nothing written after', async () => {
        for (const size of [5 * MiB, MID_PIECE]) {
          await session(KEY, 0, size);
          const resumed = await store.openAppendable(KEY, size);
          await end(resumed);
          await expect(resumed.commit()).resolves.toEqual({ size });
          expect(await sha256Of(store.read(KEY))).toBe(await sha256Of(patternRange(0, size)));
        }
        expect(await store.abortIncomplete(KEY)).toBe(0);
      });
    });

    describe('unfinished writes of a writer that died (abortIncomplete)', () => {
      it('removes what it left of the key, which never becomes visible; the committed object and a write of another key are untouched', async () => {
        await store.put('envelopes/t.body', Buffer.from('committed before'));
        const dead = await store.createPending('envelopes/t.body');
        const other = await store.createPending('envelopes/t.body.v2'); // the key is a prefix of this one
        // Each its own chunks: a chunk written is the store's (it may move it to another thread).
        for (const chunk of patternChunks(LARGE)) await write(dead, chunk);
        for (const chunk of patternChunks(LARGE)) await write(other, chunk);
        // As after a kill: the writer neither commits nor aborts. A store may still be storing what it
        // took in the background (S3: the multipart upload starts with the first part); by the time
        // a dead writer's lease expires, all of it has long arrived.
        await expect.poll(() => store.abortIncomplete('envelopes/t.body'), { timeout: 30_000, interval: 100 }).toBe(1);
        expect(await store.abortIncomplete('envelopes/t.body')).toBe(0);
        expect((await store.get('envelopes/t.body'))?.toString()).toBe('committed before');
        expect(await store.list('envelopes')).toEqual(['envelopes/t.body']);
        // Were the writer alive after all, it could not make what is left of its write visible.
        await end(dead);
        await expect(dead.commit()).rejects.toThrow();
        expect((await store.get('envelopes/t.body'))?.toString()).toBe('committed before');
        expect(await store.stat('envelopes/t.body')).toEqual({ size: 'committed before'.length });

        await end(other);
        await expect(other.commit()).resolves.toEqual({ size: LARGE });
        expect(await sha256Of(store.read('envelopes/t.body.v2'))).toBe(await sha256Of(patternChunks(LARGE)));
        expect((await store.list('envelopes')).sort()).toEqual(['envelopes/t.body', 'envelopes/t.body.v2']);
      });

      it('finds nothing to remove where nothing was left: committed, aborted or never written', async () => {
        const committed = await store.createPending('envelopes/c.body');
        await pipeline(Readable.from(patternChunks(LARGE)), committed.stream);
        await committed.commit();
        const aborted = await store.createPending('envelopes/a.body');
        for (const chunk of patternChunks(LARGE)) await write(aborted, chunk);
        await aborted.abort();
        expect(await store.abortIncomplete('envelopes/c.body')).toBe(0);
        expect(await store.abortIncomplete('envelopes/a.body')).toBe(0);
        expect(await store.abortIncomplete('envelopes/never.body')).toBe(0);
        expect(await store.abortIncomplete('no-such-folder/never.body')).toBe(0);
        expect(await store.stat('envelopes/c.body')).toEqual({ size: LARGE });
      });
    });

    describe('keys', () => {
      it.each(INVALID_KEYS)('refuses the key %j in every operation', async (key) => {
        const refused = expect.objectContaining({ message: expect.stringMatching(/key/) });
        await expect(store.put(key, Buffer.from('x'))).rejects.toEqual(refused);
        await expect(store.get(key)).rejects.toEqual(refused);
        await expect(store.stat(key)).rejects.toEqual(refused);
        await expect(store.delete(key)).rejects.toEqual(refused);
        await expect(store.createPending(key)).rejects.toEqual(refused);
        await expect(store.openAppendable(key, 0)).rejects.toEqual(refused);
        await expect(store.abortIncomplete(key)).rejects.toEqual(refused);
        expect(await readFailure(() => store.read(key))).toEqual(refused);
      });

      it.each(['../escape', 'box//inner', '/absolute'])('refuses to list the folder %j', async (prefix) => {
        await expect(store.list(prefix)).rejects.toThrow(/key/);
      });

      it('accepts segments of letters, digits, dots, dashes and underscores', async () => {
        const key = 'Envelopes_2/tr-0m7x3k2a1-0123456789abcdef.body.v1';
        await store.put(key, Buffer.from('fine'));
        expect((await store.get(key))?.toString()).toBe('fine');
        expect(await store.list('Envelopes_2')).toEqual([key]);
      });
    });

    describe('closing', () => {
      it('close resolves once the store has been used, pending objects settled', async () => {
        await store.put('records/a.json', Buffer.from('{}'));
        const committed = await store.createPending('envelopes/c.body');
        await write(committed, patternBytes(0, 2 * MiB));
        await end(committed);
        await committed.commit();
        const aborted = await store.createPending('envelopes/a.body');
        await write(aborted, patternBytes(0, 2 * MiB));
        await aborted.abort();
        expect(await bytesOf(store.read('envelopes/c.body', { start: 0, end: 9 }))).toEqual(patternBytes(0, 10));
        closed = true;
        await expect(store.close()).resolves.toBeUndefined();
      });
    });
  });
}
