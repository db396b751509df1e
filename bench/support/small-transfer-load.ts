// The small-transfer load generator, run as its own process so that its CPU is not the server's:
// `clients` keep-alive mTLS connections, each doing one transfer after another for `seconds` after a
// warm-up. Against the gateway a transfer is create (POST the manifest) then upload (PUT `size`
// bytes); against nginx (the peer) the same two bodies are two WebDAV PUTs to files. Prints
// `{"phase":"measuring"}` and `{"phase":"measured"}` lines around the measured window (for the
// caller to read the server's CPU time), then one JSON line: completed transfers, latency
// percentiles, failures, TLS connections opened in the window (keep-alive kept: 0) and this
// process's own CPU time in the window.
// Run: node dist/bench/support/small-transfer-load.js <gateway|nginx> <url> <clients> <seconds> <size> [warm-up s] [server CA file]
import { subscribe } from 'node:diagnostics_channel';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { benchManifest, identity } from './gateway-processes.js';

/** What the load generator prints last, as one JSON line. */
export interface LoadFigures {
  readonly completed: number;
  readonly failed: number;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuSeconds: number;
  /** TLS connections opened in the measured window: 0 when every client kept its connection. */
  readonly connectionsOpened: number;
  readonly firstFailure?: string;
}

async function main(): Promise<void> {
  const [target, api, clientsText, secondsText, sizeText, warmUpText, serverCaFile] = process.argv.slice(2);
  if ((target !== 'gateway' && target !== 'nginx') || !api) throw new Error('usage: small-transfer-load <gateway|nginx> <url> <clients> <seconds> <size> [warm-up seconds] [server CA file]');
  const clients = Number(clientsText ?? 16);
  const seconds = Number(secondsText ?? 10);
  const size = Number(sizeText ?? 4096);
  const warmUp = Number(warmUpText ?? 2);
  const lab = await identity('institutions/sz-hospital');
  const connect = serverCaFile ? { ...lab, ca: await readFile(serverCaFile, 'utf8') } : lab;
  const manifest = JSON.stringify(benchManifest(size));
  const body = Buffer.alloc(size, 'site-3,42,87,ok\n');
  const agents = Array.from({ length: clients }, () => new Agent({ connect, connections: 1, pipelining: 1 }));

  let measuring = false;
  let connectionsOpened = 0;
  subscribe('undici:client:connected', () => {
    if (measuring) connectionsOpened += 1;
  });
  let stopping = false;
  const latencies: number[] = [];
  let failed = 0;
  let firstFailure: string | undefined;

  let sequence = 0;
  const one = async (agent: Agent): Promise<void> => {
    const started = process.hrtime.bigint();
    if (target === 'nginx') {
      const name = `t${(sequence += 1)}`;
      for (const [file, bytes] of [[`${name}.json`, manifest], [`${name}.bin`, body]] as const) {
        const put = await request(`${api}${file}`, { dispatcher: agent, method: 'PUT', body: bytes });
        await put.body.dump();
        if (put.statusCode !== 201 && put.statusCode !== 204) throw new Error(`nginx PUT answered ${put.statusCode}`);
      }
      if (measuring) latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
      return;
    }
    const created = await request(`${api}/v1/transfers`, { dispatcher: agent, method: 'POST', body: manifest, headers: { 'content-type': 'application/json' } });
    const record = (await created.body.json()) as { id?: string };
    if (created.statusCode !== 201 || !record.id) throw new Error(`create answered ${created.statusCode}: ${JSON.stringify(record).slice(0, 200)}`);
    const uploaded = await request(`${api}/v1/transfers/${record.id}/content`, { dispatcher: agent, method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } });
    const text = await uploaded.body.text();
    if (uploaded.statusCode !== 200) throw new Error(`upload answered ${uploaded.statusCode}: ${text.slice(0, 200)}`);
    if (measuring) latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
  };

  const loop = async (agent: Agent): Promise<void> => {
    while (!stopping) {
      try {
        await one(agent);
      } catch (error) {
        if (!measuring) throw error;
        failed += 1;
        firstFailure ??= String((error as Error).message);
      }
    }
  };

  const loops = agents.map(loop);
  await new Promise((resolve) => setTimeout(resolve, warmUp * 1000));
  process.stdout.write(`${JSON.stringify({ phase: 'measuring' })}\n`);
  const cpuBefore = process.cpuUsage();
  const startedAt = process.hrtime.bigint();
  measuring = true;
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  measuring = false;
  const elapsed = Number(process.hrtime.bigint() - startedAt) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  process.stdout.write(`${JSON.stringify({ phase: 'measured' })}\n`);
  stopping = true;
  await Promise.all(loops);
  await Promise.all(agents.map((agent) => agent.close()));
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? NaN;
  const figures: LoadFigures = {
    completed: latencies.length,
    failed,
    seconds: elapsed,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    connectionsOpened,
    ...(firstFailure ? { firstFailure } : {}),
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

await main();
