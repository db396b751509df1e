// Upload benchmark (not a test): one large upload over mTLS, end to end, with the same undici client
// against the gateway and baselines measured in the same run: the peer, nginx doing an mTLS WebDAV PUT
// to disk (bench/support/nginx-peer.ts; the target is ≥ 0.9 × it), and two bare node:https servers
// (bench/support/baseline-server.ts): (a) piping to disk, (b) the same computing SHA-256 and
// AES-256-GCM segments. The gateway is measured inline (200 `available`) and queued (Redis at
// BENCH_REDIS_URL, default redis://127.0.0.1:6379; 202 `queued`, timed until the record says
// `available`; skipped without Redis). Prints MiB/s and each server's peak RSS (sampled from /proc
// every 100 ms); the issue 15 targets: ≥ 0.9 × nginx, peak RSS < 256 MiB at every size.
// Run: npm run bench (or: npx tsc -p tsconfig.bench.json && node dist/bench/upload-throughput.js [GiB…])
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { PROJECT_ROOT } from '../gateway/config.js';
import { benchManifest, CERTS, content, contentBlock, identity, MiB, samplePeakRss, startChild } from './support/gateway-processes.js';
import { ensureNginx, freePort, startNginxPeer } from './support/nginx-peer.js';
import { dropQueueKeys, redisReachable } from './support/bench-redis.js';
import { createInspector } from '../gateway/inspect/create-inspector.js';
import { cpuSecondsOf } from './support/process-cpu.js';
import { reportResult } from './support/report.js';

const sizesGiB = process.argv.slice(2).map(Number).filter((n) => n > 0);
const SIZES = (sizesGiB.length ? sizesGiB : [1, 4]).map((gib) => Math.round(gib * 1024) * MiB);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const RSS_LIMIT_BYTES = 256 * MiB;

/** Polls the transfer's record until it is `available` (fails on any end but that). */
async function waitAvailable(api: string, agent: Agent, id: string): Promise<void> {
  for (;;) {
    const response = await request(`${api}/v1/transfers/${id}`, { dispatcher: agent });
    const record = (await response.body.json()) as { status?: string };
    if (record.status === 'available') return;
    if (record.status !== 'queued' && record.status !== 'processing') throw new Error(`transfer ${id} ended ${String(record.status)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Row {
  readonly name: string;
  readonly size: number;
  readonly seconds: number;
  readonly rss: number;
  /** CPU seconds of the server process (all threads) and of this process, the client, over the upload. */
  readonly serverCpu: number;
  readonly clientCpu: number;
}

/** Runs `upload` and returns its CPU seconds in the server process `pid` and in this one (the client). */
async function withCpu<T>(pid: number, upload: () => Promise<T>): Promise<{ result: T; serverCpu: number; clientCpu: number }> {
  const [server, client] = [await cpuSecondsOf(pid), await cpuSecondsOf(process.pid)];
  const result = await upload();
  return { result, serverCpu: (await cpuSecondsOf(pid)) - server, clientCpu: (await cpuSecondsOf(process.pid)) - client };
}

/**
 * CPU seconds per byte of what the gateway must do on top of nginx's work — SHA-256, AES-256-GCM in
 * 64 KiB segments and a full inspection of the same bytes — done here, on one thread, with the
 * fastest primitives the platform has: a floor, not an estimate of the gateway's own cost.
 */
function extraWorkCpuPerByte(): number {
  const size = 128 * MiB;
  const block = contentBlock();
  const key = randomBytes(32);
  let fewest = Infinity;
  // Best of three: the first round pays for compiling, and a busy VM only ever adds.
  for (let round = 0; round < 3; round += 1) {
    const started = process.cpuUsage();
    const hash = createHash('sha256');
    const inspection = createInspector({ declared: { format: 'csv', subjects: 2000, humanGeneticResources: false, deidentification: 'anonymised', category: 'research-other' }, mode: 'full' });
    for (let done = 0; done < size; done += MiB) {
      hash.update(block);
      for (let at = 0; at < MiB; at += 64 * 1024) {
        const cipher = createCipheriv('aes-256-gcm', key, randomBytes(12));
        cipher.update(block.subarray(at, at + 64 * 1024));
        cipher.final();
      }
      inspection.write(block);
    }
    hash.digest();
    inspection.finish();
    const used = process.cpuUsage(started);
    fewest = Math.min(fewest, (used.user + used.system) / 1e6);
  }
  return fewest / size;
}

async function timedUpload(url: string, agent: Agent, size: number, method: 'PUT' | 'POST'): Promise<number> {
  const started = process.hrtime.bigint();
  const response = await request(url, { dispatcher: agent, method, body: content(size), headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) } });
  const text = await response.body.text();
  if (response.statusCode >= 300) throw new Error(`upload answered ${response.statusCode}: ${text.slice(0, 300)}`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function main(): Promise<void> {
  const lab = await identity('institutions/sz-hospital');
  const agent = new Agent({ connect: lab, bodyTimeout: 0, headersTimeout: 0 });
  // Measured first, in a process that has done nothing else yet: run after the uploads, the same
  // loop took about twice the CPU here (cause not found), and a floor should not be inflated.
  const extraPerByte = extraWorkCpuPerByte();
  const rows: Row[] = [];
  const queuedToo = await redisReachable(REDIS_URL);
  if (!queuedToo) console.log(`Redis does not answer at ${REDIS_URL}: the queued path is not measured`);
  const nginx = ensureNginx();
  if ('missing' in nginx) console.log(`nginx peer absent: ${nginx.missing}; the ≥ 0.9 × nginx target is reported not met`);
  for (const size of SIZES) {
    if ('binary' in nginx) {
      const dir = await mkdtemp(path.join(tmpdir(), 'hetao-bench-nginx-'));
      const peer = await startNginxPeer(nginx.binary, { dir, port: await freePort(), clientCaFile: path.join(CERTS, 'zone-ca-bundle.dev-only.pem') });
      const nginxAgent = new Agent({ connect: { ...lab, ca: peer.serverCertPem }, bodyTimeout: 0, headersTimeout: 0 });
      try {
        const rss = samplePeakRss(peer.child.pid as number);
        const { result: seconds, ...cpu } = await withCpu(peer.child.pid as number, () => timedUpload(`${peer.url}upload.bin`, nginxAgent, size, 'PUT'));
        rows.push({ name: 'nginx: mTLS WebDAV PUT → disk (peer)', size, seconds, rss: rss.stop(), ...cpu });
      } finally {
        await nginxAgent.close();
        await peer.stop();
        await rm(dir, { recursive: true, force: true });
      }
    }
    for (const mode of ['disk', 'crypto'] as const) {
      const dir = await mkdtemp(path.join(tmpdir(), 'hetao-bench-'));
      const { child, url } = await startChild([path.join(PROJECT_ROOT, 'dist/bench/support/baseline-server.js'), mode, dir, CERTS], {}, (line) =>
        line.msg === 'baseline listening' ? `https://127.0.0.1:${String(line.port)}/` : undefined,
      );
      const rss = samplePeakRss(child.pid as number);
      const { result: seconds, ...cpu } = await withCpu(child.pid as number, () => timedUpload(url, agent, size, 'POST'));
      rows.push({ name: mode === 'disk' ? '(a) node:https → disk' : '(b) (a) + SHA-256 + AES-256-GCM segments', size, seconds, rss: rss.stop(), ...cpu });
      child.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    }

    for (const mode of queuedToo ? (['inline', 'queued'] as const) : (['inline'] as const)) {
      const dir = await mkdtemp(path.join(tmpdir(), 'hetao-bench-'));
      const prefix = `bench-upload-${process.pid}-${size}`;
      const env: Record<string, string> = mode === 'queued' ? { REDIS_URL, HETAO_QUEUE_PREFIX: prefix, HETAO_QUEUE_THRESHOLD_BYTES: String(MiB) } : { HETAO_QUEUE_THRESHOLD_BYTES: String(2 ** 50) };
      const { child, url } = await startChild([path.join(PROJECT_ROOT, 'dist/gateway/app/main.js')], { HETAO_PORT: '0', HETAO_OPS_PORT: '0', HETAO_DATA_DIR: dir, HETAO_LOG_LEVEL: 'info', ...env }, (line) =>
        line.msg === 'gateway listening' ? String(line.api) : undefined,
      );
      try {
        const manifest = benchManifest(size);
        const created = await request(`${url}/v1/transfers`, { dispatcher: agent, method: 'POST', body: JSON.stringify(manifest), headers: { 'content-type': 'application/json' } });
        const record = (await created.body.json()) as { id: string };
        const rss = samplePeakRss(child.pid as number);
        const { result: seconds, ...cpu } = await withCpu(child.pid as number, async () => {
          const started = process.hrtime.bigint();
          await timedUpload(`${url}/v1/transfers/${record.id}/content`, agent, size, 'PUT');
          if (mode === 'queued') await waitAvailable(url, agent, record.id);
          return Number(process.hrtime.bigint() - started) / 1e9;
        });
        rows.push({ name: mode === 'inline' ? 'gateway, inline: 200 available' : 'gateway, queued: 202, then available', size, seconds, rss: rss.stop(), ...cpu });
      } finally {
        child.kill('SIGTERM');
        await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
        await rm(dir, { recursive: true, force: true });
        if (mode === 'queued') await dropQueueKeys(REDIS_URL, prefix);
      }
    }
  }
  await agent.close();

  console.log(`upload over mTLS, one connection (Node ${process.version}, ${new Date().toISOString()})`);
  console.log('| server | size | MiB/s | peak RSS MiB | vs (b) | server CPU-s/GiB | client CPU-s/GiB |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const perGiB = (cpu: number, size: number): string => ((cpu * 1024 * MiB) / size).toFixed(2);
  for (const row of rows) {
    const b = rows.find((r) => r.size === row.size && r.name.startsWith('(b)'));
    const rate = row.size / MiB / row.seconds;
    const ratio = b ? rate / (b.size / MiB / b.seconds) : 1;
    console.log(`| ${row.name} | ${row.size / 1024 / MiB} GiB | ${rate.toFixed(0)} | ${(row.rss / MiB).toFixed(0)} | ${ratio.toFixed(2)}× | ${perGiB(row.serverCpu, row.size)} | ${perGiB(row.clientCpu, row.size)} |`);
  }
  // The ceiling on this machine: nginx's and its client's CPU plus the floor of the gateway's extra
  // work, spread perfectly over every core, with nothing else running.
  const cores = availableParallelism();
  console.log(`\nthe gateway's extra work over nginx's (SHA-256 + AES-256-GCM + full inspection, one thread): ${(extraPerByte * 1024 * MiB).toFixed(2)} CPU-s/GiB`);
  for (const peer of rows.filter((r) => r.name.startsWith('nginx'))) {
    const floorSeconds = (peer.serverCpu + peer.clientCpu + extraPerByte * peer.size) / cores;
    const ceiling = peer.size / MiB / floorSeconds;
    const nginxRate = peer.size / MiB / peer.seconds;
    console.log(`${peer.size / 1024 / MiB} GiB: nginx + client ${(peer.serverCpu + peer.clientCpu).toFixed(2)} CPU-s; with the extra work on ${cores} cores at best ${ceiling.toFixed(0)} MiB/s = ${(ceiling / nginxRate).toFixed(2)}× nginx`);
    reportResult({
      area: 'transfers (issue 15)',
      name: `ceiling here for ${peer.size / 1024 / MiB} GiB: nginx's and the client's CPU + SHA-256, AES-GCM and inspection, ${cores} cores used perfectly`,
      value: ceiling,
      unit: 'MiB/s',
      baseline: { name: 'nginx mTLS PUT to disk', value: nginxRate },
    });
  }
  for (const row of rows.filter((r) => r.name.startsWith('gateway'))) {
    const peer = rows.find((r) => r.size === row.size && r.name.startsWith('nginx'));
    const b = rows.find((r) => r.size === row.size && r.name.startsWith('(b)'));
    const rate = row.size / MiB / row.seconds;
    const baseline = peer ?? b;
    reportResult({
      area: 'transfers (issue 15)',
      name: `upload ${row.size / 1024 / MiB} GiB over mTLS, ${row.name.includes('queued') ? 'queued, to available' : 'inline'}`,
      value: rate,
      unit: 'MiB/s',
      ...(baseline ? { baseline: { name: peer ? 'nginx mTLS PUT to disk' : 'node:https + SHA-256 + AES-GCM to disk', value: baseline.size / MiB / baseline.seconds } } : {}),
      target: { text: '≥ 0.9 × nginx', met: peer !== undefined && rate >= 0.9 * (peer.size / MiB / peer.seconds) },
    });
    reportResult({
      area: 'transfers (issue 15)',
      name: `gateway peak RSS, ${row.size / 1024 / MiB} GiB upload, ${row.name.includes('queued') ? 'queued' : 'inline'}`,
      value: row.rss / MiB,
      unit: 'MiB',
      ...(peer ? { baseline: { name: 'nginx peak RSS', value: peer.rss / MiB } } : {}),
      target: { text: '< 256 MiB', met: row.rss < RSS_LIMIT_BYTES },
    });
  }
}

await main();
