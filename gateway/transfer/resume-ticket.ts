// What a resumable upload needs to go on sealing after its gateway restarted, or on another
// instance: the body's key material (data key; for our envelope also its salt, nonce prefix and
// segment size), sealed as a compact JWE (ECDH-ES+A256KW, A256GCM) to the gateway's processing key,
// which every instance holds. It lives in the transfer record while the upload is in progress and
// goes with it; no instance ever stores the data key unwrapped. The protected header names the
// transfer, so a ticket copied onto another record does not open there.
import type { KeyObject } from 'node:crypto';
import { CompactEncrypt, compactDecrypt, type JWK } from 'jose';
import { GatewayError } from '../errors.js';

export type SealingMaterial =
  | { readonly format: 'hetao-envelope'; readonly dataKey: Buffer; readonly salt: Buffer; readonly noncePrefix: Buffer; readonly segmentSize: number }
  | { readonly format: 'crypt4gh'; readonly dataKey: Buffer };

const ALGORITHMS = { alg: 'ECDH-ES+A256KW', enc: 'A256GCM' } as const;
const TICKET_TYPE = 'hetao-resume-ticket+jwe';

const b64 = (bytes: Buffer): string => bytes.toString('base64url');

export async function sealResumeTicket(transferId: string, material: SealingMaterial, processingPublicJwk: JWK): Promise<string> {
  const payload =
    material.format === 'crypt4gh'
      ? { format: material.format, dataKey: b64(material.dataKey) }
      : { format: material.format, dataKey: b64(material.dataKey), salt: b64(material.salt), noncePrefix: b64(material.noncePrefix), segmentSize: material.segmentSize };
  const plaintext = Buffer.from(JSON.stringify(payload));
  try {
    return await new CompactEncrypt(plaintext).setProtectedHeader({ ...ALGORITHMS, typ: TICKET_TYPE, 'hetao-transfer': transferId }).encrypt(processingPublicJwk as Parameters<CompactEncrypt['encrypt']>[0]);
  } finally {
    plaintext.fill(0);
  }
}

/**
 * The key material of `transferId`'s upload; the caller zeroes its keys once its sealer has them.
 * @throws GatewayError ERR_UPLOAD_NOT_FOUND when the ticket does not open with this processing key
 *   or belongs to another transfer (the upload cannot be resumed here; it can start again).
 */
export async function openResumeTicket(transferId: string, ticket: string, processingPrivateKey: KeyObject): Promise<SealingMaterial> {
  let opened: Awaited<ReturnType<typeof compactDecrypt>>;
  try {
    opened = await compactDecrypt(ticket, processingPrivateKey, { keyManagementAlgorithms: [ALGORITHMS.alg], contentEncryptionAlgorithms: [ALGORITHMS.enc] });
  } catch (cause) {
    throw new GatewayError('ERR_UPLOAD_NOT_FOUND', `the upload of ${transferId} cannot be resumed by this gateway (its resume ticket does not open with this processing key); start it again`, undefined, { cause });
  }
  const { plaintext, protectedHeader } = opened;
  try {
    if (protectedHeader.typ !== TICKET_TYPE || protectedHeader['hetao-transfer'] !== transferId) {
      throw new GatewayError('ERR_UPLOAD_NOT_FOUND', `the resume ticket in the record of ${transferId} belongs to another transfer; start the upload again`);
    }
    const payload = JSON.parse(Buffer.from(plaintext).toString('utf8')) as Record<string, unknown>;
    const bytes = (name: string): Buffer => Buffer.from(String(payload[name]), 'base64url');
    return payload.format === 'crypt4gh'
      ? { format: 'crypt4gh', dataKey: bytes('dataKey') }
      : { format: 'hetao-envelope', dataKey: bytes('dataKey'), salt: bytes('salt'), noncePrefix: bytes('noncePrefix'), segmentSize: Number(payload.segmentSize) };
  } finally {
    plaintext.fill(0);
  }
}
