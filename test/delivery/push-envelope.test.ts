// Push delivery against real mutual-TLS endpoints on loopback: what the endpoint receives, how each
// kind of answer or failure is classified, and that a wrong peer gets no byte of the request.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import tls, { type PeerCertificate, type TLSSocket } from 'node:tls';
import forge from 'node-forge';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  EnvelopeSizeMismatchError,
  PermanentPushError,
  pushEnvelope,
  RetryablePushError,
  type PushRequest,
} from '../../gateway/delivery/push-envelope.js';
import { devFile, issuingCa, zoneCaBundle } from '../support/dev-pki.js';

const read = (name: string): string => readFileSync(devFile(name), 'utf8');
const GATEWAY_TLS = { cert: read('gateway-client.dev-only.cert.pem'), key: read('gateway-client.dev-only.key.pem'), ca: [zoneCaBundle()] };
const DEV_SERVER = { cert: read('gateway-server.dev-only.cert.pem'), key: read('gateway-server.dev-only.key.pem') };
const TRANSFER_ID = '0d7c1c5e-4a55-4b43-9d0e-3f3f3a8a2b11';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

// ---------------------------------------------------------------------------------------------
// Certificates

const ALT_NAME_URI = 6;
const ALT_NAME_IP = 7;

/** A server certificate for 127.0.0.1 (unless `ips` says otherwise), from the dev issuing CA or self-signed. */
function serverCertificate(options: { uris?: string[]; ips?: string[]; selfSigned?: boolean }): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.serialNumber = '3001';
  cert.validity.notBefore = new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  const subject = [
    { shortName: 'O', value: 'Push test endpoint (DEVELOPMENT ONLY)' },
    { shortName: 'CN', value: 'push-test' },
  ];
  cert.setSubject(subject);
  const altNames = [
    ...(options.ips ?? ['127.0.0.1']).map((ip) => ({ type: ALT_NAME_IP, ip })),
    ...(options.uris ?? []).map((value) => ({ type: ALT_NAME_URI, value })),
  ];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
  ]);
  if (options.selfSigned === true) {
    cert.setIssuer(subject);
    cert.sign(forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  } else {
    const ca = issuingCa();
    cert.setIssuer(ca.cert.subject.attributes);
    cert.sign(ca.privateKey, forge.md.sha256.create());
  }
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}

// ---------------------------------------------------------------------------------------------
// Endpoints

interface Received {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly client: PeerCertificate;
}

type Answer = (received: Received, response: ServerResponse) => void;

const ackFor = (received: Received, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ transferId: received.headers['hetao-transfer-id'], envelopeSha256: sha256(received.body), ...extra });

const answerAck: Answer = (received, response) => {
  response.writeHead(201, { 'content-type': 'application/json' }).end(ackFor(received));
};

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A mutual-TLS HTTPS endpoint that reads the whole body, then lets `answer` reply (or not). */
async function startEndpoint(options: { answer?: Answer; onRequest?: (request: IncomingMessage, response: ServerResponse) => void; server?: { cert: string; key: string } } = {}) {
  const received: Received[] = [];
  const server = https.createServer({ ...(options.server ?? DEV_SERVER), ca: zoneCaBundle(), requestCert: true, rejectUnauthorized: true }, (request, response) => {
    if (options.onRequest) {
      options.onRequest(request, response);
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry: Received = {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: Buffer.concat(chunks),
        client: (request.socket as TLSSocket).getPeerCertificate(),
      };
      received.push(entry);
      (options.answer ?? answerAck)(entry, response);
    });
  });
  const port = await listen(server);
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { endpoint: `https://127.0.0.1:${port}/hetao/inbox`, received };
}

/** A raw TLS endpoint (mutual TLS, no HTTP) that counts every application byte it receives. */
async function startCountingTlsEndpoint(serverCert: { cert: string; key: string }) {
  const state = { bytes: 0, connections: 0 };
  const sockets = new Set<net.Socket>();
  const closed: Promise<unknown>[] = [];
  const server = tls.createServer({ ...serverCert, ca: zoneCaBundle(), requestCert: true, rejectUnauthorized: true }, (socket) => {
    state.connections += 1;
    sockets.add(socket);
    closed.push(new Promise((resolve) => socket.once('close', resolve)));
    socket.on('data', (chunk: Buffer) => {
      state.bytes += chunk.length;
    });
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', () => undefined);
  const port = await listen(server);
  closers.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  // Every byte a connection carried has arrived once it closed (TCP delivers in order, then the FIN).
  const allClosed = () => Promise.all(closed);
  return { endpoint: `https://127.0.0.1:${port}/hetao/inbox`, state, allClosed };
}

// ---------------------------------------------------------------------------------------------
// Envelopes

async function* chunksOf(bytes: Buffer, size = 64 * 1024, track?: { yielded: number; started: boolean }): AsyncGenerator<Uint8Array> {
  if (track) track.started = true;
  for (let offset = 0; offset < bytes.length; offset += size) {
    const chunk = bytes.subarray(offset, offset + size);
    if (track) track.yielded += chunk.length;
    yield chunk;
  }
}

function pushRequest(endpoint: string, envelope: Buffer, overrides: Partial<PushRequest> = {}): PushRequest {
  return {
    endpoint,
    transferId: TRANSFER_ID,
    sender: 'sz-hospital',
    recipient: 'hk-uni-genomics',
    envelope: chunksOf(envelope),
    envelopeSize: envelope.length,
    tls: GATEWAY_TLS,
    ...overrides,
  };
}

async function pushError(request: PushRequest): Promise<Error> {
  const error = await pushEnvelope(request).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

function expectPushError(error: Error, kind: typeof RetryablePushError | typeof PermanentPushError, code: string): void {
  expect(error).toBeInstanceOf(kind);
  expect((error as RetryablePushError | PermanentPushError).code).toBe(code);
}

// ---------------------------------------------------------------------------------------------

describe('pushEnvelope: delivery', () => {
  it('PUTs the envelope with its headers under the gateway client certificate and returns the checked ack', async () => {
    const { endpoint, received } = await startEndpoint();
    const envelope = Buffer.concat([Buffer.from('HETAO-ENVELOPE-PREFIX'), randomBytes(10_000)]);
    const before = Date.now();

    const ack = await pushEnvelope(pushRequest(endpoint, envelope, { expectedInstitution: undefined }));

    expect(ack).toEqual({
      endpoint,
      status: 201,
      envelopeSha256: sha256(envelope),
      bytes: envelope.length,
      acknowledgedAt: expect.any(String),
      duplicate: false,
    });
    expect(Date.parse(ack.acknowledgedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(received).toHaveLength(1);
    const [seen] = received;
    expect(seen?.method).toBe('PUT');
    expect(seen?.url).toBe(`/hetao/inbox/${TRANSFER_ID}`);
    expect(seen?.headers).toMatchObject({
      'content-type': 'application/vnd.hetao.envelope',
      'content-length': String(envelope.length),
      'hetao-transfer-id': TRANSFER_ID,
      'hetao-sender': 'sz-hospital',
      'hetao-recipient': 'hk-uni-genomics',
    });
    expect(seen?.headers['transfer-encoding']).toBeUndefined();
    expect(seen?.body.equals(envelope)).toBe(true);
    expect(seen?.client.subject.CN).toBe('Hetao Research Data Gateway');
    expect(seen?.client.subjectaltname).toContain('URI:urn:hetao:gateway');
  });

  it('streams a 2 MiB+ envelope from an async generator byte for byte', async () => {
    const { endpoint, received } = await startEndpoint();
    const prefix = randomBytes(777);
    const body = randomBytes(2 * 1024 * 1024 + 12_345);
    const envelope = Buffer.concat([prefix, body]);
    async function* source(): AsyncGenerator<Uint8Array> {
      yield prefix;
      // Odd-sized pieces, as a file read stream of another block size would give.
      for (let offset = 0; offset < body.length; offset += 50_001) yield body.subarray(offset, offset + 50_001);
    }

    const ack = await pushEnvelope(pushRequest(endpoint, envelope, { envelope: source() }));

    expect(ack.bytes).toBe(envelope.length);
    expect(ack.envelopeSha256).toBe(sha256(envelope));
    expect(received[0]?.body.length).toBe(envelope.length);
    expect(received[0]?.body.equals(envelope)).toBe(true);
  });

  it('holds backpressure: a stalled endpoint stops the source instead of buffering the envelope', async () => {
    const envelope = randomBytes(32 * 1024 * 1024);
    const track = { yielded: 0, started: false };
    let resume: () => void = () => undefined;
    const stalled = new Promise<void>((resolve) => {
      resume = resolve;
    });
    const { endpoint } = await startEndpoint({
      onRequest: (request, response) => {
        request.pause();
        const hash = createHash('sha256');
        void stalled.then(() => {
          request.on('data', (chunk: Buffer) => hash.update(chunk));
          request.on('end', () => {
            response.writeHead(200).end(JSON.stringify({ transferId: TRANSFER_ID, envelopeSha256: hash.digest('hex') }));
          });
          request.resume();
        });
      },
    });

    const pushing = pushEnvelope(pushRequest(endpoint, envelope, { envelope: chunksOf(envelope, 64 * 1024, track) }));
    // However slow the machine, first the body flows; then the source gets event-loop turns to
    // over-read (a push without backpressure drains the source within a few turns, not a pause).
    await vi.waitFor(() => expect(track.yielded).toBeGreaterThan(0), { timeout: 10_000, interval: 10 });
    for (let turn = 0; turn < 500; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    // Socket buffers on loopback hold a few MiB; without backpressure the whole 32 MiB would be read by now.
    expect(track.yielded).toBeLessThan(20 * 1024 * 1024);
    resume();

    const ack = await pushing;
    expect(ack.bytes).toBe(envelope.length);
    expect(track.yielded).toBe(envelope.length);
  });

  it('passes "duplicate": true through and accepts 200', async () => {
    const { endpoint } = await startEndpoint({
      answer: (received, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(ackFor(received, { duplicate: true })),
    });
    const ack = await pushEnvelope(pushRequest(endpoint, randomBytes(100)));
    expect(ack.status).toBe(200);
    expect(ack.duplicate).toBe(true);
  });

  it('puts the transfer id under an endpoint with a trailing slash', async () => {
    const { endpoint, received } = await startEndpoint();
    await pushEnvelope(pushRequest(`${endpoint}/`, randomBytes(10)));
    expect(received[0]?.url).toBe(`/hetao/inbox/${TRANSFER_ID}`);
  });

  it('sends an empty envelope when envelopeSize is 0', async () => {
    const { endpoint, received } = await startEndpoint();
    const ack = await pushEnvelope(pushRequest(endpoint, Buffer.alloc(0)));
    expect(ack.bytes).toBe(0);
    expect(received[0]?.headers['content-length']).toBe('0');
  });
});

describe('pushEnvelope: endpoint answers', () => {
  it.each([
    [503, { 'retry-after': '7' }, 7000],
    [500, {}, undefined],
    [408, {}, undefined],
    [429, { 'retry-after': '2' }, 2000],
  ])('HTTP %i is retryable PUSH_HTTP_STATUS', async (status, headers, retryAfterMs) => {
    const { endpoint } = await startEndpoint({ answer: (_received, response) => response.writeHead(status, headers).end('busy') });
    const error = await pushError(pushRequest(endpoint, randomBytes(100)));
    expectPushError(error, RetryablePushError, 'PUSH_HTTP_STATUS');
    expect(error).toMatchObject({ status, retryAfterMs, endpoint, retryable: true });
    expect(error.message).toContain(endpoint);
    expect(error.message).toContain(`HTTP ${status}`);
  });

  it.each([400, 403, 404, 409, 413, 301])('HTTP %i is permanent PUSH_HTTP_STATUS', async (status) => {
    const { endpoint } = await startEndpoint({ answer: (_received, response) => response.writeHead(status, { location: 'https://elsewhere.example/' }).end() });
    const error = await pushError(pushRequest(endpoint, randomBytes(100)));
    expectPushError(error, PermanentPushError, 'PUSH_HTTP_STATUS');
    expect(error).toMatchObject({ status, retryable: false });
    expect(error.message).toContain(endpoint);
  });

  it('an endpoint that refuses before reading a large body fails fast and permanently', async () => {
    const { endpoint } = await startEndpoint({
      onRequest: (_request, response) => {
        response.writeHead(400, { connection: 'close' }).end();
      },
    });
    const envelope = randomBytes(8 * 1024 * 1024);
    const error = await pushError(pushRequest(endpoint, envelope, { timeoutMs: 5000 }));
    expectPushError(error, PermanentPushError, 'PUSH_HTTP_STATUS');
  });

  it('an ack with another hash is retryable PUSH_ACK_MISMATCH', async () => {
    const { endpoint } = await startEndpoint({
      answer: (received, response) => response.writeHead(201).end(JSON.stringify({ transferId: received.headers['hetao-transfer-id'], envelopeSha256: 'ab'.repeat(32) })),
    });
    const envelope = randomBytes(100);
    const error = await pushError(pushRequest(endpoint, envelope));
    expectPushError(error, RetryablePushError, 'PUSH_ACK_MISMATCH');
    expect(error.message).toContain(endpoint);
    expect(error.message).toContain(sha256(envelope));
  });

  it('an ack for another transfer is retryable PUSH_ACK_MISMATCH', async () => {
    const { endpoint } = await startEndpoint({
      answer: (received, response) => response.writeHead(201).end(JSON.stringify({ transferId: 'another-transfer', envelopeSha256: sha256(received.body) })),
    });
    const error = await pushError(pushRequest(endpoint, randomBytes(100)));
    expectPushError(error, RetryablePushError, 'PUSH_ACK_MISMATCH');
    expect(error.message).toContain('another-transfer');
  });

  it.each([
    ['not JSON', (_received: Received) => 'OK, stored'],
    ['a JSON array', (_received: Received) => '[]'],
    ['without envelopeSha256', (received: Received) => JSON.stringify({ transferId: received.headers['hetao-transfer-id'] })],
    ['with a short hash', (received: Received) => JSON.stringify({ transferId: received.headers['hetao-transfer-id'], envelopeSha256: 'abc' })],
    ['with a string duplicate', (received: Received) => ackFor(received, { duplicate: 'yes' })],
    ['over 64 KiB', (received: Received) => ackFor(received, { padding: 'x'.repeat(70 * 1024) })],
  ])('an ack %s is retryable PUSH_ACK_INVALID', async (_case, body) => {
    const { endpoint } = await startEndpoint({ answer: (received, response) => response.writeHead(200).end(body(received)) });
    const error = await pushError(pushRequest(endpoint, randomBytes(100)));
    expectPushError(error, RetryablePushError, 'PUSH_ACK_INVALID');
    expect(error.message).toContain(endpoint);
  });

  it('a 2xx other than 200/201 is retryable PUSH_ACK_INVALID', async () => {
    const { endpoint } = await startEndpoint({ answer: (_received, response) => response.writeHead(204).end() });
    const error = await pushError(pushRequest(endpoint, randomBytes(100)));
    expectPushError(error, RetryablePushError, 'PUSH_ACK_INVALID');
    expect(error).toMatchObject({ status: 204 });
  });
});

describe('pushEnvelope: timeouts, aborts and network failures', () => {
  it('an endpoint that never answers is retryable PUSH_TIMEOUT', async () => {
    const { endpoint, received } = await startEndpoint({ answer: () => undefined });
    // An inactivity timeout: long enough that a busy machine still delivers the request before it
    // (the endpoint must have received it: this is the no-answer case, not the no-handshake one).
    const error = await pushError(pushRequest(endpoint, randomBytes(1000), { timeoutMs: 2000 }));
    expectPushError(error, RetryablePushError, 'PUSH_TIMEOUT');
    expect(error.message).toContain(endpoint);
    expect(received).toHaveLength(1);
  });

  it('a TCP peer that never starts the TLS handshake is retryable PUSH_TIMEOUT', async () => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => sockets.add(socket));
    const port = await listen(server);
    closers.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    });
    const error = await pushError(pushRequest(`https://127.0.0.1:${port}/hetao/inbox`, randomBytes(10), { timeoutMs: 300 }));
    expectPushError(error, RetryablePushError, 'PUSH_TIMEOUT');
  });

  it('a refused connection is retryable PUSH_NETWORK', async () => {
    const server = net.createServer();
    const port = await listen(server);
    await new Promise((resolve) => server.close(resolve));
    const error = await pushError(pushRequest(`https://127.0.0.1:${port}/hetao/inbox`, randomBytes(10)));
    expectPushError(error, RetryablePushError, 'PUSH_NETWORK');
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('aborting the signal mid-request is retryable PUSH_ABORTED', async () => {
    const controller = new AbortController();
    // Aborted once the endpoint has the request, not after a guess at how long that takes.
    const { endpoint } = await startEndpoint({ answer: () => controller.abort() });
    const pushing = pushError(pushRequest(endpoint, randomBytes(1000), { signal: controller.signal }));
    expectPushError(await pushing, RetryablePushError, 'PUSH_ABORTED');
  });

  it('an already aborted signal is PUSH_ABORTED without connecting', async () => {
    const { state, endpoint } = await startCountingTlsEndpoint(DEV_SERVER);
    const error = await pushError(pushRequest(endpoint, randomBytes(10), { signal: AbortSignal.abort() }));
    expectPushError(error, RetryablePushError, 'PUSH_ABORTED');
    expect(state.connections).toBe(0);
  });
});

describe('pushEnvelope: the endpoint certificate', () => {
  it('a server certificate from an unknown CA is retryable PUSH_NETWORK naming the certificate problem', async () => {
    const { endpoint, state } = await startCountingTlsEndpoint(serverCertificate({ selfSigned: true, uris: ['urn:hetao:inst:hk-uni-genomics'] }));
    const error = await pushError(pushRequest(endpoint, randomBytes(10), { expectedInstitution: 'hk-uni-genomics' }));
    expectPushError(error, RetryablePushError, 'PUSH_NETWORK');
    expect(error.message).toContain("server certificate was refused");
    expect(error.message).toContain(endpoint);
    expect((error.cause as { code?: string }).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(state.bytes).toBe(0);
  });

  it('a zone certificate issued for another host is retryable PUSH_NETWORK, even with the right institution', async () => {
    const { endpoint, state } = await startCountingTlsEndpoint(serverCertificate({ ips: ['127.0.0.2'], uris: ['urn:hetao:inst:hk-uni-genomics'] }));
    const error = await pushError(pushRequest(endpoint, randomBytes(10), { expectedInstitution: 'hk-uni-genomics' }));
    expectPushError(error, RetryablePushError, 'PUSH_NETWORK');
    expect((error.cause as { code?: string }).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(state.bytes).toBe(0);
  });

  it.each([
    ['no URI SAN', DEV_SERVER],
    ['another institution', serverCertificate({ uris: ['urn:hetao:inst:sz-hospital'] })],
    ['a longer id with the same prefix', serverCertificate({ uris: ['urn:hetao:inst:hk-uni-genomics-annex'] })],
  ])('a certificate with %s is permanent PUSH_PEER_NOT_RECIPIENT and no byte is sent', async (_case, serverCert) => {
    const { endpoint, state, allClosed } = await startCountingTlsEndpoint(serverCert);
    const track = { yielded: 0, started: false };
    const envelope = randomBytes(1000);
    const error = await pushError(pushRequest(endpoint, envelope, { envelope: chunksOf(envelope, 100, track), expectedInstitution: 'hk-uni-genomics', timeoutMs: 2000 }));
    expectPushError(error, PermanentPushError, 'PUSH_PEER_NOT_RECIPIENT');
    expect(error.message).toContain(endpoint);
    expect(error.message).toContain('urn:hetao:inst:hk-uni-genomics');
    // Once the gateway's connection is closed, any stray write would have arrived.
    await allClosed();
    expect(state.bytes).toBe(0);
    expect(track.started).toBe(false);
  });

  it('a certificate naming the expected institution is accepted', async () => {
    const { endpoint, received } = await startEndpoint({
      server: serverCertificate({ uris: ['urn:hetao:inst:hk-uni-genomics'] }),
    });
    const envelope = randomBytes(5000);
    const ack = await pushEnvelope(pushRequest(endpoint, envelope, { expectedInstitution: 'hk-uni-genomics' }));
    expect(ack.envelopeSha256).toBe(sha256(envelope));
    expect(received[0]?.body.equals(envelope)).toBe(true);
  });
});

describe('pushEnvelope: requests that cannot be sent', () => {
  it.each([
    ['http://127.0.0.1:9/hetao/inbox', 'https only'],
    ['not a url', 'not a URL'],
    ['https://user:secret@127.0.0.1:9/hetao/inbox', 'credentials'],
    ['https://127.0.0.1:9/hetao/inbox?token=1', 'query'],
  ])('%s is permanent PUSH_ENDPOINT_INVALID', async (endpoint, reason) => {
    const error = await pushError(pushRequest(endpoint, randomBytes(10)));
    expectPushError(error, PermanentPushError, 'PUSH_ENDPOINT_INVALID');
    expect(error.message).toContain(reason);
    expect(error.message).not.toContain('secret');
  });

  it('a source that yields fewer bytes than envelopeSize fails with EnvelopeSizeMismatchError, not a push error', async () => {
    const { endpoint, received } = await startEndpoint();
    const envelope = randomBytes(1000);
    const error = await pushError(pushRequest(endpoint, envelope, { envelopeSize: 1001 }));
    expect(error).toBeInstanceOf(EnvelopeSizeMismatchError);
    expect(error).not.toBeInstanceOf(RetryablePushError);
    expect(error).toMatchObject({ expected: 1001, actual: 1000 });
    expect(received).toHaveLength(0);
  });

  it('a source that yields more bytes than envelopeSize fails with EnvelopeSizeMismatchError', async () => {
    const { endpoint, received } = await startEndpoint();
    const envelope = randomBytes(1000);
    const error = await pushError(pushRequest(endpoint, envelope, { envelopeSize: 999 }));
    expect(error).toBeInstanceOf(EnvelopeSizeMismatchError);
    expect(received).toHaveLength(0);
  });

  it("the source's own error is rethrown unchanged", async () => {
    const { endpoint } = await startEndpoint();
    const broken = new Error('disk read failed');
    async function* source(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(10);
      throw broken;
    }
    const error = await pushError(pushRequest(endpoint, Buffer.alloc(100), { envelope: source() }));
    expect(error).toBe(broken);
  });

  it('bad arguments are TypeErrors', async () => {
    await expect(pushEnvelope(pushRequest('https://127.0.0.1:9/x', Buffer.alloc(1), { transferId: '' }))).rejects.toBeInstanceOf(TypeError);
    await expect(pushEnvelope(pushRequest('https://127.0.0.1:9/x', Buffer.alloc(1), { sender: 'a b' }))).rejects.toBeInstanceOf(TypeError);
    await expect(pushEnvelope(pushRequest('https://127.0.0.1:9/x', Buffer.alloc(1), { envelopeSize: -1 }))).rejects.toBeInstanceOf(TypeError);
    await expect(pushEnvelope(pushRequest('https://127.0.0.1:9/x', Buffer.alloc(1), { tls: { ...GATEWAY_TLS, ca: [] } }))).rejects.toBeInstanceOf(TypeError);
  });
});
