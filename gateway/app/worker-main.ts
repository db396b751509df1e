// Process entry of `hetao worker`: configuration → stage workers → signals. SIGTERM and SIGINT let
// running jobs finish (BullMQ hands unfinished ones to another worker after HETAO_QUEUE_LOCK_MS).
import os from 'node:os';
import { GatewayError } from '../errors.js';
import { createLogger } from '../ops/logger.js';
import { composeWorker } from './compose-worker.js';
import { loadConfigOrExit, stopOnSignals } from './process-entry.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ level: config.logLevel }).child({ process: 'worker' });
  // Stages are batch work: on a host shared with a gateway, the gateway's requests come first.
  try {
    os.setPriority(WORKER_NICENESS);
  } catch {
    // Not permitted (some containers): run at normal priority.
  }
  let worker;
  try {
    worker = await composeWorker(config, logger);
  } catch (error) {
    const known = error instanceof GatewayError;
    logger.fatal({ err: known ? undefined : error, code: known ? error.code : undefined }, `worker did not start: ${(error as Error).message}`);
    process.exit(known ? 78 : 1);
  }
  logger.info({ ops: worker.opsUrl, concurrency: config.queue.workers, perRecipient: config.queue.perRecipient }, 'worker running');
  stopOnSignals(logger, 'worker', () => worker.close());
}

/** Unix niceness of a worker process (0 normal … 19 lowest). */
const WORKER_NICENESS = 10;

void main();
