// Shared helpers of the audit tests: real keys, real files in a temp dir, a fake clock.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { AuditEvent } from '../../gateway/audit/audit-entry.js';
import { createAuditJournal, type AuditJournal, type AuditJournalOptions } from '../../gateway/audit/create-audit-journal.js';
import { PROJECT_ROOT } from '../../gateway/config.js';
import { createGatewaySigner, type GatewaySigner } from '../../gateway/envelope/gateway-signer.js';

export const SIGNING_KEY_FILE = path.join(PROJECT_ROOT, 'certs-dev/gateway-signing.dev-only.key.pem');
export const SIGNING_KEY_PEM = readFileSync(SIGNING_KEY_FILE, 'utf8');
export const devSigner = (): GatewaySigner => createGatewaySigner(SIGNING_KEY_PEM);

export function newEd25519Pem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

export const tempDir = (prefix = 'hetao-audit-'): Promise<string> => mkdtemp(path.join(tmpdir(), prefix));

/** A clock that starts at a fixed instant and moves only when told. */
export function fakeClock(start = Date.parse('2025-03-01T08:00:00.000Z')): { clock: () => Date; advance: (ms: number) => void } {
  let now = start;
  return { clock: () => new Date(now), advance: (ms) => (now += ms) };
}

const INSTITUTIONS = ['sz-hospital', 'hk-uni-genomics', 'sz-bgi-lab'];

/** A transfer event of the kind the transfer service journals; `i` varies subject, actor and details. */
export function transferEvent(i: number): AuditEvent {
  const from = INSTITUTIONS[i % INSTITUTIONS.length] as string;
  return {
    type: i % 4 === 0 ? 'transfer.created' : 'transfer.state-changed',
    actor: { kind: 'institution', id: from },
    subject: `tr-${Math.floor(i / 4)}`,
    hashes: { manifest: (i % 16).toString(16).repeat(64) },
    details: { category: i % 2 === 0 ? 'genomic' : 'clinical', direction: i % 3 === 0 ? 'sz-to-hk' : 'hk-to-sz', state: 'available', n: i },
  };
}

export async function openJournal(dir: string, options: Partial<AuditJournalOptions> = {}): Promise<AuditJournal> {
  return createAuditJournal({ dir, signer: devSigner(), checkpointIntervalMs: 0, ...options });
}

export async function appendMany(journal: AuditJournal, count: number, first = 0): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, i) => journal.append(transferEvent(first + i))));
}

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

/** The lines of an export or journal file (without the final empty string). */
export const linesOf = (bytes: Buffer | string): string[] => bytes.toString().split('\n').slice(0, -1);
