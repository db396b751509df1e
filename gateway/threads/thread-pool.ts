// A few worker threads shared by many conversations (an upload being sealed, a file job): each
// conversation is a channel on the least busy thread, its messages carry the channel's id. Threads
// start when first needed; a thread keeps the process alive only while it has open channels, as a
// pending fs call would. A thread that stops fails its open channels; the next one takes its place.
import { Worker } from 'node:worker_threads';

export interface ThreadChannel<Message> {
  onMessage(message: Message): void;
  onStopped(error: Error): void;
}

export interface OpenChannel {
  readonly id: number;
  post(message: { readonly id: number }, transfer?: ArrayBuffer[]): void;
  /** Stops routing messages to this channel. */
  close(): void;
}

export interface ThreadPool<Message extends { readonly id: number }> {
  open(channel: ThreadChannel<Message>): OpenChannel;
  /** Terminates the threads; open channels get `onStopped`. */
  close(): Promise<void>;
}

interface PooledThread<Message> {
  readonly worker: Worker;
  readonly channels: Map<number, ThreadChannel<Message>>;
}

export function createThreadPool<Message extends { readonly id: number }>(options: { entry: URL; threads: number; workerData?: unknown }): ThreadPool<Message> {
  const threads: PooledThread<Message>[] = [];
  let nextId = 1;

  const startThread = (): PooledThread<Message> => {
    const worker = new Worker(options.entry, { workerData: options.workerData });
    const thread: PooledThread<Message> = { worker, channels: new Map() };
    worker.unref();
    worker.on('message', (message: Message) => thread.channels.get(message.id)?.onMessage(message));
    const stopped = (error: Error): void => {
      const index = threads.indexOf(thread);
      if (index >= 0) threads.splice(index, 1);
      const open = [...thread.channels.values()];
      thread.channels.clear();
      for (const channel of open) channel.onStopped(error);
    };
    worker.once('error', stopped);
    worker.once('exit', (code) => stopped(new Error(`worker thread stopped (exit code ${code})`)));
    threads.push(thread);
    return thread;
  };

  const pickThread = (): PooledThread<Message> => {
    const idle = threads.find((thread) => thread.channels.size === 0);
    if (idle) return idle;
    if (threads.length < options.threads) return startThread();
    return threads.reduce((least, thread) => (thread.channels.size < least.channels.size ? thread : least));
  };

  return {
    open(channel) {
      const thread = pickThread();
      const id = nextId++;
      thread.channels.set(id, channel);
      thread.worker.ref();
      return {
        id,
        post: (message, transfer = []) => thread.worker.postMessage(message, transfer),
        close() {
          thread.channels.delete(id);
          if (thread.channels.size === 0) thread.worker.unref();
        },
      };
    },
    async close() {
      await Promise.all(threads.map((thread) => thread.worker.terminate()));
    },
  };
}
