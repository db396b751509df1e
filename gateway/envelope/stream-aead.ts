// The body cipher of an envelope: AES-256-GCM in the STREAM construction (Hoang–Reyhanitabar–
// Rogaway–Vizár), laid out as Tink's AES-GCM-HKDF streaming AEAD. One segment key per transfer comes
// from HKDF-SHA256; each segment's nonce is the transfer's random prefix, the segment's index and a
// last-segment flag, so a segment only opens at the position and with the finality it was sealed with.
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { GatewayError } from '../errors.js';

export const DATA_KEY_BYTES = 32;
export const SALT_BYTES = 32;
export const NONCE_PREFIX_BYTES = 7;
export const TAG_BYTES = 16;
/** The segment index is a uint32; like Tink we stop one short of 2³². */
export const MAX_SEGMENTS = 2 ** 32 - 1;

const NONCE_BYTES = 12;

/** Bytes given as one buffer or as consecutive pieces (views into stream chunks, never copied). */
export type SegmentBytes = Uint8Array | readonly Uint8Array[];

/** Seals and opens the segments of one transfer's body. */
export interface SegmentCipher {
  /** `plaintext` sealed as segment `index`: ciphertext pieces, then the 16-byte tag; concatenated, the sealed segment. */
  seal(index: number, isFinal: boolean, plaintext: SegmentBytes): Buffer[];
  /**
   * The plaintext pieces of segment `index` (ciphertext ‖ tag), sealed as final or not; released only
   * once the tag has verified.
   * @throws GatewayError `ERR_ENVELOPE_SEGMENT` (details `{ segment }`) when the tag does not verify.
   */
  open(index: number, isFinal: boolean, sealed: SegmentBytes): Buffer[];
}

const piecesOf = (bytes: SegmentBytes): readonly Uint8Array[] => (bytes instanceof Uint8Array ? [bytes] : bytes);

/** Splits ciphertext ‖ tag given as pieces into ciphertext pieces (views) and the tag (16 bytes, copied). */
function splitTag(sealed: readonly Uint8Array[], total: number): { ciphertext: Uint8Array[]; tag: Buffer } {
  const ciphertext: Uint8Array[] = [];
  const tag = Buffer.alloc(TAG_BYTES);
  let position = 0;
  for (const piece of sealed) {
    const inCiphertext = Math.max(0, Math.min(piece.length, total - TAG_BYTES - position));
    if (inCiphertext > 0) ciphertext.push(piece.subarray(0, inCiphertext));
    if (inCiphertext < piece.length) tag.set(piece.subarray(inCiphertext), position + inCiphertext - (total - TAG_BYTES));
    position += piece.length;
  }
  return { ciphertext, tag };
}

export interface SegmentCipherParams {
  /** The transfer's 32-byte data key (input keying material of HKDF). */
  readonly dataKey: Uint8Array;
  /** 32 random bytes, HKDF salt. */
  readonly salt: Uint8Array;
  /** 7 random bytes, the start of every nonce. */
  readonly noncePrefix: Uint8Array;
  /** SHA-256 of the canonical binding: HKDF info and the AAD of every segment. */
  readonly bindingHash: Uint8Array;
}

/** HKDF-SHA256(ikm = data key, salt, info = binding hash, L = 32) as an AES-256 key. */
function deriveSegmentKey(params: SegmentCipherParams): KeyObject {
  const raw = Buffer.from(hkdfSync('sha256', params.dataKey, params.salt, params.bindingHash, DATA_KEY_BYTES));
  const key = createSecretKey(raw);
  raw.fill(0);
  return key;
}

/** prefix(7) ‖ uint32 BE index ‖ 0x01 for the final segment, else 0x00. */
export function buildSegmentNonce(noncePrefix: Uint8Array, index: number, isFinal: boolean): Buffer {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_SEGMENTS) {
    throw new GatewayError('ERR_ENVELOPE_SIZE', `segment index ${index} is outside 0…${MAX_SEGMENTS - 1}`);
  }
  const nonce = Buffer.alloc(NONCE_BYTES);
  nonce.set(noncePrefix, 0);
  nonce.writeUInt32BE(index, NONCE_PREFIX_BYTES);
  nonce[NONCE_BYTES - 1] = isFinal ? 1 : 0;
  return nonce;
}

/**
 * The segment cipher of one transfer. The caller may zero `dataKey` as soon as this returns: only
 * the derived key is kept.
 * @throws GatewayError `ERR_ENVELOPE_FORMAT` when a parameter has the wrong length.
 */
export function createSegmentCipher(params: SegmentCipherParams): SegmentCipher {
  const lengths: [string, Uint8Array, number][] = [
    ['data key', params.dataKey, DATA_KEY_BYTES],
    ['salt', params.salt, SALT_BYTES],
    ['nonce prefix', params.noncePrefix, NONCE_PREFIX_BYTES],
    ['binding hash', params.bindingHash, 32],
  ];
  for (const [name, value, length] of lengths) {
    if (value.length !== length) throw new GatewayError('ERR_ENVELOPE_FORMAT', `${name} is ${value.length} bytes, expected ${length}`);
  }
  const key = deriveSegmentKey(params);
  const noncePrefix = Buffer.from(params.noncePrefix);
  const aad = Buffer.from(params.bindingHash);

  return {
    seal(index, isFinal, plaintext) {
      const cipher = createCipheriv('aes-256-gcm', key, buildSegmentNonce(noncePrefix, index, isFinal), { authTagLength: TAG_BYTES });
      cipher.setAAD(aad);
      const sealed = piecesOf(plaintext).map((piece) => cipher.update(piece));
      cipher.final(); // GCM is a stream mode: final() adds no bytes
      sealed.push(cipher.getAuthTag());
      return sealed;
    },
    open(index, isFinal, sealed) {
      const pieces = piecesOf(sealed);
      const total = pieces.reduce((sum, piece) => sum + piece.length, 0);
      if (total < TAG_BYTES) {
        throw new GatewayError('ERR_ENVELOPE_SEGMENT', `segment ${index} is ${total} bytes, shorter than its tag`, { segment: index });
      }
      const { ciphertext, tag } = splitTag(pieces, total);
      // authTagLength pins the tag at 16 bytes: without it Node accepts a truncated tag.
      const decipher = createDecipheriv('aes-256-gcm', key, buildSegmentNonce(noncePrefix, index, isFinal), { authTagLength: TAG_BYTES });
      decipher.setAAD(aad);
      decipher.setAuthTag(tag);
      const plaintext = ciphertext.map((piece) => decipher.update(piece));
      try {
        decipher.final();
      } catch {
        for (const piece of plaintext) piece.fill(0); // unauthenticated plaintext never leaves this function
        throw new GatewayError('ERR_ENVELOPE_SEGMENT', `segment ${index} fails authentication: altered, moved, repeated, or cut off`, { segment: index });
      }
      return plaintext;
    },
  };
}
