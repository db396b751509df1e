// Upload benchmark (not a test): one large upload over mTLS, end to end, with the same undici client
// against the gateway and two baselines measured in the same run (bench/support/baseline-server.ts):
// (a) a bare node:https server piping to disk, (b) the same computing SHA-256 and AES-256-GCM
// segments. Prints MiB/s and each server's peak RSS (sampled from /proc every 100 ms).
// Run: npm run bench (or: npx tsc -p tsconfig.bench.json && node dist/bench/upload-throughput.js [GiB…])
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { PROJECT_ROOT } from '../gateway/config.js';

const CERTS = path.join(PROJECT_ROOT, 'certs-dev');
const MiB = 1024 * 1024;
const sizesGiB = process.argv.slice(2).map(Number).filter((n) => n > 0);
const SIZES = (sizesGiB.length ? sizesGiB : [1, 4]).map((gib) => Math.round(gib * 1024) * MiB);

async function identity(name: string) {
  return {
    cert: await readFile(path.join(CERTS, `${name}.dev-only.cert.pem`), 'utf8'),
    key: await readFile(path.join(CERTS, `${name}.dev-only.key.pem`), 'utf8'),
    ca: await readFile(path.join(CERTS, 'zone-ca-bundle.dev-only.pem'), 'utf8'),
  };
}

/** Starts a server child process and waits for its "listening" log line. */
async function startChild(args: string[], env: Record<string, string>, ready: (line: Record<string, unknown>) => string | undefined): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const found = ready(JSON.parse(line) as Record<string, unknown>);
        if (found) resolve(found);
      } catch {
        /* not a JSON line */
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { child, url };
}

/** Peak resident set size of a process, sampled from /proc. */
function samplePeakRss(pid: number): { stop(): number } {
  let peak = 0;
  const timer = setInterval(() => {
    readFile(`/proc/${pid}/status`, 'utf8')
      .then((status) => {
        const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
        peak = Math.max(peak, kib * 1024);
      })
      .catch(() => undefined);
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

/** `size` bytes of CSV-like text in 1 MiB chunks, generated on the fly (the client holds 1 MiB). */
function content(size: number): Readable {
  const line = 'site-3,42,87,ok\n';
  const block = Buffer.from(line.repeat(Math.ceil(MiB / line.length))).subarray(0, MiB);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const chunk = block.subarray(0, Math.min(MiB, size - sent));
      sent += chunk.length;
      this.push(chunk);
    },
  });
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
  for (const size of SIZES) {
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

    const dir = await mkdtemp(path.join(tmpdir(), 'hetao-bench-'));
    const { child, url } = await startChild([path.join(PROJECT_ROOT, 'dist/gateway/main.js')], { HETAO_PORT: '0', HETAO_OPS_PORT: '0', HETAO_DATA_DIR: dir, HETAO_LOG_LEVEL: 'info' }, (line) =>
      line.msg === 'gateway listening' ? String(line.api) : undefined,
    );
    try {
      const manifest = {
        recipient: 'hetao-sz-institute',
        project: { id: 'proj-hk-sz-cancer-genomics', title: 'Benchmark' },
        purpose: 'joint-research',
        dataset: { category: 'research-other', format: 'csv', classification: { level: 'L2' }, deidentification: 'anonymised', subjects: 2000, humanGeneticResources: false, sizeBytes: size },
        approvals: [],
        consent: { basis: 'not-personal-information' },
        retentionDays: 30,
      };
      const created = await request(`${url}/v1/transfers`, { dispatcher: agent, method: 'POST', body: JSON.stringify(manifest), headers: { 'content-type': 'application/json' } });
      const record = (await created.body.json()) as { id: string };
      const rss = samplePeakRss(child.pid as number);
      const seconds = await timedUpload(`${url}/v1/transfers/${record.id}/content`, agent, size, 'PUT');
      rows.push({ name: 'gateway: meter → inspect (sampled) → envelope → store', size, seconds, rss: rss.stop() });
    } finally {
      child.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
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
}

await main();
