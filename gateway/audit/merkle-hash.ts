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

/**
 * SHA-256 of `data` written as 32 bytes at out[at]. For bulk hashing (the start-up check): asking for
 * the digest as a latin1 string and copying its char codes is ~2.5× faster for short inputs than a
 * Buffer result, because Node allocates every Buffer it returns.
 */
const sha256Latin1: (data: Uint8Array) => string =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'binary')
    : (data) => crypto.createHash('sha256').update(data).digest('binary');
function sha256Into(data: Uint8Array, out: Uint8Array, at: number): void {
  const digest = sha256Latin1(data);
  for (let i = 0; i < HASH_BYTES; i += 1) out[at + i] = digest.charCodeAt(i);
}

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

/**
 * hashLeaf of bytes[start, stop), written at out[at]. The bytes are not copied: bytes[start - 1]
 * (which must exist and be the caller's to scribble on, e.g. the previous line's newline) holds the
 * 0x00 prefix while hashing and is put back afterwards.
 */
export function hashLeafInPlace(bytes: Uint8Array, start: number, stop: number, out: Uint8Array, at: number): void {
  const saved = bytes[start - 1] as number;
  bytes[start - 1] = 0x00;
  sha256Into(new Uint8Array(bytes.buffer, bytes.byteOffset + start - 1, stop - start + 1), out, at);
  bytes[start - 1] = saved;
}

/** SHA-256(0x01 ‖ left ‖ right): an interior node. */
export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_BYTES);
  return sha256(nodeInput);
}

// The input of hashAdjacentChildren, 0x01 ‖ left ‖ right, with left and right 4-byte aligned so they
// are copied 4 bytes at a time (a subarray to copy from would cost more than these 64 bytes).
const pairWords = new Uint32Array(1 + (2 * HASH_BYTES) / 4);
const pairInput = new Uint8Array(pairWords.buffer, 3, 1 + 2 * HASH_BYTES);
pairInput[0] = 0x01;

/**
 * hashChildren of the two hashes stored side by side at hashes[4·word, 4·word + 64), written at
 * out[at]; `hashes` as 32-bit words (a Uint32Array over whole levels, made once per level).
 */
export function hashAdjacentChildren(hashes: Uint32Array, word: number, out: Uint8Array, at: number): void {
  for (let i = 0; i < (2 * HASH_BYTES) / 4; i += 1) pairWords[1 + i] = hashes[word + i] as number;
  sha256Into(pairInput, out, at);
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
