// Ed25519 cosignatures (C2SP tlog-cosignature v1.0.1, key type 0x04) and verifier keys (vkeys). A
// cosignature says "at this time I had seen this checkpoint, and it extends every one I cosigned
// before": a signature line `— <name> base64(key ID ‖ u64 BE seconds ‖ Ed25519 signature)` over
//
//   cosignature/v1\ntime <seconds>\n<checkpoint text>
//
// The name is not signed, so each cosigner has a key of its own. A vkey, `<name>+<hex key ID>+
// base64(type ‖ public key)`, is how a cosigner's public key is handed to whoever verifies it.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { decodeBase64 } from '../audit/merkle-hash.js';
import { GatewayError } from '../errors.js';
import { isKeyName, KEY_ID_BYTES, NOTE_ED25519_TYPE, noteKeyId, rawEd25519PublicKey } from './signed-note.js';

/** The key type byte of an Ed25519 cosignature key. */
export const COSIGNATURE_ED25519_TYPE = 0x04;

const TIME_BYTES = 8;
const ED25519_SIGNATURE_BYTES = 64;
const ED25519_PUBLIC_KEY_BYTES = 32;

export interface Cosigner {
  /** The key name on the cosignature line: a schema-less URL, no spaces or '+'. */
  readonly name: string;
  /** The key ID, in hex (as in the vkey). */
  readonly keyId: string;
  /** The vkey to give verifiers: name+hex(key ID)+base64(0x04 ‖ public key). */
  readonly vkey: string;
  /**
   * The cosignature line (with its newline) of a checkpoint text (origin, size, root and any extension
   * lines, with their newlines; no signature lines) at `timeSeconds` since the epoch.
   * @throws GatewayError `ERR_INTERNAL` when the time is not a positive whole number of seconds.
   */
  cosign(checkpointText: string, timeSeconds: number): string;
}

export interface VerifierKey {
  readonly name: string;
  /** Hex. */
  readonly keyId: string;
  /** The key type byte (0x01 note signature, 0x04 cosignature, …). */
  readonly type: number;
  readonly publicKey: Buffer;
}

/** The message a cosignature signs. */
function cosignedMessage(checkpointText: string, timeSeconds: number | bigint): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${timeSeconds}\n${checkpointText}`, 'utf8');
}

/** `name+hex(key ID)+base64(type ‖ public key)`, the key ID derived from the three. */
export function formatVerifierKey(key: { readonly name: string; readonly type: number; readonly publicKey: Uint8Array }): string {
  const id = noteKeyId(key.name, key.type, key.publicKey);
  return `${key.name}+${id.toString('hex')}+${Buffer.concat([Buffer.from([key.type]), key.publicKey]).toString('base64')}`;
}

/** Reads a vkey; its key ID must be the one its name, type and key derive. Returns the reason otherwise. */
export function parseVerifierKey(vkey: string): VerifierKey | string {
  // Base64 has '+' of its own: the name and the key ID end at the first two.
  const first = vkey.indexOf('+');
  const second = first < 0 ? -1 : vkey.indexOf('+', first + 1);
  const name = vkey.slice(0, first);
  const hexId = vkey.slice(first + 1, second);
  const encoded = vkey.slice(second + 1);
  if (second < 0 || !isKeyName(name)) return 'a vkey is <name>+<hex key ID>+<base64 key>, the name without spaces or +';
  if (!/^[0-9a-f]{8}$/.test(hexId)) return 'the vkey key ID is not 8 lowercase hex digits';
  const blob = decodeBase64(encoded);
  if (!blob || blob.length < 2) return 'the vkey key is not base64 of a type byte and a key';
  const type = blob[0] as number;
  const publicKey = blob.subarray(1);
  if ((type === COSIGNATURE_ED25519_TYPE || type === NOTE_ED25519_TYPE) && publicKey.length !== ED25519_PUBLIC_KEY_BYTES) return 'an Ed25519 vkey holds a 32-byte key';
  if (noteKeyId(name, type, publicKey).toString('hex') !== hexId) return 'the vkey key ID is not the one its name and key derive';
  return { name, keyId: hexId, type, publicKey };
}

/**
 * A cosigner over an Ed25519 private key (PKCS#8 PEM).
 * @throws GatewayError `ERR_WITNESS_KEY_INVALID` when the key is unreadable or not Ed25519, or the name is unusable.
 */
export function createCosigner(options: { readonly name: string; readonly privateKeyPem: string }): Cosigner {
  const { name } = options;
  if (!isKeyName(name)) throw new GatewayError('ERR_WITNESS_KEY_INVALID', `cosigner name ${JSON.stringify(name)} is empty or has spaces or '+'`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(options.privateKeyPem);
  } catch (error) {
    throw new GatewayError('ERR_WITNESS_KEY_INVALID', 'the cosigning key is not a readable PEM private key', undefined, { cause: error });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new GatewayError('ERR_WITNESS_KEY_INVALID', 'the cosigning key is not Ed25519');
  const publicKey = rawEd25519PublicKey(createPublicKey(privateKey));
  const id = noteKeyId(name, COSIGNATURE_ED25519_TYPE, publicKey);
  return {
    name,
    keyId: id.toString('hex'),
    vkey: formatVerifierKey({ name, type: COSIGNATURE_ED25519_TYPE, publicKey }),
    cosign(checkpointText, timeSeconds) {
      // Zero is not a time: the witness protocol asks for a real one, and 2^53 s is beyond any clock.
      if (!Number.isSafeInteger(timeSeconds) || timeSeconds <= 0) throw new GatewayError('ERR_INTERNAL', `cosignature time ${timeSeconds} is not a positive whole number of seconds`);
      const time = Buffer.alloc(TIME_BYTES);
      time.writeBigUInt64BE(BigInt(timeSeconds));
      const signature = sign(null, cosignedMessage(checkpointText, timeSeconds), privateKey);
      return `— ${name} ${Buffer.concat([id, time, signature]).toString('base64')}\n`;
    },
  };
}

function ed25519PublicKey(key: Uint8Array | KeyObject): KeyObject | undefined {
  if (!(key instanceof Uint8Array)) return key.asymmetricKeyType === 'ed25519' ? key : undefined;
  if (key.length !== ED25519_PUBLIC_KEY_BYTES) return undefined;
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(key).toString('base64url') }, format: 'jwk' });
}

/**
 * Verifies one cosignature line (`— <name> <base64>`, with or without its newline) on a checkpoint text
 * against a cosigner's name and Ed25519 public key (raw 32 bytes or a KeyObject). Returns the
 * cosignature's time in seconds, or the reason it does not verify.
 */
export function verifyCosignature(line: string, checkpointText: string, key: { readonly name: string; readonly publicKey: Uint8Array | KeyObject }): { readonly time: number } | string {
  const publicKey = ed25519PublicKey(key.publicKey);
  if (!publicKey) return 'the verifying key is not an Ed25519 public key';
  const bare = line.endsWith('\n') ? line.slice(0, -1) : line;
  const parts = bare.startsWith('— ') ? bare.slice(2).split(' ') : [];
  if (parts.length !== 2) return 'not a signature line: — <name> <base64>';
  const [name, encoded] = parts as [string, string];
  if (name !== key.name) return `the line is signed by ${JSON.stringify(name)}, not ${JSON.stringify(key.name)}`;
  const blob = decodeBase64(encoded);
  if (!blob || blob.length !== KEY_ID_BYTES + TIME_BYTES + ED25519_SIGNATURE_BYTES) return 'the cosignature is not base64 of key ID, time and Ed25519 signature (76 bytes)';
  if (!blob.subarray(0, KEY_ID_BYTES).equals(noteKeyId(key.name, COSIGNATURE_ED25519_TYPE, rawEd25519PublicKey(publicKey)))) return "the cosignature key ID is not this key's";
  const time = blob.readBigUInt64BE(KEY_ID_BYTES);
  if (time > BigInt(Number.MAX_SAFE_INTEGER)) return 'the cosignature time is beyond any clock (above 2^53 − 1 seconds)';
  if (!verify(null, cosignedMessage(checkpointText, time), publicKey, blob.subarray(KEY_ID_BYTES + TIME_BYTES))) return 'the cosignature does not verify';
  return { time: Number(time) };
}
