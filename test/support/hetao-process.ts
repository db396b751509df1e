// The gateway (`gateway/app/main.ts`) or `hetao worker` from source in a child process, as an operator
// runs them: JSON log lines parsed as they arrive, signals sent, the exit awaited. Whatever is still
// running when a test ends is killed (SIGKILL) by killHetaoProcesses().
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createInterface } from 'node:readline';
import { nodeArgsFor } from './run-cli.js';

export type LogLine = Record<string, unknown>;

export interface HetaoProcess {
  readonly child: ChildProcess;
  /** Every JSON log line written to stdout so far. */
  readonly logs: LogLine[];
  /** The exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /** The first log line (past or future) that `match` accepts; rejects if the process exits first. */
  waitForLog(match: (line: LogLine) => boolean): Promise<LogLine>;
  /** The exit code, or 'still running' after `bound` ms: a generous bound, so that a hang fails the test instead of timing it out. */
  exitWithin(bound: number): Promise<number | null | 'still running'>;
}

const started: HetaoProcess[] = [];

export function spawnHetao(what: 'gateway' | 'worker', env: Record<string, string>, cwd?: string): HetaoProcess {
  const args = what === 'gateway' ? nodeArgsFor('app/main') : [...nodeArgsFor('cli/main'), 'worker'];
  const child = spawn(process.execPath, args, {
    ...(cwd ? { cwd } : {}),
    env: { PATH: process.env.PATH, HETAO_WATCH_FILES: 'false', HETAO_PORT: '0', HETAO_OPS_PORT: '0', HETAO_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const logs: LogLine[] = [];
  const waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text };
    }
    logs.push(line);
    for (const waiter of waiters) {
      if (!waiter.match(line)) continue;
      waiters.delete(waiter);
      waiter.resolve(line);
    }
  });
  const running: HetaoProcess = {
    child,
    logs,
    exited,
    waitForLog(match) {
      const seen = logs.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.add({ match, resolve });
        void exited.then((code) => reject(new Error(`${what} exited (${code}) before the expected log line; its log: ${JSON.stringify(logs.map((l) => l.msg))}`)));
      });
    },
    async exitWithin(bound) {
      return Promise.race([exited, sleep(bound).then(() => 'still running' as const)]);
    },
  };
  started.push(running);
  return running;
}

/** SIGKILL every process spawned here that is still running (for afterEach). */
export async function killHetaoProcesses(): Promise<void> {
  for (const running of started.splice(0)) {
    if (running.child.exitCode !== null || running.child.signalCode !== null) continue;
    running.child.kill('SIGKILL');
    await running.exited;
  }
}
