// Certificates with chosen names and validity, signed by a CA made for the test and thrown away: for
// what the registry reads from a certificate (fingerprint, issuer, serial, subject, expiry), where
// the chain is never checked.
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export interface ThrowawayCa {
  readonly cert: forge.pki.Certificate;
  readonly privateKey: forge.pki.PrivateKey;
  /** Leaves share one key: only their certificates differ. */
  readonly leafKey: forge.pki.PublicKey;
}

function rsaKeyPair(): { privateKey: forge.pki.PrivateKey; publicKey: forge.pki.PublicKey } {
  // node:crypto generates in native code; forge's pure-JS generation is far slower.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey: forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
  };
}

export function throwawayCa(commonName = 'Throwaway Test CA'): ThrowawayCa {
  const ca = rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date('2020-01-01T00:00:00Z');
  cert.validity.notAfter = new Date('2040-01-01T00:00:00Z');
  cert.publicKey = ca.publicKey;
  const name = [
    { shortName: 'C', value: 'HK' },
    { shortName: 'O', value: 'Test Only' },
    { shortName: 'CN', value: commonName },
  ];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([{ name: 'basicConstraints', cA: true, critical: true }]);
  cert.sign(ca.privateKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { cert, privateKey: ca.privateKey, leafKey: rsaKeyPair().publicKey };
}

export interface LeafRequest {
  /** Hex, below 0x80 in its first byte (forge writes it as-is into the DER INTEGER). */
  readonly serial: string;
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SAN URI, e.g. `urn:hetao:inst:hk-ctc`. */
  readonly uri?: string;
}

/** A client certificate from `ca`, as PEM (LF line ends, as a registry file holds it). */
export function issueLeaf(ca: ThrowawayCa, request: LeafRequest): string {
  const cert = forge.pki.createCertificate();
  cert.serialNumber = request.serial;
  cert.validity.notBefore = request.notBefore;
  cert.validity.notAfter = request.notAfter;
  cert.publicKey = ca.leafKey;
  cert.setSubject([
    { shortName: 'C', value: 'HK' },
    { shortName: 'O', value: 'Test Only' },
    { shortName: 'CN', value: request.commonName },
  ]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
    ...(request.uri === undefined ? [] : [{ name: 'subjectAltName', altNames: [{ type: 6, value: request.uri }] }]),
  ]);
  cert.sign(ca.privateKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
}
