// Signed checkpoints: the gateway's statement "the journal of `origin` had `treeSize` entries with
// Merkle root `rootHash` at `time`", as a compact JWS (EdDSA, typ `hetao-checkpoint+jws`) over the
// RFC 8785 canonical JSON of that body, optionally with the same statement as a C2SP signed note.
import canonicalize from 'canonicalize';
import { compactVerify, createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import { formatCheckpointNoteText, type CheckpointNoteSigner } from './checkpoint-note.js';
import { decodeHash } from './merkle-hash.js';

export const CHECKPOINT_TYP = 'hetao-checkpoint+jws';

export interface CheckpointBody {
  readonly origin: string;
  readonly treeSize: number;
  /** Standard base64 of the 32-byte RFC 9162 root. */
  readonly rootHash: string;
  /** ISO 8601 UTC with milliseconds. */
  readonly time: string;
}

export interface SignedCheckpoint extends CheckpointBody {
  /** Compact JWS over the canonical JSON of the body. */
  readonly jws: string;
  /** C2SP tlog-checkpoint as a signed note, when the journal has a note signer. */
  readonly note?: string;
}

/** Signs a checkpoint body as JWS and, given a note signer, as a signed note. */
export async function signCheckpoint(body: CheckpointBody, signer: GatewaySigner, noteSigner?: CheckpointNoteSigner): Promise<SignedCheckpoint> {
  const jws = await signer.sign({ ...body }, { typ: CHECKPOINT_TYP });
  if (!noteSigner) return { ...body, jws };
  const text = formatCheckpointNoteText(body);
  return { ...body, jws, note: `${text}\n${noteSigner.sign(text)}` };
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The body if `value` is a well-formed checkpoint body (exactly these members), else the reason. */
export function checkCheckpointBody(value: unknown): CheckpointBody | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the checkpoint is not an object';
  const body = value as Record<string, unknown>;
  const keys = Object.keys(body).sort().join(',');
  if (keys !== 'origin,rootHash,time,treeSize') return `the checkpoint has members ${keys}, expected origin, rootHash, time, treeSize`;
  if (typeof body.origin !== 'string' || body.origin === '') return 'the checkpoint origin is not a string';
  if (!Number.isSafeInteger(body.treeSize) || (body.treeSize as number) < 0) return 'the checkpoint treeSize is not a non-negative integer';
  if (decodeHash(body.rootHash) === undefined) return 'the checkpoint rootHash is not base64 of 32 bytes';
  if (typeof body.time !== 'string' || !ISO_TIME.test(body.time)) return 'the checkpoint time is not an ISO 8601 UTC time';
  return body as unknown as CheckpointBody;
}

/**
 * Reads a checkpoint JWS without verifying its signature: its header's kid and typ, and its body.
 * For quick structural checks; trust only what {@link verifyCheckpointJws} returns.
 */
export function readCheckpointJws(jws: unknown): { kid: string | undefined; body: CheckpointBody } | string {
  if (typeof jws !== 'string') return 'the checkpoint JWS is not a string';
  const parts = jws.split('.');
  if (parts.length !== 3) return 'the checkpoint is not a compact JWS';
  try {
    const header = decodeProtectedHeader(jws);
    if (header.typ !== CHECKPOINT_TYP || header.alg !== 'EdDSA') return `the checkpoint JWS has typ ${String(header.typ)} / alg ${String(header.alg)}`;
    const body = checkCheckpointBody(JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')));
    return typeof body === 'string' ? body : { kid: header.kid, body };
  } catch {
    return 'the checkpoint JWS cannot be decoded';
  }
}

/** A key set for verification, built once per JWKS. */
export type CheckpointKeys = ReturnType<typeof createLocalJWKSet>;

export function createCheckpointKeys(jwks: JSONWebKeySet): CheckpointKeys {
  return createLocalJWKSet(jwks);
}

/**
 * Verifies a checkpoint JWS (EdDSA only, typ checked, canonical payload) against a JWKS that lists
 * the current and every earlier signing key. Returns the body, or the reason it does not verify.
 */
export async function verifyCheckpointJws(jws: string, keys: CheckpointKeys): Promise<CheckpointBody | string> {
  let payload: Uint8Array;
  try {
    const verified = await compactVerify(jws, keys, { algorithms: ['EdDSA'] });
    if (verified.protectedHeader.typ !== CHECKPOINT_TYP) return `the checkpoint JWS has typ ${String(verified.protectedHeader.typ)}`;
    payload = verified.payload;
  } catch (error) {
    return `the checkpoint signature does not verify (${(error as Error).message})`;
  }
  const text = Buffer.from(payload).toString('utf8');
  let body: CheckpointBody | string;
  try {
    body = checkCheckpointBody(JSON.parse(text));
  } catch {
    return 'the checkpoint payload is not JSON';
  }
  if (typeof body !== 'string' && canonicalize(body) !== text) return 'the checkpoint payload is not canonical JSON';
  return body;
}
