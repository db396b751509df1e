// Production never trusts the development PKI: its private keys are public in this repository. The
// rule, in one place: which files are development material, and the refusals at start.
import path from 'node:path';
import { PROJECT_ROOT, type GatewayConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import { findDevelopmentCertificates, type TlsMaterial } from './tls-material.js';

/** Files of the development PKI: in certs-dev/ or named `*.dev-only.*` wherever they were copied. */
export function isDevelopmentFile(file: string): boolean {
  return file.startsWith(path.join(PROJECT_ROOT, 'certs-dev') + path.sep) || path.basename(file).includes('.dev-only.');
}

/**
 * @returns `material`, when the environment may use it.
 * @throws GatewayError ERR_CONFIG_INVALID in production for development TLS files or certificates.
 */
export function refuseDevelopmentTls(material: TlsMaterial, config: GatewayConfig): TlsMaterial {
  if (config.nodeEnv !== 'production') return material;
  const devFiles = [config.tlsCertFile, config.tlsKeyFile, config.tlsCaFile, config.tlsCrlFile].filter(
    (file): file is string => file !== undefined && isDevelopmentFile(file),
  );
  const devCertificates = findDevelopmentCertificates(material);
  if (devFiles.length > 0 || devCertificates.length > 0) {
    throw new GatewayError('ERR_CONFIG_INVALID', 'production refuses the development CA and keys', { devFiles, devCertificates });
  }
  return material;
}

/** @throws GatewayError ERR_CONFIG_INVALID in production for the development signing, processing and push-client keys. */
export function refuseDevelopmentKeys(config: GatewayConfig): void {
  const devKeys = [config.signingKeyFile, config.processingKeyFile, config.clientCertFile, config.clientKeyFile].filter(isDevelopmentFile);
  if (config.nodeEnv === 'production' && devKeys.length > 0) {
    throw new GatewayError('ERR_CONFIG_INVALID', 'production refuses the development signing, processing and push-client keys', { devFiles: devKeys });
  }
}
