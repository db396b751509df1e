// Builds X.509 v2 CRLs (RFC 5280 §5) for the development PKI and for tests that revoke a
// certificate at run time. node-forge has no CRL API, so the structure is built with forge.asn1.
import forge from 'node-forge';

const OID_SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const OID_CRL_NUMBER = '2.5.29.20';
const OID_AUTHORITY_KEY_IDENTIFIER = '2.5.29.35';


const { Class, Type } = forge.asn1;

function asn1Sequence(items: forge.asn1.Asn1[]): forge.asn1.Asn1 {
  return forge.asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, items);
}

function asn1Oid(oid: string): forge.asn1.Asn1 {
  return forge.asn1.create(Class.UNIVERSAL, Type.OID, false, forge.asn1.oidToDer(oid).getBytes());
}

function asn1Integer(value: number): forge.asn1.Asn1 {
  return forge.asn1.create(Class.UNIVERSAL, Type.INTEGER, false, forge.asn1.integerToDer(value).getBytes());
}

function asn1SerialNumber(hexSerial: string): forge.asn1.Asn1 {
  return forge.asn1.create(Class.UNIVERSAL, Type.INTEGER, false, forge.util.hexToBytes(hexSerial));
}

function asn1OctetString(bytes: string): forge.asn1.Asn1 {
  return forge.asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, bytes);
}

/** RFC 5280 §5.1.2.4: UTCTime through 2049, GeneralizedTime from 2050. */
function asn1Time(date: Date): forge.asn1.Asn1 {
  return date.getUTCFullYear() < 2050
    ? forge.asn1.create(Class.UNIVERSAL, Type.UTCTIME, false, forge.asn1.dateToUtcTime(date))
    : forge.asn1.create(Class.UNIVERSAL, Type.GENERALIZEDTIME, false, forge.asn1.dateToGeneralizedTime(date));
}

function sha256WithRsaAlgorithm(): forge.asn1.Asn1 {
  return asn1Sequence([asn1Oid(OID_SHA256_WITH_RSA), forge.asn1.create(Class.UNIVERSAL, Type.NULL, false, '')]);
}

function asn1Extension(oid: string, value: forge.asn1.Asn1): forge.asn1.Asn1 {
  return asn1Sequence([asn1Oid(oid), asn1OctetString(forge.asn1.toDer(value).getBytes())]);
}

export interface RevokedEntry {
  serial: string;
  revocationDate: Date;
}

export interface CrlRequest {
  /** The CA that signs the CRL. */
  ca: { cert: forge.pki.Certificate; privateKey: forge.pki.rsa.PrivateKey };
  crlNumber: number;
  thisUpdate: Date;
  nextUpdate: Date;
  revoked: RevokedEntry[];
}

function buildTbsCertList(request: CrlRequest): forge.asn1.Asn1 {
  const authorityKeyIdentifier = asn1Sequence([
    forge.asn1.create(Class.CONTEXT_SPECIFIC, 0, false, request.ca.cert.generateSubjectKeyIdentifier().getBytes()),
  ]);
  const crlExtensions = forge.asn1.create(Class.CONTEXT_SPECIFIC, 0, true, [
    asn1Sequence([
      asn1Extension(OID_CRL_NUMBER, asn1Integer(request.crlNumber)),
      asn1Extension(OID_AUTHORITY_KEY_IDENTIFIER, authorityKeyIdentifier),
    ]),
  ]);
  const fields = [
    asn1Integer(1), // v2
    sha256WithRsaAlgorithm(),
    forge.pki.distinguishedNameToAsn1(request.ca.cert.subject),
    asn1Time(request.thisUpdate),
    asn1Time(request.nextUpdate),
  ];
  // RFC 5280 §5.1.2.6: an empty list of revoked certificates MUST be absent, not empty.
  if (request.revoked.length > 0) {
    fields.push(
      asn1Sequence(
        request.revoked.map((entry) => asn1Sequence([asn1SerialNumber(entry.serial), asn1Time(entry.revocationDate)])),
      ),
    );
  }
  fields.push(crlExtensions);
  return asn1Sequence(fields);
}

/** A signed X.509 v2 CRL in PEM. */
export function buildCrlPem(request: CrlRequest): string {
  const tbsCertList = buildTbsCertList(request);
  const md = forge.md.sha256.create();
  md.update(forge.asn1.toDer(tbsCertList).getBytes());
  const signature = request.ca.privateKey.sign(md);
  const certificateList = asn1Sequence([
    tbsCertList,
    sha256WithRsaAlgorithm(),
    // BIT STRING: leading byte is the number of unused bits.
    forge.asn1.create(Class.UNIVERSAL, Type.BITSTRING, false, `\u0000${signature}`),
  ]);
  return forge.pem.encode({ type: 'X509 CRL', body: forge.asn1.toDer(certificateList).getBytes() });
}

