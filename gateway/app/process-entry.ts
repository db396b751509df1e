// What the gateway and worker processes share at their entry: the configuration or exit 78
// (EX_CONFIG), and a bounded stop — SIGTERM or SIGINT closes (in-flight work finishes, every step
// within HETAO_SHUTDOWN_GRACE_MS, see bounded-shutdown.ts). Exit 0 when every step finished, 1 when
// one was abandoned at its deadline or failed (the log names it: the stop was not clean), and a
// second signal exits at once with 128 + its number (143 for SIGTERM, 130 for SIGINT).
import { constants } from 'node:os';
import type { Logger } from 'pino';
import { stoppedCleanly, type ShutdownOutcome } from './bounded-shutdown.js';
import { loadConfig, type GatewayConfig } from '../config.js';

export function loadConfigOrExit(): GatewayConfig {
  try {
    return loadConfig();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(78); // EX_CONFIG
  }
}

export function stopOnSignals(logger: Logger, what: string, close: () => Promise<ShutdownOutcome>): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, `${what}: second signal, exiting at once`);
      process.exit(128 + constants.signals[signal]);
    }
    stopping = true;
    logger.info({ signal }, `${what} shutting down: letting in-flight work finish`);
    close().then(
      (outcome) => {
        if (stoppedCleanly(outcome)) {
          logger.info(`${what} stopped`);
          process.exit(0);
        }
        logger.warn({ abandoned: outcome.abandoned, failed: outcome.failed }, `${what} stopped with steps left unfinished`);
        process.exit(1);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
