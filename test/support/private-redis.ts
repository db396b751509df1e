// A Redis server of the test's own, for tests that stop, restart or FLUSHALL it (the shared one
// serves every test file at once). Same port across restarts, so clients reconnect by themselves.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { findRedisServer, freeLoopbackPort, pingRedis } from '../global-setup.js';

export interface PrivateRedis {
  readonly url: string;
  /** Stops the server (SIGKILL: an outage, not a shutdown). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const binary = await findRedisServer();
  if (!binary) throw new Error('redis-server not found: these tests need one (apt-get install redis-server)');
  const port = await freeLoopbackPort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const kill = (): void => void child?.kill('SIGKILL');
  process.once('exit', kill);

  const start = async (): Promise<void> => {
    child = spawn(binary, ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(50)) {
      if ((await pingRedis(url, 300)) === undefined) return;
    }
    throw new Error(`redis-server on port ${port} did not answer`);
  };
  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };
  await start();
  return { url, start, stop };
}
