// Composition root: loads trust material and the registry, builds the API and ops listeners, wires
// reloads, and returns a handle to close everything gracefully. main.ts and the tests both use it.
import type { Server as HttpsServer } from 'node:https';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import { PROJECT_ROOT } from '../config.js';
import { GatewayError } from '../errors.js';
import { createConnectionAuthenticator } from '../identity/authenticate-connection.js';
import { loadRegistry, type Registry } from '../identity/registry.js';
import { findDevelopmentCertificates, loadTlsMaterial, type TlsMaterial } from '../identity/tls-material.js';
import { createMetrics } from '../ops/metrics.js';
import { createReloadable, type Reloadable } from '../reloadable.js';
import { buildApiApp } from './api-app.js';
import { buildOpsApp } from './ops-app.js';

export interface RunningGateway {
  /** e.g. https://127.0.0.1:8443 */
  readonly apiUrl: string;
  /** e.g. http://127.0.0.1:9464 */
  readonly opsUrl: string;
  /** Reloads registry and CRL (SIGHUP). Resolves when both attempts are done; never rejects. */
  reload(trigger: string): Promise<void>;
  /** Stops accepting, lets in-flight requests finish (at most `graceMs`), then closes. */
  close(): Promise<void>;
}

/**
 * Starts the gateway.
 * @throws GatewayError ERR_CONFIG_INVALID (unusable TLS files, dev material in production),
 *   ERR_CRL_INVALID, ERR_REGISTRY_INVALID: the gateway does not start on invalid files.
 */
export async function startGateway(config: GatewayConfig, logger: Logger): Promise<RunningGateway> {
  const metrics = createMetrics();
  const tlsFiles = { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, caFile: config.tlsCaFile, crlFile: config.tlsCrlFile };

  let apiServer: HttpsServer | undefined;
  const reloadEvents = (source: string) => ({
    onRejected: ({ trigger, error }: { trigger: string; error: unknown }) => {
      metrics.reloads.inc({ source, result: 'rejected' });
      const problems = error instanceof GatewayError ? error.details?.problems : undefined;
      logger.error({ source, trigger, code: (error as GatewayError).code, problems, err: error }, `${source} reload refused; the previous ${source} stays in force`);
    },
  });

  const tls: Reloadable<TlsMaterial> = await createReloadable({
    name: 'tls',
    files: [config.tlsCaFile, ...(config.tlsCrlFile ? [config.tlsCrlFile] : [])],
    load: async () => assertAllowedInEnvironment(await loadTlsMaterial(tlsFiles), config),
    revisionOf: (material) => material.revision,
    watchFiles: config.watchFiles,
    onReloaded: ({ trigger, before, after }) => {
      // setSecureContext throws on material OpenSSL refuses: the reloadable then keeps the old one.
      apiServer?.setSecureContext({ key: after.key, cert: after.cert, ca: after.ca, ...(after.crl ? { crl: [...after.crl] } : {}) });
      metrics.reloads.inc({ source: 'tls', result: 'applied' });
      metrics.markRevision('tls', after.revision);
      logger.info({ source: 'tls', trigger, before: before.revision, after: after.revision }, 'CA/CRL reloaded');
    },
    ...reloadEvents('tls'),
  });
  const registry: Reloadable<Registry> = await createReloadable({
    name: 'registry',
    files: [config.registryFile],
    load: () => loadRegistry(config.registryFile),
    revisionOf: (value) => value.revision,
    watchFiles: config.watchFiles,
    onReloaded: ({ trigger, before, after }) => {
      metrics.reloads.inc({ source: 'registry', result: 'applied' });
      metrics.markRevision('registry', after.revision);
      logger.info({ source: 'registry', trigger, before: before.revision, after: after.revision }, 'registry reloaded');
    },
    ...reloadEvents('registry'),
  });
  metrics.markRevision('tls', tls.current().revision);
  metrics.markRevision('registry', registry.current().revision);

  const api = buildApiApp({
    logger,
    tls: tls.current(),
    authenticate: createConnectionAuthenticator(() => registry.current()),
    metrics,
  });
  let closing = false;
  const ops = buildOpsApp({
    logger,
    metrics,
    readiness: async () => ({
      api: { ok: !closing && api.server.listening },
      registry: { ok: true, revision: registry.current().revision, institutions: registry.current().institutions.size },
      tls: { ok: true, revision: tls.current().revision, revocationChecked: tls.current().crl !== undefined },
    }),
  });

  try {
    await api.listen({ host: config.host, port: config.port });
    await ops.listen({ host: config.opsHost, port: config.opsPort });
  } catch (error) {
    registry.close();
    tls.close();
    await Promise.allSettled([api.close(), ops.close()]);
    throw error;
  }
  apiServer = api.server as unknown as HttpsServer;

  return {
    apiUrl: `https://${urlHost(api.server.address() as AddressInfo)}`,
    opsUrl: `http://${urlHost(ops.server.address() as AddressInfo)}`,
    async reload(trigger) {
      await Promise.all([tls.reload(trigger), registry.reload(trigger)]);
    },
    async close() {
      if (closing) return;
      closing = true;
      registry.close();
      tls.close();
      const grace = setTimeout(() => {
        logger.warn({ graceMs: config.shutdownGraceMs }, 'grace period over: closing remaining connections');
        apiServer?.closeAllConnections();
      }, config.shutdownGraceMs);
      try {
        await api.close();
      } finally {
        clearTimeout(grace);
        await ops.close();
      }
    },
  };
}

function urlHost(address: AddressInfo): string {
  return `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

/** Production never trusts the development PKI: its private keys are public in this repository. */
function assertAllowedInEnvironment(material: TlsMaterial, config: GatewayConfig): TlsMaterial {
  if (config.nodeEnv !== 'production') return material;
  const devFolder = path.join(PROJECT_ROOT, 'certs-dev') + path.sep;
  const devFiles = [config.tlsCertFile, config.tlsKeyFile, config.tlsCaFile, config.tlsCrlFile].filter(
    (file): file is string => file !== undefined && (file.startsWith(devFolder) || path.basename(file).includes('.dev-only.')),
  );
  const devCertificates = findDevelopmentCertificates(material);
  if (devFiles.length > 0 || devCertificates.length > 0) {
    throw new GatewayError('ERR_CONFIG_INVALID', 'production refuses the development CA and keys', { devFiles, devCertificates });
  }
  return material;
}
