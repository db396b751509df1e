// What the gateway and worker processes share at their entry: the configuration or exit 78
// (EX_CONFIG), and a graceful stop — SIGTERM or SIGINT closes (in-flight work finishes), a second
// signal exits at once.
import type { Logger } from 'pino';
import { loadConfig, type GatewayConfig } from './config.js';

export function loadConfigOrExit(): GatewayConfig {
  try {
    return loadConfig();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(78); // EX_CONFIG
  }
}

export function stopOnSignals(logger: Logger, what: string, close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(130);
    stopping = true;
    logger.info({ signal }, `${what} shutting down: letting in-flight work finish`);
    close().then(
      () => {
        logger.info(`${what} stopped`);
        process.exit(0);
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
