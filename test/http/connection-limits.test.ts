// Connections are bounded: idle ones are closed (before the first request and between keep-alive
// requests), a request body that stalls is answered 408 and closed, and open connections are
// capped in total and per principal; a connection over a cap is answered 503 problem+json with
// Retry-After, closed, and counted in hetao_connections_refused_total. Real gateway, real TLS.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { devIdentity } from '../support/dev-pki.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { openRawTls, requestHead, type RawConnection, type RawResponse } from '../support/raw-tls.js';

const hospital = devIdentity('institutions/sz-hospital');
const trialCentre = devIdentity('institutions/hk-ctc');
const genomicsLab = devIdentity('institutions/hk-uni-genomics');
const institute = devIdentity('institutions/hetao-sz-institute');

/** Short idle timeout: connections here are meant to go idle. */
let idle: TestGateway;
/** Small caps, default idle timeout: connections here are held open on purpose. */
let capped: TestGateway;
beforeAll(async () => {
  [idle, capped] = await Promise.all([
    startTestGateway({ HETAO_CONNECTION_IDLE_TIMEOUT_MS: '300' }),
    startTestGateway({ HETAO_MAX_CONNECTIONS: '4', HETAO_MAX_CONNECTIONS_PER_PRINCIPAL: '2' }),
  ]);
});
afterAll(async () => {
  await Promise.all([idle?.close(), capped?.close()]);
});

const opened: RawConnection[] = [];
afterEach(() => {
  for (const connection of opened.splice(0)) connection.destroy();
});

async function open(on: TestGateway, identity = hospital): Promise<RawConnection> {
  const connection = await openRawTls(on.gateway.apiUrl, identity);
  opened.push(connection);
  return connection;
}

async function whoami(connection: RawConnection): Promise<RawResponse> {
  await connection.write(requestHead('GET', '/v1/whoami'));
  return connection.response();
}

/** Waits (bounded) for the gateway to close the connection; the outcome, not the time, is asserted. */
async function closedByGateway(connection: RawConnection): Promise<void> {
  await vi.waitFor(() => expect(connection.isClosed()).toBe(true), { timeout: 10_000, interval: 25 });
}

async function metric(on: TestGateway, line: RegExp): Promise<number> {
  const text = await (await fetch(`${on.gateway.opsUrl}/metrics`)).text();
  const match = text.split('\n').find((candidate) => line.test(candidate));
  return match ? Number(match.split(' ').at(-1)) : 0;
}

describe('idle connections', () => {
  it('a connection that never sends a request is closed after HETAO_CONNECTION_IDLE_TIMEOUT_MS', async () => {
    const connection = await open(idle);
    await closedByGateway(connection);
    expect(connection.received()).toBe('');
  });

  it('a kept-alive connection is closed once it has been idle that long after its last answer', async () => {
    const connection = await open(idle);
    const answer = await whoami(connection);
    expect(answer.status).toBe(200);
    expect(answer.headers.connection).toBe('keep-alive');
    await closedByGateway(connection);
  });

  it('a JSON body that stops arriving is answered 408 problem+json and the connection is closed', async () => {
    const connection = await open(idle);
    await connection.write(requestHead('POST', '/v1/transfers', { 'content-type': 'application/json', 'content-length': 1000 }));
    await connection.write('{"recipient": "hetao-sz');
    const answer = await connection.response();
    expect(answer.status, answer.body).toBe(408);
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'ERR_REQUEST_TIMEOUT' });
    expect(answer.headers.connection).toBe('close');
    await closedByGateway(connection);
  });
});

describe('connection caps', () => {
  it('a principal over HETAO_MAX_CONNECTIONS_PER_PRINCIPAL gets 503 with Retry-After and is closed; other institutions are still served', async () => {
    const before = await metric(capped, /^hetao_connections_refused_total\{reason="principal"\}/);
    const [first, second] = [await open(capped), await open(capped)];
    expect((await whoami(first)).status).toBe(200);
    expect((await whoami(second)).status).toBe(200);

    const third = await open(capped);
    const refused = await whoami(third);
    expect(refused.status, refused.body).toBe(503);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'ERR_CONNECTION_LIMIT', limit: 'principal' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.headers.connection).toBe('close');
    await closedByGateway(third);
    expect(await metric(capped, /^hetao_connections_refused_total\{reason="principal"\}/)).toBe(before + 1);

    // Another institution is not starved by the first one's connections.
    const other = await open(capped, trialCentre);
    expect((await whoami(other)).status).toBe(200);
    // The held connections keep working, and a freed slot is usable again.
    expect((await whoami(first)).status).toBe(200);
    second.destroy();
    await vi.waitFor(
      async () => {
        const again = await open(capped);
        expect((await whoami(again)).status).toBe(200);
      },
      { timeout: 10_000, interval: 50 },
    );
  });

  it('a connection over HETAO_MAX_CONNECTIONS gets 503 (limit total), whoever it is', async () => {
    // The previous test's connections are gone on the gateway's side too before counting starts.
    await vi.waitFor(async () => expect(await metric(capped, /^hetao_connections_open /)).toBe(0), { timeout: 10_000, interval: 25 });
    const before = await metric(capped, /^hetao_connections_refused_total\{reason="total"\}/);
    const held = [await open(capped, hospital), await open(capped, trialCentre), await open(capped, genomicsLab), await open(capped, hospital)];
    for (const connection of held) expect((await whoami(connection)).status).toBe(200);
    const fifth = await open(capped, institute);
    const refused = await whoami(fifth);
    expect(refused.status, refused.body).toBe(503);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'ERR_CONNECTION_LIMIT', limit: 'total' });
    expect(refused.headers['retry-after']).toBeDefined();
    await closedByGateway(fifth);
    expect(await metric(capped, /^hetao_connections_refused_total\{reason="total"\}/)).toBe(before + 1);
  });
});
