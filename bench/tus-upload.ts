// Resumable upload benchmark (not a test; issue 16): one gateway process (embedded, inline), the same
// undici mTLS client, BENCH_TUS_MIB (default 1024) MiB of content, in one run:
//   (a) a plain PUT …/content (the baseline);
//   (b) a tus upload, uncut: POST, then one PATCH with everything (target ≥ 0.8 × (a));
//   (c) a tus upload whose PATCH is cut at 50 %: HEAD for the offset, then a PATCH with the rest.
// Each is timed to the answer that says the transfer is available. (c) prints the bytes the client
// sent in all (target ≤ 1.05 × the file) and its time beside (b)'s.
// Run: npm run bench (or: npx tsc -p tsconfig.bench.json && node dist/bench/tus-upload.js)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { PROJECT_ROOT } from '../gateway/config.js';
import { benchManifest, contentBlock, identity, MiB, startChild } from './support/gateway-processes.js';
import { reportResult } from './support/report.js';

const SIZE = Number(process.env.BENCH_TUS_MIB ?? 1024) * MiB;
const TUS = { 'tus-resumable': '1.0.0' };

/** Bytes `from` … `to` of the bench content (a 1 MiB block repeated), counting what is handed to the client. */
function contentRange(from: number, to: number, sent: { bytes: number }): Readable {
  const block = contentBlock();
  let at = from;
  return new Readable({
    read() {
      if (at >= to) return void this.push(null);
      const offset = at % MiB;
      const chunk = block.subarray(offset, Math.min(MiB, offset + (to - at)));
      at += chunk.length;
      sent.bytes += chunk.length;
      this.push(chunk);
    },
  });
}

async function newTransfer(api: string, agent: Agent): Promise<string> {
  const created = await request(`${api}/v1/transfers`, { dispatcher: agent, method: 'POST', body: JSON.stringify(benchManifest(SIZE)), headers: { 'content-type': 'application/json' } });
  const record = (await created.body.json()) as { id: string };
  return record.id;
}

async function patch(url: string, agent: Agent, offset: number, body: Readable, signal?: AbortSignal): Promise<number> {
  const response = await request(url, { dispatcher: agent, method: 'PATCH', body, headers: { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset) }, ...(signal ? { signal } : {}) });
  const text = await response.body.text();
  if (response.statusCode !== 204) throw new Error(`PATCH answered ${response.statusCode}: ${text.slice(0, 300)}`);
  return Number(response.headers['upload-offset']);
}

async function head(url: string, agent: Agent): Promise<number> {
  const response = await request(url, { dispatcher: agent, method: 'HEAD', headers: TUS });
  await response.body.dump();
  return Number(response.headers['upload-offset']);
}

async function createTus(url: string, agent: Agent): Promise<void> {
  const response = await request(url, { dispatcher: agent, method: 'POST', headers: { ...TUS, 'upload-length': String(SIZE) } });
  await response.body.dump();
  if (response.statusCode !== 201) throw new Error(`tus creation answered ${response.statusCode}`);
}

async function main(): Promise<void> {
  const lab = await identity('institutions/sz-hospital');
  const agent = new Agent({ connect: lab, bodyTimeout: 0, headersTimeout: 0 });
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-bench-tus-'));
  const { child, url: api } = await startChild(
    [path.join(PROJECT_ROOT, 'dist/gateway/app/main.js')],
    { HETAO_PORT: '0', HETAO_OPS_PORT: '0', HETAO_DATA_DIR: dir, HETAO_LOG_LEVEL: 'info', HETAO_QUEUE_THRESHOLD_BYTES: String(2 ** 50) },
    (line) => (line.msg === 'gateway listening' ? String(line.api) : undefined),
  );
  try {
    const seconds = async (run: () => Promise<void>): Promise<number> => {
      const started = process.hrtime.bigint();
      await run();
      return Number(process.hrtime.bigint() - started) / 1e9;
    };

    const putId = await newTransfer(api, agent);
    const put = await seconds(async () => {
      const response = await request(`${api}/v1/transfers/${putId}/content`, { dispatcher: agent, method: 'PUT', body: contentRange(0, SIZE, { bytes: 0 }), headers: { 'content-type': 'application/octet-stream', 'content-length': String(SIZE) } });
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`PUT answered ${response.statusCode}: ${text.slice(0, 300)}`);
    });

    const uncutId = await newTransfer(api, agent);
    const uncutUrl = `${api}/v1/transfers/${uncutId}/tus`;
    const uncut = await seconds(async () => {
      await createTus(uncutUrl, agent);
      await patch(uncutUrl, agent, 0, contentRange(0, SIZE, { bytes: 0 }));
    });

    const cutId = await newTransfer(api, agent);
    const cutUrl = `${api}/v1/transfers/${cutId}/tus`;
    const sent = { bytes: 0 };
    let resumedAt = 0;
    const cut = await seconds(async () => {
      await createTus(cutUrl, agent);
      const cutter = new AbortController();
      const body = new PassThrough();
      contentRange(0, SIZE / 2, sent).pipe(body, { end: false });
      const first = patch(cutUrl, agent, 0, body, cutter.signal).catch(() => undefined);
      // Cut once the gateway has half; the PATCH never ends its body, as a dropped link would not.
      while ((await head(cutUrl, agent)) < SIZE / 2) await sleep(20);
      cutter.abort();
      await first;
      resumedAt = await head(cutUrl, agent);
      await patch(cutUrl, agent, resumedAt, contentRange(resumedAt, SIZE, sent));
    });

    const rate = (s: number): number => SIZE / MiB / s;
    console.log(`tus resumable upload, ${SIZE / MiB} MiB over mTLS (Node ${process.version}, ${new Date().toISOString()})`);
    console.log('| case | seconds | MiB/s | bytes sent / file |');
    console.log('| --- | ---: | ---: | ---: |');
    console.log(`| (a) plain PUT | ${put.toFixed(2)} | ${rate(put).toFixed(0)} | 1.00 |`);
    console.log(`| (b) tus, uncut | ${uncut.toFixed(2)} | ${rate(uncut).toFixed(0)} | 1.00 |`);
    console.log(`| (c) tus, cut at 50 % (resumed from ${resumedAt}) | ${cut.toFixed(2)} | ${rate(cut).toFixed(0)} | ${(sent.bytes / SIZE).toFixed(3)} |`);
    reportResult({ area: 'resumable (issue 16)', name: `tus upload ${SIZE / MiB} MiB, uncut`, value: rate(uncut), unit: 'MiB/s', baseline: { name: 'plain PUT', value: rate(put) }, target: { text: '≥ 0.8 × plain PUT', met: rate(uncut) >= 0.8 * rate(put) } });
    reportResult({ area: 'resumable (issue 16)', name: `tus upload ${SIZE / MiB} MiB cut at 50 %: bytes sent / file size`, value: sent.bytes / SIZE, unit: '×', target: { text: '≤ 1.05', met: sent.bytes / SIZE <= 1.05 } });
    reportResult({ area: 'resumable (issue 16)', name: `tus upload ${SIZE / MiB} MiB cut at 50 %: time to available`, value: cut, unit: 's', baseline: { name: 'uncut tus upload', value: uncut } });
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
