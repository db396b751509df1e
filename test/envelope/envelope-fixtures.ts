// Envelopes made with the committed development keys, and helpers to take them apart and decrypt
// them in tests. Real crypto throughout.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { JSONWebKeySet, JWK } from 'jose';
import { expect } from 'vitest';
import { createEnvelopeDecryptor, type OpenedEnvelope } from '../../gateway/envelope/decrypt-envelope.js';
import { createEnvelopeEncryptor, type EnvelopeEncryptorOptions } from '../../gateway/envelope/encrypt-envelope.js';
import type { EnvelopeHeader } from '../../gateway/envelope/envelope-header.js';
import { createGatewaySigner, type GatewaySigner } from '../../gateway/envelope/gateway-signer.js';
import type { KeyHolder } from '../../gateway/envelope/wrap-data-key.js';
import { GatewayError, type ErrorCode } from '../../gateway/errors.js';
import { devFile } from '../support/dev-pki.js';

export const SIGNING_KEY_PEM = readFileSync(devFile('gateway-signing.dev-only.key.pem'), 'utf8');
export const devSigner = createGatewaySigner(SIGNING_KEY_PEM);

/** An institution's dev encryption key pair. */
export interface DevHolderKeys {
  readonly institution: string;
  readonly jwk: JWK;
  readonly privateKeyPem: string;
  readonly privateKeyFile: string;
}

export function devHolderKeys(institution: string): DevHolderKeys {
  const privateKeyFile = devFile(`institutions/${institution}.dev-only.enc.key.pem`);
  return {
    institution,
    jwk: JSON.parse(readFileSync(devFile(`institutions/${institution}.dev-only.enc.pub.jwk.json`), 'utf8')) as JWK,
    privateKeyPem: readFileSync(privateKeyFile, 'utf8'),
    privateKeyFile,
  };
}

export const recipient = devHolderKeys('hk-uni-genomics');
export const escrow = devHolderKeys('nhc-hgr-office');
export const outsider = devHolderKeys('sz-hospital');

export const BINDING_FIELDS: EnvelopeEncryptorOptions = {
  transferId: 'tr-0001',
  sender: 'sz-hospital',
  recipient: recipient.institution,
  policyRevision: 'rev-2026-03-01',
  decisionId: 'c2a7e2a4-3d0e-4d55-9a8f-2b1f1c6f2d11',
};

export const DEFAULT_HOLDERS: KeyHolder[] = [
  { institution: recipient.institution, role: 'recipient', jwk: recipient.jwk },
  { institution: escrow.institution, role: 'escrow', jwk: escrow.jwk },
];

export interface MadeEnvelope {
  readonly envelope: Buffer;
  readonly prefix: Buffer;
  readonly body: Buffer;
  readonly header: EnvelopeHeader;
  readonly headerJws: string;
}

/** Cuts `data` into chunks of the given sizes, cycling through them (sizes ≥ 1). */
export function chunk(data: Buffer, sizes: readonly number[] = [data.length || 1]): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0, i = 0; offset < data.length; i += 1) {
    const size = Math.max(1, sizes[i % sizes.length] ?? 1);
    chunks.push(data.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}

export function collect(into: Buffer[]): Writable {
  return new Writable({
    write(piece: Buffer, _encoding, callback) {
      into.push(piece);
      callback();
    },
  });
}

export async function makeEnvelope(
  plaintext: Buffer,
  options: { segmentSize?: number; writeSizes?: number[]; holders?: KeyHolder[]; signer?: GatewaySigner } = {},
): Promise<MadeEnvelope> {
  const encryptor = createEnvelopeEncryptor({ ...BINDING_FIELDS, segmentSize: options.segmentSize });
  const sealed: Buffer[] = [];
  await pipeline(Readable.from(chunk(plaintext, options.writeSizes)), encryptor.body, collect(sealed));
  const { prefix, header, headerJws } = await encryptor.finish({ holders: options.holders ?? DEFAULT_HOLDERS, signer: options.signer ?? devSigner });
  const body = Buffer.concat(sealed);
  return { envelope: Buffer.concat([prefix, body]), prefix, body, header, headerJws };
}

export async function decryptEnvelope(
  envelope: Buffer,
  options: { privateKey?: string; jwks?: JSONWebKeySet; readSizes?: number[] } = {},
): Promise<{ plaintext: Buffer; opened: OpenedEnvelope | undefined }> {
  const out: Buffer[] = [];
  let opened: OpenedEnvelope | undefined;
  const decryptor = createEnvelopeDecryptor({
    privateKey: options.privateKey ?? recipient.privateKeyPem,
    jwks: options.jwks ?? devSigner.publicJwks(),
    onHeader: (o) => (opened = o),
  });
  await pipeline(Readable.from(chunk(envelope, options.readSizes)), decryptor, collect(out));
  return { plaintext: Buffer.concat(out), opened };
}

/** The sealed segments of a body, by the lengths its header implies. */
export function splitSegments(body: Buffer, header: EnvelopeHeader): Buffer[] {
  const sealedSize = header.binding.segmentSize + 16;
  const segments: Buffer[] = [];
  for (let offset = 0; offset < body.length; offset += sealedSize) segments.push(body.subarray(offset, offset + sealedSize));
  return segments;
}

export function newEd25519Pem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Asserts that `work` rejects with a GatewayError of `code` (and the given details, if any). */
export async function expectEnvelopeError(work: Promise<unknown>, code: ErrorCode, details?: Record<string, unknown>): Promise<GatewayError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}`).toBeInstanceOf(GatewayError);
  const gatewayError = error as GatewayError;
  expect({ code: gatewayError.code, message: gatewayError.message }).toMatchObject({ code });
  if (details) expect(gatewayError.details).toMatchObject(details);
  return gatewayError;
}
