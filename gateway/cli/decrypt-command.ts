// `hetao decrypt`: a recipient's (or escrow holder's) tool to turn a downloaded envelope back into
// the dataset, verifying everything the format promises. Output to a file appears only when the
// whole envelope has verified: it is written to `<out>.partial` and renamed at the very end.
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { CRYPT4GH_BINDING_JWS_TYPE } from '../crypt4gh/crypt4gh-binding.js';
import { parseCrypt4ghSecretKey } from '../crypt4gh/crypt4gh-keys.js';
import { createCrypt4ghEnvelopeDecryptor, type Crypt4ghEnvelopeDecryptor } from '../crypt4gh/decrypt-crypt4gh-envelope.js';
import { PROJECT_ROOT } from '../config.js';
import { createEnvelopeDecryptor, type OpenedEnvelope } from '../envelope/decrypt-envelope.js';
import { createGatewaySigner } from '../envelope/gateway-signer.js';
import { readEnvelopeHeader } from '../envelope/read-envelope-header.js';
import { GatewayError } from '../errors.js';

/** The development signing key, trusted without --jwks only for envelopes that name it by kid. */
export const DEV_SIGNING_KEY_FILE = path.join(PROJECT_ROOT, 'certs-dev/gateway-signing.dev-only.key.pem');

export interface DecryptFileOptions {
  readonly envelopeFile: string;
  /**
   * The holder's key: its EC P-256 private key (PKCS#8 PEM) for our envelope, its Crypt4GH secret key
   * file for a transfer stored as Crypt4GH.
   */
  readonly keyFile: string;
  /** Opens a passphrase-protected Crypt4GH secret key (the EGA tool's C4GH_PASSPHRASE). */
  readonly crypt4ghPassphrase?: string;
  /** The gateway's public JWKS; without it only the development key is accepted. */
  readonly jwksFile?: string;
  readonly out: Writable;
  /** Notes for the operator (which key verified, which holder decrypted); never plaintext. */
  readonly note?: (line: string) => void;
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new GatewayError('ERR_REQUEST_INVALID', `cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

async function loadJwks(options: Omit<DecryptFileOptions, 'out'>): Promise<JSONWebKeySet> {
  if (options.jwksFile) {
    let jwks: unknown;
    try {
      jwks = JSON.parse(await readText(options.jwksFile, 'the JWKS'));
    } catch (error) {
      if (error instanceof GatewayError) throw error;
      throw new GatewayError('ERR_REQUEST_INVALID', `the JWKS ${options.jwksFile} is not JSON`);
    }
    if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as JSONWebKeySet).keys)) {
      throw new GatewayError('ERR_REQUEST_INVALID', `the JWKS ${options.jwksFile} has no "keys" array`);
    }
    return jwks as JSONWebKeySet;
  }
  const { kid } = await readEnvelopeHeader(createReadStream(options.envelopeFile));
  const devJwks = createGatewaySigner(await readText(DEV_SIGNING_KEY_FILE, 'the development signing key')).publicJwks();
  if (!devJwks.keys.some((key) => key.kid === kid)) {
    throw new GatewayError(
      'ERR_ENVELOPE_SIGNATURE',
      `the envelope is signed by key ${kid ?? '(none)'}, not the development key: pass the gateway's public JWKS with --jwks`,
    );
  }
  options.note?.('note: header verified with the DEVELOPMENT signing key (certs-dev/); never accept this for real data');
  return devJwks;
}

/** What was decrypted, for the operator's note and the caller. */
export interface DecryptedSummary {
  readonly format: 'hetao-envelope' | 'crypt4gh';
  readonly transferId: string;
  readonly sender: string;
  readonly plaintext: { readonly size: number; readonly sha256: string };
  readonly holder: { readonly institution: string; readonly role: string };
}

/** Whether the envelope's signed header is a Crypt4GH binding (read from the JWS header, not yet verified). */
async function isCrypt4ghEnvelope(file: string): Promise<boolean> {
  const { headerJws } = await readEnvelopeHeader(createReadStream(file));
  try {
    return decodeProtectedHeader(headerJws).typ === CRYPT4GH_BINDING_JWS_TYPE;
  } catch {
    return false; // the envelope decryptor reports the malformed JWS
  }
}

async function decryptInto(options: Omit<DecryptFileOptions, 'out'>, openOut: () => Writable): Promise<DecryptedSummary> {
  const jwks = await loadJwks(options);
  const keyText = await readText(options.keyFile, 'the private key');
  const crypt4gh = await isCrypt4ghEnvelope(options.envelopeFile);
  let opened: OpenedEnvelope | undefined;
  let decryptor: ReturnType<typeof createEnvelopeDecryptor> | Crypt4ghEnvelopeDecryptor;
  let secretKey: Buffer | undefined;
  if (crypt4gh) {
    secretKey = await parseCrypt4ghSecretKey(keyText, options.crypt4ghPassphrase);
    decryptor = createCrypt4ghEnvelopeDecryptor({ secretKey, jwks });
  } else {
    decryptor = createEnvelopeDecryptor({ privateKey: keyText, jwks, onHeader: (o) => (opened = o) });
  }
  try {
    await pipeline(createReadStream(options.envelopeFile), decryptor, openOut());
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    throw new GatewayError('ERR_REQUEST_INVALID', `cannot decrypt ${options.envelopeFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  } finally {
    secretKey?.fill(0);
  }
  const summary = summaryOf(decryptor, opened, secretKey);
  options.note?.(`decrypted transfer ${summary.transferId} (${summary.plaintext.size} bytes, sha256 ${summary.plaintext.sha256}) from ${summary.sender} as ${summary.holder.role} ${summary.holder.institution}${crypt4gh ? ' (Crypt4GH, binding checked)' : ''}`);
  return summary;
}

function summaryOf(decryptor: object, opened: OpenedEnvelope | undefined, crypt4ghKey: Buffer | undefined): DecryptedSummary {
  if (crypt4ghKey) {
    const binding = (decryptor as Crypt4ghEnvelopeDecryptor).binding();
    if (!binding) throw new GatewayError('ERR_INTERNAL', 'the envelope stream ended without a binding');
    // Which holder's packet opened is not visible to the reader; the binding lists who could.
    const holder = binding.holders.length === 1 ? (binding.holders[0] as { institution: string; role: string }) : { institution: binding.holders.map((h) => h.institution).join(' or '), role: 'holder' };
    return { format: 'crypt4gh', transferId: binding.transferId, sender: binding.sender, plaintext: binding.plaintext, holder };
  }
  if (!opened) throw new GatewayError('ERR_INTERNAL', 'the envelope stream ended without a header');
  const { header, holder } = opened;
  return { format: 'hetao-envelope', transferId: header.binding.transferId, sender: header.binding.sender, plaintext: header.plaintext, holder };
}

/**
 * Decrypts an envelope file into `out`, verifying signature, holder, every segment, the final
 * segment, size and digest. `out` may have received plaintext when this rejects: use
 * {@link decryptEnvelopeToFile} unless the consumer discards output on failure.
 * @throws GatewayError `ERR_REQUEST_INVALID` (unreadable file or JWKS), `ERR_ENVELOPE_KEY_INVALID`,
 *   and every `ERR_ENVELOPE_*` code of createEnvelopeDecryptor.
 */
export function decryptEnvelopeFile(options: DecryptFileOptions): Promise<DecryptedSummary> {
  return decryptInto(options, () => options.out);
}

/**
 * Like {@link decryptEnvelopeFile}, into `outFile` (mode 0600): written as `<outFile>.partial`,
 * created only once the keys have loaded, renamed when everything verified, deleted on any failure.
 */
export async function decryptEnvelopeToFile(options: Omit<DecryptFileOptions, 'out'> & { readonly outFile: string }): Promise<DecryptedSummary> {
  const partial = `${options.outFile}.partial`;
  let out: WriteStream | undefined;
  try {
    const opened = await decryptInto(options, () => (out = createWriteStream(partial, { mode: 0o600 })));
    await rename(partial, options.outFile);
    return opened;
  } catch (error) {
    // Not events.once(): it rejects on the 'error' the failed pipeline also emits on the file stream.
    const file = out;
    if (file && !file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
    await rm(partial, { force: true });
    throw error;
  }
}
