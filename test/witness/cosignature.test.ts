// Cosignatures and vkeys against the C2SP facts (shared/design/formats.md): the key ID derivation,
// checked on the signed-note spec's own worked example (type 0x01) and recomputed by hand for type
// 0x04; the cosignature's bytes (key ID ‖ u64 big-endian time ‖ Ed25519 signature over
// "cosignature/v1\ntime <t>\n" + the checkpoint text) taken apart with node:crypto alone; round trips;
// and every tampering refused.
import { createHash, createPublicKey, generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCosigner, formatVerifierKey, parseVerifierKey, verifyCosignature } from '../../gateway/witness/cosignature.js';
import { checkNoteSignature, noteKeyId, parseSignedNote } from '../../gateway/witness/signed-note.js';

const WITNESS = 'witness.hk.hetao.example/w1';
const CHECKPOINT = 'gateway.sz.hetao.example/audit\n13\nH9I4a1nHfNNkXbL3ApWP3J8/Wz3Rq5lsGPp7MVHpRZ8=\n';
// formats.md, "Worked example" (the signed-note spec's own).
const SPEC_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const SPEC_NOTE = 'This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';

function ed25519(): { pem: string; publicKey: KeyObject; raw: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicKey, raw: Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url') };
}

const rawKeyObject = (raw: Uint8Array): KeyObject => createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });

describe('key IDs and vkeys', () => {
  it("reads the signed-note spec's example vkey: its key ID is the one recomputed from name, type 0x01 and key, and it formats back the same", () => {
    const key = parseVerifierKey(SPEC_VKEY);
    if (typeof key === 'string') throw new Error(key);
    expect(key).toMatchObject({ name: 'example.com/foo', keyId: '530d903a', type: 0x01 });
    expect(key.publicKey.toString('hex')).toMatch(/^e932791a.*dd4da4$/);
    expect(noteKeyId('example.com/foo', 0x01, key.publicKey).toString('hex')).toBe('530d903a');
    expect(formatVerifierKey(key)).toBe(SPEC_VKEY);
  });

  it("verifies the spec's example note with its vkey's key, and ignores a line of an unknown key", () => {
    const key = parseVerifierKey(SPEC_VKEY);
    if (typeof key === 'string') throw new Error(key);
    const note = parseSignedNote(SPEC_NOTE);
    if (typeof note === 'string') throw new Error(note);
    expect(note.text).toBe('This is an example message.\n');
    expect(note.signatures.map((signature) => [signature.name, signature.keyId.toString('hex'), signature.signature.length])).toEqual([['example.com/foo', '530d903a', 64]]);
    expect(checkNoteSignature(note, { name: key.name, publicKey: rawKeyObject(key.publicKey) })).toBe('verified');
    expect(checkNoteSignature(note, { name: key.name, publicKey: ed25519().publicKey })).toBe('absent');
    const altered = parseSignedNote(SPEC_NOTE.replace('example message', 'example massage'));
    if (typeof altered === 'string') throw new Error(altered);
    expect(checkNoteSignature(altered, { name: key.name, publicKey: rawKeyObject(key.publicKey) })).toBe('failed');
  });

  it('refuses vkeys whose key ID does not match, or that are not name+hex+base64', () => {
    const wrongId = SPEC_VKEY.replace('530d903a', '530d903b');
    for (const vkey of [wrongId, 'example.com/foo+530d903a', 'example com+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k', 'example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k', 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2', 'example.com/foo+530d903a+Aeky']) {
      expect(typeof parseVerifierKey(vkey), vkey).toBe('string');
    }
  });
});

describe('Ed25519 cosignatures (type 0x04)', () => {
  it("derives the cosigner's key ID as SHA-256(name ‖ 0x0A ‖ 0x04 ‖ key)[:4] and hands out its vkey", () => {
    const key = ed25519();
    const cosigner = createCosigner({ name: WITNESS, privateKeyPem: key.pem });
    const expectedId = createHash('sha256').update(Buffer.concat([Buffer.from(WITNESS), Buffer.from([0x0a, 0x04]), key.raw])).digest().subarray(0, 4).toString('hex');
    expect(cosigner.keyId).toBe(expectedId);
    expect(cosigner.vkey).toBe(`${WITNESS}+${expectedId}+${Buffer.concat([Buffer.from([0x04]), key.raw]).toString('base64')}`);
    expect(parseVerifierKey(cosigner.vkey)).toEqual({ name: WITNESS, keyId: expectedId, type: 0x04, publicKey: key.raw });
    // The same key as a note key (type 0x01) has another ID: the type is hashed in.
    expect(noteKeyId(WITNESS, 0x01, key.raw).toString('hex')).not.toBe(expectedId);
  });

  it("reads back a vkey whose base64 key holds '+' (the separator is only the first two)", () => {
    let vkey = '';
    let raw: Buffer = Buffer.alloc(0);
    for (let tries = 0; tries < 500 && !vkey.split('+').slice(2).join('+').includes('+'); tries += 1) {
      const key = ed25519();
      raw = key.raw;
      vkey = createCosigner({ name: WITNESS, privateKeyPem: key.pem }).vkey;
    }
    expect(vkey.split('+').length).toBeGreaterThan(3);
    expect(parseVerifierKey(vkey)).toMatchObject({ name: WITNESS, type: 0x04, publicKey: raw });
  });

  it('writes one line: key ID ‖ u64 big-endian time ‖ Ed25519 signature over the cosignature/v1 message', () => {
    const key = ed25519();
    const cosigner = createCosigner({ name: WITNESS, privateKeyPem: key.pem });
    const line = cosigner.cosign(CHECKPOINT, 1679315147);
    const match = /^— (\S+) ([A-Za-z0-9+/=]+)\n$/.exec(line);
    expect(match?.[1]).toBe(WITNESS);
    const blob = Buffer.from(match?.[2] ?? '', 'base64');
    expect(blob).toHaveLength(76);
    expect(blob.subarray(0, 4).toString('hex')).toBe(cosigner.keyId);
    expect(blob.subarray(4, 12).toString('hex')).toBe('00000000641850cb'); // 1679315147 (2023-03-20T12:25:47Z, the spec example's time)
    const message = Buffer.from(`cosignature/v1\ntime 1679315147\n${CHECKPOINT}`);
    expect(verify(null, message, key.publicKey, blob.subarray(12))).toBe(true);
  });

  it('verifies its own lines, with the raw key or a KeyObject, newline or not, extension lines included', () => {
    const key = ed25519();
    const cosigner = createCosigner({ name: WITNESS, privateKeyPem: key.pem });
    const withExtension = `${CHECKPOINT}extension line\n`;
    const line = cosigner.cosign(withExtension, 1_740_816_000);
    expect(verifyCosignature(line, withExtension, { name: WITNESS, publicKey: key.raw })).toEqual({ time: 1_740_816_000 });
    expect(verifyCosignature(line.trimEnd(), withExtension, { name: WITNESS, publicKey: key.publicKey })).toEqual({ time: 1_740_816_000 });
    expect(typeof verifyCosignature(line, CHECKPOINT, { name: WITNESS, publicKey: key.raw })).toBe('string');
  });

  it('refuses every tampering: text, time, signature, name, key, length', () => {
    const key = ed25519();
    const cosigner = createCosigner({ name: WITNESS, privateKeyPem: key.pem });
    const line = cosigner.cosign(CHECKPOINT, 1_740_816_000);
    const blob = Buffer.from(line.trimEnd().split(' ')[2] as string, 'base64');
    const withBlob = (bytes: Buffer): string => `— ${WITNESS} ${bytes.toString('base64')}\n`;
    const flipped = (at: number): Buffer => {
      const copy = Buffer.from(blob);
      copy[at] = (copy[at] as number) ^ 1;
      return copy;
    };
    const verifier = { name: WITNESS, publicKey: key.raw };
    const refusals = {
      text: verifyCosignature(line, CHECKPOINT.replace('\n13\n', '\n14\n'), verifier),
      time: verifyCosignature(withBlob(flipped(11)), CHECKPOINT, verifier),
      signature: verifyCosignature(withBlob(flipped(40)), CHECKPOINT, verifier),
      keyId: verifyCosignature(withBlob(flipped(0)), CHECKPOINT, verifier),
      name: verifyCosignature(line.replace(WITNESS, 'witness.sz.hetao.example/w1'), CHECKPOINT, verifier),
      otherKey: verifyCosignature(line, CHECKPOINT, { name: WITNESS, publicKey: ed25519().raw }),
      short: verifyCosignature(withBlob(blob.subarray(0, 75)), CHECKPOINT, verifier),
      notALine: verifyCosignature(line.replace('— ', '- '), CHECKPOINT, verifier),
    };
    for (const [what, outcome] of Object.entries(refusals)) expect(typeof outcome, what).toBe('string');
    expect(verifyCosignature(line, CHECKPOINT, verifier)).toEqual({ time: 1_740_816_000 });
  });

  it('refuses unusable keys and names (ERR_WITNESS_KEY_INVALID) and a time that is not a positive whole second', () => {
    const { pem } = ed25519();
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => createCosigner({ name: 'witness example', privateKeyPem: pem })).toThrow(expect.objectContaining({ code: 'ERR_WITNESS_KEY_INVALID' }));
    expect(() => createCosigner({ name: 'witness+1', privateKeyPem: pem })).toThrow(expect.objectContaining({ code: 'ERR_WITNESS_KEY_INVALID' }));
    expect(() => createCosigner({ name: '', privateKeyPem: pem })).toThrow(expect.objectContaining({ code: 'ERR_WITNESS_KEY_INVALID' }));
    expect(() => createCosigner({ name: WITNESS, privateKeyPem: p256 })).toThrow(expect.objectContaining({ code: 'ERR_WITNESS_KEY_INVALID' }));
    expect(() => createCosigner({ name: WITNESS, privateKeyPem: 'not a key' })).toThrow(expect.objectContaining({ code: 'ERR_WITNESS_KEY_INVALID' }));
    const cosigner = createCosigner({ name: WITNESS, privateKeyPem: pem });
    for (const time of [0, -1, 1.5, Number.NaN]) expect(() => cosigner.cosign(CHECKPOINT, time), String(time)).toThrow(expect.objectContaining({ code: 'ERR_INTERNAL' }));
  });
});
