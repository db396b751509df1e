// The regulator's side of the demo: pull a signed audit export into a file, then read back which
// events of the demo it holds. The lab client library has no export call (regulators are not lab
// systems), so this one streamed GET goes through undici directly, with the same mTLS material.
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { Agent, request } from 'undici';
import { GatewayClientError } from '../../gateway/client/gateway-client-error.js';
import type { TlsMaterial } from './dev-identities.js';

/**
 * Streams `GET /v1/audit/export?from=…` (NDJSON) into `file`.
 * @throws GatewayClientError when the gateway answers with a problem (e.g. 403 for a non-regulator)
 */
export async function downloadAuditExport(baseUrl: string, tls: TlsMaterial, from: Date, file: string): Promise<void> {
  const agent = new Agent({ connect: { cert: tls.cert, key: tls.key, ca: tls.ca } });
  try {
    const url = `${baseUrl.replace(/\/+$/, '')}/v1/audit/export?${new URLSearchParams({ from: from.toISOString() }).toString()}`;
    const response = await request(url, { dispatcher: agent });
    if (response.statusCode !== 200) {
      const text = await response.body.text();
      let problem: Record<string, unknown> = { detail: text.slice(0, 300) };
      try {
        problem = JSON.parse(text) as Record<string, unknown>;
      } catch {
        /* not a problem document: keep the text */
      }
      throw new GatewayClientError(response.statusCode, problem);
    }
    await pipeline(response.body, createWriteStream(file));
  } finally {
    await agent.close();
  }
}

export interface ExportedEvent {
  readonly type: string;
  readonly subject?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** The entries of an export file (header, checkpoint and manifest lines skipped). Read after it verified. */
export async function readExportedEvents(file: string): Promise<ExportedEvent[]> {
  const events: ExportedEvent[] = [];
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (!line) continue;
    const parsed = JSON.parse(line) as { kind?: string; entry?: ExportedEvent };
    if (parsed.kind === 'entry' && parsed.entry) events.push(parsed.entry);
  }
  return events;
}
