// Process entry: configuration → gateway → signals. SIGHUP reloads registry and CRL; SIGTERM and
// SIGINT close gracefully (in-flight requests finish); a second signal exits at once.
import { GatewayError } from '../errors.js';
import { composeGateway } from './compose-gateway.js';
import { createLogger } from '../ops/logger.js';
import { loadConfigOrExit, stopOnSignals } from './process-entry.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ level: config.logLevel });
  let gateway;
  try {
    gateway = await composeGateway(config, logger);
  } catch (error) {
    const known = error instanceof GatewayError;
    logger.fatal({ err: known ? undefined : error, code: known ? error.code : undefined, details: known ? error.details : undefined }, `gateway did not start: ${(error as Error).message}`);
    process.exit(known ? 78 : 1);
  }
  logger.info({ api: gateway.apiUrl, ops: gateway.opsUrl, env: config.nodeEnv }, 'gateway listening');

  process.on('SIGHUP', () => void gateway.reload('SIGHUP'));
  stopOnSignals(logger, 'gateway', () => gateway.close());
}

void main();
