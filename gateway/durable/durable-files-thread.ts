// The thread side of durable-files: each job is one whole durable step, done with blocking calls in
// an io-lane thread of the pool. Done through the libuv pool, the same step is up to six round trips
// between the event loop and a pool thread, and under load each round trip waits for a busy core twice.
import { closeSync, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, openSync, renameSync, writeSync, writevSync } from 'node:fs';
import path from 'node:path';
import type { RunJob } from '../threads/thread-entry.js';

export type DurableStep =
  /** Writes `bytes` to `temp` (created exclusively), fsyncs, renames to `final`, fsyncs the folder. */
  | { readonly kind: 'put'; readonly temp: string; readonly final: string; readonly bytes: Uint8Array }
  /** Fsyncs the written `temp`, renames it to `final`, fsyncs the folder; answers the final size. */
  | { readonly kind: 'commit'; readonly temp: string; readonly final: string }
  /**
   * Appends all of `bytes` to the open file `fd` (opened for appending), then fdatasync. A failed
   * append (a full disk) is cut back off, so the file never ends in half a record.
   */
  | { readonly kind: 'append'; readonly fd: number; readonly bytes: Uint8Array }
  /** Writes all of `chunks` at the open file `fd`'s position, then fdatasync if `sync`; answers the bytes written. */
  | { readonly kind: 'write'; readonly fd: number; readonly chunks: readonly Uint8Array[]; readonly sync: boolean };

/** Folders stay open for their fsyncs (the store creates them before any step names them). */
const folders = new Map<string, number>();

function syncFolderOf(file: string): void {
  const folder = path.dirname(file);
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

/** Writes (if given) and fsyncs `file`; answers its size. */
function syncFile(file: string, flags: string, bytes?: Uint8Array): number {
  const fd = openSync(file, flags);
  try {
    if (bytes) writeAll(fd, bytes);
    fsyncSync(fd);
    return bytes ? bytes.length : fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
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

/** Answers the size of the file the step wrote (for an append: the bytes appended; for a write: the bytes written). */
export const runJob: RunJob<DurableStep, number> = (step) => {
  if (step.kind === 'append') return { value: append(step.fd, step.bytes) };
  if (step.kind === 'write') return { value: writeChunks(step.fd, step.chunks, step.sync) };
  const size = step.kind === 'put' ? syncFile(step.temp, 'wx', step.bytes) : syncFile(step.temp, 'r');
  renameSync(step.temp, step.final);
  syncFolderOf(step.final);
  return { value: size };
};
