// The download's file stream on real files: piped, its few buffers are reused only after the
// destination has called back for them (a destination that holds chunks sees none change); read
// any other way it is an ordinary stream; either way the bytes are the file's range.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileRangeStream } from '../../gateway/storage/file-range-stream.js';

let folder: string;
let file: string;
const content = randomBytes(100_000 + 123);

beforeEach(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'hetao-range-'));
  file = path.join(folder, 'object.bin');
  await writeFile(file, content);
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

/**
 * A destination that keeps each chunk it is given until it calls back, a few writes later, and
 * checks then that the chunk still holds what it held when written.
 */
function holdingSink(options: { holdFor: number }) {
  const received: Buffer[] = [];
  const changed: number[] = [];
  let held: { chunk: Buffer; copy: Buffer; callback: () => void }[] = [];
  const release = (entry: { chunk: Buffer; copy: Buffer; callback: () => void }): void => {
    if (!entry.chunk.equals(entry.copy)) changed.push(received.length);
    received.push(entry.copy);
    entry.callback();
  };
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, callback) {
      held.push({ chunk, copy: Buffer.from(chunk), callback });
      if (held.length > options.holdFor) release(held.shift() as (typeof held)[number]);
      // The rest are let go a while later, as a socket's writes complete.
      setTimeout(() => {
        const due = held;
        held = [];
        for (const entry of due) release(entry);
      }, 2);
    },
  });
  return { sink, received, changed };
}

/** How many of this process's file descriptors are open on `target` (Linux /proc). */
async function descriptorsOf(target: string): Promise<number> {
  const links = await Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
  return links.filter((link) => link === target).length;
}

async function finished(sink: Writable): Promise<void> {
  if (sink.writableFinished) return;
  await new Promise<void>((resolve, reject) => {
    sink.once('finish', resolve);
    sink.once('error', reject);
  });
}

describe('file range stream', () => {
  it.each([
    { name: 'the whole file', start: undefined, end: undefined },
    { name: 'a range across many chunks', start: 4095, end: 77_777 },
    { name: 'a range inside one chunk', start: 10, end: 20 },
    { name: 'the last byte', start: content.length - 1, end: content.length - 1 },
    { name: 'a range past the end (stops at the end)', start: 99_000, end: 200_000 },
  ])('piped, gives $name, every chunk unchanged until the destination called back', async ({ start, end }) => {
    const stream = createFileRangeStream(file, { start, end, chunkBytes: 4096, buffers: 2 });
    const { sink, received, changed } = holdingSink({ holdFor: 1 });
    stream.pipe(sink);
    await finished(sink);
    expect(changed).toEqual([]);
    expect(Buffer.concat(received).equals(content.subarray(start ?? 0, end === undefined ? undefined : end + 1))).toBe(true);
    // Ended as a piped Readable ends (Fastify waits for it), and closed its file.
    await new Promise((resolve) => (stream.closed ? resolve(undefined) : stream.once('close', resolve)));
    expect(stream.readableEnded).toBe(true);
    expect(stream.errored).toBeNull();
    expect(await descriptorsOf(file)).toBe(0);
  });

  it('read any other way, yields the same bytes in buffers of their own', async () => {
    const stream = createFileRangeStream(file, { start: 3, end: 90_000, chunkBytes: 4096, buffers: 2 });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    expect(new Set(chunks.map((chunk) => chunk.buffer)).size).toBe(chunks.length);
    expect(Buffer.concat(chunks).equals(content.subarray(3, 90_001))).toBe(true);
  });

  it('fails a missing file with ENOENT, piped or not', async () => {
    const missing = path.join(folder, 'absent.bin');
    await expect(async () => {
      for await (const _chunk of createFileRangeStream(missing)) void _chunk;
    }).rejects.toMatchObject({ code: 'ENOENT' });
    const piped = createFileRangeStream(missing);
    const error = new Promise((resolve) => piped.once('error', resolve));
    piped.pipe(holdingSink({ holdFor: 0 }).sink);
    expect(await error).toMatchObject({ code: 'ENOENT' });
  });

  it('stops reading and closes its file when the destination goes away mid-way', async () => {
    const stream = createFileRangeStream(file, { chunkBytes: 1024, buffers: 2 });
    let writes = 0;
    const sink = new Writable({
      write(_chunk, _encoding, callback) {
        writes += 1;
        // Never calls back after the third chunk: the stream runs out of buffers and waits.
        if (writes < 3) callback();
      },
    });
    stream.pipe(sink);
    while (writes < 3) await sleep(1);
    sink.destroy();
    await new Promise((resolve) => (stream.closed ? resolve(undefined) : stream.once('close', resolve)));
    expect(stream.destroyed).toBe(true);
    expect(writes).toBeLessThan(content.length / 1024);
    expect(await descriptorsOf(file)).toBe(0);
  });
});
