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
});
