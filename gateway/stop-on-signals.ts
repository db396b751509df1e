// Graceful stop for the gateway and worker processes: SIGTERM or SIGINT closes (in-flight work
// finishes), a second signal exits at once.
import type { Logger } from 'pino';

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
