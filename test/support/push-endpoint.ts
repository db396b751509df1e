// A recipient's push endpoint for tests: a real HTTPS server with a zone certificate naming the
// institution (SAN URI urn:hetao:inst:<id>), requiring the gateway's client certificate, that
// hashes what it receives and acknowledges it as the push protocol says. `behaviour` scripts each
// request: fail with a status, stall (to be cut off), or accept.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import forge from 'node-forge';
import { issuingCa, zoneCaBundle } from './dev-pki.js';

/** A server certificate from the dev issuing CA for 127.0.0.1, naming `institution`. */
export function issueEndpointCertificate(institution: string): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ca = issuingCa();
  const cert = forge.pki.createCertificate();
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.setSubject([{ shortName: 'CN', value: `${institution} push endpoint` }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 6, value: `urn:hetao:inst:${institution}` }] },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(ca.privateKey, forge.md.sha256.create());
  return { cert: `${forge.pki.certificateToPem(cert)}${forge.pki.certificateToPem(ca.cert)}`, key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

export type PushBehaviour = 'accept' | 'stall' | { readonly status: number };

export interface PushEndpoint {
  readonly url: string;
  /** Complete envelopes received and acknowledged, by transfer id (a repeat is acknowledged as a duplicate, not stored twice). */
  readonly stored: Map<string, { sha256: string; bytes: number; clientSubject: string }>;
  /** Every request seen, in order: transfer id and what was done with it. */
  readonly requests: { transferId: string; outcome: string }[];
  /** Resolves when a request stalls (its first bytes arrived and the endpoint stopped reading). */
  stalled(): Promise<void>;
  close(): Promise<void>;
}

export async function startPushEndpoint(institution: string, behaviours: PushBehaviour[] = []): Promise<PushEndpoint> {
  const stored: PushEndpoint['stored'] = new Map();
  const requests: PushEndpoint['requests'] = [];
  let onStall: (() => void) | undefined;
  const stalledOnce = new Promise<void>((resolve) => (onStall = resolve));
  const server: Server = createServer({ ...issueEndpointCertificate(institution), ca: zoneCaBundle(), requestCert: true, rejectUnauthorized: true }, (request, response) => {
    const transferId = decodeURIComponent(request.url?.split('/').at(-1) ?? '');
    const behaviour = behaviours.shift() ?? 'accept';
    if (behaviour === 'stall') {
      requests.push({ transferId, outcome: 'stalled' });
      request.once('data', () => {
        request.pause();
        onStall?.();
      });
      return;
    }
    if (typeof behaviour === 'object') {
      requests.push({ transferId, outcome: `status ${behaviour.status}` });
      request.resume();
      response.writeHead(behaviour.status, { 'content-type': 'text/plain' }).end('not now');
      return;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    request.on('end', () => {
      const sha256 = hash.digest('hex');
      const duplicate = stored.get(transferId)?.sha256 === sha256;
      const subject = (request.socket as TLSSocket).getPeerCertificate().subject;
      if (!duplicate) stored.set(transferId, { sha256, bytes, clientSubject: JSON.stringify(subject) });
      requests.push({ transferId, outcome: duplicate ? 'duplicate' : 'stored' });
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ transferId, envelopeSha256: sha256, ...(duplicate ? { duplicate: true } : {}) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/hetao/inbox`,
    stored,
    requests,
    stalled: () => stalledOnce,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
