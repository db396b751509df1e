// Where a full or failing disk is told (storage/storage-errors.ts): an error line with the path, the
// errno and what was being written, and hetao_storage_errors_total{code,operation}. The gateway and
// a `hetao worker` process wire the same reporter into their object stores.
import type { Logger } from 'pino';
import type { StorageErrorObserver } from '../storage/storage-errors.js';
import type { GatewayMetrics } from './metrics.js';

export function createStorageErrorReporter(metrics: Pick<GatewayMetrics, 'storageErrors'>, logger: Logger): StorageErrorObserver {
  return ({ code, errno, path, operation }) => {
    metrics.storageErrors.inc({ code: errno, operation });
    logger.error({ code, errno, path, operation }, `storage operation failed (${errno}): nothing half-written is kept`);
  };
}
