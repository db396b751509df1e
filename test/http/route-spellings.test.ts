// No spelling of a path skips identity: every route, spelt with percent-escapes, double and trailing
// slashes, dot segments, mixed case and parameters, as every kind of principal, either reaches the
// route (with the route's authentication and access rules, so the same answer as the plain spelling)
// or reaches no route (404). Never a 2xx for a caller the registry refuses, never a 5xx.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentsFor, PRINCIPAL_NAMES, rawRequest, type PrincipalName } from '../support/access.js';
import { prepareAccessContext, ROUTES, type AccessContext } from '../support/access-routes.js';
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

const hex = (char: string, upper: boolean): string => {
  const code = char.charCodeAt(0).toString(16).padStart(2, '0');
  return `%${upper ? code.toUpperCase() : code}`;
};

/** Other spellings of `target` (path and query) that a careless prefix check would read differently. */
export function spellingsOf(target: string): string[] {
  const [pathname = '', query] = target.split('?');
  const q = query === undefined ? '' : `?${query}`;
  const segments = pathname.split('/').slice(1);
  const join = (parts: string[]) => `/${parts.join('/')}`;
  const spellings = new Set<string>();
  segments.forEach((segment, index) => {
    if (!segment) return;
    for (const upper of [false, true]) {
      const encoded = [...segments];
      encoded[index] = hex(segment[0] ?? '', upper) + segment.slice(1);
      spellings.add(join(encoded) + q);
    }
    const mixed = [...segments];
    mixed[index] = segment[0]?.toUpperCase() === segment[0] ? segment.toLowerCase() : (segment[0]?.toUpperCase() ?? '') + segment.slice(1);
    spellings.add(join(mixed) + q);
  });
  spellings.add(`/${[...segments.join('/')].map((char) => (/[a-z0-9]/i.test(char) ? hex(char, false) : char)).join('')}${q}`);
  spellings.add(pathname.replace('/', '%2F').replace(/^%2F/, '/') + q);
  spellings.add(`/${segments[0]}%2F${segments.slice(1).join('/')}${q}`);
  spellings.add(`/${segments[0]}%2f${segments.slice(1).join('%2f')}${q}`);
  spellings.add(`/${pathname}${q}`);
  spellings.add(`${pathname.replace(/\/([^/]*)$/, '//$1')}${q}`);
  spellings.add(`${pathname}/${q}`);
  spellings.add(`${pathname}//${q}`);
  spellings.add(`/./${segments.join('/')}${q}`);
  spellings.add(`/${segments[0]}/./${segments.slice(1).join('/')}${q}`);
  spellings.add(`/${segments[0]}/%2e/${segments.slice(1).join('/')}${q}`);
  spellings.add(`/x/../${segments.join('/')}${q}`);
  spellings.add(`/x/%2e%2e/${segments.join('/')}${q}`);
  spellings.add(`/${segments[0]}/x/../${segments.slice(1).join('/')}${q}`);
  spellings.add(`${pathname.toUpperCase()}${q}`);
  spellings.add(`${pathname};x=1${q}`);
  spellings.add(`${pathname}%3Bx${q}`);
  spellings.add(`${pathname}%00${q}`);
  spellings.add(`${pathname}%${q}`);
  spellings.add(`${pathname}#frag${q}`);
  spellings.delete(target);
  return [...spellings];
}

describe('every spelling of every route', () => {
  it('has spellings to try', () => {
    expect(spellingsOf('/v1/audit/export?format=csv')).toEqual(expect.arrayContaining(['/v1/%61udit/export?format=csv', '//v1/audit/export?format=csv', '/v1/audit/export/?format=csv']));
  });

  for (const route of ROUTES) {
    it(`${route.method} ${route.path({ availableId: 'tr-x', authorizedId: 'tr-y', cancelId: 'tr-z', content: Buffer.alloc(0) })}`, async () => {
      const canonical = route.path(context);
      await Promise.all(
        PRINCIPAL_NAMES.map(async (name: PrincipalName) => {
          const allowed = route.allowed.includes(name);
          // Allowed callers of a state-changing route would change the state: only refusals are tried there.
          if (route.mutates && allowed) return;
          const plain = await rawRequest(agents[name], gw.gateway.apiUrl, route.method, canonical, route.body?.(context));
          for (const spelling of spellingsOf(canonical)) {
            const response = await rawRequest(agents[name], gw.gateway.apiUrl, route.method, spelling, route.body?.(context));
            const seen = `${name} ${route.method} ${spelling} → ${response.status} ${String(response.body.code ?? '')}`;
            expect(response.status, seen).toBeLessThan(500);
            if (response.status === 404) {
              // No route, or another spelling of a transfer id (ids are case-sensitive): no such transfer.
              expect(response.body.code, seen).toMatch(/^ERR_(ROUTE|TRANSFER)_NOT_FOUND$/);
              continue;
            }
            if (response.status === 400) continue; // malformed target or parameter: refused before any route runs
            expect(response.status, `${seen}; plain spelling answered ${plain.status}`).toBe(plain.status);
            if (!allowed) expect(response.status, seen).toBeGreaterThanOrEqual(400);
          }
        }),
      );
    });
  }
});
