// The Crypt4GH v1 format: our reader decrypts the published sample (test/fixtures/crypt4gh, NEIC's
// sample.txt.enc) to its plaintext; what our writer makes is decrypted by our reader and by an
// independent reader written below from the spec alone (node:crypto, nothing of gateway/crypt4gh);
// every refusal has its stable code.
import { createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createCrypt4ghDecryptStream } from '../../gateway/crypt4gh/crypt4gh-decrypt-stream.js';
import { crypt4ghDataSize, crypt4ghHeaderLength, sealCrypt4ghSegment, writeCrypt4ghHeader } from '../../gateway/crypt4gh/crypt4gh-format.js';
import { generateX25519KeyPair, parseCrypt4ghSecretKey } from '../../gateway/crypt4gh/crypt4gh-keys.js';
import { errorCodeOf } from '../support/error-code.js';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/crypt4gh');
const fixture = (name: string): Buffer => readFileSync(path.join(FIXTURES, name));

/** Feeds `bytes` in chunks of `chunk` bytes through a decrypt stream. */
async function decrypt(bytes: Buffer, secretKey: Uint8Array, chunk = 7_000): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunk) pieces.push(bytes.subarray(at, at + chunk));
  const stream = createCrypt4ghDecryptStream(secretKey);
  const [out] = await Promise.all([buffer(stream), pipeline(Readable.from(pieces), stream)]);
  return out;
}

/**
 * An independent reader, from the spec (hts-specs crypt4gh.tex) alone: little-endian header of
 * packets; X25519 + BLAKE2b-512(DH ‖ reader pk ‖ writer pk)[0:32] opens a packet with ChaCha20-
 * Poly1305; type 0 packets carry (method 0, key); segments are nonce 12 ‖ ciphertext ≤ 65536 ‖ tag 16.
 */
function specReader(file: Buffer, secretKey: Buffer): Buffer {
  const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: secretKey.toString('base64url'), x: '' }, format: 'jwk' });
  const readerPk = createPublicKey(privateKey).export({ format: 'jwk' }).x as string;
  const readerPublic = Buffer.from(readerPk, 'base64url');
  expect(file.subarray(0, 8).toString('latin1')).toBe('crypt4gh');
  expect(file.readUInt32LE(8)).toBe(1);
  const keys: Buffer[] = [];
  let at = 16;
  for (let i = 0, n = file.readUInt32LE(12); i < n; i += 1) {
    const length = file.readUInt32LE(at);
    const writerPublic = file.subarray(at + 8, at + 40);
    const nonce = file.subarray(at + 40, at + 52);
    const sealed = file.subarray(at + 52, at + length);
    at += length;
    const dh = diffieHellman({ privateKey, publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: writerPublic.toString('base64url') }, format: 'jwk' }) });
    const key = createHash('blake2b512').update(Buffer.concat([dh, readerPublic, writerPublic])).digest().subarray(0, 32);
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    let payload: Buffer;
    try {
      payload = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
    } catch {
      continue;
    }
    if (payload.readUInt32LE(0) === 0 && payload.readUInt32LE(4) === 0) keys.push(payload.subarray(8, 40));
  }
  expect(keys.length).toBeGreaterThan(0);
  const out: Buffer[] = [];
  for (; at < file.length; at += 65564) {
    const segment = file.subarray(at, Math.min(at + 65564, file.length));
    const key = keys[0] as Buffer;
    const decipher = createDecipheriv('chacha20-poly1305', key, segment.subarray(0, 12), { authTagLength: 16 });
    decipher.setAuthTag(segment.subarray(segment.length - 16));
    out.push(decipher.update(segment.subarray(12, segment.length - 16)), decipher.final());
  }
  return Buffer.concat(out);
}

/** A Crypt4GH file of `plaintext` for `readers`, written with our format functions. */
function writeFile(plaintext: Buffer, readers: Uint8Array[], editList?: bigint[]): Buffer {
  const dataKey = randomBytes(32);
  const parts: Buffer[] = [writeCrypt4ghHeader(readers, { dataKey, ...(editList ? { editList } : {}) })];
  for (let at = 0; at < plaintext.length; at += 65536) parts.push(...sealCrypt4ghSegment(dataKey, plaintext.subarray(at, at + 65536)));
  return Buffer.concat(parts);
}

describe('the published sample', () => {
  it('decrypts to sample.txt with reader.sec, in any chunking', async () => {
    const secret = await parseCrypt4ghSecretKey(fixture('reader.sec').toString('utf8'), 'password');
    const encrypted = fixture('sample.txt.enc');
    expect(crypt4ghHeaderLength(encrypted)).toBe(124);
    for (const chunk of [1, 124, 65564, 1 << 20]) expect((await decrypt(encrypted, secret, chunk)).equals(fixture('sample.txt'))).toBe(true);
    expect(specReader(encrypted, secret).equals(fixture('sample.txt'))).toBe(true);
  });

  it('is not for another key: ERR_CRYPT4GH_NOT_RECIPIENT', async () => {
    const other = await parseCrypt4ghSecretKey(fixture('recipient2.sec').toString('utf8'), 'password');
    expect(await errorCodeOf(decrypt(fixture('sample.txt.enc'), other))).toBe('ERR_CRYPT4GH_NOT_RECIPIENT');
  });

  it('detects a changed byte in a segment, and a cut inside the header', async () => {
    const secret = await parseCrypt4ghSecretKey(fixture('reader.sec').toString('utf8'), 'password');
    const changed = Buffer.from(fixture('sample.txt.enc'));
    changed.writeUInt8((changed.readUInt8(124 + 65564 + 20) ^ 1), 124 + 65564 + 20);
    expect(await errorCodeOf(decrypt(changed, secret))).toBe('ERR_CRYPT4GH_SEGMENT');
    expect(await errorCodeOf(decrypt(fixture('sample.txt.enc').subarray(0, 100), secret))).toBe('ERR_CRYPT4GH_FORMAT');
    const notCrypt4gh = Buffer.from(fixture('sample.txt.enc'));
    notCrypt4gh.write('crypt5gh', 0, 'latin1');
    expect(await errorCodeOf(decrypt(notCrypt4gh, secret))).toBe('ERR_CRYPT4GH_FORMAT');
    const version2 = Buffer.from(fixture('sample.txt.enc'));
    version2.writeUInt32LE(2, 8);
    expect(await errorCodeOf(decrypt(version2, secret))).toBe('ERR_CRYPT4GH_FORMAT');
  });
});

describe('files our writer makes', () => {
  const alice = generateX25519KeyPair();
  const bob = generateX25519KeyPair();

  it.each([0, 1, 65535, 65536, 65537, 3 * 65536, 200_001])('%i bytes for two readers: both open it, with our reader and the spec reader', async (size) => {
    const plaintext = randomBytes(size);
    const file = writeFile(plaintext, [alice.publicKey, bob.publicKey]);
    expect(file.length - (crypt4ghHeaderLength(file) ?? 0)).toBe(crypt4ghDataSize(size));
    for (const reader of [alice, bob]) {
      expect((await decrypt(file, reader.secretKey)).equals(plaintext)).toBe(true);
      expect(specReader(file, reader.secretKey).equals(plaintext)).toBe(true);
    }
    expect(await errorCodeOf(decrypt(file, generateX25519KeyPair().secretKey))).toBe('ERR_CRYPT4GH_NOT_RECIPIENT');
  });

  it('applies an edit list (skip, keep, skip, keep, …) across segment boundaries', async () => {
    const plaintext = randomBytes(200_000);
    const list = [10n, 70_000n, 5n, 1_000n];
    const kept = Buffer.concat([plaintext.subarray(10, 70_010), plaintext.subarray(70_015, 71_015)]);
    expect((await decrypt(writeFile(plaintext, [alice.publicKey], list), alice.secretKey)).equals(kept)).toBe(true);
    // Ending on a skip keeps the rest.
    expect((await decrypt(writeFile(plaintext, [alice.publicKey], [100n]), alice.secretKey)).equals(plaintext.subarray(100))).toBe(true);
  });

  it('refuses a reader key of low order rather than writing a packet anyone could open', () => {
    expect(() => writeCrypt4ghHeader([Buffer.alloc(32)], { dataKey: randomBytes(32) })).toThrow(expect.objectContaining({ code: 'ERR_CRYPT4GH_KEY' }));
  });
});
