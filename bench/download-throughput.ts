// Download benchmark (not a test), issue 15: the recipient fetching a stored envelope over mTLS from
// a real gateway process, against nginx (bench/support/nginx-peer.ts) serving a file of the same
// size as a static GET, also under `ssl_verify_client on`. One undici client (mTLS, one connection
// per server) reads both bodies to the end and discards them. The two are interleaved, ROUNDS each,
// and the medians compared (target: gateway ≥ 0.9 × nginx). The file nginx serves is the
// gateway's envelope itself (header then body), copied into nginx's folder, so both come from the
// page cache and weigh the same.
// Run: npm run bench (or: npx tsc -p tsconfig.bench.json && node dist/bench/download-throughput.js [GiB] [rounds])
// HETAO_BENCH_CPU_PROF_DIR=<dir> runs the gateway under `node --cpu-prof` writing there.
import type { ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Agent, request } from 'undici';
import { PROJECT_ROOT } from '../gateway/config.js';
import { benchManifest, CERTS, content, identity, MiB, startChild } from './support/gateway-processes.js';
import { ensureNginx, freePort, startNginxPeer } from './support/nginx-peer.js';
import { reportResult } from './support/report.js';

const SIZE = Math.round((Number(process.argv[2]) || 1) * 1024) * MiB;
const ROUNDS = Math.max(1, Math.round(Number(process.argv[3]) || 3));

/** CPU seconds (user + system) a process has used so far, from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

interface Timing {
  readonly seconds: number;
  /** CPU seconds the server used, and the client (this process). */
  readonly serverCpu: number;
  readonly clientCpu: number;
}

/** GET `url` and read its body to the end; the bytes are counted, then dropped. */
async function timedDownload(url: string, agent: Agent, expected: number, serverPid: number): Promise<Timing> {
  const serverBefore = await cpuSeconds(serverPid);
  const clientBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const response = await request(url, { dispatcher: agent, method: 'GET' });
  if (response.statusCode !== 200) throw new Error(`GET ${url} answered ${response.statusCode}: ${(await response.body.text()).slice(0, 300)}`);
  let bytes = 0;
  for await (const chunk of response.body) bytes += (chunk as Buffer).length;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const client = process.cpuUsage(clientBefore);
  const serverCpu = (await cpuSeconds(serverPid)) - serverBefore;
  if (bytes !== expected) throw new Error(`GET ${url} gave ${bytes} bytes, expected ${expected}`);
  return { seconds, serverCpu, clientCpu: (client.user + client.system) / 1e6 };
}

async function upload(url: string, agent: Agent, size: number): Promise<string> {
  const created = await request(`${url}/v1/transfers`, { dispatcher: agent, method: 'POST', body: JSON.stringify(benchManifest(size)), headers: { 'content-type': 'application/json' } });
  const record = (await created.body.json()) as { id: string };
  if (created.statusCode !== 201) throw new Error(`create answered ${created.statusCode}: ${JSON.stringify(record)}`);
  const uploaded = await request(`${url}/v1/transfers/${record.id}/content`, {
    dispatcher: agent,
    method: 'PUT',
    body: content(size),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
  });
  const answer = (await uploaded.body.json()) as { status?: string };
  if (uploaded.statusCode !== 200) throw new Error(`upload answered ${uploaded.statusCode}: ${JSON.stringify(answer).slice(0, 300)}`);
  return record.id;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await gone;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

async function main(): Promise<void> {
  const sender = await identity('institutions/sz-hospital');
  const recipient = await identity('institutions/hetao-sz-institute');
  const nginx = ensureNginx();
  if ('missing' in nginx) console.log(`nginx peer absent: ${nginx.missing}; the ≥ 0.9 × nginx target is reported not met`);

  const dataDir = await mkdtemp(path.join(tmpdir(), 'hetao-bench-download-'));
  const nginxDir = await mkdtemp(path.join(tmpdir(), 'hetao-bench-nginx-'));
  const profileDir = process.env.HETAO_BENCH_CPU_PROF_DIR;
  const nodeFlags = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const { child, url } = await startChild(
    [...nodeFlags, path.join(PROJECT_ROOT, 'dist/gateway/app/main.js')],
    { HETAO_PORT: '0', HETAO_OPS_PORT: '0', HETAO_DATA_DIR: dataDir, HETAO_LOG_LEVEL: 'info', HETAO_QUEUE_THRESHOLD_BYTES: String(2 ** 50) },
    (line) => {
      // The gateway's errors, shown: a failing upload or download answers only "Internal error".
      if (typeof line.level === 'number' && line.level >= 50) console.error(JSON.stringify(line));
      return line.msg === 'gateway listening' ? String(line.api) : undefined;
    },
  );
  const senderAgent = new Agent({ connect: sender, bodyTimeout: 0, headersTimeout: 0 });
  const gatewayAgent = new Agent({ connect: recipient, bodyTimeout: 0, headersTimeout: 0 });
  let peer: Awaited<ReturnType<typeof startNginxPeer>> | undefined;
  let nginxAgent: Agent | undefined;
  const times: { gateway: Timing[]; nginx: Timing[] } = { gateway: [], nginx: [] };
  let envelopeSize = 0;
  try {
    const id = await upload(url, senderAgent, SIZE);
    const header = path.join(dataDir, 'envelopes', `${id}.header`);
    const body = path.join(dataDir, 'envelopes', `${id}.body`);
    envelopeSize = (await stat(header)).size + (await stat(body)).size;
    const downloadUrl = `${url}/v1/transfers/${id}/content`;

    if ('binary' in nginx) {
      peer = await startNginxPeer(nginx.binary, { dir: nginxDir, port: await freePort(), clientCaFile: path.join(CERTS, 'zone-ca-bundle.dev-only.pem') });
      const copy = createWriteStream(path.join(nginxDir, 'www', 'envelope.hetao'));
      copy.write(await readFile(header));
      await pipeline(createReadStream(body, { highWaterMark: MiB }), copy);
      nginxAgent = new Agent({ connect: { ...recipient, ca: peer.serverCertPem }, bodyTimeout: 0, headersTimeout: 0 });
    }

    // One warm-up of each (page cache, TLS sessions, JIT), then the interleaved rounds.
    if (peer && nginxAgent) await timedDownload(`${peer.url}envelope.hetao`, nginxAgent, envelopeSize, peer.child.pid as number);
    await timedDownload(downloadUrl, gatewayAgent, envelopeSize, child.pid as number);
    for (let round = 0; round < ROUNDS; round++) {
      if (peer && nginxAgent) times.nginx.push(await timedDownload(`${peer.url}envelope.hetao`, nginxAgent, envelopeSize, peer.child.pid as number));
      times.gateway.push(await timedDownload(downloadUrl, gatewayAgent, envelopeSize, child.pid as number));
    }
  } finally {
    await Promise.all([senderAgent.close(), gatewayAgent.close(), nginxAgent?.close()]);
    await stopChild(child);
    await peer?.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(nginxDir, { recursive: true, force: true });
  }

  const rate = (seconds: number): number => envelopeSize / MiB / seconds;
  const perGiB = (cpu: number): string => (cpu / (envelopeSize / 1024 / MiB)).toFixed(2);
  const gatewayRate = rate(median(times.gateway.map((t) => t.seconds)));
  const nginxRate = times.nginx.length ? rate(median(times.nginx.map((t) => t.seconds))) : undefined;
  console.log(`download of a ${(envelopeSize / MiB).toFixed(1)} MiB envelope over mTLS, one connection each, ${ROUNDS} interleaved rounds (Node ${process.version}, ${new Date().toISOString()})`);
  console.log('| server | MiB/s per round | median MiB/s | vs nginx | server CPU s/GiB (median) | client CPU s/GiB (median) |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  const row = (name: string, timings: readonly Timing[], ratio: string): void =>
    console.log(
      `| ${name} | ${timings.map((t) => rate(t.seconds).toFixed(0)).join(', ')} | ${rate(median(timings.map((t) => t.seconds))).toFixed(0)} | ${ratio} | ${perGiB(median(timings.map((t) => t.serverCpu)))} | ${perGiB(median(timings.map((t) => t.clientCpu)))} |`,
    );
  if (nginxRate !== undefined) row('nginx: mTLS static GET (peer)', times.nginx, '1.00×');
  row('gateway: recipient GET /v1/transfers/:id/content', times.gateway, nginxRate ? `${(gatewayRate / nginxRate).toFixed(2)}×` : '—');
  reportResult({
    area: 'transfers (issue 15)',
    name: `download ${SIZE / 1024 / MiB} GiB envelope over mTLS`,
    value: gatewayRate,
    unit: 'MiB/s',
    ...(nginxRate !== undefined ? { baseline: { name: 'nginx mTLS GET of the same size', value: nginxRate } } : {}),
    target: { text: '≥ 0.9 × nginx', met: nginxRate !== undefined && gatewayRate >= 0.9 * nginxRate },
  });
}

await main();
