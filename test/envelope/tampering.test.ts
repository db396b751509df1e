// Every way of altering an envelope is caught, with the code that names what failed: the header
// (signature, signing key, binding), the body (segments altered, dropped, cut off, reordered,
// repeated, extended: the two Crypt4GH attacks among them) and the end-of-stream checks.
import { createPrivateKey, randomBytes } from 'node:crypto';
import canonicalize from 'canonicalize';
import { CompactSign } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { frameEnvelopePrefix } from '../../gateway/envelope/envelope-framing.js';
import { ENVELOPE_JWS_TYPE, hashBinding, type EnvelopeHeader } from '../../gateway/envelope/envelope-header.js';
import { createGatewaySigner } from '../../gateway/envelope/gateway-signer.js';
import { decryptEnvelope, devSigner, expectEnvelopeError, makeEnvelope, newEd25519Pem, SIGNING_KEY_PEM, splitSegments, type MadeEnvelope } from './envelope-fixtures.js';

const SEGMENT = 64 * 1024;
let made: MadeEnvelope;
let segments: Buffer[];

beforeAll(async () => {
  // 3½ segments: three full ones and a short final one.
  made = await makeEnvelope(randomBytes(3 * SEGMENT + SEGMENT / 2));
  segments = splitSegments(made.body, made.header);
  expect(segments.map((s) => s.length)).toEqual([SEGMENT + 16, SEGMENT + 16, SEGMENT + 16, SEGMENT / 2 + 16]);
});

const withBody = (...parts: Buffer[]): Buffer => Buffer.concat([made.prefix, ...parts]);
const flip = (bytes: Buffer, at: number): Buffer => {
  const copy = Buffer.from(bytes);
  copy[at] = (copy[at] ?? 0) ^ 0x01;
  return copy;
};
/** The same body behind a header re-signed by `signer` after `change`. */
const resigned = async (change: (header: EnvelopeHeader) => EnvelopeHeader, signer = devSigner): Promise<Buffer> =>
  frameEnvelopePrefix(await signer.sign(change(structuredClone(made.header) as EnvelopeHeader), { typ: ENVELOPE_JWS_TYPE }));

describe('the intact envelope', () => {
  it('decrypts (the baseline every case below departs from)', async () => {
    await expect(decryptEnvelope(made.envelope)).resolves.toBeDefined();
  });
});

describe('header', () => {
  const jwsStart = 13;
  it.each([
    ['protected header', () => jwsStart + 5],
    ['payload', () => jwsStart + made.headerJws.indexOf('.') + 40],
    ['signature', () => jwsStart + made.headerJws.length - 10],
  ])('a flipped byte in the JWS %s: ERR_ENVELOPE_SIGNATURE', async (_where, at) => {
    await expectEnvelopeError(decryptEnvelope(flip(made.envelope, at())), 'ERR_ENVELOPE_SIGNATURE');
  });

  it('a flipped magic byte or an unknown version: ERR_ENVELOPE_FORMAT', async () => {
    await expectEnvelopeError(decryptEnvelope(flip(made.envelope, 0)), 'ERR_ENVELOPE_FORMAT');
    const version2 = Buffer.from(made.envelope);
    version2[8] = 2;
    await expectEnvelopeError(decryptEnvelope(version2), 'ERR_ENVELOPE_FORMAT');
  });

  it('an envelope that ends inside its header: ERR_ENVELOPE_TRUNCATED', async () => {
    await expectEnvelopeError(decryptEnvelope(made.prefix.subarray(0, made.prefix.length - 1)), 'ERR_ENVELOPE_TRUNCATED');
  });

  it('the same header signed by another key posing under the gateway kid: ERR_ENVELOPE_SIGNATURE', async () => {
    const payload = new TextEncoder().encode(canonicalize(made.header));
    const jws = await new CompactSign(payload)
      .setProtectedHeader({ alg: 'EdDSA', kid: devSigner.kid, typ: ENVELOPE_JWS_TYPE })
      .sign(createPrivateKey(newEd25519Pem()));
    const error = await expectEnvelopeError(decryptEnvelope(Buffer.concat([frameEnvelopePrefix(jws), made.body])), 'ERR_ENVELOPE_SIGNATURE');
    expect(error.message).toContain('does not verify');
  });

  it('a changed binding field re-signed by a rogue key not in the JWKS: ERR_ENVELOPE_SIGNATURE', async () => {
    const rogue = createGatewaySigner(newEd25519Pem());
    const prefix = await resigned((h) => ({ ...h, binding: { ...h.binding, recipient: 'cn-outside-institute' } }), rogue);
    const error = await expectEnvelopeError(decryptEnvelope(Buffer.concat([prefix, made.body])), 'ERR_ENVELOPE_SIGNATURE');
    expect(error.message).toContain(rogue.kid);
  });

  it('a JWS by the gateway key that is not an envelope header (typ): ERR_ENVELOPE_FORMAT', async () => {
    const prefix = frameEnvelopePrefix(await devSigner.sign(made.header, { typ: 'hetao-audit-checkpoint+jws' }));
    await expectEnvelopeError(decryptEnvelope(Buffer.concat([prefix, made.body])), 'ERR_ENVELOPE_FORMAT');
  });

  // The next cases need the trusted key itself: they show what still holds if the gateway signed a wrong header.
  it('a changed binding under a valid signature: binding hash, then the wrapped key, refuse it (ERR_ENVELOPE_FORMAT)', async () => {
    const changed = (h: EnvelopeHeader): EnvelopeHeader => ({ ...h, binding: { ...h.binding, policyRevision: 'rev-other' } });
    const stale = await resigned(changed);
    const staleError = await expectEnvelopeError(decryptEnvelope(Buffer.concat([stale, made.body])), 'ERR_ENVELOPE_FORMAT');
    expect(staleError.message).toContain('bindingSha256');
    const rehashed = await resigned((h) => {
      const c = changed(h);
      return { ...c, bindingSha256: hashBinding(c.binding).toString('hex') };
    });
    const apvError = await expectEnvelopeError(decryptEnvelope(Buffer.concat([rehashed, made.body])), 'ERR_ENVELOPE_FORMAT');
    expect(apvError.message).toContain('another envelope');
  });

  it('a wrong digest under a valid signature: ERR_ENVELOPE_DIGEST at the end', async () => {
    const prefix = await resigned((h) => ({ ...h, plaintext: { ...h.plaintext, sha256: '0'.repeat(64) } }));
    await expectEnvelopeError(decryptEnvelope(Buffer.concat([prefix, made.body])), 'ERR_ENVELOPE_DIGEST');
  });

  it('a size that does not fit the segment count under a valid signature: ERR_ENVELOPE_SIZE', async () => {
    const prefix = await resigned((h) => ({ ...h, plaintext: { ...h.plaintext, size: h.plaintext.size + SEGMENT } }));
    await expectEnvelopeError(decryptEnvelope(Buffer.concat([prefix, made.body])), 'ERR_ENVELOPE_SIZE');
  });
});

describe('body', () => {
  it('a flipped byte in a segment: ERR_ENVELOPE_SEGMENT naming that segment', async () => {
    const body = flip(made.body, 2 * (SEGMENT + 16) + 1234);
    const error = await expectEnvelopeError(decryptEnvelope(withBody(body)), 'ERR_ENVELOPE_SEGMENT', { segment: 2 });
    expect(error.message).toContain('segment 2');
  });

  it('a flipped tag byte of the final segment: ERR_ENVELOPE_SEGMENT 3', async () => {
    await expectEnvelopeError(decryptEnvelope(withBody(flip(made.body, made.body.length - 1))), 'ERR_ENVELOPE_SEGMENT', { segment: 3 });
  });

  it('the last segment dropped: ERR_ENVELOPE_TRUNCATED', async () => {
    await expectEnvelopeError(decryptEnvelope(withBody(...segments.slice(0, 3))), 'ERR_ENVELOPE_TRUNCATED', { segments: 3, expectedSegments: 4 });
  });

  it('Crypt4GH attack 1, truncation at a segment boundary: ERR_ENVELOPE_TRUNCATED', async () => {
    await expectEnvelopeError(decryptEnvelope(withBody(...segments.slice(0, 2))), 'ERR_ENVELOPE_TRUNCATED', { segments: 2 });
    await expectEnvelopeError(decryptEnvelope(withBody()), 'ERR_ENVELOPE_TRUNCATED', { segments: 0 });
  });

  it('truncation in the middle of a segment: ERR_ENVELOPE_TRUNCATED', async () => {
    await expectEnvelopeError(decryptEnvelope(withBody(made.body.subarray(0, made.body.length - 100))), 'ERR_ENVELOPE_TRUNCATED');
  });

  it('truncation behind a header re-signed to match is still caught by the final flag: ERR_ENVELOPE_SEGMENT', async () => {
    const prefix = await resigned((h) => ({ ...h, segmentCount: 2, plaintext: { ...h.plaintext, size: 2 * SEGMENT } }));
    // Segment 1 was sealed as "not final"; opened as the last it fails.
    await expectEnvelopeError(decryptEnvelope(Buffer.concat([prefix, ...segments.slice(0, 2)])), 'ERR_ENVELOPE_SEGMENT', { segment: 1 });
  });

  it('Crypt4GH attack 2, two segments swapped: ERR_ENVELOPE_SEGMENT at the first moved one', async () => {
    const [s0, s1, s2, s3] = segments as [Buffer, Buffer, Buffer, Buffer];
    await expectEnvelopeError(decryptEnvelope(withBody(s1, s0, s2, s3)), 'ERR_ENVELOPE_SEGMENT', { segment: 0 });
    await expectEnvelopeError(decryptEnvelope(withBody(s0, s2, s1, s3)), 'ERR_ENVELOPE_SEGMENT', { segment: 1 });
  });

  it('a repeated segment, inserted or in place of another: ERR_ENVELOPE_SEGMENT', async () => {
    const [s0, s1, s2, s3] = segments as [Buffer, Buffer, Buffer, Buffer];
    await expectEnvelopeError(decryptEnvelope(withBody(s0, s0, s1, s2, s3)), 'ERR_ENVELOPE_SEGMENT', { segment: 1 });
    await expectEnvelopeError(decryptEnvelope(withBody(s0, s1, s1, s3)), 'ERR_ENVELOPE_SEGMENT', { segment: 2 });
  });

  it('garbage, or the final segment again, after the final segment: ERR_ENVELOPE_TRAILING_DATA', async () => {
    await expectEnvelopeError(decryptEnvelope(withBody(made.body, Buffer.from('garbage'))), 'ERR_ENVELOPE_TRAILING_DATA');
    await expectEnvelopeError(decryptEnvelope(withBody(made.body, segments[3]!)), 'ERR_ENVELOPE_TRAILING_DATA');
    await expectEnvelopeError(decryptEnvelope(withBody(made.body, Buffer.alloc(1))), 'ERR_ENVELOPE_TRAILING_DATA');
  });

  it('a body from another envelope (same keys, other binding): ERR_ENVELOPE_SEGMENT 0', async () => {
    const other = await makeEnvelope(randomBytes(3 * SEGMENT + SEGMENT / 2));
    await expectEnvelopeError(decryptEnvelope(withBody(other.body)), 'ERR_ENVELOPE_SEGMENT', { segment: 0 });
  });
});

describe('key rotation', () => {
  it('an envelope signed by the previous key verifies with a JWKS that lists both; not with the new key alone', async () => {
    const rotated = createGatewaySigner(newEd25519Pem(), { previousPublicKeys: [SIGNING_KEY_PEM] });
    const jwks = rotated.publicJwks();
    expect(jwks.keys.map((k) => k.kid)).toEqual([rotated.kid, devSigner.kid]);
    await expect(decryptEnvelope(made.envelope, { jwks })).resolves.toBeDefined();
    const fresh = await makeEnvelope(randomBytes(1000), { signer: rotated });
    await expect(decryptEnvelope(fresh.envelope, { jwks })).resolves.toBeDefined();
    await expectEnvelopeError(decryptEnvelope(made.envelope, { jwks: { keys: [jwks.keys[0]!] } }), 'ERR_ENVELOPE_SIGNATURE');
  });
});
