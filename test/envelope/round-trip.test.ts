// Envelopes decrypt to exactly what was encrypted, for every size class around the segment
// boundaries and for any way the bytes are chunked on the way in and out; every holder can open
// them, nobody else; the data key is nowhere in clear.
import { createHash, createPrivateKey, hkdfSync, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { compactDecrypt } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { createEnvelopeDecryptor } from '../../gateway/envelope/decrypt-envelope.js';
import { createEnvelopeEncryptor } from '../../gateway/envelope/encrypt-envelope.js';
import { readEnvelopeHeader } from '../../gateway/envelope/read-envelope-header.js';
import {
  BINDING_FIELDS,
  collect,
  decryptEnvelope,
  DEFAULT_HOLDERS,
  devSigner,
  escrow,
  expectEnvelopeError,
  makeEnvelope,
  outsider,
  recipient,
} from './envelope-fixtures.js';

const SEGMENT = 64 * 1024;

describe('round trip', () => {
  it.each([0, 1, 65535, 65536, 65537, 3 * 65536, 1024 * 1024 + 12345])('%i bytes', async (size) => {
    const plaintext = randomBytes(size);
    const made = await makeEnvelope(plaintext);
    expect(made.header.plaintext).toEqual({ size, sha256: createHash('sha256').update(plaintext).digest('hex') });
    expect(made.header.segmentCount).toBe(size === 0 ? 1 : Math.ceil(size / SEGMENT));
    // Every segment is full but the last, which is empty only for the empty payload.
    const lastPlain = size - (made.header.segmentCount - 1) * SEGMENT;
    expect(made.body.length).toBe((made.header.segmentCount - 1) * (SEGMENT + 16) + lastPlain + 16);
    expect(lastPlain > 0 || size === 0).toBe(true);
    const { plaintext: decrypted } = await decryptEnvelope(made.envelope);
    expect(decrypted.equals(plaintext)).toBe(true);
  });

  it('survives any write and read chunking (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 9000 }),
        fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 8 }),
        async (size, writeSizes, readSizes) => {
          const plaintext = randomBytes(size);
          const { envelope } = await makeEnvelope(plaintext, { segmentSize: 1024, writeSizes });
          const { plaintext: decrypted } = await decryptEnvelope(envelope, { readSizes });
          expect(decrypted.equals(plaintext)).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('survives odd chunking with 64 KiB segments (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 4 * SEGMENT + 100 }),
        fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 5 }),
        async (size, writeSizes, readSizes) => {
          const plaintext = randomBytes(size);
          const { envelope } = await makeEnvelope(plaintext, { writeSizes });
          expect((await decryptEnvelope(envelope, { readSizes })).plaintext.equals(plaintext)).toBe(true);
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe('holders', () => {
  it('the recipient and the escrow holder both decrypt; a third key gets ERR_ENVELOPE_NOT_RECIPIENT', async () => {
    const plaintext = randomBytes(100_000);
    const { envelope, header } = await makeEnvelope(plaintext);
    expect(header.wrappedKeys.map(({ institution, role }) => ({ institution, role }))).toEqual([
      { institution: 'hk-uni-genomics', role: 'recipient' },
      { institution: 'nhc-hgr-office', role: 'escrow' },
    ]);
    expect(header.wrappedKeys.map((k) => k.kid)).toEqual([recipient.jwk.kid, escrow.jwk.kid]);

    const asRecipient = await decryptEnvelope(envelope, { privateKey: recipient.privateKeyPem });
    expect(asRecipient.plaintext.equals(plaintext)).toBe(true);
    expect(asRecipient.opened?.holder.role).toBe('recipient');
    expect(asRecipient.opened?.signingKid).toBe(devSigner.kid);

    const asEscrow = await decryptEnvelope(envelope, { privateKey: escrow.privateKeyPem });
    expect(asEscrow.plaintext.equals(plaintext)).toBe(true);
    expect(asEscrow.opened?.holder).toMatchObject({ institution: 'nhc-hgr-office', role: 'escrow' });

    await expectEnvelopeError(decryptEnvelope(envelope, { privateKey: outsider.privateKeyPem }), 'ERR_ENVELOPE_NOT_RECIPIENT');
  });

  it('refuses holders without the recipient, and keys that are not public P-256', async () => {
    const encryptor = createEnvelopeEncryptor(BINDING_FIELDS);
    Readable.from([Buffer.from('x')]).pipe(encryptor.body).resume();
    await new Promise((resolve) => encryptor.body.on('end', resolve));
    await expectEnvelopeError(encryptor.finish({ holders: [{ institution: escrow.institution, role: 'escrow', jwk: escrow.jwk }], signer: devSigner }), 'ERR_ENVELOPE_KEY_INVALID');
    // finish is single-shot: the data key was zeroed with the first attempt.
    await expectEnvelopeError(encryptor.finish({ holders: [], signer: devSigner }), 'ERR_INTERNAL');

    const second = createEnvelopeEncryptor(BINDING_FIELDS);
    second.body.end();
    second.body.resume();
    await new Promise((resolve) => second.body.on('end', resolve));
    const ed = devSigner.publicJwks().keys[0];
    await expectEnvelopeError(second.finish({ holders: [{ institution: recipient.institution, role: 'recipient', jwk: ed! }], signer: devSigner }), 'ERR_ENVELOPE_KEY_INVALID');
  });

  it('wraps early for the holders given, while the body streams; finish with other holders wraps for those', async () => {
    const plaintext = randomBytes(5000);
    const seal = async (early: typeof DEFAULT_HOLDERS, atFinish: typeof DEFAULT_HOLDERS) => {
      const encryptor = createEnvelopeEncryptor(BINDING_FIELDS);
      encryptor.wrapEarly({ holders: early });
      const sealed: Buffer[] = [];
      await pipeline(Readable.from([plaintext]), encryptor.body, collect(sealed));
      const { prefix, header } = await encryptor.finish({ holders: atFinish, signer: devSigner });
      return { envelope: Buffer.concat([prefix, ...sealed]), header };
    };
    const same = await seal(DEFAULT_HOLDERS, DEFAULT_HOLDERS);
    expect(same.header.wrappedKeys.map((k) => k.institution)).toEqual([recipient.institution, escrow.institution]);
    expect((await decryptEnvelope(same.envelope, { privateKey: escrow.privateKeyPem })).plaintext.equals(plaintext)).toBe(true);
    const onlyRecipient = DEFAULT_HOLDERS.filter((holder) => holder.role === 'recipient');
    const other = await seal(DEFAULT_HOLDERS, onlyRecipient);
    expect(other.header.wrappedKeys.map((k) => k.institution)).toEqual([recipient.institution]);
    expect((await decryptEnvelope(other.envelope)).plaintext.equals(plaintext)).toBe(true);
    await expectEnvelopeError(decryptEnvelope(other.envelope, { privateKey: escrow.privateKeyPem }), 'ERR_ENVELOPE_NOT_RECIPIENT');
  });

  it('a P-256 JWK whose point is not on the curve is refused every time it is given (a failed import is not kept)', async () => {
    const offCurve = { ...recipient.jwk, y: Buffer.alloc(32, 7).toString('base64url') };
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const encryptor = createEnvelopeEncryptor(BINDING_FIELDS);
      await pipeline(Readable.from([Buffer.from('x')]), encryptor.body, collect([]));
      await expectEnvelopeError(encryptor.finish({ holders: [{ institution: recipient.institution, role: 'recipient', jwk: offCurve }], signer: devSigner }), 'ERR_ENVELOPE_KEY_INVALID');
    }
    // The good key with the same x still wraps (its entry is its own).
    const encryptor = createEnvelopeEncryptor(BINDING_FIELDS);
    const sealed: Buffer[] = [];
    await pipeline(Readable.from([Buffer.from('fine')]), encryptor.body, collect(sealed));
    const { prefix } = await encryptor.finish({ holders: DEFAULT_HOLDERS, signer: devSigner });
    expect((await decryptEnvelope(Buffer.concat([prefix, ...sealed]))).plaintext.toString()).toBe('fine');
  });

  it('an early wrap that fails (a key that is not P-256) fails finish, not before', async () => {
    const encryptor = createEnvelopeEncryptor(BINDING_FIELDS);
    const ed = devSigner.publicJwks().keys[0];
    const holders = [{ institution: recipient.institution, role: 'recipient' as const, jwk: ed! }];
    encryptor.wrapEarly({ holders });
    await pipeline(Readable.from([Buffer.from('x')]), encryptor.body, collect([]));
    await expectEnvelopeError(encryptor.finish({ holders, signer: devSigner }), 'ERR_ENVELOPE_KEY_INVALID');
  });

  it('finish() before the body ended is refused', async () => {
    const encryptor = createEnvelopeEncryptor(BINDING_FIELDS);
    await expectEnvelopeError(encryptor.finish({ holders: [], signer: devSigner }), 'ERR_INTERNAL');
  });
});

describe('secrecy of the data key', () => {
  it('appears in no encoding in the header or the body', async () => {
    const plaintext = randomBytes(70_000);
    const { prefix, body, header } = await makeEnvelope(plaintext);
    const wrapped = header.wrappedKeys.find((k) => k.role === 'recipient');
    const { plaintext: dataKey } = await compactDecrypt(wrapped!.jwe, createPrivateKey(recipient.privateKeyPem));
    expect(dataKey.length).toBe(32);
    const key = Buffer.from(dataKey);
    const segmentKey = Buffer.from(hkdfSync('sha256', key, Buffer.from(header.binding.salt, 'base64url'), Buffer.from(header.bindingSha256, 'hex'), 32));
    for (const secret of [key, segmentKey]) {
      for (const haystack of [prefix, body]) {
        expect(haystack.includes(secret)).toBe(false);
        for (const encoding of ['hex', 'base64', 'base64url'] as const) {
          expect(haystack.includes(Buffer.from(secret.toString(encoding), 'latin1'))).toBe(false);
        }
      }
    }
    // No segment of plaintext shows through either.
    expect(body.includes(plaintext.subarray(0, 32))).toBe(false);
  });
});

describe('streaming', () => {
  it('a stalled consumer stalls the producer (backpressure, bounded buffering)', async () => {
    const encryptor = createEnvelopeEncryptor(BINDING_FIELDS);
    let produced = 0;
    const source = new Readable({
      read() {
        produced += 1;
        this.push(produced > 1000 ? null : randomBytes(SEGMENT));
      },
    });
    source.pipe(encryptor.body);
    await vi.waitFor(() => expect(encryptor.body.readableLength).toBeGreaterThan(0));
    // Many turns of the event loop, each a chance for the pipe to push more (not wall-clock time).
    for (let turn = 0; turn < 200; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    // Nobody reads the ciphertext: only a few segments may be in flight, not the 64 MB on offer.
    expect(produced).toBeLessThan(8);
    expect(encryptor.body.readableLength + encryptor.body.writableLength).toBeLessThanOrEqual(4 * (SEGMENT + 16));
    source.destroy();
    encryptor.body.destroy();
  });

  it('the decryptor releases plaintext segment by segment, before the end of the envelope', async () => {
    const plaintext = randomBytes(5 * SEGMENT);
    const { envelope } = await makeEnvelope(plaintext);
    const decryptor = createEnvelopeDecryptor({ privateKey: recipient.privateKeyPem, jwks: devSigner.publicJwks() });
    const received: Buffer[] = [];
    decryptor.on('data', (piece: Buffer) => received.push(piece));
    // Everything but the last segment: all full segments come out, nothing waits for the end.
    decryptor.write(envelope.subarray(0, envelope.length - (SEGMENT + 16)));
    await vi.waitFor(() => expect(Buffer.concat(received).length).toBe(4 * SEGMENT));
    expect(Buffer.concat(received).equals(plaintext.subarray(0, 4 * SEGMENT))).toBe(true);
    decryptor.end(envelope.subarray(envelope.length - (SEGMENT + 16)));
    await new Promise((resolve) => decryptor.on('end', resolve));
    expect(Buffer.concat(received).equals(plaintext)).toBe(true);
  });

  it('encrypting into a discarding sink leaves nothing behind', async () => {
    const encryptor = createEnvelopeEncryptor(BINDING_FIELDS);
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    await new Promise<void>((resolve, reject) => Readable.from([randomBytes(10)]).pipe(encryptor.body).pipe(sink).on('finish', resolve).on('error', reject));
    const { header } = await encryptor.finish({ holders: [{ institution: recipient.institution, role: 'recipient', jwk: recipient.jwk }], signer: devSigner });
    expect(header.segmentCount).toBe(1);
  });
});

describe('readEnvelopeHeader', () => {
  it('reads the header from bytes or a stream without the body; verifies with a JWKS', async () => {
    const { envelope, prefix, headerJws, header } = await makeEnvelope(randomBytes(200_000));
    const unverified = await readEnvelopeHeader(envelope);
    expect(unverified).toMatchObject({ headerJws, kid: devSigner.kid, verified: false, bodyOffset: prefix.length });
    expect(unverified.header).toEqual(header);
    let pulled = 0;
    const stream = Readable.from((function* () {
      for (let offset = 0; offset < envelope.length; offset += 1000) {
        pulled += 1;
        yield envelope.subarray(offset, offset + 1000);
      }
    })());
    const verified = await readEnvelopeHeader(stream, { jwks: devSigner.publicJwks() });
    expect(verified).toMatchObject({ verified: true, header, kid: devSigner.kid });
    expect(pulled).toBeLessThan(Math.ceil(prefix.length / 1000) + 2);
  });
});
