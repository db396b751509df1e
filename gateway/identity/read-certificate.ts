// Extracts from a DER client certificate the facts the registry binds principals to. Parsing uses
// node-forge so the same code serves the gateway, the CLI and the dev PKI script.
import { createHash } from 'node:crypto';
import forge from 'node-forge';
import { formatDistinguishedName } from './distinguished-name.js';

export interface CertificateFacts {
  /** SHA-256 of the DER encoding, lowercase hex. */
  readonly sha256: string;
  /** RFC 4514 issuer name. */
  readonly issuer: string;
  readonly subject: string;
  /** Serial number, lowercase hex without leading zeros. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SAN URIs, e.g. `urn:hetao:inst:sz-hospital`. */
  readonly uris: readonly string[];
}

const SAN_URI_TYPE = 6;

/** Reads the binding facts of a DER certificate. Throws when the bytes are not a certificate. */
export function readCertificate(der: Uint8Array): CertificateFacts {
  const cert = forge.pki.certificateFromAsn1(forge.asn1.fromDer(forge.util.createBuffer(Buffer.from(der).toString('binary'))));
  const san = cert.getExtension('subjectAltName') as { altNames?: { type: number; value: string }[] } | null;
  return {
    sha256: createHash('sha256').update(der).digest('hex'),
    issuer: formatDistinguishedName(cert.issuer),
    subject: formatDistinguishedName(cert.subject),
    serial: normaliseSerial(cert.serialNumber),
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
    uris: (san?.altNames ?? []).filter((name) => name.type === SAN_URI_TYPE).map((name) => name.value),
  };
}

/** Serials compare as numbers: drop leading zero octets forge keeps from the DER integer. */
export function normaliseSerial(serialHex: string): string {
  return serialHex.toLowerCase().replace(/^0+(?=.)/, '');
}
