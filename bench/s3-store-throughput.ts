// S3 store benchmark (not a test): a 1 GiB stream (generated 1 MiB at a time, never held whole)
// written through `createPending` and committed, to the S3 store on a local S3 server process
// (scripts/s3-server.mjs, s3rver on the same machine) and, as the baseline of the same run, to the
// filesystem store on the same disk. Each store runs in a child process of its own, so that its peak
// RSS (getrusage maxRSS) is its own; the S3 server's peak RSS is sampled from /proc. Prints MiB/s,
// the ratio to the filesystem store, and the peak RSS of each. Bounded: a store that takes longer
// than BENCH_S3_TIMEOUT_S (default 600) is stopped and reported as failed.
// The S3 figure is the store and s3rver together: s3rver writes each part to a file, then copies the
// parts into the object at CompleteMultipartUpload; a real S3 or MinIO behaves otherwise.
// Run: npx tsc -p tsconfig.bench.json && node dist/bench/s3-store-throughput.js [GiB]
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from '../gateway/config.js';
import { createFilesystemStore } from '../gateway/storage/filesystem-store.js';
import type { ObjectStore } from '../gateway/storage/object-store.js';
import { createS3Store } from '../gateway/storage/s3-store.js';
import { MiB, samplePeakRss, startChild } from './support/gateway-processes.js';
import { reportResult } from './support/report.js';

const TIMEOUT_S = Number(process.env.BENCH_S3_TIMEOUT_S ?? 600);
const KEY = 'envelopes/bench.body';
/** The SDK's own switch for its NodeVersionSupportWarning on Node 20 (see gateway/storage/s3-store.ts). */
const QUIET_SDK = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

interface StoreRun {
  readonly seconds: number;
  readonly size: number;
  readonly peakRss: number;
}

/** `size` bytes in 1 MiB chunks, each a fresh buffer (a chunk written is the store's: it may move it). */
function* content(size: number): Generator<Buffer> {
  const template = randomFillSync(Buffer.alloc(MiB)); // sealed envelopes look random
  for (let sent = 0; sent < size; sent += MiB) {
    const chunk = Buffer.allocUnsafeSlow(Math.min(MiB, size - sent));
    template.copy(chunk, 0, 0, chunk.length);
    chunk.writeUInt32BE(sent / MiB, 0);
    yield chunk;
  }
}

/** In a child process: writes `size` bytes to one store, prints one JSON line with the figures. */
async function runStore(kind: string, size: number, target: string): Promise<void> {
  const store: ObjectStore =
    kind === 's3'
      ? await createS3Store({ endpoint: target, region: 'us-east-1', bucket: 'bench', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, forcePathStyle: true, createBucketIfMissing: true })
      : await createFilesystemStore(target);
  const started = process.hrtime.bigint();
  const pending = await store.createPending(KEY);
  await pipeline(Readable.from(content(size)), pending.stream);
  const { size: committed } = await pending.commit();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (committed !== size || (await store.stat(KEY))?.size !== size) throw new Error(`${kind}: committed ${committed} bytes of ${size}`);
  const run: StoreRun = { seconds, size, peakRss: process.resourceUsage().maxRSS * 1024 };
  console.log(JSON.stringify(run));
  await store.delete(KEY);
  await store.close();
}

/** Runs one store in a child process of its own, bounded by TIMEOUT_S. */
function storeInChild(kind: 'filesystem' | 's3', size: number, target: string): Promise<StoreRun> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--store', kind, String(size), target], { env: { PATH: process.env.PATH, ...QUIET_SDK }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let run: StoreRun | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${kind}: not done within ${TIMEOUT_S} s`));
    }, TIMEOUT_S * 1000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        run = JSON.parse(line) as StoreRun;
      } catch {
        console.log(line);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (run && code === 0) resolve(run);
      else reject(new Error(`${kind}: child exited with ${String(code)}`));
    });
  });
}

async function main(): Promise<void> {
  const gib = Number(process.argv[2] ?? 1);
  const size = Math.round(gib * 1024) * MiB;
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-bench-s3-'));
  const { child: server, url: endpoint } = await startChild([path.join(PROJECT_ROOT, 'scripts/s3-server.mjs'), '--dir', path.join(dir, 's3')], {}, (line) =>
    typeof line.endpoint === 'string' ? line.endpoint : undefined,
  );
  try {
    const filesystem = await storeInChild('filesystem', size, path.join(dir, 'files'));
    const serverRss = samplePeakRss(server.pid as number);
    const s3 = await storeInChild('s3', size, endpoint);
    const serverPeak = serverRss.stop();

    const rate = (run: StoreRun): number => run.size / MiB / run.seconds;
    console.log(`object store: ${size / 1024 / MiB} GiB through createPending + commit, one stream (Node ${process.version}, ${new Date().toISOString()})`);
    console.log('| store | MiB/s | seconds | peak RSS MiB (store process) | vs filesystem |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    console.log(`| filesystem store (same disk; baseline) | ${rate(filesystem).toFixed(0)} | ${filesystem.seconds.toFixed(1)} | ${(filesystem.peakRss / MiB).toFixed(0)} | 1.00× |`);
    console.log(`| S3 store → local s3rver (8 MiB parts, 4 in flight) | ${rate(s3).toFixed(0)} | ${s3.seconds.toFixed(1)} | ${(s3.peakRss / MiB).toFixed(0)} | ${(rate(s3) / rate(filesystem)).toFixed(2)}× |`);
    console.log(`s3rver process peak RSS while it took the S3 run: ${(serverPeak / MiB).toFixed(0)} MiB`);
    reportResult({
      area: 'shared mode (issue 14)',
      name: `S3 store: ${size / 1024 / MiB} GiB stream to a local s3rver (store peak RSS ${(s3.peakRss / MiB).toFixed(0)} MiB)`,
      value: rate(s3),
      unit: 'MiB/s',
      baseline: { name: 'filesystem store, same disk', value: rate(filesystem) },
    });
  } finally {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--store') {
  const [, , , kind, size, target] = process.argv;
  await runStore(kind as string, Number(size), target as string);
} else {
  await main();
}
