// Loads what the TLS listener trusts and presents: server certificate and key, the zone CAs, and
// their CRLs. Everything is checked before it is used, so a bad CRL or CA file is refused and the
// listener keeps the material it had (reload never fails open).
import { X509Certificate, createHash, createPrivateKey, webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API
// installed before the library is evaluated; imports are evaluated in this order.
import 'reflect-metadata';
import { PublicKey, X509Crl, cryptoProvider } from '@peculiar/x509';
import { GatewayError } from '../errors.js';

// The library's documented provider call: its key import and signature check use this WebCrypto
// rather than whatever global it found when it was loaded.
cryptoProvider.set(webcrypto);

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
  const crls = crl === undefined || files.crlFile === undefined ? [] : await checkCrls(crl, files.crlFile, caCertificates, now);
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
async function checkCrls(blocks: readonly string[], file: string, cas: readonly X509Certificate[], now: Date): Promise<CrlSummary[]> {
  const fail = (message: string): GatewayError => new GatewayError('ERR_CRL_INVALID', `${file}: ${message}`, { file });
  if (blocks.length === 0) throw fail('holds no PEM CRL');
  const caKeys = cas.map((ca) => ({ ca, key: new PublicKey(ca.publicKey.export({ type: 'spki', format: 'der' })) }));
  const summaries: CrlSummary[] = [];
  for (const [index, block] of blocks.entries()) {
    const parsed = readCrl(block);
    if (!parsed) throw fail(`CRL #${index + 1} cannot be parsed`);
    const issuer = await findSigner(parsed.crl, caKeys);
    if (!issuer) throw fail(`CRL #${index + 1} is not signed by any configured zone CA`);
    const { thisUpdate, nextUpdate, revokedSerials } = parsed;
    if (nextUpdate && nextUpdate <= now) throw fail(`CRL of ${issuer.subject.replace(/\n/g, ', ')} expired at ${nextUpdate.toISOString()}`);
    if (thisUpdate > now) throw fail(`CRL of ${issuer.subject.replace(/\n/g, ', ')} is not valid before ${thisUpdate.toISOString()}`);
    summaries.push({ issuer: issuer.subject, thisUpdate, nextUpdate, revokedSerials });
  }
  for (const ca of cas) {
    if (!summaries.some((crl) => crl.issuer === ca.subject)) throw fail(`no CRL for CA ${ca.subject.replace(/\n/g, ', ')}`);
  }
  return summaries;
}

interface ParsedCrl {
  readonly crl: X509Crl;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly revokedSerials: string[];
}

/** Every field read up front: the library decodes lazily, so a bad field would throw later. */
function readCrl(pem: string): ParsedCrl | undefined {
  try {
    const crl = new X509Crl(pem);
    return {
      crl,
      thisUpdate: crl.thisUpdate,
      nextUpdate: crl.nextUpdate,
      // Lowercase hex without leading zeros, one spelling whatever the encoder padded.
      revokedSerials: crl.entries.map((entry) => entry.serialNumber.toLowerCase().replace(/^0+(?=.)/, '')),
    };
  } catch {
    return undefined;
  }
}

/** The CA whose key verifies the CRL's signature; a signature that cannot even be checked verifies nothing. */
async function findSigner(crl: X509Crl, caKeys: readonly { ca: X509Certificate; key: PublicKey }[]): Promise<X509Certificate | undefined> {
  for (const { ca, key } of caKeys) {
    const signed = await crl.verify({ publicKey: key }).catch(() => false);
    if (signed) return ca;
  }
  return undefined;
}

/** The marker every certificate of the dev PKI carries in its subject. */
export const DEVELOPMENT_MARKER = 'DEVELOPMENT ONLY';

/** Certificates that must never be trusted in production because they belong to the dev PKI. */
export function findDevelopmentCertificates(material: TlsMaterial): string[] {
  return [material.serverCertificate, ...material.caCertificates]
    .filter((cert) => cert.subject.includes(DEVELOPMENT_MARKER))
    .map((cert) => cert.subject.replace(/\n/g, ', '));
}
