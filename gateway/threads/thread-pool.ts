// One pool of worker threads for the process, created by the composition root and passed to whoever
// needs threads: durable file steps and the journal's start-up scan (lane `io`), sealing uploads
// (lane `bulk`). A lane is a set of threads of one priority: niceness is per thread and cannot be
// raised back, so a bulk thread never serves io jobs. Threads start when first needed and load the
// entry modules they are asked for (thread-host.ts); a thread keeps the process alive only while it
// has jobs or open channels, as a pending fs call would. A thread that stops fails its jobs and
// channels; the next job or channel starts another.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type Transferable } from 'node:worker_threads';
import type { FromThread, ThreadData, ThreadFailure, ToThread } from './thread-host.js';

export interface LaneOptions {
  /** At most this many threads (at least 1). */
  readonly threads: number;
  /** Unix niceness of the lane's threads, 0 (default: the process's priority) … 19 (lowest). */
  readonly niceness?: number;
}

export interface ChannelListener<Message> {
  onMessage(message: Message): void;
  /** The thread stopped, the pool closed, or the thread's handler threw: the channel is closed. */
  onFailed(error: Error): void;
}

export interface ThreadChannel<Message> {
  /** Buffers in `transfer` move to the thread (never list a pooled Buffer's). A no-op once closed. */
  post(message: Message, transfer?: readonly ArrayBuffer[]): void;
  /** Closes the channel on both sides: the thread's handler lets go of what it holds. */
  close(): void;
}

export interface ThreadPool<Lane extends string = string> {
  /**
   * Runs `request` through the `runJob` of the module at `entry` (thread-entry.ts), in a thread of
   * `lane`. Rejects with the job's error (message and `code` kept) or when its thread stops.
   */
  run<Value>(lane: Lane, entry: URL, request: unknown, transfer?: readonly ArrayBuffer[]): Promise<Value>;
  /** Opens a conversation with the `openChannel` of the module at `entry`, in a thread of `lane`. */
  open<In, Out>(lane: Lane, entry: URL, listener: ChannelListener<Out>): ThreadChannel<In>;
  /** How many threads `lane` may run. */
  threads(lane: Lane): number;
  /** Terminates the threads: their jobs and channels fail, and so does anything asked for afterwards. */
  close(): Promise<void>;
}

/** Where a job's or channel's messages go. */
interface Receiver {
  onMessage(message: unknown): void;
  onAnswer(value: unknown): void;
  onFailed(error: Error): void;
}

interface PooledThread {
  readonly worker: Worker;
  readonly receivers: Map<number, Receiver>;
}

interface Lane {
  readonly name: string;
  readonly options: LaneOptions;
  readonly threads: PooledThread[];
}

const OWN_EXTENSION = path.extname(fileURLToPath(import.meta.url));
const HOST_MODULE = new URL(`./thread-host${OWN_EXTENSION}`, import.meta.url);
let threadMain: URL | undefined;

/**
 * The compiled host as it is; run as TypeScript (vitest, tsx), a tiny module that registers tsx's
 * loader through its public API first: a worker does not inherit the loader, and Node 20 ignores
 * `--import` in a worker's execArgv. Resolved only then, so a build without tsx never looks for it.
 */
function threadMainModule(): URL {
  if (OWN_EXTENSION !== '.ts') return HOST_MODULE;
  threadMain ??= new URL(
    `data:text/javascript,${encodeURIComponent(`import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))}; register(); await import(${JSON.stringify(HOST_MODULE.href)});`)}`,
  );
  return threadMain;
}

function toError(failure: ThreadFailure): Error {
  return Object.assign(new Error(failure.message), failure.code === undefined ? {} : { code: failure.code });
}

const transferList = (transfer: readonly ArrayBuffer[] | undefined): Transferable[] | undefined => transfer as Transferable[] | undefined;

/** @throws Error for a lane without at least one thread or with a niceness outside 0 … 19. */
export function createThreadPool<LaneName extends string>(options: { readonly lanes: Readonly<Record<LaneName, LaneOptions>> }): ThreadPool<LaneName> {
  const lanes = new Map<string, Lane>();
  for (const [name, lane] of Object.entries<LaneOptions>(options.lanes)) {
    if (!Number.isInteger(lane.threads) || lane.threads < 1) throw new Error(`thread lane ${name}: threads must be an integer of at least 1`);
    const niceness = lane.niceness ?? 0;
    if (!Number.isInteger(niceness) || niceness < 0 || niceness > 19) throw new Error(`thread lane ${name}: niceness must be an integer in 0 … 19`);
    lanes.set(name, { name, options: lane, threads: [] });
  }
  let nextId = 1;
  let closed = false;

  const stopped = (lane: Lane, thread: PooledThread, reason: string): void => {
    const index = lane.threads.indexOf(thread);
    if (index >= 0) lane.threads.splice(index, 1);
    const error = new Error(closed ? 'the thread pool was closed' : `a thread of the ${lane.name} lane stopped: ${reason}`);
    const receivers = [...thread.receivers.values()];
    thread.receivers.clear();
    for (const receiver of receivers) receiver.onFailed(error);
  };

  const release = (thread: PooledThread, id: number): void => {
    thread.receivers.delete(id);
    if (thread.receivers.size === 0) thread.worker.unref();
  };

  const startThread = (lane: Lane): PooledThread => {
    const workerData: ThreadData = { niceness: lane.options.niceness ?? 0 };
    const worker = new Worker(threadMainModule(), { workerData });
    const thread: PooledThread = { worker, receivers: new Map() };
    worker.unref();
    worker.on('message', (message: FromThread) => {
      const receiver = thread.receivers.get(message.id);
      if (!receiver) return; // closed on this side meanwhile
      if (message.kind === 'message') return receiver.onMessage(message.message);
      release(thread, message.id);
      if (message.kind === 'answer') receiver.onAnswer(message.value);
      else receiver.onFailed(toError(message.error));
    });
    worker.once('error', (error) => stopped(lane, thread, error.message));
    worker.once('exit', (code) => stopped(lane, thread, `exit code ${code}`));
    lane.threads.push(thread);
    return thread;
  };

  /** An idle thread, else a new one while the lane has room, else the least busy. */
  const attach = (laneName: string, receiver: Receiver): { thread: PooledThread; id: number } => {
    if (closed) throw new Error('the thread pool is closed');
    const lane = lanes.get(laneName);
    if (!lane) throw new Error(`the thread pool has no lane ${laneName}`);
    const thread =
      lane.threads.find((candidate) => candidate.receivers.size === 0) ??
      (lane.threads.length < lane.options.threads
        ? startThread(lane)
        : lane.threads.reduce((least, candidate) => (candidate.receivers.size < least.receivers.size ? candidate : least)));
    const id = nextId++;
    thread.receivers.set(id, receiver);
    thread.worker.ref();
    return { thread, id };
  };

  const send = (thread: PooledThread, message: ToThread, transfer?: readonly ArrayBuffer[]): void => thread.worker.postMessage(message, transferList(transfer));

  return {
    run<Value>(lane: LaneName, entry: URL, request: unknown, transfer?: readonly ArrayBuffer[]) {
      return new Promise<Value>((resolve, reject) => {
        const { thread, id } = attach(lane, { onMessage: () => undefined, onAnswer: (value) => resolve(value as Value), onFailed: reject });
        send(thread, { kind: 'job', id, entry: entry.href, request }, transfer);
      });
    },
    open<In, Out>(lane: LaneName, entry: URL, listener: ChannelListener<Out>): ThreadChannel<In> {
      let open = true;
      const { thread, id } = attach(lane, {
        onMessage: (message) => listener.onMessage(message as Out),
        onAnswer: () => undefined,
        onFailed(error) {
          open = false;
          listener.onFailed(error);
        },
      });
      send(thread, { kind: 'open', id, entry: entry.href });
      return {
        post(message, transfer) {
          if (open) send(thread, { kind: 'message', id, message }, transfer);
        },
        close() {
          if (!open) return;
          open = false;
          release(thread, id);
          send(thread, { kind: 'close', id });
        },
      };
    },
    threads(lane) {
      const found = lanes.get(lane);
      if (!found) throw new Error(`the thread pool has no lane ${lane}`);
      return found.options.threads;
    },
    async close() {
      closed = true;
      const all = [...lanes.values()].flatMap((lane) => lane.threads.map((thread) => ({ lane, thread })));
      await Promise.all(
        all.map(async ({ lane, thread }) => {
          await thread.worker.terminate();
          stopped(lane, thread, 'terminated'); // a no-op if 'exit' came first
        }),
      );
    },
  };
}
