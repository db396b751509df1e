// The gateway's own keys, read once at start by whichever process needs them: the signing key (with
// the previous public keys still trusted for old checkpoints and envelopes), the processing key pair
// (queued transfers are wrapped to it; workers open them with it), the push client's TLS identity,
// and the log keys (signed notes, cosignatures) made from the signing key.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { JWK } from 'jose';
import type { GatewayConfig } from '../config.js';
import type { PushTls } from '../delivery/push-envelope.js';
import { createGatewaySigner, type GatewaySigner } from '../envelope/gateway-signer.js';
import { GatewayError } from '../errors.js';
import { createCheckpointNoteSigner, type CheckpointNoteSigner } from '../audit/checkpoint-note.js';
import { createCosigner, type Cosigner } from '../witness/cosignature.js';

const readConfigured = (file: string, what: string): Promise<string> =>
  readFile(file, 'utf8').catch((cause: unknown) => {
    throw new GatewayError('ERR_CONFIG_INVALID', `${file} (${what}) cannot be read`, { file }, { cause });
  });

/** @throws GatewayError ERR_CONFIG_INVALID: unreadable key files. */
export async function loadSigner(config: GatewayConfig): Promise<GatewaySigner> {
  const signingKeyPem = await readConfigured(config.signingKeyFile, 'HETAO_SIGNING_KEY');
  const previousPublicKeys = await Promise.all(config.previousSigningKeyFiles.map((file) => readConfigured(file, 'HETAO_PREVIOUS_SIGNING_KEYS')));
  return createGatewaySigner(signingKeyPem, { previousPublicKeys });
}

/**
 * The keys that speak for this gateway's audit log to other logs' tooling and to the peer gateway:
 * its checkpoints as C2SP signed notes (key name = the log's origin) and its cosignatures of the
 * peer's checkpoints (key name = its witness name), both with the signing key.
 */
export async function loadLogKeys(config: GatewayConfig): Promise<{ noteSigner: CheckpointNoteSigner; cosigner: Cosigner }> {
  const privateKeyPem = await readConfigured(config.signingKeyFile, 'HETAO_SIGNING_KEY');
  return {
    noteSigner: createCheckpointNoteSigner({ name: config.auditOrigin, privateKeyPem }),
    cosigner: createCosigner({ name: config.witnessName, privateKeyPem }),
  };
}

export interface ProcessingKey {
  readonly privateKey: KeyObject;
  readonly publicJwk: JWK;
}

/** The processing key pair: workers open queued transfers with the private half; uploads wrap to the public one. */
export async function loadProcessingKey(config: GatewayConfig): Promise<ProcessingKey> {
  const pem = await readConfigured(config.processingKeyFile, 'HETAO_PROCESSING_KEY');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (cause) {
    throw new GatewayError('ERR_CONFIG_INVALID', `${config.processingKeyFile} is not a PEM private key`, { file: config.processingKeyFile }, { cause });
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new GatewayError('ERR_CONFIG_INVALID', `${config.processingKeyFile} is not an EC P-256 key`, { file: config.processingKeyFile });
  }
  const { kty, crv, x, y } = createPublicKey(privateKey).export({ format: 'jwk' });
  return { privateKey, publicJwk: { kty, crv, x, y } as JWK };
}

/** The client identity push delivery presents to recipients' endpoints, and the CAs it trusts. */
export async function loadPushTls(config: GatewayConfig): Promise<PushTls> {
  const [cert, key, caBundle] = await Promise.all([
    readConfigured(config.clientCertFile, 'HETAO_PUSH_CLIENT_CERT'),
    readConfigured(config.clientKeyFile, 'HETAO_PUSH_CLIENT_KEY'),
    readConfigured(config.tlsCaFile, 'HETAO_TLS_CA'),
  ]);
  const ca = caBundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return { cert, key, ca };
}
