// The CRL checks of loadTlsMaterial, called directly on real files: what a good CRL set yields, and
// every way a CRL file is refused with ERR_CRL_INVALID (the listener then keeps its old material).
import { generateKeyPairSync } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import forge from 'node-forge';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadTlsMaterial, type TlsFiles } from '../../gateway/identity/tls-material.js';
import { buildCrlPem, type CrlRequest } from '../../scripts/build-crl.js';
import { devFile, issuingCa, rootCa } from '../support/dev-pki.js';

let dir: string;
let files: TlsFiles & { crlFile: string };
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-tls-material-'));
  files = {
    certFile: devFile('gateway-server.dev-only.cert.pem'),
    keyFile: devFile('gateway-server.dev-only.key.pem'),
    caFile: devFile('zone-ca-bundle.dev-only.pem'),
    crlFile: path.join(dir, 'crl.pem'),
  };
  await copyFile(devFile('zone-crl.dev-only.pem'), files.crlFile);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HOUR = 3_600_000;
const now = new Date();

function crlOf(ca: CrlRequest['ca'], overrides: Partial<CrlRequest> = {}): string {
  return buildCrlPem({
    ca,
    crlNumber: 7,
    thisUpdate: new Date(now.getTime() - HOUR),
    nextUpdate: new Date(now.getTime() + 24 * HOUR),
    revoked: [],
    ...overrides,
  });
}

/** A key the zone never issued, carrying the issuing CA's name: what a forger holds. */
function impostorOf(ca: CrlRequest['ca']): CrlRequest['ca'] {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { cert: ca.cert, privateKey: forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey };
}

async function refusal(crlContent: string): Promise<string> {
  await writeFile(files.crlFile, crlContent);
  const error = await loadTlsMaterial(files, now).then(
    () => undefined,
    (caught: unknown) => caught as { code?: string; message: string },
  );
  expect(error, 'the CRL file was accepted').toBeDefined();
  expect(error?.code).toBe('ERR_CRL_INVALID');
  return error?.message ?? '';
}

describe('loadTlsMaterial: CRLs', () => {
  it('reads issuer, validity and revoked serials of every zone CA CRL, each checked against its CA', async () => {
    const material = await loadTlsMaterial(files, now);
    const subjects = material.caCertificates.map((ca) => ca.subject);
    expect(material.crl).toHaveLength(2);
    expect(material.crls.map((crl) => crl.issuer).sort()).toEqual([...subjects].sort());
    const issuing = material.crls.find((crl) => crl.issuer.includes('Issuing CA'));
    expect(issuing?.revokedSerials).toEqual(['2902']);
    expect(issuing?.thisUpdate.getTime()).toBeLessThanOrEqual(now.getTime());
    expect(issuing?.nextUpdate?.getTime()).toBeGreaterThan(now.getTime());
    expect(material.crls.find((crl) => crl.issuer.includes('Root CA'))?.revokedSerials).toEqual([]);
  });

  it('reports serials as lowercase hex without leading zeros', async () => {
    const root = (await readFile(devFile('zone-crl.dev-only.pem'), 'utf8')).split(/(?=-----BEGIN X509 CRL-----)/)[0] ?? '';
    const revoked = ['0A0B', '00ff01', '7f'].map((serial) => ({ serial, revocationDate: now }));
    await writeFile(files.crlFile, `${root}${crlOf(issuingCa(), { revoked })}`);
    const material = await loadTlsMaterial(files, now);
    expect(material.crls.find((crl) => crl.issuer.includes('Issuing CA'))?.revokedSerials).toEqual(['a0b', 'ff01', '7f']);
  });

  it('is switched off with no CRL file: no CRL is passed to TLS', async () => {
    const material = await loadTlsMaterial({ ...files, crlFile: undefined }, now);
    expect(material.crl).toBeUndefined();
    expect(material.crls).toEqual([]);
  });

  it('refuses a CRL that carries a zone CA name but is signed by another key', async () => {
    const message = await refusal(`${crlOf(rootCa())}${crlOf(impostorOf(issuingCa()))}`);
    expect(message).toMatch(/CRL #2 is not signed by any configured zone CA/);
  });

  it('refuses a CRL whose signature does not match its content', async () => {
    const der = Buffer.from(crlOf(issuingCa()).replace(/-----[A-Z0-9 ]+-----|\s/g, ''), 'base64');
    der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01; // last byte of the signature
    const tampered = `-----BEGIN X509 CRL-----\n${der.toString('base64')}\n-----END X509 CRL-----\n`;
    expect(await refusal(`${crlOf(rootCa())}${tampered}`)).toMatch(/CRL #2 is not signed by any configured zone CA/);
  });

  it('refuses a CRL whose signature field is empty (unsigned)', async () => {
    const der = Buffer.from(crlOf(issuingCa()).replace(/-----[A-Z0-9 ]+-----|\s/g, ''), 'base64');
    const list = forge.asn1.fromDer(der.toString('binary'));
    (list.value as forge.asn1.Asn1[])[2] = forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.BITSTRING, false, '\u0000');
    const unsigned = forge.pem.encode({ type: 'X509 CRL', body: forge.asn1.toDer(list).getBytes() });
    expect(await refusal(`${crlOf(rootCa())}${unsigned}`)).toMatch(/CRL #2 (is not signed|cannot be parsed)/);
  });

  it('refuses an expired CRL and one not valid yet', async () => {
    const expired = crlOf(issuingCa(), { thisUpdate: new Date(now.getTime() - 48 * HOUR), nextUpdate: new Date(now.getTime() - HOUR) });
    expect(await refusal(`${crlOf(rootCa())}${expired}`)).toMatch(/expired at/);
    const early = crlOf(issuingCa(), { thisUpdate: new Date(now.getTime() + HOUR) });
    expect(await refusal(`${crlOf(rootCa())}${early}`)).toMatch(/is not valid before/);
  });

  it('refuses a set that misses the CRL of one zone CA', async () => {
    expect(await refusal(crlOf(issuingCa()))).toMatch(/no CRL for CA .*Root CA/);
  });

  it('refuses garbage, a file without a PEM CRL, and a missing file', async () => {
    expect(await refusal('-----BEGIN X509 CRL-----\nbm90IGEgY3Js\n-----END X509 CRL-----\n')).toMatch(/CRL #1 cannot be parsed/);
    expect(await refusal('no PEM here\n')).toMatch(/holds no PEM CRL/);
    await rm(files.crlFile);
    await expect(loadTlsMaterial(files, now)).rejects.toMatchObject({ code: 'ERR_CRL_INVALID' });
  });
});
