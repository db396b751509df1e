// RFC 9162 §2.1 hashing for the audit journal's Merkle tree: a leaf is SHA-256(0x00 ‖ entry bytes),
// an interior node SHA-256(0x01 ‖ left ‖ right), the empty tree SHA-256 of nothing. Hashes travel
// as standard base64 (RFC 4648 §4, padded), as in C2SP checkpoints and transparency-dev's vectors.
import * as crypto from 'node:crypto';

export const HASH_BYTES = 32;

/** One-shot SHA-256; `crypto.hash` (Node ≥ 20.12) is about 1.6× faster than createHash for short inputs. */
const sha256: (data: Uint8Array) => Buffer =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'buffer')
    : (data) => crypto.createHash('sha256').update(data).digest();

// Scratch buffers: hashing is synchronous, so one per kind is enough and saves an allocation per hash.
const nodeInput = Buffer.alloc(1 + 2 * HASH_BYTES);
nodeInput[0] = 0x01;
let leafInput = Buffer.alloc(4096);

/** SHA-256(0x00 ‖ bytes): the hash of one leaf (one canonical journal entry, without its newline). */
export function hashLeaf(bytes: Uint8Array): Buffer {
  if (bytes.length + 1 > leafInput.length) leafInput = Buffer.alloc(2 * (bytes.length + 1));
  leafInput[0] = 0x00;
  leafInput.set(bytes, 1);
  return sha256(leafInput.subarray(0, bytes.length + 1));
}

/** SHA-256(0x01 ‖ left ‖ right): an interior node. */
export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_BYTES);
  return sha256(nodeInput);
}

/** The root of the empty tree (RFC 9162 §2.1.1): SHA-256 of the empty string. */
export const EMPTY_ROOT: Buffer = sha256(new Uint8Array(0));

/** Standard, padded base64 of a hash. */
export function encodeHash(hash: Uint8Array): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('base64');
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes standard base64 strictly (Node's decoder skips junk); undefined for anything else. */
export function decodeBase64(text: unknown): Buffer | undefined {
  if (typeof text !== 'string' || !BASE64.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}

/** A base64 hash of exactly 32 bytes, else undefined. */
export function decodeHash(text: unknown): Buffer | undefined {
  const bytes = decodeBase64(text);
  return bytes?.length === HASH_BYTES ? bytes : undefined;
}
