// The object store contract on the filesystem store (a fresh temporary folder) and the test-only
// memory one, which shows what a new store has to do to pass. The S3 store runs the same contract in
// object-store-s3.test.ts (a file of its own, so that its multipart uploads run beside these).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createFilesystemStore } from '../../gateway/storage/filesystem-store.js';
import { createMemoryObjectStore } from '../support/memory-object-store.js';
import { describeObjectStoreContract } from './object-store.contract.js';

describeObjectStoreContract('filesystem store', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'hetao-store-contract-'));
  return { store: await createFilesystemStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});

describeObjectStoreContract('memory store', async () => ({ store: createMemoryObjectStore(), cleanup: async () => undefined }));
