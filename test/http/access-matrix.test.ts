// Who may call what: every route × every kind of principal, against the API table of docs/api.md. Allowed
// callers are never refused for who they are; everyone else gets 403 problem+json with an identity or
// transfer-access code, and every refusal after TLS is in the audit journal.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentsFor, PRINCIPAL_NAMES, rawRequest, type PrincipalName } from '../support/access.js';
import { isAccessRefusal, prepareAccessContext, ROUTES, type AccessContext } from '../support/access-routes.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

let gw: TestGateway;
let agents: ReturnType<typeof agentsFor>;
let context: AccessContext;

beforeAll(async () => {
  gw = await startTestGateway();
  agents = agentsFor();
  context = await prepareAccessContext(gw.gateway.apiUrl);
});

afterAll(async () => {
  await agents?.close();
  await gw?.close();
});

describe('the access matrix', () => {
  it('walks the table of docs/api.md row for row', async () => {
    const doc = await readFile(path.resolve(import.meta.dirname, '../../docs/api.md'), 'utf8');
    for (const route of ROUTES) {
      const row = doc.split('\n').find((line) => line.startsWith(`| ${route.row} |`));
      expect(row, `docs/api.md row for ${route.row}`).toBeDefined();
      expect(row?.split(' | ')[1], route.row).toBe(route.who);
    }
  });

  for (const route of ROUTES) {
    it(`${route.method} ${route.row}: ${route.who}`, async () => {
      // Refused callers first: an allowed call may change the state (upload, cancel).
      const order = [...PRINCIPAL_NAMES].sort((a, b) => Number(route.allowed.includes(a)) - Number(route.allowed.includes(b)));
      const outcomes: Record<string, string> = {};
      for (const name of order) {
        const response = await rawRequest(agents[name], gw.gateway.apiUrl, route.method, route.path(context), route.body?.(context));
        outcomes[name] = `${response.status} ${String(response.body.code ?? '')}`.trim();
        expect(response.status, `${name}: ${outcomes[name]}`).toBeLessThan(500);
        if (route.allowed.includes(name)) {
          expect(isAccessRefusal(response), `${name} is allowed: ${outcomes[name]}`).toBe(false);
          if (!route.mutates) expect(response.status, name).toBe(200);
        } else {
          expect(response.status, `${name} is not allowed: ${outcomes[name]}`).toBe(403);
          expect(response.contentType).toMatch(/^application\/problem\+json/);
          expect(String(response.body.code), name).toMatch(/^ERR_(IDENTITY|TRANSFER_FORBIDDEN)/);
        }
      }
    });
  }

  it('lists transfers for institutions only: people have none of their own', async () => {
    for (const name of ['officer', 'admin', 'regulator'] satisfies PrincipalName[]) {
      const response = await rawRequest(agents[name], gw.gateway.apiUrl, 'GET', '/v1/transfers');
      expect(response.status, name).toBe(403);
      expect(response.body.code).toBe('ERR_IDENTITY_ROLE_FORBIDDEN');
    }
  });
});
