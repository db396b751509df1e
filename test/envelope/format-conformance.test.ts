// The format as docs/envelope.md describes it, checked by a second reader written from that text
// alone (jose for JWS/JWE, node:crypto for HKDF and AES-GCM, nothing from gateway/envelope), plus
// the pieces a reader in another language would test first: thumbprints, nonce layout, final flag.
import { createHash, createDecipheriv, createPrivateKey, hkdfSync, randomBytes } from 'node:crypto';
import canonicalize from 'canonicalize';
import { calculateJwkThumbprint, compactDecrypt, compactVerify, createLocalJWKSet, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { computeJwkThumbprint } from '../../gateway/envelope/jwk-thumbprint.js';
import { buildSegmentNonce, createSegmentCipher } from '../../gateway/envelope/stream-aead.js';
import { GatewayError } from '../../gateway/errors.js';
import { devSigner, escrow, makeEnvelope, recipient } from './envelope-fixtures.js';

/** A decryptor written from docs/envelope.md, section "Decrypting, step by step". */
async function independentDecrypt(envelope: Buffer, privateKeyPem: string): Promise<Buffer> {
  if (envelope.subarray(0, 8).toString('latin1') !== 'HETAOENV' || envelope[8] !== 1) throw new Error('framing');
  const headerLength = envelope.readUInt32BE(9);
  const jws = envelope.subarray(13, 13 + headerLength).toString('latin1');
  const { payload, protectedHeader } = await compactVerify(jws, createLocalJWKSet(devSigner.publicJwks()), { algorithms: ['EdDSA'] });
  if (protectedHeader.typ !== 'hetao-envelope+jws') throw new Error('typ');
  const header = JSON.parse(new TextDecoder().decode(payload));
  const bindingHash = createHash('sha256').update(canonicalize(header.binding)!, 'utf8').digest();
  if (bindingHash.toString('hex') !== header.bindingSha256) throw new Error('binding hash');
  let dataKey: Uint8Array | undefined;
  for (const wrapped of header.wrappedKeys) {
    try {
      const opened = await compactDecrypt(wrapped.jwe, createPrivateKey(privateKeyPem));
      if (opened.protectedHeader.apv !== bindingHash.toString('base64url')) throw new Error('apv');
      dataKey = opened.plaintext;
      break;
    } catch {
      continue;
    }
  }
  if (!dataKey) throw new Error('not a holder');
  const salt = Buffer.from(header.binding.salt, 'base64url');
  const key = Buffer.from(hkdfSync('sha256', dataKey, salt, bindingHash, 32));
  const prefix = Buffer.from(header.binding.noncePrefix, 'base64url');
  const out: Buffer[] = [];
  let offset = 13 + headerLength;
  for (let i = 0; i < header.segmentCount; i += 1) {
    const last = i === header.segmentCount - 1;
    const plainLength = last ? header.plaintext.size - i * header.binding.segmentSize : header.binding.segmentSize;
    const sealed = envelope.subarray(offset, offset + plainLength + 16);
    offset += plainLength + 16;
    const nonce = Buffer.concat([prefix, Buffer.from([i >>> 24, (i >>> 16) & 255, (i >>> 8) & 255, i & 255]), Buffer.from([last ? 1 : 0])]);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
    decipher.setAAD(bindingHash);
    decipher.setAuthTag(sealed.subarray(plainLength));
    out.push(decipher.update(sealed.subarray(0, plainLength)), decipher.final());
  }
  if (offset !== envelope.length) throw new Error('trailing data');
  const plaintext = Buffer.concat(out);
  if (createHash('sha256').update(plaintext).digest('hex') !== header.plaintext.sha256) throw new Error('digest');
  return plaintext;
}

describe('docs/envelope.md', () => {
  it.each([0, 1000, 200_000])('an independent reader decrypts a %i-byte envelope', async (size) => {
    const plaintext = randomBytes(size);
    const { envelope } = await makeEnvelope(plaintext);
    expect((await independentDecrypt(envelope, recipient.privateKeyPem)).equals(plaintext)).toBe(true);
    expect((await independentDecrypt(envelope, escrow.privateKeyPem)).equals(plaintext)).toBe(true);
  });

  it('header JWS and wrapped-key JWE carry the documented parameters', async () => {
    const { headerJws, header } = await makeEnvelope(randomBytes(10));
    expect(decodeProtectedHeader(headerJws)).toEqual({ alg: 'EdDSA', kid: devSigner.kid, typ: 'hetao-envelope+jws' });
    expect(Object.keys(header).sort()).toEqual(['binding', 'bindingSha256', 'plaintext', 'segmentCount', 'wrappedKeys']);
    expect(header.binding).toMatchObject({
      version: 1,
      algorithms: { body: 'A256GCM-HKDF-SHA256-STREAM', keyWrap: 'ECDH-ES+A256KW', keyWrapEnc: 'A256GCM', signature: 'EdDSA' },
      segmentSize: 65536,
    });
    expect(Buffer.from(header.binding.salt, 'base64url')).toHaveLength(32);
    expect(Buffer.from(header.binding.noncePrefix, 'base64url')).toHaveLength(7);
    // The payload is the header's canonical JSON, byte for byte.
    expect(Buffer.from(headerJws.split('.')[1]!, 'base64url').toString('utf8')).toBe(canonicalize(header));
    for (const wrapped of header.wrappedKeys) {
      const jweHeader = decodeProtectedHeader(wrapped.jwe);
      expect(jweHeader).toMatchObject({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: wrapped.kid, apv: Buffer.from(header.bindingSha256, 'hex').toString('base64url') });
      expect(jweHeader.epk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    }
  });
});

describe('building blocks', () => {
  it('thumbprints agree with jose (EC and OKP)', async () => {
    expect(computeJwkThumbprint(recipient.jwk)).toBe(await calculateJwkThumbprint(recipient.jwk));
    const [signing] = devSigner.publicJwks().keys;
    expect(devSigner.kid).toBe(await calculateJwkThumbprint(signing!));
    expect(signing).toMatchObject({ kty: 'OKP', crv: 'Ed25519', use: 'sig', alg: 'EdDSA', kid: devSigner.kid });
    expect(signing).not.toHaveProperty('d');
  });

  it('nonce = prefix(7) ‖ uint32 BE index ‖ final flag', () => {
    const prefix = Buffer.from('01020304050607', 'hex');
    expect(buildSegmentNonce(prefix, 0x0a0b0c0d, false).toString('hex')).toBe('01020304050607' + '0a0b0c0d' + '00');
    expect(buildSegmentNonce(prefix, 0, true).toString('hex')).toBe('01020304050607' + '00000000' + '01');
    expect(() => buildSegmentNonce(prefix, 2 ** 32 - 1, true)).toThrow(GatewayError);
  });

  it('a segment opens only at its index, with its finality, under its binding', () => {
    const params = { dataKey: randomBytes(32), salt: randomBytes(32), noncePrefix: randomBytes(7), bindingHash: randomBytes(32) };
    const cipher = createSegmentCipher(params);
    const sealed = Buffer.concat(cipher.seal(5, false, [Buffer.from('segment'), Buffer.from(' five')]));
    expect(sealed).toHaveLength(12 + 16);
    expect(Buffer.concat(cipher.open(5, false, sealed)).toString()).toBe('segment five');
    // Any cut of the sealed bytes into pieces, including through the tag, opens the same.
    for (const cut of [1, 11, 12, 13, 20, 27]) {
      expect(Buffer.concat(cipher.open(5, false, [sealed.subarray(0, cut), sealed.subarray(cut)])).toString()).toBe('segment five');
    }
    for (const [index, isFinal] of [[5, true], [4, false], [6, false]] as const) {
      expect(() => cipher.open(index, isFinal, sealed)).toThrow(expect.objectContaining({ code: 'ERR_ENVELOPE_SEGMENT', details: { segment: index } }));
    }
    const otherBinding = createSegmentCipher({ ...params, bindingHash: randomBytes(32) });
    expect(() => otherBinding.open(5, false, sealed)).toThrow(expect.objectContaining({ code: 'ERR_ENVELOPE_SEGMENT' }));
    // A tag cut to 12 bytes is not accepted as a shorter tag.
    expect(() => cipher.open(5, false, sealed.subarray(0, sealed.length - 4))).toThrow(expect.objectContaining({ code: 'ERR_ENVELOPE_SEGMENT' }));
  });
});
