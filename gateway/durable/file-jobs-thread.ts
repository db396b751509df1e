// The thread side of file-jobs: each job is one whole durable step (write a small file, fsync it,
// rename it into place, fsync the folder; or append and fdatasync), done with blocking calls in this thread. Done through the
// libuv pool, the same step is six round trips between the event loop and a pool thread, and under
// load each round trip waits for a busy core twice.
import { closeSync, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { parentPort } from 'node:worker_threads';

export type FileJob =
  /** Writes `bytes` to `temp` (created exclusively), fsyncs, renames to `final`, fsyncs the folder. */
  | { readonly kind: 'put'; readonly temp: string; readonly final: string; readonly bytes: Uint8Array }
  /** Fsyncs the written `temp`, renames it to `final`, fsyncs the folder; answers the final size. */
  | { readonly kind: 'commit'; readonly temp: string; readonly final: string }
  /**
   * Appends all of `bytes` to the open file `fd` (opened for appending), then fdatasync. A failed
   * append (a full disk) is cut back off, so the file never ends in half a record.
   */
  | { readonly kind: 'append'; readonly fd: number; readonly bytes: Uint8Array };

export interface FileJobRequest {
  readonly id: number;
  readonly job: FileJob;
}

export type FileJobResponse =
  | { readonly id: number; readonly size: number }
  | { readonly id: number; readonly error: { readonly message: string; readonly code?: string } };

/** Folders stay open for their fsyncs (the store creates them before any job names them). */
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

function syncFile(file: string, flags: string, bytes?: Uint8Array): void {
  const fd = openSync(file, flags);
  try {
    if (bytes) writeAll(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset);
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

function run(job: FileJob): number {
  if (job.kind === 'append') {
    const before = fstatSync(job.fd).size;
    try {
      writeAll(job.fd, job.bytes);
      // On Linux that flushes the data and the file size, all an append changes, without timestamps.
      fdatasyncSync(job.fd);
    } catch (error) {
      cutBack(job.fd, before, error);
      throw error;
    }
    return job.bytes.length;
  }
  if (job.kind === 'put') syncFile(job.temp, 'wx', job.bytes);
  else syncFile(job.temp, 'r');
  renameSync(job.temp, job.final);
  syncFolderOf(job.final);
  return job.kind === 'put' ? job.bytes.length : statSync(job.final).size;
}

parentPort?.on('message', ({ id, job }: FileJobRequest) => {
  let response: FileJobResponse;
  try {
    response = { id, size: run(job) };
  } catch (error) {
    const { message, code } = error as NodeJS.ErrnoException;
    response = { id, error: { message: String(message), ...(typeof code === 'string' ? { code } : {}) } };
  }
  parentPort?.postMessage(response);
});
