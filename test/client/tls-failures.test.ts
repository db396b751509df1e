// Every way the client's TLS can fail, for real, against a real gateway (and one bare TLS server):
// the error names the cause in words instead of `UND_ERR_SOCKET` — a key that is not the
// certificate's (found before connecting), a gateway this side does not trust, and a client
// certificate the gateway refuses during the handshake (revoked, expired, unknown CA).
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer as createNetServer } from 'node:net';
import { createServer as createTlsServer, type Server } from 'node:tls';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientCredentialsError, GatewayRequestError } from '../../gateway/client/gateway-client-error.js';
import { createGatewayClient } from '../../gateway/client/gateway-client.js';
import { devFile, devIdentity, zoneCaBundle, type ClientIdentity } from '../support/dev-pki.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

const hospital = devIdentity('institutions/sz-hospital');

/** A self-signed TLS server certificate for 127.0.0.1 (a gateway set up without the zone CA). */
function createSelfSignedServer(): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  const name = [{ name: 'commonName', value: 'self-signed gateway' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(key) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key };
}
const selfSignedServer = createSelfSignedServer();
const encryptionKey = (id: string): string => readFileSync(devFile(`institutions/${id}.dev-only.enc.key.pem`), 'utf8');

/** One request with this identity; resolves with the error it fails with. */
async function failureOf(identity: ClientIdentity, { baseUrl = gw.gateway.apiUrl, ca = zoneCaBundle() } = {}): Promise<Error> {
  let client: ReturnType<typeof createGatewayClient> | undefined;
  try {
    client = createGatewayClient({ baseUrl, cert: identity.cert, key: identity.key, ca });
    await client.listTransfers({ as: 'sender' });
  } catch (error) {
    return error as Error;
  } finally {
    await client?.close();
  }
  throw new Error('the request succeeded');
}

describe('a key that does not match the certificate', () => {
  it('is named before connecting: the institution encryption key given as TLS key', async () => {
    const error = await failureOf({ ...hospital, key: encryptionKey('sz-hospital') });
    expect(error).toBeInstanceOf(ClientCredentialsError);
    expect(error.message).toMatch(/^the client key \(ec key\) does not match the client certificate \(CN=sz-hospital, serial 2102, rsa key\)/);
  });

  it('is named before connecting: another institution\'s TLS key', async () => {
    const error = await failureOf({ ...hospital, key: devIdentity('institutions/hk-ctc').key });
    expect(error).toBeInstanceOf(ClientCredentialsError);
    expect(error.message).toMatch(/does not match the client certificate/);
  });
});

describe('a gateway this side does not trust', () => {
  it('says the gateway is not trusted when its CA is not in the bundle', async () => {
    const error = await failureOf(hospital, { ca: readFileSync(devFile('negative/unknown-ca-root.dev-only.cert.pem'), 'utf8') });
    expect(error).toBeInstanceOf(GatewayRequestError);
    expect(error.message).toMatch(/failed: the gateway at 127\.0\.0\.1:\d+ is not trusted: its certificate is issued by a CA that is not in the CA bundle \(unknown CA\)/);
  });

  it('says so for a self-signed gateway certificate', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'hetao-self-signed-'));
    await writeFile(path.join(dir, 'server.cert.pem'), selfSignedServer.cert);
    await writeFile(path.join(dir, 'server.key.pem'), selfSignedServer.key);
    const selfSigned = await startTestGateway({ HETAO_TLS_CERT: path.join(dir, 'server.cert.pem'), HETAO_TLS_KEY: path.join(dir, 'server.key.pem') });
    try {
      const error = await failureOf(hospital, { baseUrl: selfSigned.gateway.apiUrl });
      expect(error.message).toMatch(/failed: the gateway at 127\.0\.0\.1:\d+ is not trusted: its certificate is self-signed/);
    } finally {
      await selfSigned.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('says so for a gateway presenting a CA certificate as its own', async () => {
    const misconfigured = await startTestGateway({
      HETAO_TLS_CERT: devFile('negative/unknown-ca-root.dev-only.cert.pem'),
      HETAO_TLS_KEY: devFile('negative/unknown-ca-root.dev-only.key.pem'),
    });
    try {
      const error = await failureOf(hospital, { baseUrl: misconfigured.gateway.apiUrl, ca: readFileSync(devFile('negative/unknown-ca-root.dev-only.cert.pem'), 'utf8') });
      expect(error.message).toMatch(/is not trusted: its certificate is not one for a TLS server/);
    } finally {
      await misconfigured.close();
    }
  }, 60_000);
});

describe('a client certificate the gateway refuses during the handshake', () => {
  it('revoked: within its validity and issued by the zone CA, so most likely revoked', async () => {
    const error = await failureOf(devIdentity('negative/revoked'));
    expect(error).toBeInstanceOf(GatewayRequestError);
    expect(error.message).toMatch(/failed: the gateway refused our client certificate during the TLS handshake \(.+\): our certificate \(CN=hetao-sz-institute, serial 2902, rsa key\) .*has most likely been revoked/);
  });

  it('expired: says when it expired', async () => {
    const error = await failureOf(devIdentity('negative/expired'));
    expect(error.message).toMatch(/the gateway refused our client certificate during the TLS handshake \(.+\): our certificate \(CN=sz-hospital, serial 2901, rsa key\) expired on \d{4}-\d{2}-\d{2}/);
  });

  it('unknown CA: names the issuer the zone does not know', async () => {
    const error = await failureOf(devIdentity('negative/unknown-ca'));
    expect(error.message).toMatch(/the gateway refused our client certificate during the TLS handshake \(.+\): our certificate \(CN=hk-uni-genomics, serial 2101, rsa key\) is issued by "Rogue CA[^"]*", which is not a zone CA in the CA bundle \(unknown CA\)/);
  });

  it('a certificate the gateway accepts is not reported as refused when the connection is cut later', async () => {
    // A bare TLS server with the gateway's certificate that accepts the handshake, then hangs up on the request.
    const server: Server = createTlsServer({
      cert: readFileSync(devFile('gateway-server.dev-only.cert.pem')),
      key: readFileSync(devFile('gateway-server.dev-only.key.pem')),
      ca: zoneCaBundle(),
      requestCert: true,
      rejectUnauthorized: true,
    });
    server.on('secureConnection', (socket) => socket.once('data', () => socket.destroy()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const error = await failureOf(hospital, { baseUrl: `https://127.0.0.1:${port}` });
      expect(error).toBeInstanceOf(GatewayRequestError);
      expect(error.message).not.toMatch(/refused/);
      expect(error.message).toMatch(/failed: (UND_ERR_SOCKET|ECONNRESET)$/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('no gateway at all', () => {
  it('says nothing is listening', async () => {
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    const error = await failureOf(hospital, { baseUrl: `https://127.0.0.1:${port}` });
    expect(error.message).toMatch(new RegExp(`failed: nothing is listening at 127\\.0\\.0\\.1:${port} \\(connection refused\\)`));
  });
});
