// The main module of every pool thread: it lowers its own priority as its lane asks, loads entry
// modules (thread-entry.ts) the first time a job or channel names one, and routes the pool's
// messages by id to the jobs and channels it runs. Jobs of a loaded module start synchronously, in
// the order they arrive.
import { readlinkSync } from 'node:fs';
import os from 'node:os';
import { parentPort, workerData, type Transferable } from 'node:worker_threads';
import type { ChannelHandler, JobAnswer, OpenThreadChannel, RunJob } from './thread-entry.js';

/** What the pool sends a thread. */
export type ToThread =
  | { readonly kind: 'job'; readonly id: number; readonly entry: string; readonly request: unknown }
  | { readonly kind: 'open'; readonly id: number; readonly entry: string }
  | { readonly kind: 'message'; readonly id: number; readonly message: unknown }
  | { readonly kind: 'close'; readonly id: number };

/** What a thread sends the pool: a channel's message, a job's answer, or the failure of either. */
export type FromThread =
  | { readonly kind: 'message'; readonly id: number; readonly message: unknown }
  | { readonly kind: 'answer'; readonly id: number; readonly value: unknown }
  | { readonly kind: 'failed'; readonly id: number; readonly error: ThreadFailure };

export interface ThreadFailure {
  readonly message: string;
  /** A system error's code (ENOSPC, EEXIST…) or another string code the error carried. */
  readonly code?: string;
}

export interface ThreadData {
  /** Unix niceness of the thread (0 normal … 19 lowest); it can be lowered, never raised back. */
  readonly niceness: number;
}

interface EntryModule {
  readonly runJob?: RunJob<unknown, unknown>;
  readonly openChannel?: OpenThreadChannel<unknown, unknown>;
}

/** A channel whose module is still loading holds its messages in `queue`. */
interface Channel {
  handler?: ChannelHandler<unknown>;
  queue?: unknown[];
}

const loaded = new Map<string, EntryModule>();
const loading = new Map<string, Promise<EntryModule>>();
const channels = new Map<number, Channel>();

function post(message: FromThread, transfer?: readonly ArrayBuffer[]): void {
  parentPort?.postMessage(message, transfer as Transferable[] | undefined);
}

function failure(error: unknown): ThreadFailure {
  const { message, code } = (error ?? {}) as { message?: unknown; code?: unknown };
  return { message: String(message ?? error), ...(typeof code === 'string' ? { code } : {}) };
}

function load(entry: string): EntryModule | Promise<EntryModule> {
  const ready = loaded.get(entry);
  if (ready) return ready;
  let pending = loading.get(entry);
  if (!pending) {
    pending = (import(entry) as Promise<EntryModule>).then((module) => {
      loaded.set(entry, module);
      loading.delete(entry);
      return module;
    });
    pending.catch(() => loading.delete(entry)); // the next job or channel tries again
    loading.set(entry, pending);
  }
  return pending;
}

function answer(id: number, result: JobAnswer<unknown>): void {
  post({ kind: 'answer', id, value: result.value }, result.transfer);
}

function runJob(id: number, entry: string, request: unknown): void {
  const run = (module: EntryModule): JobAnswer<unknown> | Promise<JobAnswer<unknown>> => {
    if (!module.runJob) throw new Error(`${entry} exports no runJob`);
    return module.runJob(request);
  };
  try {
    const module = load(entry);
    const result = module instanceof Promise ? module.then(run) : run(module);
    if (result instanceof Promise) result.then((done) => answer(id, done), (error: unknown) => post({ kind: 'failed', id, error: failure(error) }));
    else answer(id, result);
  } catch (error) {
    post({ kind: 'failed', id, error: failure(error) });
  }
}

/** Ends a channel from this side: its handler lets go, the caller hears why. */
function failChannel(id: number, channel: Channel, error: unknown): void {
  if (channels.get(id) === channel) channels.delete(id);
  try {
    channel.handler?.close();
  } catch {
    // Already failing: the first error is the one worth reporting.
  }
  post({ kind: 'failed', id, error: failure(error) });
}

function deliver(id: number, channel: Channel, message: unknown): void {
  try {
    channel.handler?.receive(message);
  } catch (error) {
    failChannel(id, channel, error);
  }
}

function openChannel(id: number, entry: string): void {
  const channel: Channel = { queue: [] };
  channels.set(id, channel);
  const start = (module: EntryModule): void => {
    if (channels.get(id) !== channel) return; // closed while its module was loading
    if (!module.openChannel) throw new Error(`${entry} exports no openChannel`);
    channel.handler = module.openChannel({ send: (message, transfer) => post({ kind: 'message', id, message }, transfer) });
    const queued = channel.queue ?? [];
    channel.queue = undefined;
    for (const message of queued) {
      if (channels.get(id) !== channel) return;
      deliver(id, channel, message);
    }
  };
  try {
    const module = load(entry);
    if (module instanceof Promise) module.then(start).catch((error: unknown) => failChannel(id, channel, error));
    else start(module);
  } catch (error) {
    failChannel(id, channel, error);
  }
}

function handle(message: ToThread): void {
  switch (message.kind) {
    case 'job':
      return runJob(message.id, message.entry, message.request);
    case 'open':
      return openChannel(message.id, message.entry);
    case 'message': {
      const channel = channels.get(message.id);
      if (!channel) return; // failed here already; the caller has been told
      if (channel.queue) channel.queue.push(message.message);
      else deliver(message.id, channel, message.message);
      return;
    }
    case 'close': {
      const channel = channels.get(message.id);
      channels.delete(message.id);
      try {
        channel?.handler?.close();
      } catch {
        // The caller has let go already; a failing clean-up must not stop the thread's other work.
      }
    }
  }
}

/** Bulk work runs below the event loop's priority (Linux: niceness is per thread). */
function lowerThisThreadsPriority(niceness: number): void {
  if (!(niceness > 0)) return;
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(threadId)) os.setPriority(threadId, niceness);
  } catch {
    // Not Linux, or not permitted: the thread runs at the process's priority.
  }
}

lowerThisThreadsPriority(Number((workerData as ThreadData | undefined)?.niceness ?? 0));
parentPort?.on('message', handle);
