// The signed forward record: what the sending gateway asserts about a transfer it forwards to the
// peer gateway — who sends what to whom, its decision by this side's rules, and the content's size
// and digest — as a compact JWS (EdDSA, typ hetao-forward+jws) with the key the peer's registry holds
// for it. The receiving gateway decides by its own rules but keeps this record: the two decisions,
// each signed by its side, are the loop's two ends (docs/peering.md).
import { compactVerify, importJWK } from 'jose';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import type { Manifest } from '../policy/manifest.js';
import type { TransferRecord } from '../transfer/transfer-record.js';

export const FORWARD_TYP = 'hetao-forward+jws';

export interface ForwardRecord {
  readonly transferId: string;
  /** The sending gateway's log origin: whose record this is. */
  readonly origin: string;
  readonly sender: string;
  readonly recipient: string;
  readonly manifest: Manifest;
  readonly manifestSha256: string;
  readonly decision: { readonly decisionId: string; readonly policyRevision: string; readonly matchedRules: readonly string[] };
  readonly content: { readonly plaintextSize: number; readonly plaintextSha256: string; readonly envelopeSize: number };
  readonly issuedAt: string;
}

/** The forward record of an outbound transfer whose content is stored. */
export function forwardRecordOf(record: TransferRecord, origin: string, now: Date): ForwardRecord {
  if (!record.content) throw new Error(`transfer ${record.id} has no content to forward`);
  return {
    transferId: record.id,
    origin,
    sender: record.sender,
    recipient: record.recipient,
    manifest: record.manifest,
    manifestSha256: record.manifestSha256,
    decision: { decisionId: record.decision.decisionId, policyRevision: record.decision.policyRevision, matchedRules: [...record.decision.matchedRules] },
    content: { plaintextSize: record.content.plaintextSize, plaintextSha256: record.content.plaintextSha256, envelopeSize: record.content.envelopeSize },
    issuedAt: now.toISOString(),
  };
}

export function signForwardRecord(forward: ForwardRecord, signer: GatewaySigner): Promise<string> {
  return signer.sign(forward, { typ: FORWARD_TYP });
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Verifies a forward record with the peer's registered Ed25519 key, for the peer's log origin.
 * Returns the record, or the reason it is refused.
 */
export async function verifyForwardRecord(jws: unknown, peer: { readonly logOrigin: string; readonly signingKey: object }): Promise<ForwardRecord | string> {
  if (typeof jws !== 'string') return 'the offer carries no forward record';
  let payload: unknown;
  try {
    const key = await importJWK({ ...(peer.signingKey as Record<string, string>), alg: 'EdDSA' }, 'EdDSA');
    const verified = await compactVerify(jws, key, { algorithms: ['EdDSA'] });
    if (verified.protectedHeader.typ !== FORWARD_TYP) return `the forward record is typed ${String(verified.protectedHeader.typ)}, not ${FORWARD_TYP}`;
    payload = JSON.parse(new TextDecoder().decode(verified.payload));
  } catch (error) {
    return `the forward record does not verify with the peer's key (${(error as Error).message})`;
  }
  if (!isObject(payload) || payload.origin !== peer.logOrigin) return `the forward record is not the peer's (origin ${isObject(payload) ? String(payload.origin) : '?'})`;
  const { transferId, sender, recipient, manifest, manifestSha256, decision, content, issuedAt } = payload;
  if (typeof transferId !== 'string' || !/^tr-[0-9a-z]{9,12}-[0-9a-f]{16}$/.test(transferId)) return 'the forward record names no valid transfer id';
  if (typeof sender !== 'string' || typeof recipient !== 'string' || typeof issuedAt !== 'string') return 'the forward record lacks its sender, recipient or time';
  if (!isObject(manifest) || typeof manifestSha256 !== 'string' || !HEX64.test(manifestSha256)) return 'the forward record lacks its manifest';
  if (!isObject(decision) || typeof decision.decisionId !== 'string' || typeof decision.policyRevision !== 'string' || !Array.isArray(decision.matchedRules)) return "the forward record lacks the sender's decision";
  if (!isObject(content) || !Number.isSafeInteger(content.plaintextSize) || !Number.isSafeInteger(content.envelopeSize) || typeof content.plaintextSha256 !== 'string' || !HEX64.test(content.plaintextSha256)) {
    return 'the forward record lacks the content size and digest';
  }
  return payload as unknown as ForwardRecord;
}
