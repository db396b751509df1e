// The object stores the gateway can run on. A new back-end is one file implementing ObjectStore
// (storage/object-store.ts, passing test/ports/object-store.contract.ts) and one line here.
import type { GatewayConfig } from '../config.js';
import { createFilesystemStore } from '../storage/filesystem-store.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { StorageErrorObserver } from '../storage/storage-errors.js';
import type { ThreadPool } from '../threads/thread-pool.js';

export interface ObjectStoreOptions {
  /** Told of every write that fails for want of space or on a failing disk. */
  readonly onStorageError: StorageErrorObserver;
  /** The gateway owns the uploads (it may clear a crash's leftovers); a worker only reads and writes results. */
  readonly role: 'gateway' | 'worker';
  /** The process's thread pool (io: durable steps; bulk: large writes, below the event loop), for stores that write files with blocking calls. */
  readonly threads: ThreadPool<'io' | 'bulk'>;
}

export type OpenObjectStore = (config: GatewayConfig, options: ObjectStoreOptions) => Promise<ObjectStore>;

export const openFilesystemStore: OpenObjectStore = (config, options) =>
  createFilesystemStore(config.dataDir, { removeLeftovers: options.role === 'gateway', onStorageError: options.onStorageError, threads: options.threads });
