// Wrapping a transfer's data key for its holders (recipient and escrow institutions) as compact JWE,
// ECDH-ES+A256KW with A256GCM, to each holder's registered EC P-256 public key; and unwrapping it with
// one holder's private key. `apv` carries the binding hash, tying each wrapped key to its envelope.
import { createPrivateKey, webcrypto, type KeyObject } from 'node:crypto';
import { CompactEncrypt, compactDecrypt, type JWK } from 'jose';
import { GatewayError } from '../errors.js';
import { ENVELOPE_ALGORITHMS, type HolderRole, type WrappedKey } from './envelope-header.js';
import { computeJwkThumbprint, thumbprintOfKey } from './jwk-thumbprint.js';
import { DATA_KEY_BYTES } from './stream-aead.js';

/** Who gets a wrapped data key: an institution, its role, and its registered public encryption key. */
export interface KeyHolder {
  readonly institution: string;
  readonly role: HolderRole;
  readonly jwk: JWK;
}

const JWE_OPTIONS = {
  keyManagementAlgorithms: [ENVELOPE_ALGORITHMS.keyWrap],
  contentEncryptionAlgorithms: [ENVELOPE_ALGORITHMS.keyWrapEnc],
};

function publicP256(holder: KeyHolder): JWK {
  const { jwk } = holder;
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y) {
    throw new GatewayError('ERR_ENVELOPE_KEY_INVALID', `the encryption key of ${holder.institution} is not an EC P-256 key`);
  }
  if (jwk.d !== undefined) throw new GatewayError('ERR_ENVELOPE_KEY_INVALID', `the key given for ${holder.institution} is a private key`);
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
}

/** A registered holder key as the wraps use it: its thumbprint and its imported WebCrypto key. */
interface PreparedHolderKey {
  readonly kid: string;
  readonly key: Promise<webcrypto.CryptoKey>;
}

/**
 * Holders' public keys prepared once: importing a JWK (parsing and checking the point) and taking
 * its thumbprint were ~6 % of the event loop's time under small transfers, repeated for the same few
 * registered keys. Keyed by the key's members, so a rotated key is a new entry; bounded, the oldest
 * dropped first; a key that does not import is not kept (the next attempt reports it again).
 */
const preparedKeys = new Map<string, PreparedHolderKey>();
const PREPARED_KEYS_KEPT = 256;

function preparedKeyOf(jwk: JWK): PreparedHolderKey {
  const cacheKey = `${jwk.crv}.${jwk.x}.${jwk.y}`;
  let prepared = preparedKeys.get(cacheKey);
  if (!prepared) {
    if (preparedKeys.size >= PREPARED_KEYS_KEPT) preparedKeys.delete(preparedKeys.keys().next().value as string);
    const key = webcrypto.subtle.importKey('jwk', jwk as webcrypto.JsonWebKey, { name: 'ECDH', namedCurve: 'P-256' }, true, []);
    prepared = { kid: computeJwkThumbprint(jwk), key };
    preparedKeys.set(cacheKey, prepared);
    key.catch(() => preparedKeys.delete(cacheKey));
  }
  return prepared;
}

/**
 * The data key wrapped once per holder, in the order given (the wraps run concurrently: their key
 * agreements are libuv jobs).
 * @throws GatewayError `ERR_ENVELOPE_KEY_INVALID` when a holder's JWK is not a public P-256 key or jose refuses it.
 */
export async function wrapDataKey(dataKey: Uint8Array, holders: readonly KeyHolder[], bindingHash: Uint8Array): Promise<WrappedKey[]> {
  const wrapOne = async (holder: KeyHolder): Promise<WrappedKey> => {
    const { kid, key } = preparedKeyOf(publicP256(holder));
    let jwe: string;
    try {
      jwe = await new CompactEncrypt(dataKey)
        .setProtectedHeader({ alg: ENVELOPE_ALGORITHMS.keyWrap, enc: ENVELOPE_ALGORITHMS.keyWrapEnc, kid })
        .setKeyManagementParameters({ apv: bindingHash })
        .encrypt(await key);
    } catch (error) {
      throw new GatewayError('ERR_ENVELOPE_KEY_INVALID', `cannot wrap the data key for ${holder.institution}: ${(error as Error).message}`, undefined, { cause: error });
    }
    return { institution: holder.institution, kid, role: holder.role, jwe };
  };
  return Promise.all(holders.map(wrapOne));
}

/**
 * A holder's EC P-256 private key from PKCS#8 PEM (or a KeyObject, checked).
 * @throws GatewayError `ERR_ENVELOPE_KEY_INVALID` when it is unreadable or not a P-256 private key.
 */
export function readHolderPrivateKey(key: string | KeyObject): KeyObject {
  let keyObject: KeyObject;
  try {
    keyObject = typeof key === 'string' ? createPrivateKey(key) : key;
  } catch (error) {
    throw new GatewayError('ERR_ENVELOPE_KEY_INVALID', 'the private key is not a readable PEM key', undefined, { cause: error });
  }
  if (keyObject.type !== 'private' || keyObject.asymmetricKeyType !== 'ec' || keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new GatewayError('ERR_ENVELOPE_KEY_INVALID', 'the private key is not an EC P-256 private key');
  }
  return keyObject;
}

/**
 * Opens the wrapped key meant for `privateKey`: entries whose kid is the key's thumbprint first,
 * then the others (another encoder may have used a registry kid). The caller zeroes the returned key.
 * @throws GatewayError `ERR_ENVELOPE_NOT_RECIPIENT` when no entry opens with the key;
 *   `ERR_ENVELOPE_FORMAT` when the one that opens is not a 32-byte key bound to this envelope.
 */
export async function unwrapDataKey(
  wrappedKeys: readonly WrappedKey[],
  privateKey: KeyObject,
  bindingHash: Uint8Array,
): Promise<{ dataKey: Buffer; holder: WrappedKey }> {
  const ownKid = thumbprintOfKey(privateKey);
  const ordered = [...wrappedKeys.filter((entry) => entry.kid === ownKid), ...wrappedKeys.filter((entry) => entry.kid !== ownKid)];
  for (const holder of ordered) {
    let opened;
    try {
      opened = await compactDecrypt(holder.jwe, privateKey, JWE_OPTIONS);
    } catch {
      continue; // not this holder's key (or an entry this key cannot open): try the next
    }
    const dataKey = Buffer.from(opened.plaintext);
    opened.plaintext.fill(0);
    const apv = typeof opened.protectedHeader.apv === 'string' ? opened.protectedHeader.apv : '';
    const problem =
      dataKey.length !== DATA_KEY_BYTES ? `is ${dataKey.length} bytes, expected ${DATA_KEY_BYTES}`
      : apv !== Buffer.from(bindingHash).toString('base64url') ? 'is bound (apv) to another envelope'
      : opened.protectedHeader.kid !== holder.kid ? `has JWE kid ${String(opened.protectedHeader.kid)}, the header says ${holder.kid}`
      : undefined;
    if (problem) {
      dataKey.fill(0);
      throw new GatewayError('ERR_ENVELOPE_FORMAT', `the wrapped key of ${holder.institution} ${problem}`);
    }
    return { dataKey, holder };
  }
  throw new GatewayError(
    'ERR_ENVELOPE_NOT_RECIPIENT',
    `none of the ${wrappedKeys.length} wrapped keys opens with this private key (kid ${ownKid}); holders: ${wrappedKeys.map((k) => `${k.institution} (${k.role})`).join(', ')}`,
    { kid: ownKid },
  );
}
