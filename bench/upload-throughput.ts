// Upload benchmark (not a test): one large upload over mTLS, end to end, with the same undici client
// against the gateway and baselines measured in the same run: the peer, nginx doing an mTLS WebDAV PUT
// to disk (bench/support/nginx-peer.ts; the target is ≥ 0.9 × it), and two bare node:https servers
// (bench/support/baseline-server.ts): (a) piping to disk, (b) the same computing SHA-256 and
// AES-256-GCM segments. The gateway is measured inline (200 `available`) and queued (Redis at
// BENCH_REDIS_URL, default redis://127.0.0.1:6379; 202 `queued`, timed until the record says
// `available`; skipped without Redis). Prints MiB/s and each server's peak RSS (sampled from /proc
// every 100 ms); the issue 15 targets: ≥ 0.9 × nginx, peak RSS < 256 MiB at every size.
// Run: npm run bench (or: npx tsc -p tsconfig.bench.json && node dist/bench/upload-throughput.js [GiB…])
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { PROJECT_ROOT } from '../gateway/config.js';
import { benchManifest, CERTS, content, identity, MiB, samplePeakRss, startChild } from './support/gateway-processes.js';
import { ensureNginx, freePort, startNginxPeer } from './support/nginx-peer.js';
import { dropQueueKeys, redisReachable } from './support/bench-redis.js';
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
  const rows: { name: string; size: number; seconds: number; rss: number }[] = [];
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
        const seconds = await timedUpload(`${peer.url}upload.bin`, nginxAgent, size, 'PUT');
        rows.push({ name: 'nginx: mTLS WebDAV PUT → disk (peer)', size, seconds, rss: rss.stop() });
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
      const seconds = await timedUpload(url, agent, size, 'POST');
      rows.push({ name: mode === 'disk' ? '(a) node:https → disk' : '(b) (a) + SHA-256 + AES-256-GCM segments', size, seconds, rss: rss.stop() });
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
        const started = process.hrtime.bigint();
        await timedUpload(`${url}/v1/transfers/${record.id}/content`, agent, size, 'PUT');
        if (mode === 'queued') await waitAvailable(url, agent, record.id);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        rows.push({ name: mode === 'inline' ? 'gateway, inline: 200 available' : 'gateway, queued: 202, then available', size, seconds, rss: rss.stop() });
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
  console.log('| server | size | MiB/s | peak RSS MiB | vs (b) |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const row of rows) {
    const b = rows.find((r) => r.size === row.size && r.name.startsWith('(b)'));
    const rate = row.size / MiB / row.seconds;
    const ratio = b ? rate / (b.size / MiB / b.seconds) : 1;
    console.log(`| ${row.name} | ${row.size / 1024 / MiB} GiB | ${rate.toFixed(0)} | ${(row.rss / MiB).toFixed(0)} | ${ratio.toFixed(2)}× |`);
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
