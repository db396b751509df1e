// Crypt4GH key files: every published key file in test/fixtures/crypt4gh (scrypt, bcrypt and
// unprotected c4gh-v1 secret keys under three different label lines) opens and matches its public
// key file; ours round-trip; wrong input is refused with ERR_CRYPT4GH_KEY.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatCrypt4ghPublicKey, formatCrypt4ghSecretKey, generateX25519KeyPair, parseCrypt4ghPublicKey, parseCrypt4ghSecretKey, x25519PublicKeyOf } from '../../gateway/crypt4gh/crypt4gh-keys.js';
import { errorCodeOf } from '../support/error-code.js';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/crypt4gh');
const fixture = (name: string): string => readFileSync(path.join(FIXTURES, name), 'utf8');

describe('published Crypt4GH key files', () => {
  it.each([
    ['reader', 'password', 'scrypt'],
    ['recipient2', 'password', 'scrypt'],
    ['raw', undefined, 'none'],
    ['ega-alice', 'alice', 'bcrypt'],
    ['ega-bob', 'bob', 'bcrypt'],
  ])('%s.sec (passphrase %s, kdf %s) opens and matches its .pub', async (name, passphrase, _kdf) => {
    const secret = await parseCrypt4ghSecretKey(fixture(`${name}.sec`), passphrase);
    expect(secret).toHaveLength(32);
    expect(x25519PublicKeyOf(secret).equals(parseCrypt4ghPublicKey(fixture(`${name}.pub`)))).toBe(true);
  });

  it('gives the intermediate values the fixture README lists for reader.sec', async () => {
    expect((await parseCrypt4ghSecretKey(fixture('reader.sec'), 'password')).toString('hex')).toBe('23917aa32d70294429f50899a0825c2ffdc07f98197dfc8195d6ea942a1914eb');
    expect(parseCrypt4ghPublicKey(fixture('reader.pub')).toString('hex')).toBe('cbaeec90614aa9837ed27fb53f4172c586bf9473d45a296837891daf1ec9dc10');
  });

  it('refuses a wrong passphrase, a missing one, and key files that are not Crypt4GH', async () => {
    expect(await errorCodeOf(parseCrypt4ghSecretKey(fixture('reader.sec'), 'wrong'))).toBe('ERR_CRYPT4GH_KEY');
    expect(await errorCodeOf(parseCrypt4ghSecretKey(fixture('ega-alice.sec'), 'bob'))).toBe('ERR_CRYPT4GH_KEY');
    expect(await errorCodeOf(parseCrypt4ghSecretKey(fixture('reader.sec')))).toBe('ERR_CRYPT4GH_KEY');
    expect(await errorCodeOf(parseCrypt4ghSecretKey(fixture('reader.pub')))).toBe('ERR_CRYPT4GH_KEY');
    expect(await errorCodeOf(() => parseCrypt4ghPublicKey('-----BEGIN CRYPT4GH PUBLIC KEY-----\nAAAA\n-----END CRYPT4GH PUBLIC KEY-----\n'))).toBe('ERR_CRYPT4GH_KEY');
    expect(await errorCodeOf(() => parseCrypt4ghPublicKey('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI'))).toBe('ERR_CRYPT4GH_KEY');
    // A file cut inside its fields: c4gh-v1, then a kdf name that claims more bytes than there are.
    const cut = `-----BEGIN CRYPT4GH PRIVATE KEY-----\n${Buffer.concat([Buffer.from('c4gh-v1'), Buffer.from([0, 40]), Buffer.from('scr')]).toString('base64')}\n-----END CRYPT4GH PRIVATE KEY-----\n`;
    expect(await errorCodeOf(parseCrypt4ghSecretKey(cut, 'x'))).toBe('ERR_CRYPT4GH_KEY');
  });
});

describe('key files we write', () => {
  it('round-trip, protected (scrypt) and unprotected, with a comment', async () => {
    const { secretKey, publicKey } = generateX25519KeyPair();
    const protectedFile = await formatCrypt4ghSecretKey(secretKey, 'correct horse', 'hetao-sz-institute');
    expect(protectedFile).toMatch(/^-----BEGIN CRYPT4GH ENCRYPTED PRIVATE KEY-----\n/);
    expect((await parseCrypt4ghSecretKey(protectedFile, 'correct horse')).equals(secretKey)).toBe(true);
    expect(await errorCodeOf(parseCrypt4ghSecretKey(protectedFile, 'wrong horse'))).toBe('ERR_CRYPT4GH_KEY');
    expect((await parseCrypt4ghSecretKey(await formatCrypt4ghSecretKey(secretKey))).equals(secretKey)).toBe(true);
    expect(parseCrypt4ghPublicKey(formatCrypt4ghPublicKey(publicKey)).equals(publicKey)).toBe(true);
    expect(x25519PublicKeyOf(secretKey).equals(publicKey)).toBe(true);
  });
});
