// Process entry: configuration → gateway → signals. SIGHUP reloads registry and CRL; SIGTERM and
// SIGINT close gracefully (in-flight requests finish); a second signal exits at once.
import { GatewayError } from '../errors.js';
import { composeGateway } from './compose-gateway.js';
import { createLogger } from '../ops/logger.js';
import { loadConfigOrExit, stopOnSignals } from './process-entry.js';

async function main(): Promise<void> {
  quietNodeVersionNotice();
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

/**
 * The AWS SDK (shared mode's S3 store) prints a notice on every start under Node 20 that its releases
 * from 2027 will need Node 22. We run Node 20 by design and package-lock.json pins the SDK, so the
 * notice is not news to an operator; this is the SDK's documented switch (aws-sdk-js-v3#7983).
 * An operator who sets the variable keeps their value.
 */
function quietNodeVersionNotice(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}

void main();
