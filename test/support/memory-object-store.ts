// A test-only object store: each object is a Buffer in a Map; a pending object buffers its chunks
// and puts them under its key only at commit (`abortIncomplete` drops the open ones of a key, as if
// their writer had died). An appendable write keeps, per key, the bytes its checkpoints made
// "durable" apart from those merely written: release drops the latter, a later openAppendable keeps
// from the former. It is what adding a store takes — one file
// implementing ObjectStore — and it passes the same contract (test/ports/object-store.contract.ts)
// and the same upload tests as the filesystem store. Nothing survives the process; not for use in
// the gateway.
import { Readable, Writable } from 'node:stream';
import { GatewayError } from '../../gateway/errors.js';
import type { AppendableObject, ObjectStore, PendingObject } from '../../gateway/storage/object-store.js';

const KEY_PATTERN = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
/** Reads hand out the bytes in chunks of this size, as a file stream would. */
const READ_CHUNK_BYTES = 64 * 1024;

function checkKey(key: string): void {
  if (!KEY_PATTERN.test(key) || key.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw new Error(`invalid object key ${JSON.stringify(key)}`);
  }
}

function* chunksOf(bytes: Buffer): Generator<Buffer> {
  for (let offset = 0; offset < bytes.length; offset += READ_CHUNK_BYTES) yield bytes.subarray(offset, offset + READ_CHUNK_BYTES);
}

/** The first `length` bytes of `chunks`, as chunks (the last one cut). */
function prefixOf(chunks: readonly Buffer[], length: number): Buffer[] {
  const kept: Buffer[] = [];
  let left = length;
  for (const chunk of chunks) {
    if (left === 0) break;
    kept.push(chunk.length <= left ? chunk : chunk.subarray(0, left));
    left -= Math.min(left, chunk.length);
  }
  return kept;
}

const byteCount = (chunks: readonly Buffer[]): number => chunks.reduce((sum, chunk) => sum + chunk.length, 0);

/** An unfinished appendable write: what its checkpoints made durable (all that would survive a restart). */
interface AppendingWrite {
  durable: Buffer[];
}

export function createMemoryObjectStore(): ObjectStore {
  const objects = new Map<string, Buffer>();
  /** Unfinished appendable writes by key; an open AppendableObject owns its entry while it is the map's. */
  const appending = new Map<string, AppendingWrite>();

  /** Pending objects not yet committed or aborted, by key: what `abortIncomplete` drops. */
  const open = new Map<string, Set<() => void>>();

  const pendingObject = (key: string): PendingObject => {
    let chunks: Buffer[] = [];
    let settled = false;
    let dropped = false;
    const forget = (): void => {
      open.get(key)?.delete(drop);
      if (open.get(key)?.size === 0) open.delete(key);
    };
    const drop = (): void => {
      dropped = true;
      chunks = [];
      forget();
    };
    open.set(key, (open.get(key) ?? new Set()).add(drop));
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (!dropped) chunks.push(chunk);
        callback();
      },
    });
    const finished = (): Promise<void> =>
      stream.writableFinished ? Promise.resolve() : new Promise((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
    return {
      stream,
      async commit() {
        if (settled) throw new Error(`object ${key} already settled`);
        settled = true;
        forget();
        await finished();
        if (dropped) throw new Error(`pending object ${key} was removed by abortIncomplete`);
        const bytes = Buffer.concat(chunks);
        chunks = [];
        objects.set(key, bytes);
        return { size: bytes.length };
      },
      async abort() {
        settled = true;
        forget();
        chunks = [];
        stream.destroy();
      },
    };
  };

  const appendableObject = (key: string, write: AppendingWrite, keptBytes: number): AppendableObject => {
    const kept = write.durable;
    let written: Buffer[] = [];
    let state: 'open' | 'committed' | 'aborted' | 'released' = 'open';
    const owned = (): boolean => appending.get(key) === write;
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        written.push(chunk);
        callback();
      },
    });
    const finished = (): Promise<void> =>
      stream.writableFinished ? Promise.resolve() : new Promise((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
    const settled = (): Error => new Error(`appendable object ${key} already settled`);
    return {
      stream,
      keptBytes,
      readKept: () => Readable.from(kept),
      async checkpoint() {
        if (state !== 'open') throw settled();
        if (!owned()) throw new Error(`appendable write ${key} was removed`);
        // Writes complete at once here: everything written so far becomes durable.
        write.durable = [...write.durable, ...written];
        written = [];
        return byteCount(write.durable);
      },
      async commit() {
        if (state === 'released') return { size: 0 };
        if (state !== 'open') throw settled();
        state = 'committed';
        await finished();
        if (!owned()) throw new Error(`appendable write ${key} was removed by abortIncomplete or a fresh start`);
        appending.delete(key);
        const bytes = Buffer.concat([...write.durable, ...written]);
        written = [];
        objects.set(key, bytes);
        return { size: bytes.length };
      },
      async abort() {
        if (state === 'released' || state === 'committed') return;
        state = 'aborted';
        written = [];
        stream.destroy();
        if (owned()) appending.delete(key);
      },
      async release() {
        if (state !== 'open') return;
        state = 'released';
        written = []; // never made durable: lost, as in a crash
        stream.destroy();
      },
    };
  };

  return {
    async createPending(key) {
      checkKey(key);
      return pendingObject(key);
    },
    async openAppendable(key, keep) {
      checkKey(key);
      if (!Number.isSafeInteger(keep) || keep < 0) throw new Error(`keep must be a whole number of bytes, not ${keep}`);
      const earlier = appending.get(key);
      const durableBytes = earlier ? byteCount(earlier.durable) : 0;
      if (keep > durableBytes) {
        throw new GatewayError('ERR_UPLOAD_NOT_FOUND', `no unfinished write of ${key} holds the ${keep} bytes to keep`, { keep, durableBytes });
      }
      // A fresh entry: whoever held the earlier one can no longer checkpoint into or commit it.
      const write: AppendingWrite = { durable: prefixOf(earlier?.durable ?? [], keep) };
      appending.set(key, write);
      return appendableObject(key, write, keep);
    },
    async put(key, bytes) {
      checkKey(key);
      objects.set(key, Buffer.from(bytes)); // a copy: the caller may reuse its array
    },
    async get(key) {
      checkKey(key);
      const bytes = objects.get(key);
      return bytes && Buffer.from(bytes);
    },
    async stat(key) {
      checkKey(key);
      const bytes = objects.get(key);
      return bytes && { size: bytes.length };
    },
    read(key, range) {
      checkKey(key);
      const bytes = objects.get(key);
      if (!bytes) return new Readable({ read() { this.destroy(new Error(`no object ${key}`)); } });
      return Readable.from(chunksOf(range ? bytes.subarray(range.start, range.end + 1) : bytes));
    },
    async delete(key) {
      checkKey(key);
      objects.delete(key);
    },
    async abortIncomplete(key) {
      checkKey(key);
      const drops = [...(open.get(key) ?? [])];
      for (const drop of drops) drop();
      const appended = appending.delete(key) ? 1 : 0;
      return drops.length + appended;
    },
    async list(prefix) {
      const folder = prefix.replace(/\/$/, '');
      checkKey(folder);
      return [...objects.keys()].filter((key) => key.startsWith(`${folder}/`) && !key.slice(folder.length + 1).includes('/'));
    },
    async close() {
      objects.clear();
      open.clear();
      appending.clear();
    },
  };
}
