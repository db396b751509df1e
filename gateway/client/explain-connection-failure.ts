// Turning a request that got no answer into its cause in words. Node and undici report a refused
// TLS identity as "other side closed" or ECONNRESET: the gateway (Node's TLS server) closes the
// connection without a TLS alert when it rejects a client certificate. So when a request dies that
// way, one probe handshake with the same identity tells a refusal from a connection cut later, and
// the certificate itself (validity, issuer) tells why it was most likely refused.
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect } from 'node:tls';
import { describeCertificate } from './check-client-credentials.js';

export interface ConnectionIdentity {
  readonly baseUrl: string;
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  readonly ca: string | Buffer;
  /** The leaf of `cert`, already parsed (check-client-credentials.ts). */
  readonly certificate: X509Certificate;
  readonly now?: () => Date;
}

/** Verification errors of the gateway's own certificate, as Node names them. */
const SERVER_UNTRUSTED: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'its certificate chains to a self-signed CA that is not in the CA bundle',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its certificate is issued by a CA that is not in the CA bundle (unknown CA)',
  UNABLE_TO_GET_ISSUER_CERT: 'its certificate is issued by a CA that is not in the CA bundle (unknown CA)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its certificate is issued by a CA that is not in the CA bundle (unknown CA)',
  CERT_UNTRUSTED: 'its certificate is not trusted by the CA bundle',
  CERT_SIGNATURE_FAILURE: 'the signature of its certificate does not verify',
  CERT_HAS_EXPIRED: 'its certificate has expired',
  CERT_NOT_YET_VALID: 'its certificate is not valid yet',
  CERT_REVOKED: 'its certificate is revoked',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its certificate is not issued for this host name',
  INVALID_PURPOSE: 'its certificate is not one for a TLS server',
};

/** TLS alerts a server sends when it refuses the client's certificate, as Node names them. */
const REFUSAL_ALERTS: Readonly<Record<string, string>> = {
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'bad certificate',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'unknown CA',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: 'certificate expired',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED: 'certificate revoked',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: 'certificate unknown',
  ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE: 'unsupported certificate',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'certificate required',
  ERR_SSL_TLSV1_ALERT_ACCESS_DENIED: 'access denied',
  ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR: 'decrypt error: the key did not sign for the certificate',
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: 'handshake failure',
};

/** A connection that ends this way may be a refused handshake: probe to find out. */
const SILENT_CLOSE = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED']);

/** How long the probe handshake may take on a busy machine before we give up on explaining. */
const PROBE_TIMEOUT_MS = 30_000;

function codesOf(error: unknown): string[] {
  const codes: string[] = [];
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string') codes.push(code);
  }
  return codes;
}

function caCertificates(ca: string | Buffer): X509Certificate[] {
  const blocks = ca.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.flatMap((block) => {
    try {
      return [new X509Certificate(block)];
    } catch {
      return [];
    }
  });
}

const day = (date: Date): string => date.toISOString().slice(0, 10);

/** Why the gateway most likely refused this certificate, from what this side can see. */
function likelyRefusalCause(identity: ConnectionIdentity): string {
  const { certificate } = identity;
  const now = identity.now?.() ?? new Date();
  const from = new Date(certificate.validFrom);
  const to = new Date(certificate.validTo);
  const named = describeCertificate(certificate);
  if (now > to) return `our certificate (${named}) expired on ${day(to)}: get a renewed one from the zone CA`;
  if (now < from) return `our certificate (${named}) is not valid before ${day(from)}`;
  const issuer = caCertificates(identity.ca).find((ca) => certificate.checkIssued(ca) && certificate.verify(ca.publicKey));
  if (!issuer) {
    const issuerName = /^CN=(.*)$/m.exec(certificate.issuer)?.[1] ?? certificate.issuer;
    return `our certificate (${named}) is issued by "${issuerName}", which is not a zone CA in the CA bundle (unknown CA): the gateway accepts only certificates of the zone CA`;
  }
  return `our certificate (${named}) is within its validity and issued by the zone CA, so it has most likely been revoked (the gateway checks the zone CA's CRL): ask the zone CA or the gateway's operators`;
}

type ProbeOutcome = { readonly accepted: true } | { readonly accepted: false; readonly code: string | undefined };

/** The server does not speak the TLS version the probe offered. */
const PROTOCOL_MISMATCH = new Set(['ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'ERR_SSL_UNSUPPORTED_PROTOCOL', 'ERR_SSL_NO_PROTOCOLS_AVAILABLE', 'ERR_SSL_WRONG_VERSION_NUMBER']);

/**
 * One handshake with the same identity. Under TLS 1.2 the server checks the client certificate
 * before it finishes the handshake, so a finished handshake means the TLS layer accepted us. Under
 * TLS 1.3 the client finishes first: there the probe sends a request, and any answer means accepted.
 */
function probeHandshake(identity: ConnectionIdentity, version: 'TLSv1.2' | 'TLSv1.3'): Promise<ProbeOutcome | undefined> {
  const url = new URL(identity.baseUrl);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    let settled = false;
    let code: string | undefined;
    const socket = connect({
      host,
      port: Number(url.port || 443),
      ...(isIP(host) ? {} : { servername: host }),
      cert: identity.cert,
      key: identity.key,
      ca: identity.ca,
      minVersion: version,
      maxVersion: version,
    });
    const settle = (outcome: ProbeOutcome | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => settle(undefined), PROBE_TIMEOUT_MS);
    socket.once('secureConnect', () => {
      if (version === 'TLSv1.2') settle({ accepted: true });
      else socket.write(`GET /.well-known/jwks.json HTTP/1.1\r\nhost: ${url.host}\r\nconnection: close\r\n\r\n`);
    });
    socket.once('data', () => settle({ accepted: true }));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      code ??= error.code;
      // The gateway's own certificate failed: not a refusal of ours, and already explained by the code.
      if (code !== undefined && code in SERVER_UNTRUSTED) settle(undefined);
    });
    socket.once('close', () => settle({ accepted: false, code }));
  });
}

/** Probes with TLS 1.2, and with TLS 1.3 when the server does not offer 1.2. */
async function probe(identity: ConnectionIdentity): Promise<ProbeOutcome | undefined> {
  const outcome = await probeHandshake(identity, 'TLSv1.2');
  if (outcome && !outcome.accepted && outcome.code !== undefined && PROTOCOL_MISMATCH.has(outcome.code)) return probeHandshake(identity, 'TLSv1.3');
  return outcome;
}

function refusal(identity: ConnectionIdentity, alert: string | undefined): string {
  const how = alert ? `with the TLS alert "${alert}"` : 'by closing the connection without an answer';
  const cause = alert === 'certificate revoked' ? 'our certificate has been revoked by the zone CA' : likelyRefusalCause(identity);
  return `the gateway refused our client certificate during the TLS handshake (${how}): ${cause}`;
}

/**
 * The cause of a failed request in words, or undefined when it is none of the known kinds (then
 * the low-level error stays the message). May make one probe connection with the same identity.
 */
export async function explainConnectionFailure(error: unknown, identity: ConnectionIdentity): Promise<string | undefined> {
  const codes = codesOf(error);
  const url = new URL(identity.baseUrl);
  const untrusted = codes.find((code) => code in SERVER_UNTRUSTED);
  if (untrusted) {
    return `the gateway at ${url.host} is not trusted: ${SERVER_UNTRUSTED[untrusted]}; pass the zone CA bundle with --ca (or HETAO_CLIENT_CA)`;
  }
  const alert = codes.find((code) => code in REFUSAL_ALERTS);
  if (alert) return refusal(identity, REFUSAL_ALERTS[alert]);
  if (codes.includes('ERR_OSSL_X509_KEY_VALUES_MISMATCH')) return 'the client key does not match the client certificate';
  if (codes.includes('ECONNREFUSED')) return `nothing is listening at ${url.host} (connection refused): is the gateway running, and is the URL right?`;
  if (codes.includes('ENOTFOUND') || codes.includes('EAI_AGAIN')) return `the host ${url.hostname} cannot be found`;
  if (codes.includes('ETIMEDOUT') || codes.includes('UND_ERR_CONNECT_TIMEOUT')) return `${url.host} does not answer (connection timed out)`;
  if (!codes.some((code) => SILENT_CLOSE.has(code))) return undefined;
  const outcome = await probe(identity);
  if (outcome === undefined || outcome.accepted) return undefined; // the handshake works: the connection was cut later
  return refusal(identity, outcome.code === undefined ? undefined : REFUSAL_ALERTS[outcome.code]);
}
