// Vitest global setup: finds a Redis for the tests, or starts a private one, and provides its URL
// to every test file as inject('redisUrl') (see test/support/redis.ts).
//
// Discovery, in order:
//   1. HETAO_TEST_REDIS_URL, if set (it must answer PING);
//   2. a Redis already answering on 127.0.0.1:6379 (HETAO_TEST_REDIS_PORT_PROBE changes the port
//      probed, e.g. to an unused one to force step 3);
//   3. a redis-server binary (PATH, /usr/bin, /usr/sbin, /usr/local/bin) started on a free loopback
//      port with no persistence, stopped again in teardown.
// Runs in the Vitest main process: it must not import 'vitest' itself (only types).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startS3ServerProcess } from './support/s3-server-process.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** `test:<uuid>`, this run's: every test's own key prefix starts with it, and teardown deletes what is left under it. */
    redisKeyPrefix: string;
    /** A PostgreSQL maintenance URL (database `postgres`): tests create a database of their own through it (test/support/database.ts). */
    databaseAdminUrl: string;
    /** The local S3 server of this run (scripts/s3-server.mjs): tests create a bucket of their own (test/support/s3.ts). */
    s3Endpoint: string;
    /** The gateway compiled for this run (`<dir>/gateway/…js`), for child processes. */
    compiledDir: string;
  }
}

export interface DiscoveredRedis {
  readonly url: string;
  /** How it was found: 'env', 'probe' or 'started'. */
  readonly source: 'env' | 'probe' | 'started';
  /** Stops a Redis this setup started; a no-op for one found running. */
  stop(): Promise<void>;
}

export interface DiscoverOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Port probed on 127.0.0.1 before starting a server (default 6379, or HETAO_TEST_REDIS_PORT_PROBE). */
  readonly probePort?: number;
  /** Where to look for redis-server (default: PATH, then /usr/bin, /usr/sbin, /usr/local/bin). */
  readonly searchDirs?: readonly string[];
  /** How long a started redis-server gets to answer PING. */
  readonly startTimeoutMs?: number;
}

const DEFAULT_PROBE_PORT = 6379;

/** PING a Redis once, quickly. Resolves to undefined on PONG, else to the reason it failed. */
export async function pingRedis(url: string, timeoutMs = 1_000): Promise<string | undefined> {
  const client = new Redis(url, {
    connectTimeout: timeoutMs,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  let lastError: Error | undefined;
  client.on('error', (error: Error) => {
    lastError = error;
  });
  try {
    await client.connect();
    const reply = await client.ping();
    if (reply !== 'PONG') return `unexpected PING reply ${JSON.stringify(reply)}`;
    return undefined;
  } catch (error) {
    return (lastError ?? (error as Error)).message;
  } finally {
    try {
      await client.quit();
    } catch {
      client.disconnect();
    }
  }
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export async function findRedisServer(searchDirs?: readonly string[], env = process.env): Promise<string | undefined> {
  const dirs = searchDirs ?? [
    ...(env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== ''),
    '/usr/bin',
    '/usr/sbin',
    '/usr/local/bin',
  ];
  for (const dir of dirs) {
    const candidate = path.join(dir, 'redis-server');
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** A loopback port that was free a moment ago (listen on 0, read the port, close). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the port of a probe listener'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (await waitForExit(child, 5_000)) return;
  child.kill('SIGKILL');
  await waitForExit(child, 5_000);
}

/** Starts redis-server on a free loopback port and waits (bounded) until it answers PING. */
export async function startRedisServer(binary: string, startTimeoutMs = 10_000): Promise<DiscoveredRedis> {
  let lastFailure = '';
  // The free port can be taken between probing and binding: try a few ports before giving up.
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    const port = await freeLoopbackPort();
    const dir = await mkdtemp(path.join(tmpdir(), 'hetao-test-redis-'));
    const child = spawn(
      binary,
      ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-4_000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let spawnError: Error | undefined;
    child.once('error', (error) => {
      spawnError = error;
    });
    // Safety net: never leave the server behind if Vitest exits without running teardown.
    const killOnExit = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', killOnExit);

    const url = `redis://127.0.0.1:${port}`;
    const deadline = Date.now() + startTimeoutMs;
    let reason: string | undefined = 'not tried';
    while (Date.now() < deadline && spawnError === undefined && child.exitCode === null && child.signalCode === null) {
      reason = await pingRedis(url, 500);
      if (reason === undefined) break;
      await sleep(100);
    }
    if (reason === undefined) {
      // Keep draining its output so a full pipe never blocks the server.
      return {
        url,
        source: 'started',
        async stop() {
          process.removeListener('exit', killOnExit);
          await stopChild(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    process.removeListener('exit', killOnExit);
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
    lastFailure = spawnError
      ? `could not run ${binary}: ${spawnError.message}`
      : child.exitCode !== null || child.signalCode !== null
        ? `${binary} exited (${child.exitCode ?? child.signalCode}) on port ${port}:\n${output.trim()}`
        : `${binary} did not answer PING on port ${port} within ${startTimeoutMs} ms (${reason}):\n${output.trim()}`;
  }
  throw new Error(`Could not start a Redis for the tests.\n${lastFailure}`);
}

export async function discoverRedis(options: DiscoverOptions = {}): Promise<DiscoveredRedis> {
  const env = options.env ?? process.env;
  const noStop = async (): Promise<void> => {};

  const fromEnv = env.HETAO_TEST_REDIS_URL;
  if (fromEnv !== undefined && fromEnv !== '') {
    const problem = await pingRedis(fromEnv, 2_000);
    if (problem !== undefined) {
      throw new Error(`HETAO_TEST_REDIS_URL=${fromEnv} does not answer PING: ${problem}`);
    }
    return { url: fromEnv, source: 'env', stop: noStop };
  }

  const probePort = options.probePort ?? Number(env.HETAO_TEST_REDIS_PORT_PROBE ?? DEFAULT_PROBE_PORT);
  if (!Number.isInteger(probePort) || probePort <= 0 || probePort > 65_535) {
    throw new Error(`HETAO_TEST_REDIS_PORT_PROBE must be a port number, not ${JSON.stringify(env.HETAO_TEST_REDIS_PORT_PROBE)}`);
  }
  const probeUrl = `redis://127.0.0.1:${probePort}`;
  const probeProblem = await pingRedis(probeUrl, 1_000);
  if (probeProblem === undefined) return { url: probeUrl, source: 'probe', stop: noStop };

  const binary = await findRedisServer(options.searchDirs, env);
  if (binary !== undefined) return startRedisServer(binary, options.startTimeoutMs);

  throw new Error(
    [
      'The tests need a Redis, and none could be found or started:',
      `  - HETAO_TEST_REDIS_URL is not set;`,
      `  - nothing answers PING on ${probeUrl} (${probeProblem});`,
      `  - no redis-server binary on PATH, /usr/bin, /usr/sbin or /usr/local/bin.`,
      'Either install Redis so the tests can start a private one on a free port:',
      '  sudo apt-get install redis-server      (Debian/Ubuntu; the service need not be running)',
      'or point the tests at a Redis you run (it must be disposable: tests write keys under test:*):',
      '  HETAO_TEST_REDIS_URL=redis://127.0.0.1:6379 npm test',
    ].join('\n'),
  );
}

/**
 * Compiles the gateway once for the run (as `npm run build` does, into a folder of its own inside the
 * project so that node_modules resolve), so that the many CLI and gateway child processes of the
 * tests start as plain Node (≈0.1 s of CPU each) instead of through tsx (≈1 s each).
 */
async function compileForTests(): Promise<{ dir: string; remove(): Promise<void> }> {
  const root = path.resolve(import.meta.dirname, '..');
  await mkdir(path.join(root, '.test-build'), { recursive: true });
  const dir = await mkdtemp(path.join(root, '.test-build', 'run-'));
  const tsc = spawn(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  tsc.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  tsc.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(tsc, 'exit')) as [number | null];
  if (code !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`the gateway does not compile (tsc exit ${String(code)}):\n${output}`);
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * The PostgreSQL the tests use: HETAO_TEST_DATABASE_URL, else the machine's on 127.0.0.1:5432 (user
 * postgres, trust auth). Tests only create and drop databases of their own through it.
 */
export async function discoverPostgres(env = process.env): Promise<string> {
  const url = env.HETAO_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return url;
  } catch (error) {
    throw new Error(
      [
        `The tests need a PostgreSQL and ${url} does not answer: ${(error as Error).message}`,
        'Start the machine\'s one (`.ci/run` does): pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
        'or point the tests at one where they may create databases: HETAO_TEST_DATABASE_URL=postgres://user@host:port/postgres npm test',
      ].join('\n'),
      { cause: error },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface StartedS3 {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** The run's S3 server (scripts/s3-server.mjs) on a free loopback port over a fresh folder, removed at stop. */
export async function startS3Server(): Promise<StartedS3> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-test-s3-'));
  try {
    const server = await startS3ServerProcess({ dir });
    return {
      endpoint: server.endpoint,
      async stop() {
        await server.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function deleteKeysUnder(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== '0');
  } catch (error) {
    console.warn(`could not delete this run's Redis keys (${prefix}:*): ${(error as Error).message}`);
  } finally {
    client.disconnect();
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [redis, build, databaseAdminUrl, s3] = await Promise.all([discoverRedis(), compileForTests(), discoverPostgres(), startS3Server()]);
  const how = { env: 'from HETAO_TEST_REDIS_URL', probe: 'already running', started: 'started for this run' }[redis.source];
  console.log(`test Redis: ${redis.url} (${how}); PostgreSQL: ${databaseAdminUrl}; S3 server: ${s3.endpoint}; gateway compiled for child processes in ${path.relative(process.cwd(), build.dir)}`);
  const redisKeyPrefix = `test:${randomUUID()}`;
  project.provide('redisUrl', redis.url);
  project.provide('redisKeyPrefix', redisKeyPrefix);
  project.provide('compiledDir', build.dir);
  project.provide('databaseAdminUrl', databaseAdminUrl);
  project.provide('s3Endpoint', s3.endpoint);
  return async () => {
    // A shared Redis keeps nothing of this run: queues a test's gateway process wrote after the test
    // cleaned up, or that a test never cleaned, go with the run.
    await deleteKeysUnder(redis.url, redisKeyPrefix);
    await Promise.all([redis.stop(), build.remove(), s3.stop()]);
  };
}
