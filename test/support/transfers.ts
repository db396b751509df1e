// Lab-system side of a transfer in tests: create, upload, download and decrypt over real mTLS.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import { createEnvelopeDecryptor } from '../../gateway/envelope/decrypt-envelope.js';
import { CERTS_DEV, type ClientIdentity } from './dev-pki.js';
import { call, mtlsAgent, type CallResult } from './gateway.js';

export const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

/** The institution's private encryption key (PKCS#8 PEM) from the dev PKI. */
export function encryptionKey(institution: string): string {
  return readFileSync(path.join(CERTS_DEV, 'institutions', `${institution}.dev-only.enc.key.pem`), 'utf8');
}

export async function createTransfer(apiUrl: string, sender: ClientIdentity, manifest: object): Promise<CallResult> {
  return call(apiUrl, sender, '/v1/transfers', { method: 'POST', json: manifest });
}

/** PUT of the content; `body` may be a stream to control timing. */
export async function upload(apiUrl: string, sender: ClientIdentity, id: string, body: Buffer | Readable): Promise<CallResult> {
  const dispatcher = mtlsAgent(sender);
  try {
    const response = await request(new URL(`/v1/transfers/${id}/content`, apiUrl), {
      dispatcher,
      method: 'PUT',
      body,
      headers: { 'content-type': 'application/octet-stream', ...(Buffer.isBuffer(body) ? { 'content-length': String(body.length) } : {}) },
    });
    const text = await response.body.text();
    return { status: response.statusCode, contentType: String(response.headers['content-type']), headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  } finally {
    await dispatcher.close();
  }
}

export async function download(
  apiUrl: string,
  identity: ClientIdentity,
  id: string,
  headers: Record<string, string> = {},
  format?: 'hetao-envelope' | 'crypt4gh',
): Promise<{ status: number; headers: Record<string, unknown>; bytes: Buffer }> {
  const dispatcher = mtlsAgent(identity);
  try {
    const response = await request(new URL(`/v1/transfers/${id}/content${format ? `?format=${format}` : ''}`, apiUrl), { dispatcher, headers });
    return { status: response.statusCode, headers: response.headers, bytes: Buffer.from(await response.body.arrayBuffer()) };
  } finally {
    await dispatcher.close();
  }
}

export async function jwksOf(apiUrl: string, identity: ClientIdentity): Promise<{ keys: object[] }> {
  return (await call(apiUrl, identity, '/.well-known/jwks.json')).body as { keys: object[] };
}

export async function decrypt(envelope: Buffer, privateKeyPem: string, jwks: { keys: object[] }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  await pipeline(Readable.from([envelope]), createEnvelopeDecryptor({ privateKey: privateKeyPem, jwks: jwks as never }), sink);
  return Buffer.concat(chunks);
}
