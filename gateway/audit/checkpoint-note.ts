// The C2SP tlog-checkpoint form of a checkpoint, as a C2SP signed note, so that transparency-log
// tooling (Go's sumdb/note, transparency-dev, Rekor clients) can check our checkpoints:
//
//   <origin>\n<tree size>\n<base64 root>\n\n— <key name> base64(key ID ‖ Ed25519 signature)\n
//
// The key ID is SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4]; the signature covers the
// note text (the three lines, with their newlines). The gateway signs with the same Ed25519 key as its
// JWS, so the public JWKS is all a verifier needs.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { GatewayError } from '../errors.js';

export interface CheckpointNoteSigner {
  /** The key name on the signature line: a schema-less URL, no spaces or '+'. */
  readonly name: string;
  /** The signature line (with its trailing newline) for a note text. */
  sign(text: string): string;
}

const ED25519_TYPE = 0x01;

/** The note text: origin, size and base64 root, each on its own line. */
export function formatCheckpointNoteText(body: { readonly origin: string; readonly treeSize: number; readonly rootHash: string }): string {
  return `${body.origin}\n${body.treeSize}\n${body.rootHash}\n`;
}

function keyId(name: string, publicKey: Buffer): Buffer {
  return createHash('sha256').update(name, 'utf8').update(Buffer.from([0x0a, ED25519_TYPE])).update(publicKey).digest().subarray(0, 4);
}

const rawPublicKey = (key: KeyObject): Buffer => Buffer.from((key.export({ format: 'jwk' }).x as string) ?? '', 'base64url');

/**
 * A note signer over an Ed25519 private key (PKCS#8 PEM), normally the gateway signing key.
 * @throws GatewayError `ERR_ENVELOPE_KEY_INVALID` when the key is unreadable or not Ed25519, or the name is unusable.
 */
export function createCheckpointNoteSigner(options: { readonly name: string; readonly privateKeyPem: string }): CheckpointNoteSigner {
  const { name } = options;
  if (name === '' || /[\s+]/u.test(name)) throw new GatewayError('ERR_ENVELOPE_KEY_INVALID', `note key name ${JSON.stringify(name)} is empty or has spaces or '+'`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(options.privateKeyPem);
  } catch (error) {
    throw new GatewayError('ERR_ENVELOPE_KEY_INVALID', 'the note signing key is not a readable PEM key', undefined, { cause: error });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new GatewayError('ERR_ENVELOPE_KEY_INVALID', 'the note signing key is not Ed25519');
  const id = keyId(name, rawPublicKey(createPublicKey(privateKey)));
  return {
    name,
    sign(text) {
      const signature = sign(null, Buffer.from(text, 'utf8'), privateKey);
      return `— ${name} ${Buffer.concat([id, signature]).toString('base64')}\n`;
    },
  };
}

/**
 * Checks a signed-note checkpoint: its text must be exactly the expected origin, size and root, and a
 * signature line from one of the JWKS's Ed25519 keys must verify (signatures of unknown keys are
 * ignored, as C2SP prescribes; a known key whose signature fails rejects the note).
 * Returns undefined when it verifies, else the reason.
 */
export function verifyCheckpointNote(note: string, expected: Parameters<typeof formatCheckpointNoteText>[0], jwks: { readonly keys: readonly JWK[] }): string | undefined {
  const text = formatCheckpointNoteText(expected);
  if (!note.startsWith(`${text}\n`)) return 'the signed note does not state the checkpoint origin, size and root';
  const lines = note.slice(text.length + 1).split('\n');
  if (lines.pop() !== '' || lines.length === 0) return 'the signed note has no signature lines or lacks its final newline';
  const known = jwks.keys
    .filter((jwk) => jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && typeof jwk.x === 'string')
    .map((jwk) => ({ raw: Buffer.from(jwk.x as string, 'base64url'), key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x as string }, format: 'jwk' }) }));
  let verified = false;
  for (const line of lines) {
    const match = /^— (\S+) ([A-Za-z0-9+/]+={0,2})$/.exec(line);
    if (!match) return `malformed signature line ${JSON.stringify(line)}`;
    const [, name, encoded] = match as unknown as [string, string, string];
    const blob = Buffer.from(encoded, 'base64');
    for (const { raw, key } of known) {
      if (!keyId(name, raw).equals(blob.subarray(0, 4))) continue;
      if (!verify(null, Buffer.from(text, 'utf8'), key, blob.subarray(4))) return `the note signature of ${name} does not verify`;
      verified = true;
    }
  }
  return verified ? undefined : 'no signature on the note is from a key in the JWKS';
}
