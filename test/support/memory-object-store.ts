// A test-only object store: each object is a Buffer in a Map; a pending object buffers its chunks
// and puts them under its key only at commit (`abortIncomplete` drops the open ones of a key, as if
// their writer had died). It is what adding a store takes — one file
// implementing ObjectStore — and it passes the same contract (test/ports/object-store.contract.ts)
// and the same upload tests as the filesystem store. Nothing survives the process; not for use in
// the gateway.
import { Readable, Writable } from 'node:stream';
import type { ObjectStore, PendingObject } from '../../gateway/storage/object-store.js';

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

export function createMemoryObjectStore(): ObjectStore {
  const objects = new Map<string, Buffer>();

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

  return {
    async createPending(key) {
      checkKey(key);
      return pendingObject(key);
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
      return drops.length;
    },
    async list(prefix) {
      const folder = prefix.replace(/\/$/, '');
      checkKey(folder);
      return [...objects.keys()].filter((key) => key.startsWith(`${folder}/`) && !key.slice(folder.length + 1).includes('/'));
    },
    async close() {
      objects.clear();
      open.clear();
    },
  };
}
