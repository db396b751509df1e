// `npm run bench`: runs every benchmark (compiled, one child process each, one after another so
// they do not compete), shows their own output as it comes, then prints the headline figures of all
// of them in one table with their baselines and records it, with date and machine, at the top of
// bench/RESULTS.md. Each bench is bounded in time; BENCH_ONLY=a,b runs a subset.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RESULT_PREFIX, type BenchResult } from './support/report.js';

/** The shared-mode benches (record-list, journal-appends-pg, shared-mode, s3-store-throughput, console-overview) need the machine's PostgreSQL. */
const BENCHES = [
  'policy-decisions',
  'witness-round-trip',
  'envelope-throughput',
  'inspector-throughput',
  'audit-journal',
  'upload-throughput',
  'tus-upload',
  'small-transfers',
  'download-throughput',
  'queue-latency',
  'two-gateway-transfer',
  'record-list',
  'journal-appends-pg',
  'shared-mode',
  's3-store-throughput',
  'console-overview',
];
const here = path.dirname(fileURLToPath(import.meta.url));
const RESULTS_FILE = path.resolve(here, '../../bench/RESULTS.md');

function runBench(name: string): Promise<{ results: BenchResult[]; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(here, `${name}.js`)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const results: BenchResult[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith(RESULT_PREFIX)) results.push(JSON.parse(line.slice(RESULT_PREFIX.length)) as BenchResult);
      else console.log(line);
    });
    child.once('exit', (code) => resolve({ results, code }));
  });
}

const figure = (value: number): string => (value >= 100 ? Math.round(value).toLocaleString('en') : value.toPrecision(3));

function table(results: readonly BenchResult[]): string[] {
  const lines = ['| area | figure | value | baseline (same run) | ratio | target |', '| --- | --- | ---: | --- | ---: | --- |'];
  for (const r of results) {
    const baseline = r.baseline ? `${r.baseline.name}: ${figure(r.baseline.value)} ${r.unit}` : '—';
    const ratio = r.baseline ? `${(r.value / r.baseline.value).toFixed(2)}×` : '—';
    const target = r.target ? `${r.target.text}: ${r.target.met ? 'met' : '**not met**'}` : '—';
    lines.push(`| ${r.area} | ${r.name} | ${figure(r.value)} ${r.unit} | ${baseline} | ${ratio} | ${target} |`);
  }
  return lines;
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY?.split(',').map((name) => name.trim());
  const all: BenchResult[] = [];
  const failed: string[] = [];
  for (const name of BENCHES.filter((bench) => !only || only.includes(bench))) {
    console.log(`\n=== ${name} ===`);
    const { results, code } = await runBench(name);
    if (code !== 0) failed.push(`${name} (exit ${code})`);
    all.push(...results);
  }
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
  const lines = table(all);
  console.log(`\n=== all figures (${new Date().toISOString()}; ${machine}) ===`);
  for (const line of lines) console.log(line);
  if (failed.length > 0) console.log(`benches that failed: ${failed.join(', ')}`);

  const previous = await readFile(RESULTS_FILE, 'utf8').catch(() => '# Benchmark results\n\nNewest first. Written by `npm run bench` (bench/run-all.ts); compare ratios, not absolute figures: the machines are noisy.\n');
  const [head, ...rest] = previous.split('\n## ');
  const section = [`## ${new Date().toISOString()} — ${machine}`, '', ...lines, ...(failed.length ? ['', `Failed: ${failed.join(', ')}`] : []), ''].join('\n');
  await writeFile(RESULTS_FILE, [head?.trimEnd() ?? '', '', section, ...rest.map((part) => `## ${part}`)].join('\n').trimEnd() + '\n');
  console.log(`recorded in ${path.relative(process.cwd(), RESULTS_FILE)}`);
  process.exitCode = failed.length > 0 ? 1 : 0;
}

await main();
