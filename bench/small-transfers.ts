// Small-transfer benchmark (not a test), issue 15 target 2: the gateway on its embedded defaults
// (inline, every transfer durable before its 200), BENCH_SMALL_CLIENTS (16) keep-alive mTLS clients
// from the load generator in its own process (bench/support/small-transfer-load.ts), each doing
// create + a 4 KiB upload one after another for BENCH_SMALL_SECONDS (10) after a warm-up. Prints
// transfers per second, p50/p99, the gateway's CPU time per transfer (from /proc/<pid>/stat over the
// measured window) and the load generator's own CPU. The peer baseline in the same run: nginx
// (one worker, mTLS, WebDAV) taking the same two bodies as two PUTs to files — no durability, no
// policy, no encryption, so it is a ceiling for the transport, not a like-for-like server. The table
// counts TLS connections opened while measuring: against nginx, undici closes many of its
// keep-alive connections after a 201 (nginx logs "client closed keepalive connection"; the cause is
// not found), so that row pays handshakes the gateway's does not.
// Run: npm run bench (or: npx tsc -p tsconfig.bench.json && node dist/bench/small-transfers.js)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { PROJECT_ROOT } from '../gateway/config.js';
import { CERTS, startChild } from './support/gateway-processes.js';
import { cpuSecondsOf } from './support/process-cpu.js';
import { ensureNginx, freePort, startNginxPeer } from './support/nginx-peer.js';
import { reportResult } from './support/report.js';
import type { LoadFigures } from './support/small-transfer-load.js';

const CLIENTS = Number(process.env.BENCH_SMALL_CLIENTS ?? 16);
const SECONDS = Number(process.env.BENCH_SMALL_SECONDS ?? 10);
const WARM_UP_SECONDS = Number(process.env.BENCH_SMALL_WARM_UP ?? 3);
const SIZE = 4096;
interface Measured extends LoadFigures {
  readonly serverCpuSeconds: number;
}

/** Runs the load generator against `url`, reading the server's CPU time at its phase lines. */
async function runLoad(target: 'gateway' | 'nginx', url: string, serverPid: number, serverCaFile?: string): Promise<Measured> {
  const args = [path.join(PROJECT_ROOT, 'dist/bench/support/small-transfer-load.js'), target, url, String(CLIENTS), String(SECONDS), String(SIZE), String(WARM_UP_SECONDS), ...(serverCaFile ? [serverCaFile] : [])];
  const load: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let cpuAtStart = 0;
  let serverCpuSeconds = 0;
  let figures: LoadFigures | undefined;
  const lines = createInterface({ input: load.stdout as NodeJS.ReadableStream });
  for await (const line of lines) {
    const parsed = JSON.parse(line) as { phase?: string } & Partial<LoadFigures>;
    if (parsed.phase === 'measuring') cpuAtStart = await cpuSecondsOf(serverPid);
    else if (parsed.phase === 'measured') serverCpuSeconds = (await cpuSecondsOf(serverPid)) - cpuAtStart;
    else figures = parsed as LoadFigures;
  }
  const code = await new Promise<number | null>((resolve) => (load.exitCode !== null ? resolve(load.exitCode) : load.once('exit', resolve)));
  if (code !== 0 || !figures) throw new Error(`the load generator exited with ${code}`);
  return { ...figures, serverCpuSeconds };
}

function describe(name: string, m: Measured): string {
  const rate = m.completed / m.seconds;
  const serverMs = (m.serverCpuSeconds * 1000) / Math.max(1, m.completed);
  const loadMs = (m.cpuSeconds * 1000) / Math.max(1, m.completed);
  return `| ${name} | ${rate.toFixed(0)} | ${m.p50Ms.toFixed(1)} | ${m.p99Ms.toFixed(1)} | ${serverMs.toFixed(2)} | ${loadMs.toFixed(2)} | ${m.connectionsOpened} | ${m.failed}${m.firstFailure ? ` (${m.firstFailure})` : ''} |`;
}

async function measureNginx(): Promise<Measured | undefined> {
  const nginx = ensureNginx();
  if ('missing' in nginx) {
    console.log(`nginx peer absent: ${nginx.missing}`);
    return undefined;
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-bench-nginx-'));
  try {
    const peer = await startNginxPeer(nginx.binary, { dir, port: await freePort(), clientCaFile: path.join(CERTS, 'zone-ca-bundle.dev-only.pem') });
    try {
      const caFile = path.join(dir, 'peer-server-ca.pem');
      await writeFile(caFile, peer.serverCertPem);
      return await runLoad('nginx', peer.url, peer.child.pid as number, caFile);
    } finally {
      await peer.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function measureGateway(): Promise<Measured> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-bench-'));
  const { child, url } = await startChild([path.join(PROJECT_ROOT, 'dist/gateway/app/main.js')], { HETAO_PORT: '0', HETAO_OPS_PORT: '0', HETAO_DATA_DIR: dir }, (line) =>
    line.msg === 'gateway listening' ? String(line.api) : undefined,
  );
  try {
    return await runLoad('gateway', url, child.pid as number);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const nginx = await measureNginx();
  const gateway = await measureGateway();
  console.log(`small transfers: ${CLIENTS} keep-alive mTLS clients, create + ${SIZE} B upload each, ${SECONDS} s measured (Node ${process.version}, ${new Date().toISOString()})`);
  console.log('| server | transfers/s | p50 ms | p99 ms | server CPU ms/transfer | load generator CPU ms/transfer | TLS connections opened | failed |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  if (nginx) console.log(describe('nginx: two mTLS WebDAV PUTs (peer, not durable)', nginx));
  console.log(describe('gateway, embedded, inline, durable before the 200', gateway));

  const rate = gateway.completed / gateway.seconds;
  const cpuMs = (gateway.serverCpuSeconds * 1000) / Math.max(1, gateway.completed);
  const area = 'transfers (issue 15)';
  const baseline = nginx ? { baseline: { name: 'nginx, two mTLS PUTs', value: nginx.completed / nginx.seconds } } : {};
  reportResult({ area, name: `small transfers, ${CLIENTS} clients (failed ${gateway.failed})`, value: rate, unit: 'transfers/s', ...baseline, target: { text: '≥ 1,000/s', met: rate >= 1000 && gateway.failed === 0 } });
  reportResult({ area, name: `small transfers, ${CLIENTS} clients: p99`, value: gateway.p99Ms, unit: 'ms', ...(nginx ? { baseline: { name: 'nginx p99', value: nginx.p99Ms } } : {}), target: { text: '< 50 ms', met: gateway.p99Ms < 50 } });
  reportResult({
    area,
    name: `small transfers: gateway CPU per transfer (load generator ${((gateway.cpuSeconds * 1000) / Math.max(1, gateway.completed)).toFixed(2)} ms)`,
    value: cpuMs,
    unit: 'ms',
    ...(nginx ? { baseline: { name: 'nginx CPU per two PUTs', value: (nginx.serverCpuSeconds * 1000) / Math.max(1, nginx.completed) } } : {}),
    target: { text: '≤ 1 ms', met: cpuMs <= 1 },
  });
}

await main();
