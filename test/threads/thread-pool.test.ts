// The thread pool (gateway/threads/thread-pool.ts) with real worker threads running a real entry
// module (echo-thread.ts): lanes of their own priority, threads started only when needed, jobs and
// channels failed (never left hanging) when their thread stops or the pool closes.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createThreadPool, type ChannelListener, type ThreadPool } from '../../gateway/threads/thread-pool.js';
import type { EchoRequest, Where } from './echo-thread.js';

const ECHO = new URL('./echo-thread.js', import.meta.url);

let pool: ThreadPool<'io' | 'bulk'> | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

const osThreads = (): number => readdirSync('/proc/self/task').length;

/** A channel's messages as a queue the test awaits one by one, and its failure as a promise. */
function listen(): ChannelListener<unknown> & { next(): Promise<unknown>; failed: Promise<Error> } {
  const waiting: ((message: unknown) => void)[] = [];
  const arrived: unknown[] = [];
  let fail!: (error: Error) => void;
  const failed = new Promise<Error>((resolve) => (fail = resolve));
  return {
    onMessage(message) {
      const taker = waiting.shift();
      if (taker) taker(message);
      else arrived.push(message);
    },
    onFailed: (error) => fail(error),
    next: () => (arrived.length > 0 ? Promise.resolve(arrived.shift()) : new Promise((resolve) => waiting.push(resolve))),
    failed,
  };
}

describe('thread pool', () => {
  it('starts no thread until a lane is first used, then at most its threads, each lane at its own priority', async () => {
    const before = osThreads();
    pool = createThreadPool({ lanes: { io: { threads: 2 }, bulk: { threads: 1, niceness: 7 } } });
    expect(osThreads()).toBe(before);
    expect([pool.threads('io'), pool.threads('bulk')]).toEqual([2, 1]);

    // Sent together, each finds the others' threads busy: the io lane grows to 2 threads, no more.
    const io = await Promise.all(Array.from({ length: 6 }, () => pool?.run<Where>('io', ECHO, { kind: 'hold', ms: 20 } satisfies EchoRequest)));
    const bulk = await Promise.all(Array.from({ length: 3 }, () => pool?.run<Where>('bulk', ECHO, { kind: 'hold', ms: 20 } satisfies EchoRequest)));
    const ioThreads = new Set(io.map((where) => where?.threadId));
    const bulkThreads = new Set(bulk.map((where) => where?.threadId));
    expect(ioThreads.size).toBe(2);
    expect(bulkThreads.size).toBe(1);
    expect([...bulkThreads].some((id) => ioThreads.has(id))).toBe(false);
    expect(new Set(io.map((where) => where?.niceness))).toEqual(new Set([0]));
    expect(new Set(bulk.map((where) => where?.niceness))).toEqual(new Set([7]));
  });

  it('a job answers its value, moving the buffers it lists; a failing job rejects with its message and code, and the thread goes on', async () => {
    pool = createThreadPool({ lanes: { io: { threads: 1 }, bulk: { threads: 1 } } });
    const bytes = await pool.run<Uint8Array>('io', ECHO, { kind: 'bytes', size: 100_000 } satisfies EchoRequest);
    expect(bytes.length).toBe(100_000);
    expect(bytes.every((byte) => byte === 7)).toBe(true);
    const given = new ArrayBuffer(4096);
    await expect(pool.run('io', ECHO, { kind: 'measure', buffer: given } satisfies EchoRequest, [given])).resolves.toBe(4096);
    expect(given.byteLength).toBe(0); // moved, not copied

    await expect(pool.run('io', ECHO, { kind: 'fail', message: 'no room', code: 'ENOSPC' } satisfies EchoRequest)).rejects.toMatchObject({ message: 'no room', code: 'ENOSPC' });
    await expect(pool.run('io', new URL('./no-such-entry.js', import.meta.url), {})).rejects.toThrow(/no-such-entry/);
    await expect(pool.run('io', ECHO, { kind: 'where' } satisfies EchoRequest)).resolves.toMatchObject({ niceness: 0 });
  });

  it('a channel carries messages both ways in order; closing it tells the thread to let go', async () => {
    pool = createThreadPool({ lanes: { io: { threads: 1 }, bulk: { threads: 1 } } });
    const listener = listen();
    const channel = pool.open<EchoRequest | { kind: 'closed' }, unknown>('bulk', ECHO, listener);
    for (let size = 1; size <= 5; size += 1) channel.post({ kind: 'bytes', size });
    for (let size = 1; size <= 5; size += 1) expect(((await listener.next()) as Uint8Array).length).toBe(size);
    channel.post({ kind: 'closed' });
    const { closed: before } = (await listener.next()) as { closed: number };
    channel.close();
    channel.post({ kind: 'where' }); // a no-op once closed

    const probe = listen();
    const other = pool.open<{ kind: 'closed' }, unknown>('bulk', ECHO, probe);
    other.post({ kind: 'closed' });
    expect(await probe.next()).toEqual({ closed: before + 1 });
    other.close();
  });

  it('a thread that stops fails its jobs and channels with the reason; the lane starts another', async () => {
    pool = createThreadPool({ lanes: { io: { threads: 1 }, bulk: { threads: 1 } } });
    const listener = listen();
    const channel = pool.open<EchoRequest, unknown>('io', ECHO, listener);
    const bystander = listen();
    const elsewhere = pool.open<EchoRequest, unknown>('bulk', ECHO, bystander);
    const job = pool.run('io', ECHO, { kind: 'never' } satisfies EchoRequest);
    channel.post({ kind: 'exit', code: 3 });
    await expect(job).rejects.toThrow('a thread of the io lane stopped: exit code 3');
    expect((await listener.failed).message).toBe('a thread of the io lane stopped: exit code 3');

    // The other lane's channel goes on; the io lane serves again from a new thread.
    elsewhere.post({ kind: 'where' });
    expect(await bystander.next()).toMatchObject({ niceness: 0 });
    await expect(pool.run('io', ECHO, { kind: 'where' } satisfies EchoRequest)).resolves.toMatchObject({ niceness: 0 });
    elsewhere.close();
  });

  it('a channel handler that throws fails that channel only', async () => {
    pool = createThreadPool({ lanes: { io: { threads: 1 }, bulk: { threads: 1 } } });
    const failing = listen();
    const other = listen();
    const a = pool.open<EchoRequest, unknown>('io', ECHO, failing);
    const b = pool.open<EchoRequest, unknown>('io', ECHO, other);
    a.post({ kind: 'fail', message: 'bad batch', code: 'ERR_X' });
    expect(await failing.failed).toMatchObject({ message: 'bad batch', code: 'ERR_X' });
    b.post({ kind: 'where' });
    expect(await other.next()).toMatchObject({ niceness: 0 });
    b.close();
  });

  it('closing fails what is running and refuses what comes after', async () => {
    pool = createThreadPool({ lanes: { io: { threads: 1 }, bulk: { threads: 1 } } });
    const listener = listen();
    pool.open<EchoRequest, unknown>('bulk', ECHO, listener);
    // Its failure is awaited from the start: it fails while close() is awaited.
    const jobFails = expect(pool.run('io', ECHO, { kind: 'never' } satisfies EchoRequest)).rejects.toThrow('the thread pool was closed');
    await pool.close();
    await jobFails;
    expect((await listener.failed).message).toBe('the thread pool was closed');
    await expect(pool.run('io', ECHO, { kind: 'where' } satisfies EchoRequest)).rejects.toThrow('the thread pool is closed');
    expect(() => pool?.open('io', ECHO, listen())).toThrow('the thread pool is closed');
  });

  it('refuses lanes without threads, niceness out of range, and unknown lanes', () => {
    expect(() => createThreadPool({ lanes: { io: { threads: 0 } } })).toThrow(/io: threads/);
    expect(() => createThreadPool({ lanes: { bulk: { threads: 1, niceness: 20 } } })).toThrow(/bulk: niceness/);
    const small = createThreadPool({ lanes: { io: { threads: 1 } } });
    expect(() => (small as ThreadPool).open('bulk', ECHO, listen())).toThrow('the thread pool has no lane bulk');
  });
});

describe('a process with a pool', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  /** Runs `script` with plain node; resolves with its exit code and output (bounded: a hang is a failure). */
  async function runNode(script: string, args: string[] = []): Promise<{ code: number | null; output: string }> {
    dir = await mkdtemp(path.join(tmpdir(), 'hetao-pool-'));
    const file = path.join(dir, 'script.mjs');
    await writeFile(file, script);
    const child = spawn(process.execPath, [...args, file], { stdio: ['ignore', 'pipe', 'pipe'], cwd: path.resolve(import.meta.dirname, '../..') });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const hang = setTimeout(() => child.kill('SIGKILL'), 40_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(hang);
    return { code, output };
  }

  it('run as TypeScript (tsx), exits by itself once its threads are idle: they do not hold it open', async () => {
    const pool = new URL('../../gateway/threads/thread-pool.ts', import.meta.url).href;
    const { code, output } = await runNode(
      `import { createThreadPool } from ${JSON.stringify(pool)};
const pool = createThreadPool({ lanes: { io: { threads: 2 } } });
console.log(JSON.stringify(await pool.run('io', new URL(${JSON.stringify(ECHO.href)}), { kind: 'where' })));`,
      ['--import', 'tsx'],
    );
    expect(output).toMatch(/"niceness":0/);
    expect(code).toBe(0);
  });

  it('compiled, runs its threads from the .js build, without tsx', async () => {
    const compiled = inject('compiledDir');
    const pool = new URL(`file://${path.join(compiled, 'gateway/threads/thread-pool.js')}`).href;
    const durable = new URL(`file://${path.join(compiled, 'gateway/durable/durable-files.js')}`).href;
    const { code, output } = await runNode(
      `import { createThreadPool } from ${JSON.stringify(pool)};
import { createDurableFiles } from ${JSON.stringify(durable)};
import { readFileSync } from 'node:fs';
const pool = createThreadPool({ lanes: { io: { threads: 1 } } });
const files = createDurableFiles(pool);
const final = ${JSON.stringify(path.join(tmpdir(), `hetao-pool-compiled-${process.pid}`))};
await files.put(final + '.tmp', final, Buffer.from('compiled'));
console.log(readFileSync(final, 'utf8'));`,
      ['--disable-warning=ExperimentalWarning'],
    );
    expect(output.trim()).toBe('compiled');
    expect(code).toBe(0);
    await rm(path.join(tmpdir(), `hetao-pool-compiled-${process.pid}`), { force: true });
  });
});
