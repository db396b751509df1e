// The thread side of durable-files: each job is one whole durable step, done with blocking calls in
// an io-lane thread of the pool. Done through the libuv pool, the same step is up to six round trips
// between the event loop and a pool thread, and under load each round trip waits for a busy core twice.
import { closeSync, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, openSync, renameSync, writeSync, writevSync } from 'node:fs';
import path from 'node:path';
import type { RunJob } from '../threads/thread-entry.js';

export type DurableStep =
  /**
   * Each put writes its `bytes` to its `temp` (created exclusively), fsyncs it and renames it to its
   * `final`; then each folder renamed into is fsynced once for all of them. Each put succeeds or fails
   * on its own: the answer is one PutOutcome per put, in order.
   */
  | { readonly kind: 'puts'; readonly puts: readonly PutRequest[] }
  /** Fsyncs the written `temp`, renames it to `final`, fsyncs the folder; answers the final size. */
  | { readonly kind: 'commit'; readonly temp: string; readonly final: string }
  /**
   * Appends all of `bytes` to the open file `fd` (opened for appending), then fdatasync. A failed
   * append (a full disk) is cut back off, so the file never ends in half a record.
   */
  | { readonly kind: 'append'; readonly fd: number; readonly bytes: Uint8Array }
  /** Writes all of `chunks` at the open file `fd`'s position, then fdatasync if `sync`; answers the bytes written. */
  | { readonly kind: 'write'; readonly fd: number; readonly chunks: readonly Uint8Array[]; readonly sync: boolean };

export interface PutRequest {
  readonly temp: string;
  readonly final: string;
  readonly bytes: Uint8Array;
}

/** A put's size once it is durable in place, or why it is not (a system error's message and code). */
export type PutOutcome = { readonly size: number } | { readonly failed: { readonly message: string; readonly code?: string } };

/** Folders stay open for their fsyncs (the store creates them before any step names them). */
const folders = new Map<string, number>();

function syncFolder(folder: string): void {
  let fd = folders.get(folder);
  if (fd === undefined) {
    fd = openSync(folder, 'r');
    folders.set(folder, fd);
  }
  fsyncSync(fd);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset);
}

/** Fsyncs the written `file`; answers its size. */
function syncFile(file: string, flags: string): number {
  const fd = openSync(file, flags);
  try {
    fsyncSync(fd);
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

function failed(error: unknown): PutOutcome {
  const { message, code } = error as { message?: unknown; code?: unknown };
  return { failed: { message: String(message ?? error), ...(typeof code === 'string' ? { code } : {}) } };
}

/**
 * Group commit of small files: all are written before the first fsync (so the kernel may carry
 * several in one journal commit), and a folder is fsynced once for all the renames into it rather
 * than once per file — half the fsyncs of putting them one by one when they share folders.
 */
function putAll(puts: readonly PutRequest[]): PutOutcome[] {
  const outcomes: (PutOutcome | undefined)[] = puts.map(() => undefined);
  const open: (number | undefined)[] = [];
  puts.forEach((put, index) => {
    let fd: number | undefined;
    try {
      fd = openSync(put.temp, 'wx');
      writeAll(fd, put.bytes);
      open[index] = fd;
    } catch (error) {
      if (fd !== undefined) closeSync(fd);
      outcomes[index] = failed(error);
    }
  });
  open.forEach((fd, index) => {
    if (fd === undefined) return;
    try {
      fsyncSync(fd);
      renameSync(puts[index]!.temp, puts[index]!.final);
    } catch (error) {
      outcomes[index] = failed(error);
    } finally {
      closeSync(fd);
    }
  });
  const byFolder = new Map<string, number[]>();
  puts.forEach((put, index) => {
    if (outcomes[index] !== undefined) return;
    const folder = path.dirname(put.final);
    const indexes = byFolder.get(folder);
    if (indexes) indexes.push(index);
    else byFolder.set(folder, [index]);
  });
  for (const [folder, indexes] of byFolder) {
    let outcome: PutOutcome | undefined;
    try {
      syncFolder(folder);
    } catch (error) {
      outcome = failed(error);
    }
    for (const index of indexes) outcomes[index] = outcome ?? { size: puts[index]!.bytes.length };
  }
  return outcomes as PutOutcome[];
}

/** Truncates a failed append away; if even that fails, the error says so (the file may end mid-record). */
function cutBack(fd: number, length: number, error: unknown): void {
  try {
    ftruncateSync(fd, length);
    fdatasyncSync(fd);
  } catch (truncateError) {
    (error as Error).message += `; cutting the append back failed too: ${(truncateError as Error).message}`;
  }
}

function append(fd: number, bytes: Uint8Array): number {
  const before = fstatSync(fd).size;
  try {
    writeAll(fd, bytes);
    // On Linux that flushes the data and the file size, all an append changes, without timestamps.
    fdatasyncSync(fd);
  } catch (error) {
    cutBack(fd, before, error);
    throw error;
  }
  return bytes.length;
}

function writeChunks(fd: number, chunks: readonly Uint8Array[], sync: boolean): number {
  let pending = [...chunks];
  let total = 0;
  while (pending.length > 0) {
    let written = writevSync(fd, pending);
    total += written;
    // A short write: drop what was written and go on with the rest.
    const rest: Uint8Array[] = [];
    for (const chunk of pending) {
      if (written >= chunk.length) written -= chunk.length;
      else {
        rest.push(written > 0 ? chunk.subarray(written) : chunk);
        written = 0;
      }
    }
    pending = rest;
  }
  if (sync) fdatasyncSync(fd);
  return total;
}

/** The buffers the chunks fill entirely, once each: those can move between threads rather than be copied. */
export function wholeBuffersOf(chunks: readonly Uint8Array[]): ArrayBuffer[] {
  const whole = new Set<ArrayBuffer>();
  for (const chunk of chunks) {
    if (chunk.buffer instanceof ArrayBuffer && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength) whole.add(chunk.buffer);
  }
  return [...whole];
}

/**
 * Answers the size of the file the step wrote (for an append: the bytes appended; for a write: the
 * bytes written); for puts, one outcome per put.
 */
export const runJob: RunJob<DurableStep, number | PutOutcome[]> = (step) => {
  if (step.kind === 'puts') return { value: putAll(step.puts) };
  if (step.kind === 'append') return { value: append(step.fd, step.bytes) };
  if (step.kind === 'write') {
    // The chunks' whole buffers go back with the answer, to be dropped by the event loop: this thread
    // allocates almost nothing, so its collector runs rarely and the written buffers (1 MiB each)
    // piled up here until the external-memory limit forced one — ~70 MiB of the gateway's peak RSS.
    return { value: writeChunks(step.fd, step.chunks, step.sync), transfer: wholeBuffersOf(step.chunks) };
  }
  const size = syncFile(step.temp, 'r');
  renameSync(step.temp, step.final);
  syncFolder(path.dirname(step.final));
  return { value: size };
};
