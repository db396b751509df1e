// The lab's TLS identity checked on this side before any connection: a certificate and a private
// key that do not belong together fail the handshake with nothing better than "other side closed"
// (the gateway just closes), so the mismatch is named here instead, in words.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { ClientCredentialsError } from './gateway-client-error.js';

export interface ClientCredentials {
  /** The client certificate chain (PEM, leaf first). */
  readonly cert: string | Buffer;
  /** The private key of the leaf (PEM). */
  readonly key: string | Buffer;
}

/** One line naming a certificate: subject common name, serial, key type. */
export function describeCertificate(certificate: X509Certificate): string {
  const cn = /^CN=(.*)$/m.exec(certificate.subject)?.[1] ?? certificate.subject.split('\n')[0];
  return `CN=${cn}, serial ${certificate.serialNumber}, ${certificate.publicKey.asymmetricKeyType ?? 'unknown'} key`;
}

/**
 * Parses the certificate and the key and checks that the key is the certificate's.
 * @returns the leaf certificate, for explaining a refusal later.
 * @throws ClientCredentialsError `unreadable-certificate`, `unreadable-key` or `key-mismatch`.
 */
export function checkClientCredentials(credentials: ClientCredentials): X509Certificate {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(credentials.cert);
  } catch (error) {
    throw new ClientCredentialsError('unreadable-certificate', `the client certificate is not a PEM X.509 certificate (${(error as Error).message})`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(credentials.key);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE' ? 'it is encrypted with a passphrase' : (error as Error).message;
    throw new ClientCredentialsError('unreadable-key', `the client key is not a usable PEM private key (${reason})`);
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new ClientCredentialsError(
      'key-mismatch',
      `the client key (${key.asymmetricKeyType ?? 'unknown'} key) does not match the client certificate (${describeCertificate(certificate)}): ` +
        'use the TLS key issued with this certificate (an encryption key is not a TLS key)',
    );
  }
  return certificate;
}
