// `hetao decrypt` as a recipient runs it: a child process on real envelope files. Good envelopes
// come out byte-exact; tampered ones exit non-zero with the code and leave no output file.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewaySigner } from '../../gateway/envelope/gateway-signer.js';
import { runHetao } from '../support/run-cli.js';
import { escrow, makeEnvelope, newEd25519Pem, outsider, recipient, SIGNING_KEY_PEM } from './envelope-fixtures.js';

let dir: string;
let plaintext: Buffer;
let envelopeFile: string;
let tamperedFile: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-decrypt-'));
  plaintext = randomBytes(3 * 65536 + 777);
  const { envelope, prefix } = await makeEnvelope(plaintext);
  envelopeFile = path.join(dir, 'dataset.hetao');
  await writeFile(envelopeFile, envelope);
  const tampered = Buffer.from(envelope);
  const at = prefix.length + 65536 + 16 + 10; // inside segment 1
  tampered[at] = (tampered[at] ?? 0) ^ 0xff;
  tamperedFile = path.join(dir, 'tampered.hetao');
  await writeFile(tamperedFile, tampered);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('hetao decrypt', () => {
  it('writes the exact plaintext to -o and names what it verified', async () => {
    const out = path.join(dir, 'out.bin');
    const result = await runHetao(['decrypt', envelopeFile, '--key', recipient.privateKeyFile, '-o', out]);
    expect(result.stderr).toContain('DEVELOPMENT signing key');
    expect(result.stderr).toContain('as recipient hk-uni-genomics');
    expect(result.code).toBe(0);
    expect((await readFile(out)).equals(plaintext)).toBe(true);
    expect(existsSync(`${out}.partial`)).toBe(false);
  });

  it('decrypts as the escrow holder to stdout, with an explicit JWKS listing a rotated key', async () => {
    const text = Buffer.from('chromosome\tposition\tref\talt\n'.repeat(5000));
    const { envelope } = await makeEnvelope(text);
    const file = path.join(dir, 'text.hetao');
    await writeFile(file, envelope);
    const jwksFile = path.join(dir, 'jwks.json');
    await writeFile(jwksFile, JSON.stringify(createGatewaySigner(newEd25519Pem(), { previousPublicKeys: [SIGNING_KEY_PEM] }).publicJwks()));
    const result = await runHetao(['decrypt', file, '--key', escrow.privateKeyFile, '--jwks', jwksFile]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(text.toString());
    expect(result.stderr).toContain('as escrow nhc-hgr-office');
  });

  it('a tampered envelope: exit 1, one line with the code, no output file', async () => {
    const out = path.join(dir, 'tampered.out');
    const result = await runHetao(['decrypt', tamperedFile, '--key', recipient.privateKeyFile, '-o', out]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(/^ERR_ENVELOPE_SEGMENT: segment 1 fails authentication/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.partial`)).toBe(false);
  });

  it('a truncated envelope: ERR_ENVELOPE_TRUNCATED, no output file', async () => {
    const truncatedFile = path.join(dir, 'truncated.hetao');
    const envelope = await readFile(envelopeFile);
    await writeFile(truncatedFile, envelope.subarray(0, envelope.length - (777 + 16)));
    const out = path.join(dir, 'truncated.out');
    const result = await runHetao(['decrypt', truncatedFile, '--key', recipient.privateKeyFile, '-o', out]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('ERR_ENVELOPE_TRUNCATED');
    expect(existsSync(out) || existsSync(`${out}.partial`)).toBe(false);
  });

  it('the wrong key: ERR_ENVELOPE_NOT_RECIPIENT; a non-dev signer without --jwks: asks for --jwks', async () => {
    const wrongKey = await runHetao(['decrypt', envelopeFile, '--key', outsider.privateKeyFile, '-o', path.join(dir, 'x.out')]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toContain('ERR_ENVELOPE_NOT_RECIPIENT');
    expect(existsSync(path.join(dir, 'x.out.partial'))).toBe(false);

    const { envelope } = await makeEnvelope(randomBytes(100), { signer: createGatewaySigner(newEd25519Pem()) });
    const file = path.join(dir, 'prod.hetao');
    await writeFile(file, envelope);
    const noJwks = await runHetao(['decrypt', file, '--key', recipient.privateKeyFile]);
    expect(noJwks.code).toBe(1);
    expect(noJwks.stderr).toMatch(/^ERR_ENVELOPE_SIGNATURE: .*--jwks/);
    expect(noJwks.stdout).toBe('');
  });

  it('usage errors exit 2', async () => {
    const result = await runHetao(['decrypt', envelopeFile]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('hetao decrypt <envelope>');
  });
});
