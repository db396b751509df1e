// The steady write stream writes every byte in order (syncing as it goes), never overwrites an
// existing file, and leaves nothing open after an error.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createDurableFiles } from '../../gateway/durable/durable-files.js';
import { createSteadyWriteStream } from '../../gateway/durable/steady-write-stream.js';
import { createThreadPool } from '../../gateway/threads/thread-pool.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('steady write stream', () => {
  it('writes 20 MiB in uneven chunks exactly, syncing every MiB on the way', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hetao-steady-'));
    const file = path.join(dir, 'object');
    const chunks = Array.from({ length: 300 }, (_, i) => randomBytes(1000 + ((i * 7919) % 130_000)));
    await pipeline(Readable.from(chunks), createSteadyWriteStream(file, { highWaterMark: 256 * 1024, syncEveryBytes: 1024 * 1024 }));
    const written = await readFile(file);
    expect(written.length).toBe(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
    expect(createHash('sha256').update(written).digest('hex')).toBe(createHash('sha256').update(Buffer.concat(chunks)).digest('hex'));
  });

  it('refuses to overwrite an existing file', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hetao-steady-'));
    const file = path.join(dir, 'object');
    await writeFile(file, 'kept');
    await expect(pipeline(Readable.from([Buffer.from('new')]), createSteadyWriteStream(file, { highWaterMark: 1024, syncEveryBytes: 1024 }))).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(file, 'utf8')).toBe('kept');
  });
});

describe('steady write stream, gathering', () => {
  it('keeps chunks smaller than its high-water mark until the end, and writes them all', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hetao-steady-'));
    const file = path.join(dir, 'object');
    const stream = createSteadyWriteStream(file, { highWaterMark: 1024 * 1024, syncEveryBytes: 1024 * 1024 });
    await new Promise<void>((resolve, reject) => stream.write(Buffer.from('first '), (error) => (error ? reject(error) : resolve())));
    expect(await readFile(file, 'utf8')).toBe(''); // gathered, not yet written
    await new Promise<void>((resolve) => stream.end(Buffer.from('last'), () => resolve()));
    expect(await readFile(file, 'utf8')).toBe('first last');
  });

  it('destroyed while a write runs in a thread, closes its file only after that write (its fd is not handed to another file meanwhile)', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hetao-steady-'));
    const pool = createThreadPool({ lanes: { io: { threads: 1 }, bulk: { threads: 1 } } });
    const files = createDurableFiles(pool);
    try {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let writeStarted!: () => void;
      const started = new Promise<void>((resolve) => (writeStarted = resolve));
      // The real write in the bulk lane, held back until the stream has been destroyed.
      const writeChunks = async (fd: number, chunks: readonly Buffer[], options: { sync: boolean }): Promise<number> => {
        writeStarted();
        await gate;
        written = files.write(fd, chunks, options);
        return written;
      };
      let written: Promise<number> | undefined;
      const stream = createSteadyWriteStream(path.join(dir, 'object'), { highWaterMark: 1024, syncEveryBytes: 1024 * 1024, writeChunks });
      stream.on('error', () => undefined);
      stream.write(Buffer.alloc(64 * 1024, 7));
      await started;
      const closed = new Promise((resolve) => stream.once('close', resolve));
      stream.destroy();
      // Closed within a few turns of the event loop without the fix; with it, not before the write is released.
      let turns = 0;
      let isClosed = false;
      void closed.then(() => (isClosed = true));
      while (!isClosed && turns < 200) {
        turns += 1;
        await new Promise((resolve) => setImmediate(resolve));
      }
      // Opened now, another file would get the stream's fd number if it had been closed already.
      const other = path.join(dir, 'other');
      const otherFd = openSync(other, 'w');
      release();
      await closed;
      await written?.catch(() => undefined);
      closeSync(otherFd);
      expect(readFileSync(other).length).toBe(0);
    } finally {
      await pool.close();
    }
  });
  it('syncs a stretch while the next is written, never more than one sync at a time, and ends synced', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hetao-steady-'));
    const pool = createThreadPool({ lanes: { io: { threads: 1 }, bulk: { threads: 2 } } });
    const files = createDurableFiles(pool);
    try {
      const events: string[] = [];
      let syncsRunning = 0;
      let mostSyncsAtOnce = 0;
      let writesDuringSync = 0;
      const writeChunks = async (fd: number, chunks: readonly Buffer[], options: { sync: boolean }): Promise<number> => {
        if (!options.sync) {
          if (syncsRunning > 0) writesDuringSync += 1;
          events.push('write');
          return files.write(fd, chunks, options);
        }
        expect(chunks).toHaveLength(0); // a sync is a step of its own, not tied to a write
        syncsRunning += 1;
        mostSyncsAtOnce = Math.max(mostSyncsAtOnce, syncsRunning);
        events.push('sync');
        try {
          await new Promise((resolve) => setTimeout(resolve, 5)); // a slow disk: the writes go on meanwhile
          return await files.write(fd, chunks, options);
        } finally {
          syncsRunning -= 1;
        }
      };
      const file = path.join(dir, 'object');
      const chunks = Array.from({ length: 64 }, () => randomBytes(64 * 1024));
      const expected = createHash('sha256').update(Buffer.concat(chunks)).digest('hex'); // the chunks move to the thread
      await pipeline(Readable.from(chunks), createSteadyWriteStream(file, { highWaterMark: 64 * 1024, syncEveryBytes: 256 * 1024, writeChunks }));
      expect(events.filter((event) => event === 'sync').length).toBe(16);
      expect(mostSyncsAtOnce).toBe(1);
      expect(writesDuringSync).toBeGreaterThan(0);
      expect(syncsRunning).toBe(0); // the end waited for the last sync
      expect(createHash('sha256').update(await readFile(file)).digest('hex')).toBe(expected);
    } finally {
      await pool.close();
    }
  });

  it('a sync that fails fails the stream, at the next write or at the end', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hetao-steady-'));
    const pool = createThreadPool({ lanes: { io: { threads: 1 }, bulk: { threads: 1 } } });
    const files = createDurableFiles(pool);
    try {
      const failing = (fd: number, chunks: readonly Buffer[], options: { sync: boolean }): Promise<number> =>
        options.sync ? Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })) : files.write(fd, chunks, options);
      const many = Array.from({ length: 8 }, () => randomBytes(64 * 1024));
      await expect(
        pipeline(Readable.from(many), createSteadyWriteStream(path.join(dir, 'a'), { highWaterMark: 64 * 1024, syncEveryBytes: 64 * 1024, writeChunks: failing })),
      ).rejects.toMatchObject({ code: 'EIO' });
      // One stretch only: the failed sync is the last thing before the end.
      await expect(
        pipeline(Readable.from([randomBytes(64 * 1024)]), createSteadyWriteStream(path.join(dir, 'b'), { highWaterMark: 64 * 1024, syncEveryBytes: 64 * 1024, writeChunks: failing })),
      ).rejects.toMatchObject({ code: 'EIO' });
    } finally {
      await pool.close();
    }
  });
});
