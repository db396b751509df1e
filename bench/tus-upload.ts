// Resumable upload benchmark (not a test; issue 16): one gateway process (embedded, inline), the same
// undici mTLS client, BENCH_TUS_MIB (default 1024) MiB of content, in one run:
//   (a) a plain PUT …/content (the baseline);
//   (b) a tus upload, uncut: POST, then one PATCH with everything (target ≥ 0.8 × (a));
//   (c) a tus upload whose PATCH is cut at 50 %: HEAD for the offset, then a PATCH with the rest;
//   (d) a tus upload whose gateway is killed (SIGKILL) at 50 % and started again on the same data:
//       HEAD for the durable offset, then a PATCH with the rest. The restarted gateway rebuilds the
//       upload's hash and inspection by decrypting what it stored: its log tells how long that took.
// Each is timed to the answer that says the transfer is available. (c) and (d) print the bytes the
// client sent in all ((c): target ≤ 1.05 × the file; (d) loses at most HETAO_UPLOAD_CHECKPOINT_BYTES,
// 64 MiB by default, plus a segment) and their time beside (b)'s; (d)'s time includes the restart.
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
  const env = { HETAO_PORT: '0', HETAO_OPS_PORT: '0', HETAO_DATA_DIR: dir, HETAO_LOG_LEVEL: 'info', HETAO_QUEUE_THRESHOLD_BYTES: String(2 ** 50) };
  let replay: { replayedBytes: number; replayMs: number } | undefined;
  const start = () =>
    startChild([path.join(PROJECT_ROOT, 'dist/gateway/app/main.js')], env, (line) => {
      if (line.msg === 'resumable upload resumed from its stored bytes') replay = { replayedBytes: Number(line.replayedBytes), replayMs: Number(line.replayMs) };
      return line.msg === 'gateway listening' ? String(line.api) : undefined;
    });
  let { child, url: api } = await start();
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

    // (d) The gateway dies at 50 %: a new process on the same data goes on from what was durable.
    const crashId = await newTransfer(api, agent);
    const crashSent = { bytes: 0 };
    let crashResumedAt = 0;
    const crash = await seconds(async () => {
      await createTus(`${api}/v1/transfers/${crashId}/tus`, agent);
      const body = new PassThrough();
      contentRange(0, SIZE / 2, crashSent).pipe(body, { end: false });
      const first = patch(`${api}/v1/transfers/${crashId}/tus`, agent, 0, body).catch(() => undefined);
      while ((await head(`${api}/v1/transfers/${crashId}/tus`, agent)) < SIZE / 2) await sleep(20);
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      await first;
      ({ child, url: api } = await start());
      const url = `${api}/v1/transfers/${crashId}/tus`;
      crashResumedAt = await head(url, agent);
      await patch(url, agent, crashResumedAt, contentRange(crashResumedAt, SIZE, crashSent));
    });

    const rate = (s: number): number => SIZE / MiB / s;
    console.log(`tus resumable upload, ${SIZE / MiB} MiB over mTLS (Node ${process.version}, ${new Date().toISOString()})`);
    console.log('| case | seconds | MiB/s | bytes sent / file |');
    console.log('| --- | ---: | ---: | ---: |');
    console.log(`| (a) plain PUT | ${put.toFixed(2)} | ${rate(put).toFixed(0)} | 1.00 |`);
    console.log(`| (b) tus, uncut | ${uncut.toFixed(2)} | ${rate(uncut).toFixed(0)} | 1.00 |`);
    console.log(`| (c) tus, cut at 50 % (resumed from ${resumedAt}) | ${cut.toFixed(2)} | ${rate(cut).toFixed(0)} | ${(sent.bytes / SIZE).toFixed(3)} |`);
    console.log(`| (d) tus, gateway killed at 50 % and restarted (resumed from ${crashResumedAt}) | ${crash.toFixed(2)} | ${rate(crash).toFixed(0)} | ${(crashSent.bytes / SIZE).toFixed(3)} |`);
    const replayRate = replay ? replay.replayedBytes / MiB / (replay.replayMs / 1000) : 0;
    console.log(`rebuilding the upload's state after the restart: ${replay ? `${(replay.replayedBytes / MiB).toFixed(0)} MiB stored bytes decrypted, hashed and inspected in ${(replay.replayMs / 1000).toFixed(2)} s (${replayRate.toFixed(0)} MiB/s)` : 'not reported'}`);
    reportResult({ area: 'resumable (issue 16)', name: `tus upload ${SIZE / MiB} MiB, uncut`, value: rate(uncut), unit: 'MiB/s', baseline: { name: 'plain PUT', value: rate(put) }, target: { text: '≥ 0.8 × plain PUT', met: rate(uncut) >= 0.8 * rate(put) } });
    reportResult({ area: 'resumable (issue 16)', name: `tus upload ${SIZE / MiB} MiB cut at 50 %: bytes sent / file size`, value: sent.bytes / SIZE, unit: '×', target: { text: '≤ 1.05', met: sent.bytes / SIZE <= 1.05 } });
    reportResult({ area: 'resumable (issue 16)', name: `tus upload ${SIZE / MiB} MiB cut at 50 %: time to available`, value: cut, unit: 's', baseline: { name: 'uncut tus upload', value: uncut } });
    reportResult({ area: 'resumable (issue 16)', name: `tus upload ${SIZE / MiB} MiB, gateway killed at 50 %: bytes sent / file size`, value: crashSent.bytes / SIZE, unit: '×' });
    reportResult({ area: 'resumable (issue 16)', name: `tus upload ${SIZE / MiB} MiB, gateway killed at 50 %: time to available (restart included)`, value: crash, unit: 's', baseline: { name: 'uncut tus upload', value: uncut } });
    if (replay) reportResult({ area: 'resumable (issue 16)', name: 'resume after a restart: stored bytes decrypted, hashed and inspected', value: replayRate, unit: 'MiB/s', baseline: { name: 'uncut tus upload', value: rate(uncut) } });
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
