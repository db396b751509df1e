// What a download sends: the header slice then the body, piped straight through (the body's own
// pipe is used, so the filesystem store's recycling is kept) or read as an ordinary stream.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileRangeStream } from '../../gateway/storage/file-range-stream.js';
import { downloadStream } from '../../gateway/transfer/download-stream.js';

let folder: string;
let file: string;
const header = Buffer.from('HETAO-ENVELOPE-HEADER');
const body = randomBytes(50_000);

beforeAll(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'hetao-download-'));
  file = path.join(folder, 'body.bin');
  await writeFile(file, body);
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** Pipes `stream` into a Writable and resolves with what it took, once the stream has ended. */
async function piped(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      setImmediate(callback);
    },
  });
  const ended = new Promise((resolve, reject) => {
    stream.once('end', resolve);
    stream.once('error', reject);
  });
  stream.pipe(sink);
  await Promise.all([ended, new Promise((resolve) => sink.once('finish', resolve))]);
  return Buffer.concat(chunks);
}

describe('download stream', () => {
  it.each([
    { name: 'the header then the whole body', leading: header, start: 0, end: body.length - 1 },
    { name: 'part of the header then part of the body', leading: header.subarray(5), start: 0, end: 999 },
    { name: 'a body range alone', leading: header.subarray(header.length), start: 12_345, end: 40_000 },
  ])('piped, sends $name', async ({ leading, start, end }) => {
    const expected = Buffer.concat([leading, body.subarray(start, end + 1)]);
    expect((await piped(downloadStream(leading, createFileRangeStream(file, { start, end, chunkBytes: 4096 })))).equals(expected)).toBe(true);
    // Any store's stream, not only the file one.
    expect((await piped(downloadStream(leading, Readable.from([body.subarray(start, end + 1)])))).equals(expected)).toBe(true);
  });

  it('piped, sends a header slice alone when the range ends before the body', async () => {
    expect((await piped(downloadStream(header.subarray(0, 8), undefined))).equals(header.subarray(0, 8))).toBe(true);
  });

  it('read as an ordinary stream, gives the same bytes', async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of downloadStream(header, createFileRangeStream(file, { chunkBytes: 4096 }))) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(Buffer.concat([header, body]))).toBe(true);
  });

  it('fails when the body fails, and destroying it destroys the body', async () => {
    const failing = downloadStream(header, createFileRangeStream(path.join(folder, 'absent.bin')));
    await expect(piped(failing)).rejects.toMatchObject({ code: 'ENOENT' });
    const inner = createFileRangeStream(file);
    const outer = downloadStream(header, inner);
    outer.destroy();
    await new Promise((resolve) => (inner.closed ? resolve(undefined) : inner.once('close', resolve)));
    expect(inner.destroyed).toBe(true);
  });
});
