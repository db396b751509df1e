// Every kind of principal the access rules know, one escrowed genomics transfer between them, and a
// raw request that sends a path exactly as spelled (no URL normalisation on the client side).
import { Agent } from 'undici';
import { devIdentity, type ClientIdentity } from './dev-pki.js';
import { mtlsAgent } from './gateway.js';
import { sha256 } from './transfers.js';

export const PRINCIPALS = {
  sender: devIdentity('institutions/sz-hospital'),
  recipient: devIdentity('institutions/hk-uni-genomics'),
  thirdParty: devIdentity('institutions/hk-ctc'),
  escrowHolder: devIdentity('institutions/nhc-hgr-office'),
  officer: devIdentity('people/officer-chan'),
  admin: devIdentity('people/admin-lee'),
  regulator: devIdentity('people/regulator-wang'),
  suspended: devIdentity('institutions/hk-suspended-lab'),
  unregistered: devIdentity('negative/unregistered'),
} as const satisfies Record<string, ClientIdentity>;

export type PrincipalName = keyof typeof PRINCIPALS;
export const PRINCIPAL_NAMES = Object.keys(PRINCIPALS) as PrincipalName[];

/** A small exome VCF: genomics with human genetic resources, escrowed to the HGR office. */
export function genomicsContent(rows = 200): Buffer {
  const lines = ['##fileformat=VCFv4.2', ['#CHROM', 'POS', 'ID', 'REF', 'ALT', 'QUAL', 'FILTER', 'INFO', 'FORMAT', 'S1', 'S2'].join('\t')];
  for (let i = 0; i < rows; i += 1) lines.push(['chr1', String(10_000 + i), '.', 'A', 'G', '50', 'PASS', '.', 'GT', '0/1', '1/1'].join('\t'));
  return Buffer.from(`${lines.join('\n')}\n`);
}

export function genomicsManifest(content: Buffer) {
  return {
    recipient: 'hk-uni-genomics',
    project: { id: 'proj-hk-sz-cancer-genomics', title: 'Joint cancer genomics' },
    purpose: 'joint-research',
    approvals: [
      { type: 'hgr-filing', id: 'HGR-BF-2026-0345' },
      { type: 'gba-standard-contract-filing', id: 'GBA-SC-GD-2026-0101' },
    ],
    consent: { basis: 'separate-consent' },
    retentionDays: 365,
    dataset: {
      category: 'genomics',
      format: 'vcf',
      genomicScope: 'exome',
      deidentification: 'pseudonymised',
      subjects: 320,
      humanGeneticResources: true,
      classification: { level: 'L3' },
      sizeBytes: content.length,
      sha256: sha256(content),
    },
  };
}

export interface RawResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: Record<string, unknown>;
}

/** One keep-alive agent per principal, so hundreds of calls do not each pay a TLS handshake. */
export function agentsFor(): Record<PrincipalName, Agent> & { close(): Promise<void> } {
  const agents = Object.fromEntries(PRINCIPAL_NAMES.map((name) => [name, mtlsAgent(PRINCIPALS[name])])) as Record<PrincipalName, Agent>;
  const all = Object.values(agents);
  return Object.assign(agents, { close: async () => void (await Promise.all(all.map((agent) => agent.close()))) });
}

/** Sends `path` byte for byte as the request target. */
export async function rawRequest(agent: Agent, origin: string, method: string, path: string, body?: { json?: unknown; bytes?: Buffer }): Promise<RawResponse> {
  const headers: Record<string, string> = {};
  let payload: string | Buffer | undefined;
  if (body?.json !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body.json);
  } else if (body?.bytes !== undefined) {
    headers['content-type'] = 'application/octet-stream';
    payload = body.bytes;
  }
  const response = await agent.request({ origin, path, method: method as 'GET', headers, ...(payload === undefined ? {} : { body: payload }) });
  const text = await response.body.text();
  const contentType = String(response.headers['content-type'] ?? '');
  let parsed: Record<string, unknown> = {};
  if (/^application\/(problem\+)?json/.test(contentType) && text) parsed = JSON.parse(text) as Record<string, unknown>;
  return { status: response.statusCode, contentType, body: parsed };
}
