// Two-gateway transfer (issue 18, not a test): a lab on the Shenzhen side sends BENCH_BYTES (default
// 1 GiB) of research CSV to a lab served by the Hong Kong-side gateway — lab → gateway A → gateway B →
// `available` — beside the one-gateway path in the same run: the same bytes from the same lab to a
// recipient on its own side, `available` at gateway A. Both gateways are real processes, configured as
// the two sides of the channel as in test/e2e/two-gateways.test.ts: Shenzhen on 127.0.0.1 with its
// queue on Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379; a unique HETAO_QUEUE_PREFIX, its
// keys dropped afterwards), Hong Kong on 127.0.0.3 with its own keys, registry, policy folder (no
// mainland HGR file) and the HK,zone profile. Each path is timed from the upload's first byte until the
// receiving gateway's record turned `available`, by the `at` of that event in the record's history
// (GET /v1/transfers/:id, polled every BENCH_POLL_MS, default 100: each poll is an interactive request,
// which narrows the receiving gateway's bulk lane while it runs, so it is not done more often). The paths
// run BENCH_ROUNDS times (default 3), alternating; medians are reported, and the ratio of the two
// throughputs against the target (≥ 0.8). Where the time goes comes from the records' own history
// (`at` of each event, both gateways on this machine's clock): the upload, gateway A's inspect stage,
// the wait for the forward stage, the envelope streamed to B (hashed and written there), the ack.
// Diagnostics: BENCH_GATEWAY_NODE_ARGS (space-separated) goes before both gateways' script, e.g.
// "--cpu-prof --cpu-prof-dir=/tmp/gwprof"; BENCH_ECHO_CHILD=1 shows their non-JSON output.
// Run: npx tsc -p tsconfig.bench.json && BENCH_BYTES=134217728 node dist/bench/two-gateway-transfer.js
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Agent, request } from 'undici';
import { PROJECT_ROOT } from '../gateway/config.js';
import { benchManifest, content, identity, MiB, startChild } from './support/gateway-processes.js';
import { dropQueueKeys, redisReachable } from './support/bench-redis.js';
import { freePort, HK_HOST, SZ_HOST, writeChannelSides } from '../scripts/two-sides/channel-sides.js';
import { cpuSecondsOf } from './support/process-cpu.js';
import { reportResult } from './support/report.js';

const BYTES = Number(process.env.BENCH_BYTES ?? 1024 * MiB);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TARGET = 0.8;
/** A path that has not reached `available` after this long failed (at ≥ 4 MiB/s, plus start-up slack). */
const PATH_BOUND_MS = 60_000 + (BYTES / MiB / 4) * 1000;
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 100);

interface HistoryEntry {
  readonly at: string;
  readonly event: string;
  readonly status: string;
}
interface RecordView {
  readonly status?: string;
  readonly history?: readonly HistoryEntry[];
}

interface Side {
  readonly child: ChildProcess;
  readonly api: string;
  readonly ops: string;
}

async function startGateway(env: Record<string, string>): Promise<Side> {
  let ops = '';
  const { child, url } = await startChild(
    [...(process.env.BENCH_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? []), path.join(PROJECT_ROOT, 'dist/gateway/app/main.js')],
    { HETAO_OPS_PORT: '0', HETAO_LOG_LEVEL: 'info', HETAO_PEER_DIRECTORY_INTERVAL_MS: '1000', ...env },
    (line) => {
      if (line.msg !== 'gateway listening') return undefined;
      ops = String(line.ops);
      return String(line.api);
    },
  );
  return { child, api: url, ops };
}

async function stop(side: Side | undefined): Promise<void> {
  if (!side || side.child.exitCode !== null) return;
  const exited = new Promise((resolve) => side.child.once('exit', resolve));
  side.child.kill('SIGTERM');
  await exited;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until each side holds the other's signed directory (the Shenzhen side then knows hk-uni-genomics). */
async function waitForDirectories(sz: Side, hk: Side): Promise<void> {
  const institutions = async (side: Side, peer: string): Promise<number> => {
    const ready = (await (await fetch(`${side.ops}/readyz`)).json()) as { checks?: { peers?: { directories?: Record<string, { institutions?: number }> } } };
    return ready.checks?.peers?.directories?.[peer]?.institutions ?? 0;
  };
  for (const bound = Date.now() + 30_000; Date.now() < bound; await sleep(200)) {
    if ((await institutions(sz, 'hetao-hk-gateway')) > 0 && (await institutions(hk, 'hetao-sz-gateway')) > 0) return;
  }
  throw new Error('the two gateways did not exchange their signed directories within 30 s');
}

async function getRecord(api: string, agent: Agent, id: string): Promise<{ statusCode: number; record: RecordView }> {
  const response = await request(`${api}/v1/transfers/${id}`, { dispatcher: agent });
  return { statusCode: response.statusCode, record: (await response.body.json()) as RecordView };
}

/** Polls a record until it reaches one of `ends` (404 counts as not there yet: the offer has not arrived); fails on anything else final. */
async function waitFor(api: string, agent: Agent, id: string, ends: readonly string[], deadline: number): Promise<RecordView> {
  const passing = new Set(['authorized', 'uploading', 'queued', 'processing', 'available', 'delivered']);
  for (;;) {
    const { statusCode, record } = await getRecord(api, agent, id);
    if (statusCode === 200 && ends.includes(String(record.status))) return record;
    if (statusCode === 200 && !passing.has(String(record.status))) throw new Error(`transfer ${id} ended ${String(record.status)} at ${api}`);
    if (statusCode !== 200 && statusCode !== 404) throw new Error(`GET ${api}/v1/transfers/${id} answered ${statusCode}`);
    if (Date.now() > deadline) throw new Error(`transfer ${id} not ${ends.join('/')} at ${api} within ${PATH_BOUND_MS} ms (last: ${statusCode} ${String(record.status)})`);
    await sleep(POLL_MS);
  }
}

/** SHA-256 of the generated content (the manifest declares it; the gateway checks it). */
async function contentSha256(size: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of content(size)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** CPU seconds every process of the machine has used so far (/proc/stat: all but idle and iowait). */
async function machineCpuSeconds(): Promise<number> {
  const fields = ((await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / 100;
}

interface Run {
  readonly path: 'one' | 'two';
  /** First upload byte → the receiving gateway's record turned `available`, by that record's history. */
  readonly seconds: number;
  /** The same end as this process's poller saw it (BENCH_POLL_MS later at most, plus a request). */
  readonly polledSeconds: number;
  /** ms from the first upload byte to each event, per gateway: `${side}:${event}`. */
  readonly marks: ReadonlyMap<string, number>;
  readonly szCpu: number;
  readonly hkCpu: number;
  readonly clientCpu: number;
  /** CPU seconds the machine's other processes (other work on a shared machine, Redis) used meanwhile. */
  readonly othersCpu: number;
}

const median = (samples: readonly number[]): number => {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};
const rate = (seconds: number): number => BYTES / MiB / seconds;

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-bench-two-gateways-'));
  const queued = await redisReachable(REDIS_URL);
  if (!queued) console.log(`Redis does not answer at ${REDIS_URL}: the Shenzhen side runs its stages on the in-process queue`);
  const prefix = `bench-two-gateways-${process.pid}`;
  let sz: Side | undefined;
  let hk: Side | undefined;
  const agents: Agent[] = [];
  try {
    // Ports chosen first, so that each side's registry names the other's real address.
    const [szPort, hkPort] = [await freePort(SZ_HOST), await freePort(HK_HOST)];
    const sides = await writeChannelSides(dir, { hongKongFromShenzhen: `https://${HK_HOST}:${hkPort}`, shenzhenFromHongKong: `https://${SZ_HOST}:${szPort}` });
    sz = await startGateway({
      ...sides.sz,
      HETAO_PORT: String(szPort),
      // Every upload of the baseline goes through the queue as well, whatever BENCH_BYTES.
      HETAO_QUEUE_THRESHOLD_BYTES: String(MiB),
      ...(queued ? { REDIS_URL, HETAO_QUEUE_PREFIX: prefix } : {}),
    });
    hk = await startGateway({ ...sides.hk, HETAO_PORT: String(hkPort) });
    if (sz.api !== `https://${SZ_HOST}:${szPort}` || hk.api !== `https://${HK_HOST}:${hkPort}`) throw new Error(`the gateways listen at ${sz.api} and ${hk.api}, not where the registries say`);
    await waitForDirectories(sz, hk);

    const lab = await identity('institutions/sz-hospital');
    const uploadAgent = new Agent({ connect: lab, bodyTimeout: 0, headersTimeout: 0 });
    const szPoll = new Agent({ connect: lab });
    const hkPoll = new Agent({ connect: await identity('institutions/hk-uni-genomics') });
    agents.push(uploadAgent, szPoll, hkPoll);
    const sha256 = await contentSha256(BYTES);
    const WARM_UP = 16 * MiB;
    const warmUpSha256 = await contentSha256(WARM_UP);
    const szApi = sz.api;
    const hkApi = hk.api;
    const [szPid, hkPid] = [sz.child.pid as number, hk.child.pid as number];

    const once = async (which: 'one' | 'two', size = BYTES): Promise<Run> => {
      const base = benchManifest(size);
      const manifest = { ...base, recipient: which === 'one' ? 'hetao-sz-institute' : 'hk-uni-genomics', dataset: { ...base.dataset, sha256: size === BYTES ? sha256 : warmUpSha256 } };
      const created = await request(`${szApi}/v1/transfers`, { dispatcher: uploadAgent, method: 'POST', body: JSON.stringify(manifest), headers: { 'content-type': 'application/json' } });
      const createdBody = (await created.body.json()) as { id?: string };
      if (created.statusCode !== 201 || !createdBody.id) throw new Error(`POST /v1/transfers answered ${created.statusCode}: ${JSON.stringify(createdBody).slice(0, 300)}`);
      const id = createdBody.id;
      const cpu = [await cpuSecondsOf(szPid), await cpuSecondsOf(hkPid), await cpuSecondsOf(process.pid), await machineCpuSeconds()] as const;
      const startedWall = Date.now();
      const started = performance.now();
      const deadline = startedWall + PATH_BOUND_MS;
      const uploaded = await request(`${szApi}/v1/transfers/${id}/content`, {
        dispatcher: uploadAgent,
        method: 'PUT',
        body: content(size),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      });
      const uploadText = await uploaded.body.text();
      if (uploaded.statusCode >= 300) throw new Error(`upload answered ${uploaded.statusCode}: ${uploadText.slice(0, 300)}`);
      const uploadMs = performance.now() - started;
      // Available where the recipient is served: gateway A (one) or gateway B (two).
      const final = await waitFor(which === 'one' ? szApi : hkApi, which === 'one' ? szPoll : hkPoll, id, ['available'], deadline);
      const polledSeconds = (performance.now() - started) / 1000;
      const used = [(await cpuSecondsOf(szPid)) - cpu[0], (await cpuSecondsOf(hkPid)) - cpu[1], (await cpuSecondsOf(process.pid)) - cpu[2], (await machineCpuSeconds()) - cpu[3]] as const;
      const availableAt = final.history?.find((entry) => entry.status === 'available')?.at;
      if (!availableAt) throw new Error(`transfer ${id} is available with no such event in its history`);
      const seconds = (Date.parse(availableAt) - startedWall) / 1000;
      // The sending side's record once the forward is acknowledged (the two-gateway path), for its history.
      const szRecord = which === 'two' ? await waitFor(szApi, szPoll, id, ['delivered'], deadline) : final;
      const marks = new Map<string, number>([['client:upload-answered', uploadMs]]);
      const mark = (side: string, record: RecordView): void => {
        for (const entry of record.history ?? []) if (!marks.has(`${side}:${entry.event}`)) marks.set(`${side}:${entry.event}`, Date.parse(entry.at) - startedWall);
      };
      mark('A', szRecord);
      if (which === 'two') mark('B', final);
      return { path: which, seconds, polledSeconds, marks, szCpu: used[0], hkCpu: used[1], clientCpu: used[2], othersCpu: Math.max(0, used[3] - used[0] - used[1] - used[2]) };
    };

    console.log(`two-gateway transfer: ${BYTES / MiB} MiB, ${ROUNDS} rounds alternating, Shenzhen queue ${queued ? `on Redis (${REDIS_URL})` : 'in process'}; Node ${process.version}`);
    // One small transfer on each path first (connections, compilation, the peer link), not counted.
    for (const which of ['one', 'two'] as const) await once(which, WARM_UP);
    const runs: Run[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      // Alternate which path goes first, so that neither always follows the other's disk writeback.
      for (const which of round % 2 === 0 ? (['one', 'two'] as const) : (['two', 'one'] as const)) {
        const run = await once(which);
        runs.push(run);
        const forward = which === 'two' ? `, forward ${(((run.marks.get('B:envelope-received') ?? NaN) - (run.marks.get('A:processing-completed') ?? NaN)) / 1000).toFixed(2)} s` : '';
        console.log(
          `round ${round + 1}, ${which === 'one' ? 'one gateway ' : 'two gateways'}: ${run.seconds.toFixed(2)} s (poller: ${run.polledSeconds.toFixed(2)} s), ${rate(run.seconds).toFixed(0)} MiB/s${forward}; other processes ${run.othersCpu.toFixed(1)} CPU-s`,
        );
      }
    }

    const one = runs.filter((run) => run.path === 'one');
    const two = runs.filter((run) => run.path === 'two');
    const oneSeconds = median(one.map((run) => run.seconds));
    const twoSeconds = median(two.map((run) => run.seconds));
    const ratio = rate(twoSeconds) / rate(oneSeconds);
    console.log('');
    console.log(`| path (${BYTES / MiB} MiB, median of ${ROUNDS}) | s to available | MiB/s | gateway A CPU-s | gateway B CPU-s | client CPU-s | other processes CPU-s |`);
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const [name, set, seconds] of [
      ['one gateway: lab → A → available (baseline)', one, oneSeconds],
      ['two gateways: lab → A → B → available', two, twoSeconds],
    ] as const) {
      const cpu = (pick: (run: Run) => number) => median(set.map(pick)).toFixed(2);
      console.log(`| ${name} | ${seconds.toFixed(2)} | ${rate(seconds).toFixed(0)} | ${cpu((r) => r.szCpu)} | ${cpu((r) => r.hkCpu)} | ${cpu((r) => r.clientCpu)} | ${cpu((r) => r.othersCpu)} |`);
    }
    console.log(`ratio two/one (throughput): ${ratio.toFixed(2)}× — target ≥ ${TARGET}×: ${ratio >= TARGET ? 'met' : 'not met'}`);

    // Where the time goes, from the records' history (ms after the upload's first byte).
    const at = (run: Run, key: string): number => run.marks.get(key) ?? Number.NaN;
    const span = (set: readonly Run[], from: string, to: string): number => median(set.map((run) => at(run, to) - at(run, from)));
    const atMedian = (set: readonly Run[], key: string): number => median(set.map((run) => at(run, key)));
    const s = (ms: number): string => (Number.isNaN(ms) ? '—' : (ms / 1000).toFixed(2));
    console.log('\nwhere the time goes (medians, s; A = Shenzhen gateway, B = Hong Kong gateway; from the records\' history):');
    console.log('| step | one gateway | two gateways |');
    console.log('| --- | ---: | ---: |');
    const rows: [string, (set: readonly Run[]) => number][] = [
      ['upload: first byte → A answers 202 (A `queued`)', (set) => atMedian(set, 'A:queued')],
      ['A inspect stage: `queued` → `available` at A', (set) => span(set, 'A:queued', 'A:processing-completed')],
      ['first byte → `available` at A', (set) => atMedian(set, 'A:processing-completed')],
      ['A `available` → B records the offer (forward stage picked up, record signed, offer decided)', (set) => span(set, 'A:processing-completed', 'B:authorized')],
      ['B offer → B envelope first byte', (set) => span(set, 'B:authorized', 'B:upload-started')],
      ['envelope A → B: streamed from A\'s store over mTLS, hashed and committed at B', (set) => span(set, 'B:upload-started', 'B:envelope-received')],
      ['forward stage at A, `available` → `available` at B', (set) => span(set, 'A:processing-completed', 'B:envelope-received')],
      ['B `available` → A records `forwarded` (`delivered`)', (set) => span(set, 'B:envelope-received', 'A:forwarded')],
    ];
    for (const [name, of] of rows) console.log(`| ${name} | ${s(of(one))} | ${s(of(two))} |`);
    const forwardMs = span(two, 'A:processing-completed', 'B:envelope-received');
    const envelopeMs = span(two, 'B:upload-started', 'B:envelope-received');
    console.log(`envelope stream A → B alone: ${((BYTES / MiB) / (envelopeMs / 1000)).toFixed(0)} MiB/s of plaintext (the envelope is a little larger)`);
    // The forward starts once A holds the whole envelope: the two paths share the time to `available`
    // at A, and the two-gateway path adds the forward to it.
    const budgetMs = (1 / TARGET - 1) * oneSeconds * 1000;
    console.log(
      `store and forward: ≥ ${TARGET}× needs the forward within ${(1 / TARGET - 1).toFixed(2)} × the one-gateway time = ${s(budgetMs)} s (${((BYTES / MiB) / (budgetMs / 1000)).toFixed(0)} MiB/s); it took ${s(forwardMs)} s (${(forwardMs / (oneSeconds * 1000)).toFixed(2)} ×)`,
    );

    // The same ratio within each two-gateway transfer: its leg to `available` at A does the one-gateway
    // path's work at the same moment, so the machine's noise weighs on both sides of this one alike.
    const paired = median(two.map((run) => at(run, 'A:processing-completed') / (run.seconds * 1000)));
    console.log(`paired, within each two-gateway transfer: (first byte → available at A) / (first byte → available at B) = ${paired.toFixed(2)} (median)`);

    reportResult({
      area: 'peering (issue 18)',
      name: `${BYTES / MiB} MiB lab → gateway A → gateway B → available, median of ${ROUNDS}`,
      value: rate(twoSeconds),
      unit: 'MiB/s',
      baseline: { name: 'one gateway, lab → A → available', value: rate(oneSeconds) },
      target: { text: `≥ ${TARGET} × one gateway`, met: ratio >= TARGET },
    });
    reportResult({
      area: 'peering (issue 18)',
      name: `${BYTES / MiB} MiB forward stage: available at A → available at B, median`,
      value: forwardMs / 1000,
      unit: 's',
      baseline: { name: 'one gateway, first byte → available', value: oneSeconds },
    });
    reportResult({
      area: 'peering (issue 18)',
      name: `${BYTES / MiB} MiB, within each two-gateway transfer: time to available at A / time to available at B, median`,
      value: paired,
      unit: '×',
    });
  } finally {
    for (const agent of agents) await agent.close();
    await stop(sz);
    await stop(hk);
    await rm(dir, { recursive: true, force: true });
    if (queued) await dropQueueKeys(REDIS_URL, prefix);
  }
}

await main();
