// The Crypt4GH body sealer: whatever the chunking, its segments behind a header make a file our
// reader opens to the plaintext, and its totals are the plaintext's size and SHA-256, the segment
// count and the SHA-256 of the data section exactly as written.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createCrypt4ghDecryptStream } from '../../gateway/crypt4gh/crypt4gh-decrypt-stream.js';
import { writeCrypt4ghHeader } from '../../gateway/crypt4gh/crypt4gh-format.js';
import { generateX25519KeyPair } from '../../gateway/crypt4gh/crypt4gh-keys.js';
import { createCrypt4ghBodySealer } from '../../gateway/crypt4gh/seal-crypt4gh-body.js';

describe('createCrypt4ghBodySealer', () => {
  const reader = generateX25519KeyPair();

  it.each([
    [0, 1000],
    [1, 1],
    [65536, 65536],
    [65536 * 2 + 7, 10_000],
    [300_000, 65537],
  ])('%i bytes written %i at a time', async (size, chunk) => {
    const plaintext = randomBytes(size);
    const dataKey = randomBytes(32);
    const header = writeCrypt4ghHeader([reader.publicKey], { dataKey });
    const sealer = createCrypt4ghBodySealer(dataKey);
    const data: Buffer[] = [];
    for (let at = 0; at < size; at += chunk) data.push(...sealer.write(plaintext.subarray(at, at + chunk)));
    data.push(...sealer.end());
    expect(dataKey.equals(Buffer.alloc(32))).toBe(true);
    const section = Buffer.concat(data);
    expect(sealer.totals()).toEqual({
      plaintextSize: size,
      sha256: createHash('sha256').update(plaintext).digest('hex'),
      segmentCount: Math.ceil(size / 65536),
      dataSha256: createHash('sha256').update(section).digest('hex'),
    });
    const stream = createCrypt4ghDecryptStream(reader.secretKey);
    const [out] = await Promise.all([buffer(stream), pipeline(Readable.from([header, section]), stream)]);
    expect(out.equals(plaintext)).toBe(true);
  });
});
