// `hetao audit verify`: a regulator's tool. Verifies an audit export offline with nothing but the
// export file and the gateway's published JWKS, and names the first line that fails.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { JSONWebKeySet } from 'jose';
import { verifyExport } from '../audit/verify-export.js';
import { parseVerifierKey } from '../witness/cosignature.js';
import { GatewayError } from '../errors.js';

export interface VerifyAuditExportOptions {
  readonly exportFile: string;
  /** The gateway's public JWKS (current and previous signing keys). */
  readonly jwksFile: string;
  /** C2SP vkeys of witnesses (the peer gateway) whose cosignature the export must carry. */
  readonly witnesses?: readonly string[];
  readonly out: (line: string) => void;
}

async function readJwks(file: string): Promise<JSONWebKeySet> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new GatewayError('ERR_REQUEST_INVALID', `cannot read the JWKS ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let jwks: unknown;
  try {
    jwks = JSON.parse(text);
  } catch {
    throw new GatewayError('ERR_REQUEST_INVALID', `the JWKS ${file} is not JSON`);
  }
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as JSONWebKeySet).keys)) {
    throw new GatewayError('ERR_REQUEST_INVALID', `the JWKS ${file} has no "keys" array`);
  }
  return jwks as JSONWebKeySet;
}

/**
 * Verifies the export; prints a summary and returns 0 when everything verifies.
 * @throws GatewayError `ERR_AUDIT_EXPORT_INVALID` naming the first bad line (and seq), `ERR_REQUEST_INVALID` for unreadable files.
 */
export async function verifyAuditExportFile(options: VerifyAuditExportOptions): Promise<number> {
  const jwks = await readJwks(options.jwksFile);
  const stream = createReadStream(options.exportFile);
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
  } catch (error) {
    throw new GatewayError('ERR_REQUEST_INVALID', `cannot read the export ${options.exportFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const witnesses = (options.witnesses ?? []).map((vkey) => {
    const key = parseVerifierKey(vkey);
    if (typeof key === 'string') throw new GatewayError('ERR_REQUEST_INVALID', `--witness ${vkey}: ${key}`);
    return key;
  });
  const result = await verifyExport(stream, jwks, { witnesses });
  if (!result.ok && result.firstError) {
    const { line, seq, reason } = result.firstError;
    throw new GatewayError('ERR_AUDIT_EXPORT_INVALID', `line ${line}${seq === undefined ? '' : ` (seq ${seq})`}: ${reason}`, { ...result.firstError });
  }
  const head = result.lastCheckpoint;
  options.out(`ok: ${result.entries} entries and ${result.checkpoints} checkpoints verified`);
  if (head) options.out(`latest checkpoint: ${head.origin} tree size ${head.treeSize} root ${head.rootHash} at ${head.time}`);
  for (const cosigned of result.cosignatures) {
    options.out(`cosigned by ${cosigned.witness} at tree size ${cosigned.treeSize}, consistent with this export${cosigned.verified ? ', cosignature verified' : ' (cosignature not checked: give its key with --witness)'}`);
  }
  return 0;
}
