// The API table of docs/api.md as the tests walk it: every /v1 route (and the two open ones), which
// principals may call it, and how to call it. `row` and `who` are the table's first two cells,
// word for word: the matrix test checks them against docs/api.md.
import { expect, vi } from 'vitest';
import { genomicsContent, genomicsManifest, PRINCIPALS, type PrincipalName } from './access.js';
import { call } from './gateway.js';
import { createTransfer, upload } from './transfers.js';

export interface AccessContext {
  /** An escrowed genomics transfer, `available`. */
  readonly availableId: string;
  /** A transfer still `authorized` (nothing uploaded yet), for uploads. */
  readonly authorizedId: string;
  /** A transfer still `authorized`, for cancellation. */
  readonly cancelId: string;
  readonly content: Buffer;
}

/** Three escrowed genomics transfers from the sender: one made available (through the queued stages), two left authorized. */
export async function prepareAccessContext(apiUrl: string): Promise<AccessContext> {
  const content = genomicsContent();
  const created = async (): Promise<string> => {
    const result = await createTransfer(apiUrl, PRINCIPALS.sender, genomicsManifest(content));
    expect(result.status, JSON.stringify(result.body)).toBe(201);
    return result.body.id as string;
  };
  const availableId = await created();
  expect((await upload(apiUrl, PRINCIPALS.sender, availableId, content)).status).toBe(202);
  await vi.waitFor(async () => expect((await call(apiUrl, PRINCIPALS.sender, `/v1/transfers/${availableId}`)).body.status).toBe('available'), { timeout: 30_000, interval: 100 });
  return { availableId, authorizedId: await created(), cancelId: await created(), content };
}

export interface RouteCase {
  readonly row: string;
  readonly who: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path(context: AccessContext): string;
  body?(context: AccessContext): { json?: unknown; bytes?: Buffer };
  readonly allowed: readonly PrincipalName[];
  /** Changes state: called by allowed principals only once, after every refusal. */
  readonly mutates?: boolean;
}

const ALL_REGISTERED: readonly PrincipalName[] = ['sender', 'recipient', 'thirdParty', 'escrowHolder', 'officer', 'admin', 'regulator'];
const INSTITUTIONS: readonly PrincipalName[] = ['sender', 'recipient', 'thirdParty', 'escrowHolder'];
const EVERY_ZONE_CERTIFICATE: readonly PrincipalName[] = [...ALL_REGISTERED, 'suspended', 'unregistered'];
/** The regulator of the dev registry belongs to the HGR office, the escrow holder of genomics transfers. */
const TRANSFER_READERS: readonly PrincipalName[] = ['sender', 'recipient', 'escrowHolder', 'regulator'];

export const ROUTES: readonly RouteCase[] = [
  { row: '`GET /v1/whoami`', who: 'any registered principal', method: 'GET', path: () => '/v1/whoami', allowed: ALL_REGISTERED },
  { row: '`GET /v1/policies`', who: 'security officer, admin, regulator', method: 'GET', path: () => '/v1/policies', allowed: ['officer', 'admin', 'regulator'] },
  {
    row: '`POST /v1/policies/evaluate`',
    who: 'security officer, admin',
    method: 'POST',
    path: () => '/v1/policies/evaluate',
    body: (context) => ({ json: { from: 'sz-hospital', manifest: genomicsManifest(context.content) } }),
    allowed: ['officer', 'admin'],
  },
  { row: '`POST /v1/policies/reload`', who: 'security officer, admin', method: 'POST', path: () => '/v1/policies/reload', allowed: ['officer', 'admin'], mutates: true },
  {
    row: '`POST /v1/transfers`',
    who: 'institution (lab system)',
    method: 'POST',
    path: () => '/v1/transfers',
    body: (context) => ({ json: genomicsManifest(context.content) }),
    allowed: INSTITUTIONS,
    mutates: true,
  },
  {
    row: '`PUT /v1/transfers/:id/content`',
    who: 'the sender',
    method: 'PUT',
    path: (context) => `/v1/transfers/${context.authorizedId}/content`,
    body: (context) => ({ bytes: context.content }),
    allowed: ['sender'],
    mutates: true,
  },
  { row: '`GET /v1/transfers/:id`', who: 'sender, recipient, escrow holders, regulators', method: 'GET', path: (context) => `/v1/transfers/${context.availableId}`, allowed: TRANSFER_READERS },
  { row: '`GET /v1/transfers?as=sender\\|recipient&status=…&limit=…&after=…`', who: 'institution', method: 'GET', path: () => '/v1/transfers?as=recipient&limit=5', allowed: INSTITUTIONS },
  {
    row: '`GET /v1/transfers/:id/content`',
    who: 'recipient, escrow holders',
    method: 'GET',
    path: (context) => `/v1/transfers/${context.availableId}/content`,
    allowed: ['recipient', 'escrowHolder', 'regulator'],
  },
  {
    row: '`POST /v1/transfers/:id/receipt`',
    who: 'recipient',
    method: 'POST',
    path: (context) => `/v1/transfers/${context.availableId}/receipt`,
    // A wrong digest: the recipient's call is answered 422 and the transfer stays available.
    body: () => ({ json: { sha256: '0'.repeat(64) } }),
    allowed: ['recipient'],
    mutates: true,
  },
  { row: '`DELETE /v1/transfers/:id`', who: 'sender, before receipt', method: 'DELETE', path: (context) => `/v1/transfers/${context.cancelId}`, allowed: ['sender'], mutates: true },
  {
    row: '`GET /v1/audit/proof/:transferId`',
    who: 'sender, recipient, escrow holders, regulators',
    method: 'GET',
    path: (context) => `/v1/audit/proof/${context.availableId}`,
    allowed: TRANSFER_READERS,
  },
  { row: '`GET /v1/audit/consistency?from=N&to=M`', who: 'any registered principal', method: 'GET', path: () => '/v1/audit/consistency?from=0&to=1', allowed: ALL_REGISTERED },
  {
    row: '`GET /v1/audit/export?from=&to=&institution=&category=&direction=&format=ndjson\\|csv`',
    who: 'regulator',
    method: 'GET',
    path: () => '/v1/audit/export?category=genomics',
    allowed: ['regulator'],
  },
  { row: '`GET /.well-known/jwks.json`', who: 'any zone certificate', method: 'GET', path: () => '/.well-known/jwks.json', allowed: EVERY_ZONE_CERTIFICATE },
  { row: '`GET /docs`', who: 'any zone certificate', method: 'GET', path: () => '/docs/json', allowed: EVERY_ZONE_CERTIFICATE },
];

/** A refusal of who the caller is or what it may do (not a policy decision). */
export function isAccessRefusal(response: { status: number; body: Record<string, unknown> }): boolean {
  return (response.status === 401 || response.status === 403) && response.body.code !== 'ERR_POLICY_DENIED';
}
