// A thread entry module for the pool's tests: jobs and channels that answer, fail, transfer buffers,
// or stop their thread on request, and say which thread they ran in and at what priority.
import { readlinkSync } from 'node:fs';
import os from 'node:os';
import { threadId } from 'node:worker_threads';
import type { OpenThreadChannel, RunJob } from '../../gateway/threads/thread-entry.js';

export type EchoRequest =
  | { readonly kind: 'where' }
  /** Blocks the thread for `ms` (so that jobs sent together find it busy). */
  | { readonly kind: 'hold'; readonly ms: number }
  /** Never answers (a job still running when its thread stops). */
  | { readonly kind: 'never' }
  | { readonly kind: 'fail'; readonly message: string; readonly code?: string }
  | { readonly kind: 'exit'; readonly code: number }
  /** Answers with `size` bytes in a fresh buffer, transferred. */
  | { readonly kind: 'bytes'; readonly size: number }
  /** Answers with the byte length of `buffer` (transferred to the job). */
  | { readonly kind: 'measure'; readonly buffer: ArrayBuffer };

export interface Where {
  readonly threadId: number;
  readonly niceness: number;
}

function where(): Where {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  return { threadId, niceness: os.getPriority(tid) };
}

function act(request: EchoRequest): { value: unknown; transfer?: ArrayBuffer[] } {
  switch (request.kind) {
    case 'where':
      return { value: where() };
    case 'hold':
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, request.ms);
      return { value: where() };
    case 'never':
      return { value: undefined };
    case 'fail':
      throw Object.assign(new Error(request.message), request.code ? { code: request.code } : {});
    case 'exit':
      process.exit(request.code);
      break;
    case 'bytes': {
      const bytes = new Uint8Array(request.size).fill(7);
      return { value: bytes, transfer: [bytes.buffer] };
    }
    case 'measure':
      return { value: request.buffer.byteLength };
  }
  return { value: undefined };
}

export const runJob: RunJob<EchoRequest, unknown> = (request) => (request.kind === 'never' ? new Promise(() => undefined) : act(request));

/** Echoes each message's answer back; `closed` counts channels whose handler was told to let go. */
let closed = 0;
export const openChannel: OpenThreadChannel<EchoRequest | { readonly kind: 'closed' }, unknown> = (port) => ({
  receive(message) {
    if (message.kind === 'closed') return port.send({ closed });
    const { value, transfer } = act(message);
    port.send(value, transfer);
  },
  close() {
    closed += 1;
  },
});
