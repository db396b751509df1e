// A gateway in a child process on the embedded defaults, with its own data directory and free ports.
// Its API URL comes from the "gateway listening" log line. The child logs at info (main.ts writes
// that line at info); everything below warn is dropped here so the demo's own words stay readable.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { PROJECT_ROOT } from '../../gateway/config.js';

export interface GatewayProcessOptions {
  /** Node arguments that run the gateway, e.g. `['dist/gateway/app/main.js']` or `['--import', tsxLoader, 'gateway/app/main.ts']`. */
  readonly nodeArgs: readonly string[];
  readonly dataDir: string;
  /** Sees every log line at warn or above (and any non-JSON output). */
  readonly onWarning?: (line: string) => void;
  readonly startTimeoutMs?: number;
  /** Settings on top of the embedded defaults (the two-sides demo gives each side its own). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface GatewayProcess {
  readonly apiUrl: string;
  /** Its operations endpoint (/readyz, /metrics). */
  readonly opsUrl: string;
  readonly pid: number;
  /** SIGTERM, then SIGKILL if it has not exited in time; resolves with the exit code (null if killed). */
  stop(): Promise<number | null>;
}

/** pino's numeric level of warn. */
const WARN_LEVEL = 40;
const STOP_GRACE_MS = 15_000;

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

function describeLine(entry: Record<string, unknown>): string {
  const level = typeof entry.level === 'number' && entry.level >= 50 ? 'error' : 'warn';
  return `gateway ${level}: ${String(entry.msg ?? JSON.stringify(entry))}`;
}

export function startGatewayProcess(options: GatewayProcessOptions): Promise<GatewayProcess> {
  // Only PATH is inherited: the demo runs on the embedded defaults, not on whatever HETAO_* or
  // REDIS_URL the caller's shell happens to hold.
  const child = spawn(process.execPath, [...options.nodeArgs], {
    cwd: PROJECT_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HETAO_PORT: '0',
      HETAO_OPS_PORT: '0',
      HETAO_DATA_DIR: options.dataDir,
      HETAO_LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const warn = options.onWarning ?? (() => undefined);
  const stderrTail: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 20) stderrTail.shift();
    warn(`gateway stderr: ${line}`);
  });

  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    try {
      return await exited(child);
    } finally {
      clearTimeout(timer);
    }
  };

  return new Promise((resolve, reject) => {
    const fail = (reason: string): void => {
      clearTimeout(timer);
      void stop();
      reject(new Error([reason, ...stderrTail].join('\n')));
    };
    const timeoutMs = options.startTimeoutMs ?? 30_000;
    const timer = setTimeout(() => fail(`the gateway did not say "gateway listening" within ${timeoutMs / 1000} s`), timeoutMs);
    child.once('error', (error) => fail(`the gateway could not be started: ${error.message}`));
    child.once('exit', (code, signal) => fail(`the gateway exited before listening (${signal ?? `exit code ${code}`})`));

    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        warn(`gateway: ${line}`);
        return;
      }
      if (entry.msg === 'gateway listening' && typeof entry.api === 'string') {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ apiUrl: entry.api, opsUrl: String(entry.ops), pid: child.pid ?? -1, stop });
      } else if (typeof entry.level === 'number' && entry.level >= WARN_LEVEL) {
        warn(describeLine(entry));
      }
    });
  });
}
