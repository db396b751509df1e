// Crypt4GH key files (GA4GH Crypt4GH v1; the `c4gh-v1` secret key format of the EGA and NEIC tools)
// and the X25519 operations on raw 32-byte keys that the format is built on. A public key file is
// base64 of the raw key between PEM-like lines; a secret key file is base64 of `c4gh-v1`, then
// big-endian u16-length-prefixed strings: kdf name, kdf options (u32 rounds ‖ salt) unless `none`,
// cipher name, private data, optional comment. The label lines differ between tools, so only the
// decoded bytes are trusted (see docs/crypt4gh.md).
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, pbkdf2, randomBytes, scrypt, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { GatewayError } from '../errors.js';

export const X25519_KEY_BYTES = 32;
const SECRET_MAGIC = Buffer.from('c4gh-v1', 'latin1');
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** The scrypt cost every Crypt4GH tool uses; the rounds field of an scrypt key is written 0 and ignored. */
const SCRYPT_OPTIONS = { N: 2 ** 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

const scryptAsync = promisify(scrypt) as (password: string, salt: Uint8Array, keylen: number, options: typeof SCRYPT_OPTIONS) => Promise<Buffer>;
const pbkdf2Async = promisify(pbkdf2);

const keyError = (message: string): GatewayError => new GatewayError('ERR_CRYPT4GH_KEY', message);

/** The base64 between the first BEGIN line and its END line (labels ignored), decoded. */
function pemBody(text: string, what: string): Buffer {
  const lines = text.split(/\r?\n/).map((line) => line.trim());
  const begin = lines.findIndex((line) => /^-----BEGIN [A-Z0-9 ]+-----$/.test(line));
  const end = lines.findIndex((line, index) => index > begin && /^-----END [A-Z0-9 ]+-----$/.test(line));
  if (begin < 0 || end < 0) throw keyError(`not a Crypt4GH ${what} file: no BEGIN/END lines`);
  const base64 = lines.slice(begin + 1, end).join('');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw keyError(`not a Crypt4GH ${what} file: the body is not base64`);
  return Buffer.from(base64, 'base64');
}

function pem(label: string, bytes: Uint8Array): string {
  const base64 = Buffer.from(bytes).toString('base64');
  return `-----BEGIN ${label}-----\n${base64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

/** The raw 32-byte X25519 public key of a Crypt4GH public key file. */
export function parseCrypt4ghPublicKey(text: string): Buffer {
  const key = pemBody(text, 'public key');
  if (key.length !== X25519_KEY_BYTES) throw keyError(`a Crypt4GH public key has ${X25519_KEY_BYTES} bytes, this one ${key.length}`);
  return key;
}

export function formatCrypt4ghPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== X25519_KEY_BYTES) throw keyError('an X25519 public key has 32 bytes');
  return pem('CRYPT4GH PUBLIC KEY', publicKey);
}

/** Reads the big-endian u16-length-prefixed strings of a secret key file. */
function createFieldReader(bytes: Buffer) {
  let at = SECRET_MAGIC.length;
  return {
    next(what: string): Buffer {
      if (at + 2 > bytes.length) throw keyError(`the secret key file ends before its ${what}`);
      const length = bytes.readUInt16BE(at);
      if (at + 2 + length > bytes.length) throw keyError(`the secret key file ends inside its ${what}`);
      const field = bytes.subarray(at + 2, at + 2 + length);
      at += 2 + length;
      return field;
    },
    done: () => at >= bytes.length,
  };
}

async function deriveKey(kdf: string, options: Buffer, passphrase: string): Promise<Buffer> {
  if (options.length < 4 + 1) throw keyError('the secret key file has no kdf salt');
  const rounds = options.readUInt32BE(0);
  const salt = options.subarray(4);
  switch (kdf) {
    case 'scrypt':
      return scryptAsync(passphrase, salt, 32, SCRYPT_OPTIONS);
    case 'pbkdf2_hmac_sha256':
      if (rounds < 1) throw keyError('pbkdf2 needs at least one round');
      return pbkdf2Async(passphrase, salt, rounds, 32, 'sha256');
    case 'bcrypt': {
      if (rounds < 1) throw keyError('bcrypt_pbkdf needs at least one round');
      // Only bcrypt_pbkdf (OpenBSD's KDF) opens these keys; node:crypto does not have it.
      const { pbkdf } = (await import('bcrypt-pbkdf')).default;
      const pass = Buffer.from(passphrase, 'utf8');
      const key = Buffer.alloc(32);
      if (pbkdf(pass, pass.length, salt, salt.length, key, key.length, rounds) !== 0) throw keyError('bcrypt_pbkdf failed');
      return key;
    }
    default:
      throw keyError(`unknown Crypt4GH key derivation "${kdf}"`);
  }
}

/**
 * The raw 32-byte X25519 secret key of a `c4gh-v1` secret key file, decrypted with `passphrase` when
 * the file is protected.
 * @throws GatewayError ERR_CRYPT4GH_KEY: not such a file, an unknown kdf or cipher, a wrong passphrase.
 */
export async function parseCrypt4ghSecretKey(text: string, passphrase?: string): Promise<Buffer> {
  const bytes = pemBody(text, 'secret key');
  if (bytes.length < SECRET_MAGIC.length || !bytes.subarray(0, SECRET_MAGIC.length).equals(SECRET_MAGIC)) throw keyError('not a c4gh-v1 secret key');
  const fields = createFieldReader(bytes);
  const kdf = fields.next('kdf name').toString('latin1');
  const kdfOptions = kdf === 'none' ? undefined : fields.next('kdf options');
  const cipher = fields.next('cipher name').toString('latin1');
  const data = fields.next('private key');
  if (cipher === 'none') {
    if (kdf !== 'none') throw keyError('a secret key with a kdf but no cipher');
    if (data.length !== X25519_KEY_BYTES) throw keyError('the unprotected secret key does not have 32 bytes');
    return Buffer.from(data);
  }
  if (cipher !== 'chacha20_poly1305') throw keyError(`unknown Crypt4GH key cipher "${cipher}"`);
  if (!kdfOptions) throw keyError('an encrypted secret key needs a kdf');
  if (passphrase === undefined) throw keyError('this secret key is protected by a passphrase');
  if (data.length !== NONCE_BYTES + X25519_KEY_BYTES + TAG_BYTES) throw keyError('the encrypted secret key has the wrong length');
  const key = await deriveKey(kdf, kdfOptions, passphrase);
  const decipher = createDecipheriv('chacha20-poly1305', key, data.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAuthTag(data.subarray(NONCE_BYTES + X25519_KEY_BYTES));
  try {
    return Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, NONCE_BYTES + X25519_KEY_BYTES)), decipher.final()]);
  } catch {
    throw keyError('the passphrase does not open this secret key');
  } finally {
    key.fill(0);
  }
}

/** A `c4gh-v1` secret key file: scrypt + ChaCha20-Poly1305 with a passphrase (as the EGA tool writes), or unprotected without one. */
export async function formatCrypt4ghSecretKey(secretKey: Uint8Array, passphrase?: string, comment?: string): Promise<string> {
  if (secretKey.length !== X25519_KEY_BYTES) throw keyError('an X25519 secret key has 32 bytes');
  const field = (bytes: Uint8Array): Buffer => {
    const length = Buffer.alloc(2);
    length.writeUInt16BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const text = (value: string): Buffer => field(Buffer.from(value, 'latin1'));
  const parts: Buffer[] = [SECRET_MAGIC];
  if (passphrase === undefined) {
    parts.push(text('none'), text('none'), field(secretKey));
  } else {
    const salt = randomBytes(16);
    const key = await scryptAsync(passphrase, salt, 32, SCRYPT_OPTIONS);
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
    const sealed = Buffer.concat([nonce, cipher.update(secretKey), cipher.final(), cipher.getAuthTag()]);
    key.fill(0);
    parts.push(text('scrypt'), field(Buffer.concat([Buffer.alloc(4), salt])), text('chacha20_poly1305'), field(sealed));
  }
  if (comment !== undefined) parts.push(field(Buffer.from(comment, 'utf8')));
  return pem('CRYPT4GH ENCRYPTED PRIVATE KEY', Buffer.concat(parts));
}

export function x25519SecretKeyObject(secretKey: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, secretKey]), format: 'der', type: 'pkcs8' });
}

export function x25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

/** The raw public key of a raw X25519 secret key. */
export function x25519PublicKeyOf(secretKey: Uint8Array): Buffer {
  return createPublicKey(x25519SecretKeyObject(secretKey)).export({ format: 'der', type: 'spki' }).subarray(SPKI_X25519_PREFIX.length);
}

/** A fresh X25519 key pair as raw 32-byte keys. */
export function generateX25519KeyPair(): { secretKey: Buffer; publicKey: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return {
    secretKey: privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_X25519_PREFIX.length),
    publicKey: publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_X25519_PREFIX.length),
  };
}

/** X25519(secret, public); undefined for a low-order public key (OpenSSL refuses the all-zero result). */
export function x25519(secretKey: KeyObject, publicKey: Uint8Array): Buffer | undefined {
  try {
    return diffieHellman({ privateKey: secretKey, publicKey: x25519PublicKeyObject(publicKey) });
  } catch {
    return undefined;
  }
}

/** 32 bytes on which X25519 agrees a key (a low-order point gives the all-zero secret, which OpenSSL refuses). */
export function isUsableX25519PublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== X25519_KEY_BYTES) return false;
  return x25519(generateKeyPairSync('x25519').privateKey, publicKey) !== undefined;
}
