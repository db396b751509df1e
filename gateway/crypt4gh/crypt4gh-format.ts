// The Crypt4GH v1 file format (GA4GH; samtools/hts-specs crypt4gh.tex): a header of packets, each
// sealed to one reader with X25519 + ChaCha20-IETF-Poly1305, carrying the data key (and optionally an
// edit list); then the data as 64 KiB plaintext segments, each sealed on its own with ChaCha20-
// Poly1305 under a fresh random nonce and no associated data. Every integer is little-endian.
// Synchronous and stream-free, so the same code serves the gateway's writer and the readers.
// The format binds neither the order nor the number of segments, nor who wrote the file: what it
// does not detect, the gateway's signed binding header does (docs/crypt4gh.md).
import { createCipheriv, createDecipheriv, createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { x25519, X25519_KEY_BYTES } from './crypt4gh-keys.js';

export const CRYPT4GH_MAGIC = Buffer.from('crypt4gh', 'latin1');
export const CRYPT4GH_VERSION = 1;
export const SEGMENT_PLAINTEXT_BYTES = 65536;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const SEGMENT_OVERHEAD_BYTES = NONCE_BYTES + TAG_BYTES;
export const SEALED_SEGMENT_BYTES = SEGMENT_PLAINTEXT_BYTES + SEGMENT_OVERHEAD_BYTES;
const PREAMBLE_BYTES = 16;
/** Header method 0 and data method 0: the only ones the spec defines. */
const X25519_CHACHA20_IETF_POLY1305 = 0;
const CHACHA20_IETF_POLY1305 = 0;
const PACKET_DATA_KEY = 0;
const PACKET_EDIT_LIST = 1;
/** A header larger than this is refused rather than buffered: a real one holds a few packets of ~100 bytes. */
export const MAX_HEADER_BYTES = 64 * 1024;

const formatError = (message: string): GatewayError => new GatewayError('ERR_CRYPT4GH_FORMAT', message);

/** Ciphertext pieces, then the tag; `plaintext` may come in pieces (views of stream chunks, never joined). */
function chacha(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array | readonly Uint8Array[]): Buffer[] {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  const out = (plaintext instanceof Uint8Array ? [plaintext] : plaintext).map((piece) => cipher.update(piece));
  out.push(cipher.final(), cipher.getAuthTag());
  return out;
}

/** Plaintext of ciphertext ‖ tag, or undefined when the tag does not verify. */
function unchacha(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  if (sealed.length < TAG_BYTES) return undefined;
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const plaintext = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  try {
    decipher.final();
    return plaintext;
  } catch {
    plaintext.fill(0);
    return undefined;
  }
}

/** libsodium crypto_kx: BLAKE2b-512(DH ‖ reader pk ‖ writer pk), first 32 bytes, on both sides. */
function sharedKey(dh: Uint8Array, readerPublic: Uint8Array, writerPublic: Uint8Array): Buffer {
  return createHash('blake2b512').update(dh).update(readerPublic).update(writerPublic).digest().subarray(0, 32);
}

export interface HeaderContent {
  /** The data key each reader receives (ChaCha20-IETF-Poly1305, 32 bytes). */
  readonly dataKey: Uint8Array;
  /** Optional edit list: alternating skip / keep byte counts over the plaintext, starting with a skip. */
  readonly editList?: readonly bigint[];
}

/**
 * One header packet per reader public key (and one edit-list packet each when there is a list),
 * sealed from a writer key made for this header alone: nobody can tell who wrote a Crypt4GH file
 * from it anyway, and a fresh key per header keeps one reader's packet from opening another's.
 */
export function writeCrypt4ghHeader(readers: readonly Uint8Array[], content: HeaderContent): Buffer {
  if (content.dataKey.length !== 32) throw formatError('a Crypt4GH data key has 32 bytes');
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const writerPublic = publicKey.export({ format: 'der', type: 'spki' }).subarray(-X25519_KEY_BYTES);
  const payloads: Buffer[] = [];
  const dataPacket = Buffer.alloc(8 + 32);
  dataPacket.writeUInt32LE(PACKET_DATA_KEY, 0);
  dataPacket.writeUInt32LE(CHACHA20_IETF_POLY1305, 4);
  dataPacket.set(content.dataKey, 8);
  payloads.push(dataPacket);
  if (content.editList) {
    const edit = Buffer.alloc(8 + 8 * content.editList.length);
    edit.writeUInt32LE(PACKET_EDIT_LIST, 0);
    edit.writeUInt32LE(content.editList.length, 4);
    content.editList.forEach((length, index) => edit.writeBigUInt64LE(length, 8 + 8 * index));
    payloads.push(edit);
  }
  const packets: Buffer[] = [];
  for (const reader of readers) {
    if (reader.length !== X25519_KEY_BYTES) throw formatError('a Crypt4GH reader key has 32 bytes');
    const dh = x25519(privateKey, reader);
    if (!dh) throw new GatewayError('ERR_CRYPT4GH_KEY', 'a reader public key is of low order: no key can be agreed with it');
    const key = sharedKey(dh, reader, writerPublic);
    for (const payload of payloads) {
      const nonce = randomBytes(NONCE_BYTES);
      const sealed = Buffer.concat(chacha(key, nonce, payload));
      const preamble = Buffer.alloc(8);
      preamble.writeUInt32LE(8 + X25519_KEY_BYTES + NONCE_BYTES + sealed.length, 0);
      preamble.writeUInt32LE(X25519_CHACHA20_IETF_POLY1305, 4);
      packets.push(preamble, writerPublic, nonce, sealed);
    }
    key.fill(0);
  }
  dataPacket.fill(0);
  const start = Buffer.alloc(PREAMBLE_BYTES);
  CRYPT4GH_MAGIC.copy(start, 0);
  start.writeUInt32LE(CRYPT4GH_VERSION, 8);
  start.writeUInt32LE(packets.length / 4, 12);
  return Buffer.concat([start, ...packets]);
}

/**
 * The length of the header starting `bytes`, once enough of it is there (undefined before).
 * @throws GatewayError ERR_CRYPT4GH_FORMAT: not Crypt4GH v1, or a header past MAX_HEADER_BYTES.
 */
export function crypt4ghHeaderLength(bytes: Uint8Array): number | undefined {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (view.length >= CRYPT4GH_MAGIC.length && !view.subarray(0, CRYPT4GH_MAGIC.length).equals(CRYPT4GH_MAGIC)) throw formatError('not a Crypt4GH file (no "crypt4gh" magic)');
  if (view.length < PREAMBLE_BYTES) return undefined;
  const version = view.readUInt32LE(8);
  if (version !== CRYPT4GH_VERSION) throw formatError(`Crypt4GH version ${version} is not supported (only 1)`);
  const count = view.readUInt32LE(12);
  let at = PREAMBLE_BYTES;
  for (let packet = 0; packet < count; packet += 1) {
    if (at + 4 > view.length) return at + 4 > MAX_HEADER_BYTES ? tooLarge() : undefined;
    const length = view.readUInt32LE(at);
    if (length < 8) throw formatError(`header packet ${packet} declares ${length} bytes`);
    at += length;
    if (at > MAX_HEADER_BYTES) tooLarge();
  }
  return at <= view.length ? at : undefined;
}

function tooLarge(): never {
  throw formatError(`a Crypt4GH header above ${MAX_HEADER_BYTES} bytes is refused`);
}

export interface OpenedHeader {
  /** The data keys in the packets this reader opened, in header order. */
  readonly dataKeys: readonly Buffer[];
  readonly editList?: readonly bigint[];
}

/**
 * Opens every packet of `header` (exactly one whole header) that the reader's key opens; the others
 * are skipped, as the spec says, since they are other readers'.
 * @throws GatewayError ERR_CRYPT4GH_NOT_RECIPIENT when none opens; ERR_CRYPT4GH_FORMAT when one that
 *   opens is malformed, or holds a method the spec does not define.
 */
export function openCrypt4ghHeader(header: Uint8Array, readerSecret: KeyObject, readerPublic: Uint8Array): OpenedHeader {
  const view = Buffer.from(header.buffer, header.byteOffset, header.length);
  if (crypt4ghHeaderLength(view) !== view.length) throw formatError('not one whole Crypt4GH header');
  const count = view.readUInt32LE(12);
  const dataKeys: Buffer[] = [];
  let editList: bigint[] | undefined;
  let at = PREAMBLE_BYTES;
  for (let packet = 0; packet < count; packet += 1) {
    const length = view.readUInt32LE(at);
    const method = view.readUInt32LE(at + 4);
    const body = view.subarray(at + 8, at + length);
    at += length;
    if (method !== X25519_CHACHA20_IETF_POLY1305 || body.length < X25519_KEY_BYTES + NONCE_BYTES + TAG_BYTES) continue;
    const writerPublic = body.subarray(0, X25519_KEY_BYTES);
    const dh = x25519(readerSecret, writerPublic);
    if (!dh) continue;
    const key = sharedKey(dh, readerPublic, writerPublic);
    const payload = unchacha(key, body.subarray(X25519_KEY_BYTES, X25519_KEY_BYTES + NONCE_BYTES), body.subarray(X25519_KEY_BYTES + NONCE_BYTES));
    key.fill(0);
    if (!payload) continue;
    if (payload.length < 4) throw formatError(`header packet ${packet} is empty`);
    const type = payload.readUInt32LE(0);
    if (type === PACKET_DATA_KEY) {
      if (payload.length < 8 + 32) throw formatError(`header packet ${packet} is too short for a data key`);
      const dataMethod = payload.readUInt32LE(4);
      if (dataMethod !== CHACHA20_IETF_POLY1305) throw formatError(`header packet ${packet} names data method ${dataMethod} (only 0 is defined)`);
      dataKeys.push(Buffer.from(payload.subarray(8, 8 + 32)));
    } else if (type === PACKET_EDIT_LIST) {
      if (editList) throw formatError('more than one edit list');
      if (payload.length < 8) throw formatError(`header packet ${packet} is too short for an edit list`);
      const lengths = payload.readUInt32LE(4);
      if (payload.length < 8 + 8 * lengths) throw formatError(`header packet ${packet} holds fewer than its ${lengths} edit list entries`);
      editList = Array.from({ length: lengths }, (_, index) => payload.readBigUInt64LE(8 + 8 * index));
    } else {
      throw formatError(`header packet ${packet} has unknown type ${type}`);
    }
    payload.fill(0);
  }
  if (dataKeys.length === 0) throw new GatewayError('ERR_CRYPT4GH_NOT_RECIPIENT', 'no header packet of this Crypt4GH file opens with this key');
  return { dataKeys, ...(editList ? { editList } : {}) };
}

/** One segment (at most 64 KiB of plaintext, in one piece or several) sealed: fresh nonce, ciphertext, tag. */
export function sealCrypt4ghSegment(dataKey: Uint8Array, plaintext: Uint8Array | readonly Uint8Array[]): Buffer[] {
  const length = plaintext instanceof Uint8Array ? plaintext.length : plaintext.reduce((sum, piece) => sum + piece.length, 0);
  if (length > SEGMENT_PLAINTEXT_BYTES) throw formatError('a Crypt4GH segment holds at most 64 KiB');
  const nonce = randomBytes(NONCE_BYTES);
  return [nonce, ...chacha(dataKey, nonce, plaintext)];
}

/**
 * The plaintext of one sealed segment, under the first data key whose tag verifies.
 * @throws GatewayError ERR_CRYPT4GH_SEGMENT (details `{ segment }`) when none does.
 */
export function openCrypt4ghSegment(dataKeys: readonly Uint8Array[], sealed: Uint8Array, segment: number): Buffer {
  if (sealed.length < SEGMENT_OVERHEAD_BYTES || sealed.length > SEALED_SEGMENT_BYTES) throw formatError(`segment ${segment} has ${sealed.length} bytes`);
  for (const key of dataKeys) {
    const plaintext = unchacha(key, sealed.subarray(0, NONCE_BYTES), sealed.subarray(NONCE_BYTES));
    if (plaintext) return plaintext;
  }
  throw new GatewayError('ERR_CRYPT4GH_SEGMENT', `Crypt4GH segment ${segment} fails authentication`, { segment });
}

/** Bytes of the data section for `plaintextSize` bytes of plaintext. */
export function crypt4ghDataSize(plaintextSize: number): number {
  const full = Math.floor(plaintextSize / SEGMENT_PLAINTEXT_BYTES);
  const rest = plaintextSize % SEGMENT_PLAINTEXT_BYTES;
  return full * SEALED_SEGMENT_BYTES + (rest > 0 ? rest + SEGMENT_OVERHEAD_BYTES : 0);
}
