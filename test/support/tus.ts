// A raw tus 1.0 request over mutual TLS, for the tests that drive the protocol step by step.
import type { PassThrough } from 'node:stream';
import { request } from 'undici';
import type { ClientIdentity } from './dev-pki.js';
import { mtlsAgent } from './gateway.js';

export async function tus(identity: ClientIdentity, url: string, method: 'HEAD' | 'PATCH' | 'POST' | 'DELETE' | 'OPTIONS', headers: Record<string, string>, body?: Buffer | PassThrough) {
  const response = await request(url, { dispatcher: mtlsAgent(identity), method, headers, ...(body ? { body } : {}) });
  const text = method === 'HEAD' ? '' : await response.body.text();
  return { status: response.statusCode, headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
