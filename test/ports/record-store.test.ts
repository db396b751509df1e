// The record store contract on the file record store: records as objects of a filesystem store in a
// fresh temporary folder, reopened from that folder, and read by a worker's reader on a store of its own.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openFileRecordReader, openFileRecordStore } from '../../gateway/records/file-record-store.js';
import { createFilesystemStore } from '../../gateway/storage/filesystem-store.js';
import type { ObjectStore } from '../../gateway/storage/object-store.js';
import { describeRecordStoreContract } from './record-store.contract.js';

describeRecordStoreContract('file record store', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'hetao-records-contract-'));
  let objects = await createFilesystemStore(root);
  const readers: ObjectStore[] = [];
  return {
    store: await openFileRecordStore(objects),
    async openReader() {
      // A worker opens the data folder beside the gateway, and never removes its temporary files.
      const theirs = await createFilesystemStore(root, { removeLeftovers: false });
      readers.push(theirs);
      return openFileRecordReader(theirs);
    },
    async reopen(store) {
      await store.close();
      await objects.close();
      objects = await createFilesystemStore(root);
      return openFileRecordStore(objects);
    },
    async cleanup() {
      for (const reader of readers) await reader.close();
      await objects.close();
      await rm(root, { recursive: true, force: true });
    },
  };
});
