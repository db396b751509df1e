// Storage failures named as such. A full disk (ENOSPC, or EDQUOT for a quota) is the operators'
// problem, not the caller's: it becomes ERR_STORAGE_FULL (507), a read-only or failing disk (EROFS,
// EIO) ERR_STORAGE_UNAVAILABLE (503). Where the failing write is known, the failure is reported once
// (path, errno, operation) to the observer the composition root wires to the log and the metrics;
// the caller's error carries neither the path nor the errno text of the system call. A store reached
// over the network (S3) names an endpoint that does not answer, drops the connection or answers 5xx
// ERR_STORAGE_UNAVAILABLE the same way (`toUnavailableStorageError`).
import { GatewayError, type ErrorCode } from '../errors.js';

const FULL = new Set(['ENOSPC', 'EDQUOT']);
const FAILING = new Set(['EROFS', 'EIO']);
/** A network store that went away usually comes back within seconds (a restart, a failover). */
const UNAVAILABLE_RETRY_AFTER_S = 5;

/** One failed write to the gateway's storage, as the log and the metrics see it. */
export interface StorageFailure {
  readonly code: Extract<ErrorCode, 'ERR_STORAGE_FULL' | 'ERR_STORAGE_UNAVAILABLE'>;
  /**
   * ENOSPC, EDQUOT, EROFS or EIO; for a network store the reason it counts as down: the socket error
   * (ECONNREFUSED, ECONNRESET…), TIMEOUT or HTTP_<5xx status>. Few values: the metrics label by it.
   */
  readonly errno: string;
  /** The file or folder written; `s3://bucket/key` for the S3 store. */
  readonly path: string;
  /**
   * What was being done: write, commit, put, mkdir, seal, journal-append, checkpoint-append; for the
   * S3 store also get, stat, read, list, delete, abort-incomplete.
   */
  readonly operation: string;
}

export type StorageErrorObserver = (failure: StorageFailure) => void;

/** The errno of a storage failure (ENOSPC, EDQUOT, EROFS, EIO), or undefined for anything else. */
export function storageErrnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (FULL.has(code) || FAILING.has(code)) ? code : undefined;
}

/** Whether `error` is a storage failure already named (and reported) by `toStorageError`. */
export function isStorageError(error: unknown): error is GatewayError {
  return error instanceof GatewayError && (error.code === 'ERR_STORAGE_FULL' || error.code === 'ERR_STORAGE_UNAVAILABLE');
}

/**
 * Names a failed write: a storage errno becomes ERR_STORAGE_FULL / ERR_STORAGE_UNAVAILABLE (the
 * original as `cause`) and is reported to `observe`; an error already named, and any other error,
 * is returned as it is.
 */
export function toStorageError(error: unknown, where: { path: string; operation: string }, observe?: StorageErrorObserver): unknown {
  if (isStorageError(error)) return error;
  const errno = storageErrnoOf(error);
  if (!errno) return error;
  const code = FULL.has(errno) ? 'ERR_STORAGE_FULL' : 'ERR_STORAGE_UNAVAILABLE';
  observe?.({ code, errno, path: where.path, operation: where.operation });
  const message =
    code === 'ERR_STORAGE_FULL'
      ? `the gateway's storage is full (${errno}); nothing was kept — try again once the operators have freed space`
      : `the gateway's storage failed (${errno}); nothing was kept — try again later`;
  return new GatewayError(code, message, { errno }, { cause: error });
}

/**
 * Names the failure of a store reached over the network ERR_STORAGE_UNAVAILABLE (503, with a
 * Retry-After) and reports it to `observe`; `reason` is the errno-like word of StorageFailure. Call it
 * once per failure: every call reports.
 */
export function toUnavailableStorageError(reason: string, where: { path: string; operation: string }, observe: StorageErrorObserver | undefined, cause: unknown): GatewayError {
  observe?.({ code: 'ERR_STORAGE_UNAVAILABLE', errno: reason, path: where.path, operation: where.operation });
  return new GatewayError('ERR_STORAGE_UNAVAILABLE', `the gateway's object store is unavailable (${reason}) — try again later`, { errno: reason, retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_S }, { cause });
}

/** Runs a write; a storage failure of it is named and reported (see `toStorageError`). */
export async function namingStorageErrors<T>(where: { path: string; operation: string }, observe: StorageErrorObserver | undefined, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    throw toStorageError(error, where, observe);
  }
}
