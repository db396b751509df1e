// Loads what the TLS listener trusts and presents: server certificate and key, the zone CAs, and
// their CRLs. Everything is checked before it is used, so a bad CRL or CA file is refused and the
// listener keeps the material it had (reload never fails open).
import { X509Certificate, createHash, createPrivateKey, verify as verifySignature } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import forge from 'node-forge';
import { GatewayError } from '../errors.js';

export interface TlsMaterial {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly ca: Buffer;
  /**
   * One PEM string per CRL; absent when revocation checking is switched off (never in production).
   * Node's TLS reads only the first CRL of a string, so they must be passed as an array.
   */
  readonly crl: readonly string[] | undefined;
  readonly serverCertificate: X509Certificate;
  readonly caCertificates: readonly X509Certificate[];
  readonly crls: readonly CrlSummary[];
  /** SHA-256 over CA and CRL bytes: changes whenever trust changes. */
  readonly revision: string;
}

export interface CrlSummary {
  readonly issuer: string;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly revokedSerials: readonly string[];
}

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  readonly crlFile: string | undefined;
}

/**
 * Reads and checks the TLS files.
 * @throws GatewayError ERR_CONFIG_INVALID (certificate, key or CA unusable) or ERR_CRL_INVALID.
 */
export async function loadTlsMaterial(files: TlsFiles, now: Date = new Date()): Promise<TlsMaterial> {
  const [cert, key, ca, crlFile] = await Promise.all([
    readConfigured(files.certFile, 'ERR_CONFIG_INVALID'),
    readConfigured(files.keyFile, 'ERR_CONFIG_INVALID'),
    readConfigured(files.caFile, 'ERR_CONFIG_INVALID'),
    files.crlFile === undefined ? undefined : readConfigured(files.crlFile, 'ERR_CRL_INVALID'),
  ]);
  const serverCertificate = parseCertificates(cert, files.certFile)[0] as X509Certificate;
  const caCertificates = parseCertificates(ca, files.caFile);
  try {
    if (!serverCertificate.checkPrivateKey(createPrivateKey(key))) throw new Error('key does not match the certificate');
  } catch (cause) {
    throw new GatewayError('ERR_CONFIG_INVALID', `${files.keyFile}: ${(cause as Error).message}`, undefined, { cause });
  }
  const crl = crlFile === undefined ? undefined : pemBlocks(crlFile, 'X509 CRL');
  const crls = crl === undefined || files.crlFile === undefined ? [] : checkCrls(crl, files.crlFile, caCertificates, now);
  try {
    createSecureContext({ key, cert, ca, ...(crl ? { crl: [...crl] } : {}) });
  } catch (cause) {
    throw new GatewayError('ERR_CONFIG_INVALID', `TLS material rejected by OpenSSL: ${(cause as Error).message}`, undefined, { cause });
  }
  return Object.freeze({
    key,
    cert,
    ca,
    crl,
    serverCertificate,
    caCertificates,
    crls,
    revision: createHash('sha256').update(ca).update(crlFile ?? '').digest('hex'),
  });
}

async function readConfigured(file: string, code: 'ERR_CONFIG_INVALID' | 'ERR_CRL_INVALID'): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (cause) {
    throw new GatewayError(code, `${file} cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { file }, { cause });
  }
}

function pemBlocks(bytes: Buffer, label: string): string[] {
  const pattern = new RegExp(`-----BEGIN ${label}-----[\\s\\S]+?-----END ${label}-----`, 'g');
  return bytes.toString('utf8').match(pattern) ?? [];
}

function parseCertificates(bytes: Buffer, file: string): X509Certificate[] {
  const blocks = pemBlocks(bytes, 'CERTIFICATE');
  if (blocks.length === 0) throw new GatewayError('ERR_CONFIG_INVALID', `${file} holds no PEM certificate`, { file });
  try {
    return blocks.map((block) => new X509Certificate(block));
  } catch (cause) {
    throw new GatewayError('ERR_CONFIG_INVALID', `${file} holds an unreadable certificate`, { file }, { cause });
  }
}

/**
 * Every CA needs a current CRL signed by itself: Node's TLS checks the CRL of every certificate in
 * the chain, so a missing, expired or forged CRL would otherwise refuse every caller or none.
 */
function checkCrls(blocks: readonly string[], file: string, cas: readonly X509Certificate[], now: Date): CrlSummary[] {
  const fail = (message: string): GatewayError => new GatewayError('ERR_CRL_INVALID', `${file}: ${message}`, { file });
  if (blocks.length === 0) throw fail('holds no PEM CRL');
  const summaries = blocks.map((block, index) => {
    let parsed: ParsedCrl;
    try {
      parsed = parseCrl(block);
    } catch {
      throw fail(`CRL #${index + 1} cannot be parsed`);
    }
    const issuer = cas.find((ca) => safeVerify(parsed, ca));
    if (!issuer) throw fail(`CRL #${index + 1} is not signed by any configured zone CA`);
    if (parsed.nextUpdate && parsed.nextUpdate <= now) throw fail(`CRL of ${issuer.subject.replace(/\n/g, ', ')} expired at ${parsed.nextUpdate.toISOString()}`);
    if (parsed.thisUpdate > now) throw fail(`CRL of ${issuer.subject.replace(/\n/g, ', ')} is not valid before ${parsed.thisUpdate.toISOString()}`);
    return { issuer: issuer.subject, thisUpdate: parsed.thisUpdate, nextUpdate: parsed.nextUpdate, revokedSerials: parsed.revokedSerials };
  });
  for (const ca of cas) {
    if (!summaries.some((crl) => crl.issuer === ca.subject)) throw fail(`no CRL for CA ${ca.subject.replace(/\n/g, ', ')}`);
  }
  return summaries;
}

interface ParsedCrl {
  readonly tbs: Buffer;
  readonly signatureAlgorithm: string;
  readonly signature: Buffer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly revokedSerials: string[];
}

const DIGEST_OF_SIGNATURE_OID: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

/** RFC 5280 §5.1 CertificateList, read with node-forge's ASN.1 reader (it has no CRL type). */
function parseCrl(pem: string): ParsedCrl {
  const der = forge.pem.decode(pem)[0]?.body ?? '';
  const list = forge.asn1.fromDer(der);
  const [tbs, algorithm, signature] = list.value as forge.asn1.Asn1[];
  if (!tbs || !algorithm || !signature) throw new Error('not a CertificateList');
  const fields = (tbs.value as forge.asn1.Asn1[]).slice();
  if (fields[0]?.type === forge.asn1.Type.INTEGER) fields.shift(); // version
  const [, , thisUpdateField, ...rest] = fields;
  const time = (field: forge.asn1.Asn1): Date =>
    field.type === forge.asn1.Type.UTCTIME ? forge.asn1.utcTimeToDate(field.value as string) : forge.asn1.generalizedTimeToDate(field.value as string);
  const isTime = (field: forge.asn1.Asn1 | undefined): field is forge.asn1.Asn1 =>
    field !== undefined && field.tagClass === forge.asn1.Class.UNIVERSAL && (field.type === forge.asn1.Type.UTCTIME || field.type === forge.asn1.Type.GENERALIZEDTIME);
  if (!isTime(thisUpdateField)) throw new Error('no thisUpdate');
  const nextUpdateField = isTime(rest[0]) ? rest.shift() : undefined;
  const revoked = rest[0]?.tagClass === forge.asn1.Class.UNIVERSAL && rest[0].type === forge.asn1.Type.SEQUENCE ? (rest[0].value as forge.asn1.Asn1[]) : [];
  const algorithmOid = forge.asn1.derToOid((algorithm.value as forge.asn1.Asn1[])[0]?.value as string);
  return {
    tbs: Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary'),
    signatureAlgorithm: algorithmOid,
    // BIT STRING: the first octet counts unused bits (always 0 for signatures).
    signature: Buffer.from((signature.value as string).slice(1), 'binary'),
    thisUpdate: time(thisUpdateField),
    nextUpdate: nextUpdateField ? time(nextUpdateField) : undefined,
    revokedSerials: revoked.map((entry) => forge.util.bytesToHex((entry.value as forge.asn1.Asn1[])[0]?.value as string).replace(/^0+(?=.)/, '')),
  };
}

function safeVerify(crl: ParsedCrl, ca: X509Certificate): boolean {
  const digest = DIGEST_OF_SIGNATURE_OID[crl.signatureAlgorithm];
  if (!digest) return false;
  try {
    return verifySignature(digest, crl.tbs, ca.publicKey, crl.signature);
  } catch {
    return false;
  }
}

/** The marker every certificate of the dev PKI carries in its subject. */
export const DEVELOPMENT_MARKER = 'DEVELOPMENT ONLY';

/** Certificates that must never be trusted in production because they belong to the dev PKI. */
export function findDevelopmentCertificates(material: TlsMaterial): string[] {
  return [material.serverCertificate, ...material.caCertificates]
    .filter((cert) => cert.subject.includes(DEVELOPMENT_MARKER))
    .map((cert) => cert.subject.replace(/\n/g, ', '));
}
