// Sealing threads (transfer/sealing-threads.ts): real worker threads, real files. What a thread
// seals must be exactly what the event loop would have sealed: an envelope the recipient opens to
// the same bytes, with the same inspection report; failures and aborts lose nothing else.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDetachedEnvelopeEncryptor } from '../../gateway/envelope/encrypt-envelope.js';
import { createInspector } from '../../gateway/inspect/create-inspector.js';
import type { InspectorOptions } from '../../gateway/inspect/inspection-report.js';
import { createSealingThreads, type SealingThreads } from '../../gateway/transfer/sealing-threads.js';
import { BINDING_FIELDS, chunk, decryptEnvelope, DEFAULT_HOLDERS, devSigner } from '../envelope/envelope-fixtures.js';

const INSPECTOR: InspectorOptions = {
  declared: { format: 'csv', subjects: 0, humanGeneticResources: false, deidentification: 'anonymised', category: 'research-other' },
  mode: 'sampled',
};

/** CSV-like text with a mainland identity number planted at `plantAt` (if given). */
function csv(size: number, plantAt?: number): Buffer {
  const line = 'site-3,42,87,ok\n';
  const text = Buffer.from(line.repeat(Math.ceil(size / line.length) + 1)).subarray(0, size);
  if (plantAt !== undefined) Buffer.from('\n11010519491231002X\n').copy(text, plantAt);
  return text;
}

let dir: string;
let threads: SealingThreads;
let fileCount = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-sealing-'));
  threads = createSealingThreads({ threads: 2, niceness: 5 });
});
afterAll(async () => {
  await threads.close();
  await rm(dir, { recursive: true, force: true });
});

async function emptyFile(): Promise<string> {
  const file = path.join(dir, `body-${(fileCount += 1)}`);
  await writeFile(file, '');
  return file;
}

/** Seals `plaintext` (written in chunks of `writeSizes`) in a thread; returns the envelope and report. */
async function sealInThread(plaintext: Buffer, options: { segmentSize?: number; writeSizes?: number[]; inspector?: InspectorOptions } = {}) {
  const encryptor = createDetachedEnvelopeEncryptor({ ...BINDING_FIELDS, ...(options.segmentSize ? { segmentSize: options.segmentSize } : {}) });
  const file = await emptyFile();
  const { sink, result } = threads.seal({ file, sealing: encryptor.sealing, inspector: options.inspector ?? INSPECTOR });
  // Written buffers are reused at once by this writer: the thread must have taken its copy.
  await pipeline(Readable.from(chunk(plaintext, options.writeSizes).map((piece) => Buffer.from(piece))), sink);
  const sealed = await result;
  const finished = await encryptor.finish({ holders: DEFAULT_HOLDERS, signer: devSigner, body: sealed.body });
  const envelope = Buffer.concat([finished.prefix, await readFile(file)]);
  return { envelope, sealed, finished };
}

describe('sealing threads', () => {
  it.each([
    ['empty', 0, 1024, [1]],
    ['one byte', 1, 1024, [1]],
    ['one segment less a byte', 1023, 1024, [100]],
    ['exactly one segment', 1024, 1024, [1024]],
    ['a batch and a byte, odd chunks', 256 * 1024 + 1, 1024, [7, 4096, 65_537]],
    ['3 MiB, default segments, TLS-sized chunks', 3 * 1024 * 1024 + 5, undefined, [16_384]],
    ['segments larger than a batch', 1024 * 1024 + 3, 300 * 1024, [65_536, 1]],
  ])('%s: the recipient opens the envelope to the same bytes, with the header the thread reported', async (_name, size, segmentSize, writeSizes) => {
    const plaintext = randomBytes(size);
    const { envelope, sealed, finished } = await sealInThread(plaintext, { ...(segmentSize ? { segmentSize } : {}), writeSizes });
    const { plaintext: opened } = await decryptEnvelope(envelope, { readSizes: [4096, 77] });
    expect(opened.equals(plaintext)).toBe(true);
    expect(finished.header.plaintext.size).toBe(size);
    expect(sealed.body.plaintextSize).toBe(size);
  });

  it('reports what the inspector on the event loop reports for the same bytes (an identity number found)', async () => {
    const plaintext = csv(2 * 1024 * 1024, 300_000);
    const { sealed } = await sealInThread(plaintext, { writeSizes: [16_384, 999] });
    const local = createInspector(INSPECTOR);
    for (const piece of chunk(plaintext, [65_536])) local.write(piece);
    const expected = local.finish();
    expect(sealed.report).toEqual(expected);
    expect(sealed.report.findings.map((finding) => finding.kind)).toContain('mainland-id');
  });

  it('seals many uploads at once on two threads, each to its own file', async () => {
    const inputs = Array.from({ length: 8 }, (_, i) => randomBytes(512 * 1024 + i * 4099));
    const results = await Promise.all(inputs.map((input, i) => sealInThread(input, { writeSizes: [16_384 + i] })));
    for (const [i, { envelope }] of results.entries()) {
      expect((await decryptEnvelope(envelope)).plaintext.equals(inputs[i] as Buffer)).toBe(true);
    }
  });

  it('an upload destroyed midway fails its result, and the thread goes on sealing others', async () => {
    const encryptor = createDetachedEnvelopeEncryptor(BINDING_FIELDS);
    const file = await emptyFile();
    const { sink, result } = threads.seal({ file, sealing: encryptor.sealing, inspector: INSPECTOR });
    const sinkError = new Promise((resolve) => sink.once('error', resolve));
    await write(sink, randomBytes(600 * 1024));
    sink.destroy(new Error('connection cut'));
    expect(await sinkError).toMatchObject({ message: 'connection cut' });
    await expect(result).rejects.toThrow('connection cut');
    const other = randomBytes(300 * 1024);
    const { envelope } = await sealInThread(other);
    expect((await decryptEnvelope(envelope)).plaintext.equals(other)).toBe(true);
  });

  it('a file the thread cannot open fails the sink and its result with the reason', async () => {
    const encryptor = createDetachedEnvelopeEncryptor(BINDING_FIELDS);
    const missing = path.join(dir, 'no-such-folder', 'body');
    const { sink, result } = threads.seal({ file: missing, sealing: encryptor.sealing, inspector: INSPECTOR });
    await expect(pipeline(Readable.from([randomBytes(1024 * 1024)]), sink)).rejects.toThrow(/ENOENT/);
    await expect(result).rejects.toThrow(/ENOENT/);
    expect(existsSync(missing)).toBe(false);
    const again = randomBytes(70_000);
    expect((await decryptEnvelope((await sealInThread(again)).envelope)).plaintext.equals(again)).toBe(true);
  });

  it('holds the writer back while batches are in flight (backpressure, not buffering)', async () => {
    const encryptor = createDetachedEnvelopeEncryptor(BINDING_FIELDS);
    const file = await emptyFile();
    const { sink, result } = threads.seal({ file, sealing: encryptor.sealing, inspector: INSPECTOR });
    // Three full batches at once: the third waits for the thread to finish one.
    let acknowledged = 0;
    const writes = [0, 1, 2].map(() => write(sink, randomBytes(256 * 1024)).then(() => (acknowledged += 1)));
    expect(acknowledged).toBe(0);
    await Promise.all(writes);
    expect(acknowledged).toBe(3);
    sink.end();
    await expect(result).resolves.toMatchObject({ body: { plaintextSize: 3 * 256 * 1024 } });
  });
});

describe('a sealing thread that stops', () => {
  it('fails the uploads it was sealing, with the reason; nothing hangs', async () => {
    const own = createSealingThreads({ threads: 1, niceness: 0 });
    const encryptor = createDetachedEnvelopeEncryptor(BINDING_FIELDS);
    const { sink, result } = own.seal({ file: await emptyFile(), sealing: encryptor.sealing, inspector: INSPECTOR });
    sink.on('error', () => undefined);
    await write(sink, randomBytes(300 * 1024));
    await own.close();
    await expect(result).rejects.toThrow(/sealing thread: worker thread stopped/);
    await expect(write(sink, randomBytes(1024))).rejects.toThrow(/sealing thread: worker thread stopped/);
  });
});

function write(sink: Writable, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => sink.write(bytes, (error) => (error ? reject(error) : resolve())));
}
