// Envelope throughput benchmark (not a test): encrypts and decrypts BENCH_MIB (default 256) MiB of
// random data through the envelope streams into a null sink, next to two baselines measured in the
// same run over the same bytes: (a) SHA-256 alone, (b) raw AES-256-GCM over 64 KiB segments plus
// SHA-256, without streams or framing: the floor the envelope format itself cannot go below. The
// same for Crypt4GH (issue 16): our writer (which hashes the plaintext and the sealed data) and
// reader beside (c), raw ChaCha20-Poly1305 over 64 KiB segments plus SHA-256.
// Compare ratios: these machines are noisy. Each figure is the median of BENCH_ROUNDS (default 3)
// after one warm-up run.
// Run: npx tsc -p tsconfig.bench.json && node dist/bench/envelope-throughput.js
import { createCipheriv, createHash, randomBytes, randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { JWK } from 'jose';
import { PROJECT_ROOT } from '../gateway/config.js';
import { createEnvelopeDecryptor } from '../gateway/envelope/decrypt-envelope.js';
import { createEnvelopeEncryptor } from '../gateway/envelope/encrypt-envelope.js';
import { createGatewaySigner } from '../gateway/envelope/gateway-signer.js';
import { createCrypt4ghDecryptStream } from '../gateway/crypt4gh/crypt4gh-decrypt-stream.js';
import { writeCrypt4ghHeader } from '../gateway/crypt4gh/crypt4gh-format.js';
import { generateX25519KeyPair } from '../gateway/crypt4gh/crypt4gh-keys.js';
import { createCrypt4ghBodySealer } from '../gateway/crypt4gh/seal-crypt4gh-body.js';
import { reportResult } from './support/report.js';

const MIB = 1024 * 1024;
const SIZE_MIB = Number(process.env.BENCH_MIB ?? 256);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SEGMENT = 64 * 1024;
/** What a file read stream hands over: 64 KiB at a time. */
const READ_CHUNK = 64 * 1024;

const certs = (file: string): string => readFileSync(path.join(PROJECT_ROOT, 'certs-dev', file), 'utf8');
const signer = createGatewaySigner(certs('gateway-signing.dev-only.key.pem'));
const recipientJwk = JSON.parse(certs('institutions/hk-uni-genomics.dev-only.enc.pub.jwk.json')) as JWK;
const recipientKey = certs('institutions/hk-uni-genomics.dev-only.enc.key.pem');

function chunksOf(data: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += size) chunks.push(data.subarray(offset, offset + size));
  return chunks;
}

const nullSink = (keep?: Buffer[]): Writable =>
  new Writable({
    highWaterMark: SEGMENT,
    write(chunk: Buffer, _encoding, callback) {
      keep?.push(chunk);
      callback();
    },
  });

/** Median seconds of ROUNDS runs, after one untimed run to warm the JIT and the allocator. */
async function median(run: () => Promise<void> | void): Promise<number> {
  await run();
  const seconds: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const started = process.hrtime.bigint();
    await run();
    seconds.push(Number(process.hrtime.bigint() - started) / 1e9);
  }
  seconds.sort((a, b) => a - b);
  return seconds[Math.floor(seconds.length / 2)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const data = Buffer.allocUnsafe(SIZE_MIB * MIB);
  for (let offset = 0; offset < data.length; offset += 64 * MIB) randomFillSync(data, offset, Math.min(64 * MIB, data.length - offset));
  const input = chunksOf(data, READ_CHUNK);
  let sink = 0;

  const sha = await median(() => {
    const hash = createHash('sha256');
    for (const piece of input) hash.update(piece);
    sink += hash.digest()[0] ?? 0;
  });

  const rawGcm = await median(() => {
    const key = randomBytes(32);
    const hash = createHash('sha256');
    const nonce = Buffer.alloc(12);
    let index = 0;
    for (const segment of chunksOf(data, SEGMENT)) {
      hash.update(segment);
      nonce.writeUInt32BE(index++, 7);
      const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      sink += cipher.update(segment).length + cipher.final().length + cipher.getAuthTag().length;
    }
    sink += hash.digest()[0] ?? 0;
  });

  const encryptOnce = async (keep?: Buffer[]): Promise<Buffer> => {
    const encryptor = createEnvelopeEncryptor({ transferId: 'bench', sender: 'sz-hospital', recipient: 'hk-uni-genomics', policyRevision: 'bench', decisionId: 'bench' });
    await pipeline(Readable.from(input), encryptor.body, nullSink(keep));
    const { prefix } = await encryptor.finish({ holders: [{ institution: 'hk-uni-genomics', role: 'recipient', jwk: recipientJwk }], signer });
    return prefix;
  };
  const encrypt = await median(async () => {
    await encryptOnce();
  });
  // The decryptor's input, made outside the timings: keeping 256 MiB of ciphertext costs memory, not crypto.
  const sealed: Buffer[] = [];
  const envelope = [await encryptOnce(sealed), ...sealed];

  let decryptedBytes = 0;
  const decrypt = await median(async () => {
    decryptedBytes = 0;
    const decryptor = createEnvelopeDecryptor({ privateKey: recipientKey, jwks: signer.publicJwks() });
    await pipeline(
      Readable.from(envelope),
      decryptor,
      new Writable({
        highWaterMark: SEGMENT,
        write(chunk: Buffer, _encoding, callback) {
          decryptedBytes += chunk.length;
          callback();
        },
      }),
    );
  });
  if (decryptedBytes !== data.length) throw new Error(`decrypted ${decryptedBytes} bytes of ${data.length}`);

  // Crypt4GH (issue 16), over the same bytes: raw ChaCha20-Poly1305 per 64 KiB segment + SHA-256 as
  // its floor, then our writer (header for one reader, body sealer hashing plaintext and data) and reader.
  const rawChacha = await median(() => {
    const key = randomBytes(32);
    const hash = createHash('sha256');
    for (const segment of chunksOf(data, SEGMENT)) {
      hash.update(segment);
      const cipher = createCipheriv('chacha20-poly1305', key, randomBytes(12), { authTagLength: 16 });
      sink += cipher.update(segment).length + cipher.final().length + cipher.getAuthTag().length;
    }
    sink += hash.digest()[0] ?? 0;
  });
  const reader = generateX25519KeyPair();
  const crypt4ghOnce = (keep?: Buffer[]): void => {
    const dataKey = randomBytes(32);
    keep?.push(writeCrypt4ghHeader([reader.publicKey], { dataKey }));
    const sealer = createCrypt4ghBodySealer(dataKey);
    const emit = (pieces: Buffer[]): void => {
      if (keep) keep.push(...pieces);
      else for (const piece of pieces) sink += piece.length;
    };
    for (const piece of input) emit(sealer.write(piece));
    emit(sealer.end());
  };
  const crypt4ghEncrypt = await median(() => crypt4ghOnce());
  const crypt4ghFile: Buffer[] = [];
  crypt4ghOnce(crypt4ghFile);
  const crypt4ghDecrypt = await median(async () => {
    decryptedBytes = 0;
    await pipeline(
      Readable.from(crypt4ghFile),
      createCrypt4ghDecryptStream(reader.secretKey),
      new Writable({
        highWaterMark: SEGMENT,
        write(chunk: Buffer, _encoding, callback) {
          decryptedBytes += chunk.length;
          callback();
        },
      }),
    );
  });
  if (decryptedBytes !== data.length) throw new Error(`Crypt4GH: decrypted ${decryptedBytes} bytes of ${data.length}`);

  const rate = (seconds: number): number => SIZE_MIB / seconds;
  const rows: [string, number][] = [
    ['baseline (a): SHA-256 alone', sha],
    ['baseline (b): raw AES-256-GCM per 64 KiB segment + SHA-256', rawGcm],
    ['envelope encrypt (stream, 64 KiB writes, + wrap + sign)', encrypt],
    ['envelope decrypt (stream, verify + unwrap + digest)', decrypt],
    ['baseline (c): raw ChaCha20-Poly1305 per 64 KiB segment + SHA-256', rawChacha],
    ['Crypt4GH encrypt (header + segments, plaintext and data SHA-256)', crypt4ghEncrypt],
    ['Crypt4GH decrypt (stream)', crypt4ghDecrypt],
  ];
  console.log(`envelope throughput, ${SIZE_MIB} MiB random data, median of ${ROUNDS} (Node ${process.version}, ${process.arch}, ${new Date().toISOString()})`);
  console.log('| case | MiB/s | vs (a) | vs (b) |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [name, seconds] of rows) {
    console.log(`| ${name} | ${rate(seconds).toFixed(0)} | ${(rate(seconds) / rate(sha)).toFixed(2)}× | ${(rate(seconds) / rate(rawGcm)).toFixed(2)}× |`);
  }
  reportResult({ area: 'envelope (issue 4)', name: 'envelope encrypt', value: rate(encrypt), unit: 'MiB/s', baseline: { name: 'raw AES-256-GCM + SHA-256', value: rate(rawGcm) } });
  reportResult({ area: 'envelope (issue 4)', name: 'envelope decrypt', value: rate(decrypt), unit: 'MiB/s', baseline: { name: 'raw AES-256-GCM + SHA-256', value: rate(rawGcm) } });
  reportResult({ area: 'crypt4gh (issue 16)', name: 'Crypt4GH encrypt', value: rate(crypt4ghEncrypt), unit: 'MiB/s', baseline: { name: 'raw ChaCha20-Poly1305 + SHA-256', value: rate(rawChacha) } });
  reportResult({ area: 'crypt4gh (issue 16)', name: 'Crypt4GH decrypt', value: rate(crypt4ghDecrypt), unit: 'MiB/s', baseline: { name: 'raw ChaCha20-Poly1305 + SHA-256', value: rate(rawChacha) } });
  reportResult({ area: 'crypt4gh (issue 16)', name: 'Crypt4GH encrypt vs our envelope', value: rate(crypt4ghEncrypt), unit: 'MiB/s', baseline: { name: 'envelope encrypt (AES-256-GCM)', value: rate(encrypt) } });
  if (sink < 0) console.log(sink);
}

await main();
