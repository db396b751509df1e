// Helpers shared by the benchmarks that run real gateway processes: dev identities, child servers
// started from dist/, peak RSS sampling, and generated CSV-like content (1 MiB held at a time).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { PROJECT_ROOT } from '../../gateway/config.js';

export const CERTS = path.join(PROJECT_ROOT, 'certs-dev');
export const MiB = 1024 * 1024;

export async function identity(name: string) {
  return {
    cert: await readFile(path.join(CERTS, `${name}.dev-only.cert.pem`), 'utf8'),
    key: await readFile(path.join(CERTS, `${name}.dev-only.key.pem`), 'utf8'),
    ca: await readFile(path.join(CERTS, 'zone-ca-bundle.dev-only.pem'), 'utf8'),
  };
}

/** Starts a server child process and waits for its "listening" log line. */
export async function startChild(args: string[], env: Record<string, string>, ready: (line: Record<string, unknown>) => string | undefined): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const found = ready(JSON.parse(line) as Record<string, unknown>);
        if (found) resolve(found);
      } catch {
        if (process.env.BENCH_ECHO_CHILD) process.stderr.write(`${line}\n`);
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { child, url };
}

/** Peak resident set size of a process, sampled from /proc. */
export function samplePeakRss(pid: number): { stop(): number } {
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

/** The 1 MiB of CSV-like text that `content` repeats. */
export function contentBlock(): Buffer {
  const line = 'site-3,42,87,ok\n';
  return Buffer.from(line.repeat(Math.ceil(MiB / line.length))).subarray(0, MiB);
}

/** `size` bytes of CSV-like text in 1 MiB chunks, generated on the fly (the client holds 1 MiB). */
export function content(size: number): Readable {
  const block = contentBlock();
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


/** An allowed manifest (the hospital to the institute, anonymised research CSV) of `size` bytes. */
export function benchManifest(size: number) {
  return {
    recipient: 'hetao-sz-institute',
    project: { id: 'proj-hk-sz-cancer-genomics', title: 'Benchmark' },
    purpose: 'joint-research',
    dataset: { category: 'research-other', format: 'csv', classification: { level: 'L2' }, deidentification: 'anonymised', subjects: 2000, humanGeneticResources: false, sizeBytes: size },
    approvals: [],
    consent: { basis: 'not-personal-information' },
    retentionDays: 30,
  };
}
