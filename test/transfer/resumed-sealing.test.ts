// Resuming a sealed body from its stored segments (what a resumable upload does after a restart or on
// another instance): a sealer given the same key material replays the stored segments — opening,
// hashing and counting them — and seals the rest, so that the stored prefix plus what it seals is the
// body one sealer would have made, with the same totals. Our envelope's segments are deterministic
// under one key, so the resumed body is byte for byte the same; Crypt4GH's nonces are random, so its
// resumed body is checked by decryption. A stored segment altered, or replayed under another key,
// is refused. The key material travels between instances as a resume ticket sealed to the
// processing key, which opens only for its own transfer.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import type { JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { createCrypt4ghDecryptStream } from '../../gateway/crypt4gh/crypt4gh-decrypt-stream.js';
import { SEALED_SEGMENT_BYTES, writeCrypt4ghHeader } from '../../gateway/crypt4gh/crypt4gh-format.js';
import { generateX25519KeyPair } from '../../gateway/crypt4gh/crypt4gh-keys.js';
import { createCrypt4ghBodySealer } from '../../gateway/crypt4gh/seal-crypt4gh-body.js';
import { hashBinding } from '../../gateway/envelope/envelope-header.js';
import { createBodySealer, type BodySealingParams } from '../../gateway/envelope/seal-body.js';
import { TAG_BYTES } from '../../gateway/envelope/stream-aead.js';
import { openResumeTicket, sealResumeTicket } from '../../gateway/transfer/resume-ticket.js';
import { errorCodeOf } from '../support/error-code.js';

const SEGMENT = 1024;

function envelopeParams(): BodySealingParams {
  return { dataKey: randomBytes(32), salt: randomBytes(32), noncePrefix: randomBytes(7), bindingHash: hashBinding({ transferId: 'tr-resume' } as never), segmentSize: SEGMENT };
}

/** Everything the sealer gives for `plaintext` written in `chunk`-byte pieces. */
function sealAll(sealer: { write(chunk: Uint8Array): Buffer[]; end(): Buffer[] }, plaintext: Buffer, chunk: number): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < plaintext.length; at += chunk) out.push(...sealer.write(plaintext.subarray(at, at + chunk)));
  out.push(...sealer.end());
  return Buffer.concat(out);
}

describe('resuming our envelope body from its stored segments', () => {
  it.each([
    [10 * SEGMENT + 300, 3],
    [10 * SEGMENT, 9],
    [2 * SEGMENT + 1, 1],
  ])('%i bytes, %i segments replayed: the same body and totals as one sealer makes', (size, replayedSegments) => {
    const plaintext = randomBytes(size);
    const params = envelopeParams();
    const whole = createBodySealer({ ...params, dataKey: Buffer.from(params.dataKey) });
    const body = sealAll(whole, plaintext, 700);

    const resumed = createBodySealer({ ...params, dataKey: Buffer.from(params.dataKey) });
    const stored = body.subarray(0, replayedSegments * (SEGMENT + TAG_BYTES));
    // The stored bytes come back in pieces that do not follow the segments.
    const replayed: Buffer[] = [];
    for (let at = 0; at < stored.length; at += 777) replayed.push(...resumed.replay(stored.subarray(at, at + 777)));
    expect(Buffer.concat(replayed).equals(plaintext.subarray(0, replayedSegments * SEGMENT))).toBe(true);
    const rest = sealAll(resumed, plaintext.subarray(replayedSegments * SEGMENT), 500);
    expect(Buffer.concat([stored, rest]).equals(body)).toBe(true);
    expect(resumed.totals()).toEqual(whole.totals());
    expect(resumed.totals().sha256).toBe(createHash('sha256').update(plaintext).digest('hex'));
  });

  it('a stored segment altered, or under another key, is refused; replayed bytes ending inside a segment are refused at the first write', async () => {
    const params = envelopeParams();
    const body = sealAll(createBodySealer({ ...params, dataKey: Buffer.from(params.dataKey) }), randomBytes(4 * SEGMENT), 4096);
    const altered = Buffer.from(body.subarray(0, 2 * (SEGMENT + TAG_BYTES)));
    altered[SEGMENT + 40] = (altered[SEGMENT + 40] as number) ^ 1;
    expect(await errorCodeOf(() => createBodySealer({ ...params, dataKey: Buffer.from(params.dataKey) }).replay(altered))).toBe('ERR_ENVELOPE_SEGMENT');
    expect(await errorCodeOf(() => createBodySealer({ ...params, dataKey: randomBytes(32) }).replay(body.subarray(0, SEGMENT + TAG_BYTES)))).toBe('ERR_ENVELOPE_SEGMENT');
    const partial = createBodySealer({ ...params, dataKey: Buffer.from(params.dataKey) });
    partial.replay(body.subarray(0, SEGMENT + TAG_BYTES + 5));
    expect(await errorCodeOf(() => partial.write(Buffer.alloc(1)))).toBe('ERR_INTERNAL');
  });
});

describe('resuming a Crypt4GH body from its stored segments', () => {
  const reader = generateX25519KeyPair();

  it.each([
    [65536 * 5 + 1234, 2],
    [65536 * 3, 3],
  ])('%i bytes, %i segments replayed: it decrypts to the plaintext, with the totals one sealer reports', async (size, replayedSegments) => {
    const plaintext = randomBytes(size);
    const dataKey = randomBytes(32);
    const whole = createCrypt4ghBodySealer(Buffer.from(dataKey));
    const body = sealAll(whole, plaintext, 50_000);
    const stored = body.subarray(0, replayedSegments * SEALED_SEGMENT_BYTES);

    const resumed = createCrypt4ghBodySealer(Buffer.from(dataKey));
    const replayed: Buffer[] = [];
    for (let at = 0; at < stored.length; at += 100_000) replayed.push(...resumed.replay(stored.subarray(at, at + 100_000)));
    expect(Buffer.concat(replayed).equals(plaintext.subarray(0, replayedSegments * 65536))).toBe(true);
    const section = Buffer.concat([stored, sealAll(resumed, plaintext.subarray(replayedSegments * 65536), 40_000)]);
    const totals = resumed.totals();
    expect({ ...totals, dataSha256: undefined }).toEqual({ ...whole.totals(), dataSha256: undefined });
    expect(totals.dataSha256).toBe(createHash('sha256').update(section).digest('hex'));

    const header = writeCrypt4ghHeader([reader.publicKey], { dataKey });
    const stream = createCrypt4ghDecryptStream(reader.secretKey);
    const [out] = await Promise.all([buffer(stream), pipeline(Readable.from([header, section]), stream)]);
    expect(out.equals(plaintext)).toBe(true);
  });

  it('a stored segment under another key is refused', async () => {
    const body = sealAll(createCrypt4ghBodySealer(randomBytes(32)), randomBytes(65536 * 2), 65536);
    expect(await errorCodeOf(() => createCrypt4ghBodySealer(randomBytes(32)).replay(body))).toBe('ERR_CRYPT4GH_SEGMENT');
  });
});

describe('resume tickets', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const publicJwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  const material = { format: 'hetao-envelope' as const, dataKey: randomBytes(32), salt: randomBytes(32), noncePrefix: randomBytes(7), segmentSize: 65536 };

  it('carry the key material to any holder of the processing key, for their own transfer only', async () => {
    const ticket = await sealResumeTicket('tr-a', material, publicJwk);
    expect(ticket).not.toContain(material.dataKey.toString('base64url'));
    expect(await openResumeTicket('tr-a', ticket, privateKey)).toEqual(material);
    expect(await openResumeTicket('tr-a', await sealResumeTicket('tr-a', { format: 'crypt4gh', dataKey: material.dataKey }, publicJwk), privateKey)).toEqual({ format: 'crypt4gh', dataKey: material.dataKey });
    expect(await errorCodeOf(openResumeTicket('tr-b', ticket, privateKey))).toBe('ERR_UPLOAD_NOT_FOUND');
    const otherKey = createPrivateKey(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
    expect(await errorCodeOf(openResumeTicket('tr-a', ticket, otherKey))).toBe('ERR_UPLOAD_NOT_FOUND');
  });
});
