// The resumable-upload service on its own, for the orders of events HTTP makes hard to pin: an upload
// terminated before its pass has begun to read. Its pass here is a real stream consumer that starts
// late, as the transfer service's does while it takes the lock, saves the record and opens the store.
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../gateway/errors.js';
import type { Caller } from '../../gateway/transfer/caller.js';
import { createResumableUploads } from '../../gateway/transfer/resumable-uploads.js';
import type { TransferRecord } from '../../gateway/transfer/transfer-record.js';

const sender: Caller = { id: 'sz-hospital', role: 'institution', institution: 'sz-hospital' };

describe('resumable uploads', () => {
  it('terminated before its pass reads a byte: the pass fails with the termination, nothing escapes as an unhandled error', async () => {
    let passError: unknown;
    const uploads = createResumableUploads({
      get: async (id) => ({ id, sender: 'sz-hospital' }) as TransferRecord,
      checkUpload: async () => undefined,
      upload: async (_id, _caller, source) => {
        await sleep(100);
        const received: Buffer[] = [];
        try {
          await pipeline(source, new Writable({ write: (chunk: Buffer, _encoding, callback) => (received.push(chunk), callback()) }));
        } catch (error) {
          passError = error;
          throw error;
        }
        return { id: 'tr', status: 'available' } as TransferRecord;
      },
      idleTimeoutMs: 60_000,
      clock: () => new Date(),
    });
    await uploads.create('tr', sender, 100);
    expect((await uploads.append('tr', sender, 0, Readable.from([Buffer.alloc(10)]))).offset).toBe(10);
    await uploads.terminate('tr', sender);
    expect(passError).toMatchObject({ code: 'ERR_REQUEST_INVALID' });
    expect(() => uploads.progress('tr', sender)).toThrow(expect.objectContaining({ code: 'ERR_UPLOAD_NOT_FOUND' }));
  });

  it('a pass that fails between two chunks of a PATCH ends that PATCH with its error instead of leaving it waiting', { timeout: 10_000 }, async () => {
    const uploads = createResumableUploads({
      get: async (id) => ({ id, sender: 'sz-hospital' }) as TransferRecord,
      checkUpload: async () => undefined,
      upload: async (_id, _caller, source) => {
        await pipeline(source, new Writable({ write: (_chunk, _encoding, callback) => callback(new GatewayError('ERR_STORAGE_FULL', 'the disk is full')) }));
        return { id: 'tr', status: 'available' } as TransferRecord;
      },
      idleTimeoutMs: 60_000,
      clock: () => new Date(),
    });
    await uploads.create('tr', sender, 1000);
    // The body's chunks come apart in time, as a network's do: the pass fails in between.
    const body = Readable.from(
      (async function* () {
        for (let i = 0; i < 5; i += 1) {
          yield Buffer.alloc(10);
          await sleep(50);
        }
      })(),
    );
    await expect(uploads.append('tr', sender, 0, body)).rejects.toMatchObject({ code: 'ERR_STORAGE_FULL' });
  });
});
