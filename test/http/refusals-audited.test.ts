// Refused calls on /v1 reach the audit journal with principal, route and code — a caller repeating
// them adds one entry per window, and the count of its repeats is written when the gateway stops.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFUSAL_EVENT } from '../../gateway/audit/refusal-journal.js';
import { collect, linesOf, openJournal } from '../audit/support.js';
import { agentsFor, rawRequest } from '../support/access.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

let gw: TestGateway;
let agents: ReturnType<typeof agentsFor>;
beforeAll(async () => {
  gw = await startTestGateway();
  agents = agentsFor();
});
afterAll(async () => {
  await agents?.close();
  await rm(path.dirname(gw.config.dataDir), { recursive: true, force: true });
});

interface Entry {
  type: string;
  actor: { kind: string; id: string };
  details: Record<string, unknown>;
}

const refusalsIn = (lines: string[]): Entry[] =>
  lines.map((line) => JSON.parse(line) as { entry?: Entry } & Entry).flatMap((line) => {
    const entry = line.entry ?? line;
    return entry.type === REFUSAL_EVENT ? [entry] : [];
  });

describe('refused calls in the audit journal', () => {
  it('records each kind of refusal once, with who, which route and which code, however often it is repeated', async () => {
    for (let i = 0; i < 20; i += 1) {
      expect((await rawRequest(agents.officer, gw.gateway.apiUrl, 'GET', '/v1/audit/export')).status).toBe(403);
      expect((await rawRequest(agents.suspended, gw.gateway.apiUrl, 'GET', '/v1/whoami')).status).toBe(403);
      expect((await rawRequest(agents.unregistered, gw.gateway.apiUrl, 'GET', '/v1/transfers/tr-0abcdefgh-0123456789abcdef')).status).toBe(403);
    }
    const exported = await rawRequest(agents.regulator, gw.gateway.apiUrl, 'GET', '/v1/audit/export');
    expect(exported.status).toBe(200);
    const response = await fetchExport();
    const refusals = refusalsIn(response);
    expect(refusals).toHaveLength(3);
    expect(refusals).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actor: { kind: 'person', id: 'officer-chan' }, details: expect.objectContaining({ route: '/v1/audit/export', method: 'GET', code: 'ERR_IDENTITY_ROLE_FORBIDDEN', count: 1 }) }),
        expect.objectContaining({ actor: { kind: 'institution', id: 'hk-suspended-lab' }, details: expect.objectContaining({ route: '/v1/whoami', code: 'ERR_IDENTITY_SUSPENDED', count: 1 }) }),
        expect.objectContaining({ details: expect.objectContaining({ route: '/v1/transfers/:id', code: 'ERR_IDENTITY_NOT_REGISTERED', certificateSha256: expect.stringMatching(/^[0-9a-f]{64}$/) }) }),
      ]),
    );
  });

  it('writes the count of the repeats when the gateway stops', async () => {
    await gw.gateway.close();
    const journal = await openJournal(path.join(gw.config.dataDir, 'audit'));
    try {
      const refusals = refusalsIn(linesOf(await collect(journal.exportRange())));
      const repeats = refusals.filter((entry) => entry.details.repeatsFrom !== undefined);
      expect(repeats.map((entry) => [entry.details.code, entry.details.count]).sort()).toEqual([
        ['ERR_IDENTITY_NOT_REGISTERED', 19],
        ['ERR_IDENTITY_ROLE_FORBIDDEN', 19],
        ['ERR_IDENTITY_SUSPENDED', 19],
      ]);
    } finally {
      await journal.close();
    }
  });
});

async function fetchExport(): Promise<string[]> {
  const response = await agents.regulator.request({ origin: gw.gateway.apiUrl, path: '/v1/audit/export', method: 'GET' });
  return linesOf(await response.body.text());
}
