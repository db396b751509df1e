// A local S3 server process (scripts/s3-server.mjs) over a folder: the run's shared one, started by
// test/global-setup.ts, and the ones tests stop or kill themselves. Imports nothing from vitest, so
// that the global setup, which runs outside the test workers, can use it.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface S3ServerProcess {
  readonly endpoint: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** SIGKILL, as a crash: resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (SIGKILL after 5 s): resolves once the process is gone. */
  stop(): Promise<void>;
}

const gone = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));

/**
 * Starts scripts/s3-server.mjs over `dir` (its objects survive a restart on the same folder), on
 * `port` or a free one; resolves once it prints its endpoint.
 */
export async function startS3ServerProcess(options: { dir: string; port?: number; startTimeoutMs?: number }): Promise<S3ServerProcess> {
  const script = path.resolve(import.meta.dirname, '../../scripts/s3-server.mjs');
  const child = spawn(process.execPath, [script, '--dir', options.dir, '--port', String(options.port ?? 0)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4_000)));
  const kill = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    child.kill('SIGKILL');
    await gone(child);
  };
  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await gone(child);
    clearTimeout(timer);
  };
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  try {
    const endpoint = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the S3 server did not start within ${timeoutMs} ms:\n${output}`)), timeoutMs);
      let line = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        line += chunk.toString();
        const end = line.indexOf('\n');
        if (end < 0) return;
        clearTimeout(timer);
        try {
          resolve((JSON.parse(line.slice(0, end)) as { endpoint: string }).endpoint);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the S3 server exited (${String(code ?? signal)}):\n${output}`));
      });
    });
    return { endpoint, port: Number(new URL(endpoint).port), child, kill, stop };
  } catch (error) {
    await kill();
    throw error;
  }
}
