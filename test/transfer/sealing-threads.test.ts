// Sealing threads (transfer/sealing-threads.ts) in real pool threads: plaintext in, sealed body out.
// What a thread seals must be exactly what the event loop would have sealed: an envelope the
// recipient opens to the same bytes, with the same inspection report. Failures and aborts fail the
// transform and lose nothing else; a slow consumer holds the sender back; memory stays flat.
import { randomBytes } from 'node:crypto';
import { Readable, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDetachedEnvelopeEncryptor } from '../../gateway/envelope/encrypt-envelope.js';
import { createInspector } from '../../gateway/inspect/create-inspector.js';
import type { InspectorOptions } from '../../gateway/inspect/inspection-report.js';
import { createThreadPool, type ThreadPool } from '../../gateway/threads/thread-pool.js';
import { createSealingThreads, SEALING_BATCH_BYTES, type SealingThreads } from '../../gateway/transfer/sealing-threads.js';
import { BINDING_FIELDS, chunk, decryptEnvelope, DEFAULT_HOLDERS, devSigner } from '../envelope/envelope-fixtures.js';
import type { EchoRequest } from '../threads/echo-thread.js';

const INSPECTOR: InspectorOptions = {
  declared: { format: 'csv', subjects: 0, humanGeneticResources: false, deidentification: 'anonymised', category: 'research-other' },
  mode: 'sampled',
};
const MiB = 1024 * 1024;

/** CSV-like text with a mainland identity number planted at `plantAt` (if given). */
function csv(size: number, plantAt?: number): Buffer {
  const line = 'site-3,42,87,ok\n';
  const text = Buffer.from(line.repeat(Math.ceil(size / line.length) + 1)).subarray(0, size);
  if (plantAt !== undefined) Buffer.from('\n11010519491231002X\n').copy(text, plantAt);
  return text;
}

let pool: ThreadPool<'bulk'>;
let threads: SealingThreads;

beforeAll(() => {
  pool = createThreadPool({ lanes: { bulk: { threads: 2, niceness: 5 } } });
  threads = createSealingThreads({ threads: pool });
});
afterAll(async () => {
  await pool.close();
});

/** A writable that keeps what it is given. */
function collector(): Writable & { bytes(): Buffer } {
  const pieces: Buffer[] = [];
  const sink = new Writable({
    write(piece: Buffer, _encoding, callback) {
      pieces.push(piece);
      callback();
    },
  });
  return Object.assign(sink, { bytes: () => Buffer.concat(pieces) });
}

/** Seals `plaintext` (written in chunks of `writeSizes`) in a thread; returns the envelope and report. */
async function sealInThread(plaintext: Buffer, options: { segmentSize?: number; writeSizes?: number[]; on?: SealingThreads } = {}) {
  const encryptor = createDetachedEnvelopeEncryptor({ ...BINDING_FIELDS, ...(options.segmentSize ? { segmentSize: options.segmentSize } : {}) });
  const { transform, result } = (options.on ?? threads).seal({ sealing: { format: 'hetao-envelope', params: encryptor.sealing }, inspector: INSPECTOR });
  const body = collector();
  // Written buffers are reused at once by this writer: the thread must have taken its copy.
  await pipeline(Readable.from(chunk(plaintext, options.writeSizes).map((piece) => Buffer.from(piece))), transform, body);
  const sealed = await result;
  const finished = await encryptor.finish({ holders: DEFAULT_HOLDERS, signer: devSigner, body: sealed.body });
  return { envelope: Buffer.concat([finished.prefix, body.bytes()]), sealed, finished };
}

function write(stream: Duplex, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => stream.write(bytes, (error) => (error ? reject(error) : resolve())));
}

describe('sealing threads', () => {
  it.each([
    ['empty', 0, 1024, [1]],
    ['one byte', 1, 1024, [1]],
    ['one segment less a byte', 1023, 1024, [100]],
    ['exactly one segment', 1024, 1024, [1024]],
    ['a batch and a byte, odd chunks', 256 * 1024 + 1, 1024, [7, 4096, 65_537]],
    ['3 MiB, default segments, TLS-sized chunks', 3 * MiB + 5, undefined, [16_384]],
    ['segments larger than a batch', MiB + 3, 300 * 1024, [65_536, 1]],
    // Batches that are no multiple of the segment size, then a last batch shorter than the segment
    // the thread still holds: the batch that segment began in must not go back to be reused.
    ['a short last batch after batches that end mid-segment', 2 * MiB + 3, 100 * 1024, [65_536, 3]],
    ['segments larger than a batch, a short last batch', 3 * MiB + 3, 1100 * 1024, [65_536, 3]],
    ['one write of many batches', 2 * MiB + 9, undefined, [2 * MiB + 9]],
  ])('%s: the recipient opens the envelope to the same bytes, with the header the thread reported', async (_name, size, segmentSize, writeSizes) => {
    const plaintext = randomBytes(size);
    const { envelope, sealed, finished } = await sealInThread(plaintext, { ...(segmentSize ? { segmentSize } : {}), writeSizes });
    const { plaintext: opened } = await decryptEnvelope(envelope, { readSizes: [4096, 77] });
    expect(opened.equals(plaintext)).toBe(true);
    expect(finished.header.plaintext.size).toBe(size);
    expect(sealed.body.plaintextSize).toBe(size);
  });

  it('reports what the inspector on the event loop reports for the same bytes (an identity number found)', async () => {
    const plaintext = csv(2 * MiB, 300_000);
    const { sealed } = await sealInThread(plaintext, { writeSizes: [16_384, 999] });
    const local = createInspector(INSPECTOR);
    for (const piece of chunk(plaintext, [65_536])) local.write(piece);
    expect(sealed.report).toEqual(local.finish());
    expect(sealed.report.findings.map((finding) => finding.kind)).toContain('mainland-id');
  });

  it('seals many uploads at once on two threads, each to its own body', async () => {
    const inputs = Array.from({ length: 8 }, (_, i) => randomBytes(512 * 1024 + i * 4099));
    const results = await Promise.all(inputs.map((input, i) => sealInThread(input, { writeSizes: [16_384 + i] })));
    for (const [i, { envelope }] of results.entries()) {
      expect((await decryptEnvelope(envelope)).plaintext.equals(inputs[i] as Buffer)).toBe(true);
    }
  });

  it('an upload destroyed midway fails its result, and the thread goes on sealing others', async () => {
    const encryptor = createDetachedEnvelopeEncryptor(BINDING_FIELDS);
    const { transform, result } = threads.seal({ sealing: { format: 'hetao-envelope', params: encryptor.sealing }, inspector: INSPECTOR });
    const failed = new Promise((resolve) => transform.once('error', resolve));
    transform.resume(); // its sealed output is dropped here
    await write(transform, randomBytes(600 * 1024));
    transform.destroy(new Error('connection cut'));
    expect(await failed).toMatchObject({ message: 'connection cut' });
    await expect(result).rejects.toThrow('connection cut');
    const other = randomBytes(300 * 1024);
    expect((await decryptEnvelope((await sealInThread(other)).envelope)).plaintext.equals(other)).toBe(true);
  });

  it('a sealer that refuses its parameters fails the transform and its result with the gateway code', async () => {
    const encryptor = createDetachedEnvelopeEncryptor(BINDING_FIELDS);
    const { transform, result } = threads.seal({ sealing: { format: 'hetao-envelope', params: { ...encryptor.sealing, salt: new Uint8Array(5) } }, inspector: INSPECTOR });
    await expect(pipeline(Readable.from([randomBytes(MiB)]), transform, collector())).rejects.toMatchObject({ code: 'ERR_ENVELOPE_FORMAT', message: expect.stringMatching(/salt/) });
    await expect(result).rejects.toMatchObject({ code: 'ERR_ENVELOPE_FORMAT' });
    const again = randomBytes(70_000);
    expect((await decryptEnvelope((await sealInThread(again)).envelope)).plaintext.equals(again)).toBe(true);
  });
});

/**
 * Waits until nothing moves any more: an upload sealed whole on the same (one) thread afterwards means
 * every message sent to it before was answered, in order, and its answers were handled here.
 */
async function settle(sealing: SealingThreads, state: () => readonly number[]): Promise<void> {
  let before: string | undefined;
  for (let now = state().join(); now !== before; now = state().join()) {
    before = now;
    await sealInThread(randomBytes(1000), { on: sealing });
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('backpressure', () => {
  it('takes at most two batches ahead of the thread, and no more plaintext while its sealed side is unread', async () => {
    const own = createThreadPool({ lanes: { bulk: { threads: 1 } } });
    try {
      const sealing = createSealingThreads({ threads: own });
      const encryptor = createDetachedEnvelopeEncryptor(BINDING_FIELDS);
      const { transform, result } = sealing.seal({ sealing: { format: 'hetao-envelope', params: encryptor.sealing }, inspector: INSPECTOR });
      // Eight full batches at once: two go to the thread, a third when it answers the first; its sealed
      // bytes fill the readable side (nobody reads it), and the rest wait for a reader.
      let acknowledged = 0;
      const writes = Array.from({ length: 8 }, () => write(transform, randomBytes(SEALING_BATCH_BYTES)).then(() => (acknowledged += 1)));
      await settle(sealing, () => [acknowledged, transform.readableLength]);
      expect(acknowledged).toBeGreaterThan(0);
      expect(acknowledged).toBeLessThanOrEqual(3);
      expect(transform.readableLength).toBeGreaterThanOrEqual(SEALING_BATCH_BYTES);
      expect(transform.readableLength).toBeLessThan(4 * SEALING_BATCH_BYTES);

      const body = collector();
      const piped = pipeline(transform, body);
      await Promise.all(writes);
      transform.end();
      await piped;
      await expect(result).resolves.toMatchObject({ body: { plaintextSize: 8 * SEALING_BATCH_BYTES } });
      const finished = await encryptor.finish({ holders: DEFAULT_HOLDERS, signer: devSigner, body: (await result).body });
      expect((await decryptEnvelope(Buffer.concat([finished.prefix, body.bytes()]))).plaintext.length).toBe(8 * SEALING_BATCH_BYTES);
    } finally {
      await own.close();
    }
  });

  it('a slow consumer holds the sender back: little of a large source is read while the sealed side is not', async () => {
    const own = createThreadPool({ lanes: { bulk: { threads: 1 } } });
    const sealing = createSealingThreads({ threads: own });
    try {
      const total = 32 * SEALING_BATCH_BYTES;
      const pieces = Array.from({ length: 16 }, () => randomBytes(16_384));
      let pulled = 0;
      const source = Readable.from(
        (function* () {
          for (let i = 0; i < total / 16_384; i += 1) {
            pulled += 16_384;
            yield pieces[i % 16] as Buffer;
          }
        })(),
      );
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let received = 0;
      const store = new Writable({
        highWaterMark: 64 * 1024,
        write(piece: Buffer, _encoding, callback) {
          received += piece.length;
          void released.then(() => callback());
        },
      });
      const encryptor = createDetachedEnvelopeEncryptor(BINDING_FIELDS);
      const { transform, result } = sealing.seal({ sealing: { format: 'hetao-envelope', params: encryptor.sealing }, inspector: INSPECTOR });
      const piped = pipeline(source, transform, store);

      await settle(sealing, () => [pulled, transform.readableLength, transform.writableLength, received]);
      expect(received).toBeGreaterThan(0);
      // The readable side holds its high-water mark (a batch) and what the two batches in flight seal; the one being filled and the streams' buffers.
      expect(pulled).toBeLessThan(5 * SEALING_BATCH_BYTES);
      expect(transform.readableLength).toBeLessThan(4 * SEALING_BATCH_BYTES);

      release();
      await piped;
      expect(pulled).toBe(total);
      await expect(result).resolves.toMatchObject({ body: { plaintextSize: total } });
    } finally {
      await own.close();
    }
  });
});

describe('memory', () => {
  it('stays flat over 256 MiB sealed: buffers held grow by less than 16 MiB, and the second 128 MiB add less than 24 MiB of RSS to the first', async () => {
    const own = createThreadPool({ lanes: { bulk: { threads: 1 } } });
    try {
      const sealing = createSealingThreads({ threads: own });
      const pieces = Array.from({ length: 16 }, () => randomBytes(16_384));
      /**
       * Seals `total` bytes into a store that drops them; the peaks of RSS and array buffers over the whole run and over its first half.
       * RSS alone moves with the allocator and the machine's load, so what is asserted is that it does not grow with the bytes sealed:
       * a transfer held even in part would add about as much in the second half as in the first.
       */
      const sealAndMeasure = async (total: number): Promise<{ rss: number; rssFirstHalf: number; arrayBuffers: number }> => {
        const start = process.memoryUsage();
        const peak = { rss: start.rss, arrayBuffers: start.arrayBuffers, rssFirstHalf: start.rss };
        let sealed = 0;
        const measure = (): void => {
          const now = process.memoryUsage();
          peak.rss = Math.max(peak.rss, now.rss);
          peak.arrayBuffers = Math.max(peak.arrayBuffers, now.arrayBuffers);
          if (sealed <= total / 2) peak.rssFirstHalf = peak.rss;
        };
        let count = 0;
        const source = Readable.from(
          (function* () {
            for (let i = 0; i < total / 16_384; i += 1) yield pieces[i % 16] as Buffer;
          })(),
        );
        const store = new Writable({
          write(piece: Buffer, _encoding, callback) {
            sealed += piece.length;
            if ((count += 1) % 16 === 0) measure();
            callback();
          },
        });
        const encryptor = createDetachedEnvelopeEncryptor(BINDING_FIELDS);
        const { transform, result } = sealing.seal({ sealing: { format: 'hetao-envelope', params: encryptor.sealing }, inspector: INSPECTOR });
        await pipeline(source, transform, store);
        measure();
        expect((await result).body.plaintextSize).toBe(total);
        return { rss: peak.rss - start.rss, rssFirstHalf: peak.rssFirstHalf - start.rss, arrayBuffers: peak.arrayBuffers - start.arrayBuffers };
      };
      await sealAndMeasure(64 * MiB); // the thread is up, its heap and the allocator warm
      const growth = await sealAndMeasure(256 * MiB);
      expect(growth.arrayBuffers).toBeLessThan(16 * MiB);
      expect(growth.rss - growth.rssFirstHalf).toBeLessThan(24 * MiB);
    } finally {
      await own.close();
    }
  });
});

describe('a sealing thread that stops', () => {
  it('fails the uploads it was sealing, with the reason; nothing hangs', async () => {
    const own = createThreadPool({ lanes: { bulk: { threads: 1 } } });
    try {
      const sealing = createSealingThreads({ threads: own });
      const encryptor = createDetachedEnvelopeEncryptor(BINDING_FIELDS);
      const { transform, result } = sealing.seal({ sealing: { format: 'hetao-envelope', params: encryptor.sealing }, inspector: INSPECTOR });
      const failed = new Promise<Error>((resolve) => transform.once('error', resolve));
      transform.resume();
      await write(transform, randomBytes(300 * 1024));
      // The lane's one thread is killed mid-upload (the test's own entry module exits it).
      let exited!: (error: Error) => void;
      const killer = own.open<EchoRequest, unknown>('bulk', new URL('../threads/echo-thread.js', import.meta.url), { onMessage: () => undefined, onFailed: (error) => exited(error) });
      const killed = new Promise<Error>((resolve) => (exited = resolve));
      killer.post({ kind: 'exit', code: 9 });
      expect((await killed).message).toBe('a thread of the bulk lane stopped: exit code 9');
      expect(await failed).toMatchObject({ code: 'ERR_INTERNAL', message: 'sealing thread: a thread of the bulk lane stopped: exit code 9' });
      await expect(result).rejects.toThrow('sealing thread: a thread of the bulk lane stopped: exit code 9');
      await expect(write(transform, randomBytes(1024))).rejects.toThrow();
      // The lane starts another thread for the next upload.
      const next = randomBytes(100_000);
      expect((await decryptEnvelope((await sealInThread(next, { on: sealing })).envelope)).plaintext.equals(next)).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('a closed pool fails the uploads still running, and refuses new ones', async () => {
    const own = createThreadPool({ lanes: { bulk: { threads: 1 } } });
    const sealing = createSealingThreads({ threads: own });
    const encryptor = createDetachedEnvelopeEncryptor(BINDING_FIELDS);
    const { transform, result } = sealing.seal({ sealing: { format: 'hetao-envelope', params: encryptor.sealing }, inspector: INSPECTOR });
    transform.on('error', () => undefined);
    await own.close();
    await expect(result).rejects.toMatchObject({ code: 'ERR_INTERNAL', message: 'sealing thread: the thread pool was closed' });
    expect(() => sealing.seal({ sealing: { format: 'hetao-envelope', params: encryptor.sealing }, inspector: INSPECTOR })).toThrow('the thread pool is closed');
  });
});
