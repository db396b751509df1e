// A body the gateway refuses to read still gets its answer, and the connection is not left
// half-read: the refusal says `Connection: close`, the gateway closes after it (reading and
// discarding a bounded amount meanwhile, so the answer is not lost to a TCP reset), and with
// `Expect: 100-continue` a refusal known before the body comes instead of `100 Continue`.
// Raw TLS sockets: what reaches the client, and whether the connection is closed, is the point.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { devIdentity, type ClientIdentity } from '../support/dev-pki.js';
import { call, startTestGateway, type TestGateway } from '../support/gateway.js';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { openRawTls, requestHead, type RawConnection, type RawResponse } from '../support/raw-tls.js';
import { anonymisedResearchManifest } from '../support/manifests.js';

const hospital = devIdentity('institutions/sz-hospital');
const trialCentre = devIdentity('institutions/hk-ctc');
const unregistered = devIdentity('negative/unregistered');
const suspended = devIdentity('institutions/hk-suspended-lab');

let gw: TestGateway;
/** A gateway whose work queue is unreachable and that queues every upload. */
let queueDown: TestGateway;
/** Its private Redis, stopped once the gateway is up (never the shared one). */
let redis: PrivateRedis;
beforeAll(async () => {
  redis = await startPrivateRedis();
  [gw, queueDown] = await Promise.all([
    startTestGateway({ HETAO_UPLOAD_IDLE_TIMEOUT_MS: '300' }),
    startTestGateway({ REDIS_URL: redis.url, HETAO_QUEUE_THRESHOLD_BYTES: '0', HETAO_QUEUE_WORKERS: '0', HETAO_QUEUE_PREFIX: `refused-${process.pid}` }),
  ]);
  await redis.stop();
  await vi.waitFor(
    async () => expect(((await (await fetch(`${queueDown.gateway.opsUrl}/readyz`)).json()) as { checks: { queue: { redis: string } } }).checks.queue.redis).toBe('unreachable'),
    { timeout: 10_000, interval: 50 },
  );
});
afterAll(async () => {
  // A gateway whose Redis is gone closes within its own shutdown grace (bounded-shutdown.ts): no race needed.
  await Promise.all([gw?.close(), queueDown?.close()]);
  await redis?.stop();
});

function csv(rows: number): Buffer {
  const lines = ['site,age_band,score'];
  for (let i = 0; i < rows; i += 1) lines.push(`site-${i % 7},${20 + (i % 50)},${(i * 37) % 100}`);
  return Buffer.from(`${lines.join('\n')}\n`);
}

const content = csv(400);

const manifest = anonymisedResearchManifest;

async function authorizedTransfer(on: TestGateway = gw): Promise<string> {
  const created = await call(on.gateway.apiUrl, hospital, '/v1/transfers', { method: 'POST', json: manifest(content) });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body.id as string;
}

async function statusOf(id: string, on: TestGateway = gw): Promise<unknown> {
  return (await call(on.gateway.apiUrl, hospital, `/v1/transfers/${id}`)).body.status;
}

/** Keeps writing `chunk` until the connection is gone or `stop` is called; resolves with bytes written. */
function keepSending(connection: RawConnection, chunk: Buffer, limit: number): { stop(): void; done: Promise<number> } {
  let stopped = false;
  const done = (async () => {
    let sent = 0;
    while (!stopped && sent < limit && (await connection.write(chunk))) sent += chunk.length;
    return sent;
  })();
  return {
    stop: () => {
      stopped = true;
    },
    done,
  };
}

function expectProblem(response: RawResponse, status: number, code: string): void {
  expect(response.status, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect((JSON.parse(response.body) as { code: string }).code).toBe(code);
}

/** The refusal said it closes, and the gateway did close (with a FIN, after the answer). */
async function expectClosedAfter(connection: RawConnection, response: RawResponse): Promise<void> {
  expect(response.headers.connection).toBe('close');
  await connection.closed();
  expect(connection.isClosed()).toBe(true);
}

describe('refusals of a body the gateway does not read to its end', () => {
  it('a chunked body longer than declared: 422 mid-stream, then the connection is closed, and the transfer can be uploaded again', async () => {
    const id = await authorizedTransfer();
    const connection = await openRawTls(gw.gateway.apiUrl, hospital);
    await connection.write(requestHead('PUT', `/v1/transfers/${id}/content`, { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }));
    const longer = Buffer.concat([content, Buffer.alloc(256 * 1024, 'x')]);
    for (let at = 0; at < longer.length; at += 16 * 1024) {
      const piece = longer.subarray(at, at + 16 * 1024);
      if (!(await connection.write(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')])))) break;
    }
    await connection.write('0\r\n\r\n');
    const response = await connection.response();
    expectProblem(response, 422, 'ERR_TRANSFER_SIZE_MISMATCH');
    await expectClosedAfter(connection, response);
    await vi.waitFor(async () => expect(await statusOf(id)).toBe('authorized'), { timeout: 5000, interval: 50 });
    const retried = await call(gw.gateway.apiUrl, hospital, `/v1/transfers/${id}/content`, { method: 'PUT', body: content.toString('latin1'), headers: { 'content-type': 'application/octet-stream' } });
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
  });

  it('a Content-Length other than the declared size: 422 before the body, which the client is still sending, then closed', async () => {
    const id = await authorizedTransfer();
    const connection = await openRawTls(gw.gateway.apiUrl, hospital);
    const length = content.length + 4 * 1024 * 1024;
    await connection.write(requestHead('PUT', `/v1/transfers/${id}/content`, { 'content-type': 'application/octet-stream', 'content-length': length }));
    const sender = keepSending(connection, Buffer.alloc(64 * 1024, 'y'), length);
    const response = await connection.response();
    sender.stop();
    expectProblem(response, 422, 'ERR_TRANSFER_SIZE_MISMATCH');
    await expectClosedAfter(connection, response);
    expect(await statusOf(id)).toBe('authorized');
  });

  it('a JSON body over the body limit: 413 reaches the client that is still sending it, then closed', async () => {
    const connection = await openRawTls(gw.gateway.apiUrl, hospital);
    const length = 16 * 1024 * 1024;
    await connection.write(requestHead('POST', '/v1/transfers', { 'content-type': 'application/json', 'content-length': length }));
    const sender = keepSending(connection, Buffer.alloc(256 * 1024, ' '), length);
    const response = await connection.response();
    sender.stop();
    expectProblem(response, 413, 'ERR_REQUEST_BODY_TOO_LARGE');
    await expectClosedAfter(connection, response);
  });

  it('a JSON body over the body limit: 413 reaches a client that reads only once it has sent the body', async () => {
    const connection = await openRawTls(gw.gateway.apiUrl, hospital);
    const length = 2 * 1024 * 1024;
    // Reads nothing while it sends (as simple clients do): an answer followed by a reset is lost.
    connection.socket.pause();
    await connection.write(requestHead('POST', '/v1/transfers', { 'content-type': 'application/json', 'content-length': length }));
    await keepSending(connection, Buffer.alloc(256 * 1024, ' '), length).done;
    connection.socket.resume();
    const response = await connection.response();
    expectProblem(response, 413, 'ERR_REQUEST_BODY_TOO_LARGE');
    await expectClosedAfter(connection, response);
  });

  it('a chunked JSON body over the body limit: 413 mid-stream, then closed', async () => {
    const connection = await openRawTls(gw.gateway.apiUrl, hospital);
    await connection.write(requestHead('POST', '/v1/transfers', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }));
    const piece = Buffer.alloc(64 * 1024, ' ');
    const chunk = Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
    const sender = keepSending(connection, chunk, 16 * 1024 * 1024);
    const response = await connection.response();
    sender.stop();
    expectProblem(response, 413, 'ERR_REQUEST_BODY_TOO_LARGE');
    await expectClosedAfter(connection, response);
  });

  it('an upload that stalls past HETAO_UPLOAD_IDLE_TIMEOUT_MS: 400, then the connection is closed', async () => {
    const id = await authorizedTransfer();
    const connection = await openRawTls(gw.gateway.apiUrl, hospital);
    await connection.write(requestHead('PUT', `/v1/transfers/${id}/content`, { 'content-type': 'application/octet-stream', 'content-length': content.length }));
    await connection.write(content.subarray(0, content.length >> 1));
    const response = await connection.response();
    expectProblem(response, 400, 'ERR_REQUEST_INVALID');
    await expectClosedAfter(connection, response);
    await vi.waitFor(async () => expect(await statusOf(id)).toBe('authorized'), { timeout: 5000, interval: 50 });
  });

  it('the work queue down: 503 with Retry-After reaches the client that is sending the body, then closed', async () => {
    const id = await authorizedTransfer(queueDown);
    const connection = await openRawTls(queueDown.gateway.apiUrl, hospital);
    await connection.write(requestHead('PUT', `/v1/transfers/${id}/content`, { 'content-type': 'application/octet-stream', 'content-length': content.length }));
    await connection.write(content);
    const response = await connection.response();
    expectProblem(response, 503, 'ERR_QUEUE_UNAVAILABLE');
    expect(response.headers['retry-after']).toBe('30');
    await expectClosedAfter(connection, response);
    expect(await statusOf(id, queueDown)).toBe('authorized');
  });
});

describe('Expect: 100-continue', () => {
  /** Sends only the head of a request that expects 100-continue and returns the first final answer. */
  async function expectContinue(on: TestGateway, identity: ClientIdentity, method: string, target: string, headers: Record<string, string | number>): Promise<{ connection: RawConnection; response: RawResponse }> {
    const connection = await openRawTls(on.gateway.apiUrl, identity);
    await connection.write(requestHead(method, target, { expect: '100-continue', ...headers }));
    return { connection, response: await connection.response() };
  }

  const upload = (length: number) => ({ 'content-type': 'application/octet-stream', 'content-length': length });

  it.each([
    ['an encoded path', (id: string) => `/v1/transfers/${id}/%63ontent`],
    ['a double slash', (id: string) => `/v1//transfers/${id}/content`],
    ['a trailing slash', (id: string) => `/v1/transfers/${id}/content/`],
    ['a dot segment', (id: string) => `/v1/transfers/x/../${id}/content`],
  ])('a path spelt with %s gets the same refusal as without Expect, and no 100 Continue', async (_label, target) => {
    const id = await authorizedTransfer();
    const longer = Buffer.concat([content, Buffer.from('x')]);
    // The same bytes without Expect (raw: an HTTP client would normalise the path first).
    const without = await openRawTls(gw.gateway.apiUrl, hospital);
    await without.write(requestHead('PUT', target(id), upload(longer.length)));
    await without.write(longer);
    const plain = await without.response();
    without.destroy();
    expect(plain.status).toBeGreaterThanOrEqual(400);
    const { connection, response } = await expectContinue(gw, hospital, 'PUT', target(id), upload(longer.length));
    expect(response.interim).toEqual([]);
    expectProblem(response, plain.status, (JSON.parse(plain.body) as { code: string }).code);
    await expectClosedAfter(connection, response);
  });

  it.each([
    ['another institution (not the sender)', trialCentre, 403, 'ERR_TRANSFER_FORBIDDEN'],
    ['an unregistered certificate', unregistered, 403, 'ERR_IDENTITY_NOT_REGISTERED'],
    ['a suspended institution', suspended, 403, 'ERR_IDENTITY_SUSPENDED'],
  ])('%s is refused instead of 100 Continue', async (_label, identity, status, code) => {
    const id = await authorizedTransfer();
    const { connection, response } = await expectContinue(gw, identity, 'PUT', `/v1/transfers/${id}/content`, upload(content.length));
    expect(response.interim).toEqual([]);
    expectProblem(response, status, code);
    await expectClosedAfter(connection, response);
    expect(await statusOf(id)).toBe('authorized');
  });

  it('a Content-Length other than the declared size is refused with 422 instead of 100 Continue', async () => {
    const id = await authorizedTransfer();
    const { connection, response } = await expectContinue(gw, hospital, 'PUT', `/v1/transfers/${id}/content`, upload(content.length + 10));
    expect(response.interim).toEqual([]);
    expectProblem(response, 422, 'ERR_TRANSFER_SIZE_MISMATCH');
    await expectClosedAfter(connection, response);
  });

  it('a transfer that is not waiting for its content is refused with 409 instead of 100 Continue', async () => {
    const id = await authorizedTransfer();
    const first = await call(gw.gateway.apiUrl, hospital, `/v1/transfers/${id}/content`, { method: 'PUT', body: content.toString('latin1'), headers: { 'content-type': 'application/octet-stream' } });
    expect(first.status).toBe(200);
    const { connection, response } = await expectContinue(gw, hospital, 'PUT', `/v1/transfers/${id}/content`, upload(content.length));
    expect(response.interim).toEqual([]);
    expectProblem(response, 409, 'ERR_TRANSFER_STATE');
    await expectClosedAfter(connection, response);
  });

  it('the work queue down: 503 with Retry-After instead of 100 Continue', async () => {
    const id = await authorizedTransfer(queueDown);
    const { connection, response } = await expectContinue(queueDown, hospital, 'PUT', `/v1/transfers/${id}/content`, upload(content.length));
    expect(response.interim).toEqual([]);
    expectProblem(response, 503, 'ERR_QUEUE_UNAVAILABLE');
    expect(response.headers['retry-after']).toBe('30');
    await expectClosedAfter(connection, response);
  });

  it('a JSON body over the body limit is refused with 413 instead of 100 Continue', async () => {
    const { connection, response } = await expectContinue(gw, hospital, 'POST', '/v1/transfers', { 'content-type': 'application/json', 'content-length': 8 * 1024 * 1024 });
    expect(response.interim).toEqual([]);
    expectProblem(response, 413, 'ERR_REQUEST_BODY_TOO_LARGE');
    await expectClosedAfter(connection, response);
  });

  it('an upload that will be read gets 100 Continue, then its answer, and the connection stays usable', async () => {
    const id = await authorizedTransfer();
    const connection = await openRawTls(gw.gateway.apiUrl, hospital);
    await connection.write(requestHead('PUT', `/v1/transfers/${id}/content`, { expect: '100-continue', ...upload(content.length) }));
    await vi.waitFor(() => expect(connection.received()).toMatch(/^HTTP\/1\.1 100 Continue\r\n/), { timeout: 5000, interval: 20 });
    await connection.write(content);
    const response = await connection.response();
    expect(response.interim).toEqual([100]);
    expect(response.status, response.body).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ status: 'available' });
    await connection.write(requestHead('GET', `/v1/transfers/${id}`));
    expect((await connection.response()).status).toBe(200);
    connection.destroy();
  });

  it('a JSON body within the limit gets 100 Continue and is decided', async () => {
    const body = Buffer.from(JSON.stringify(manifest(content)));
    const connection = await openRawTls(gw.gateway.apiUrl, hospital);
    await connection.write(requestHead('POST', '/v1/transfers', { expect: '100-continue', 'content-type': 'application/json', 'content-length': body.length }));
    await vi.waitFor(() => expect(connection.received()).toMatch(/^HTTP\/1\.1 100 Continue\r\n/), { timeout: 5000, interval: 20 });
    await connection.write(body);
    const response = await connection.response();
    expect(response.status, response.body).toBe(201);
    connection.destroy();
  });
});
