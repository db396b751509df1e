// `hetao send` over a network that cuts: the client library (and the CLI) resume a tus upload from
// the gateway's offset after a real cut TCP connection (a proxy that drops the first connection
// once it has carried 40 % of the file), and `--resume` continues an earlier upload after the client
// itself stopped. The bytes the client sends in all stay close to the file's size.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayClient } from '../../gateway/client/gateway-client.js';
import { resumeFile, sendFile } from '../../gateway/client/send-file.js';
import { devFile, devIdentity, zoneCaBundle } from '../support/dev-pki.js';
import { mtlsAgent, startTestGateway, type TestGateway } from '../support/gateway.js';
import { anonymisedResearchManifest } from '../support/manifests.js';
import { runHetao } from '../support/run-cli.js';
import { createTransfer } from '../support/transfers.js';

const hospital = devIdentity('institutions/sz-hospital');
let gw: TestGateway;
let dir: string;
beforeAll(async () => {
  gw = await startTestGateway();
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-resume-'));
});
afterAll(async () => {
  await gw?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A TCP proxy to the gateway that cuts the first connection once it has carried `cutAfter` bytes upstream. */
async function cuttingProxy(cutAfter: number): Promise<{ url: string; upstreamBytes: () => number; cuts: () => number; close: () => Promise<void> }> {
  const target = new URL(gw.gateway.apiUrl);
  let upstream = 0;
  let cuts = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const toGateway = connect(Number(target.port), target.hostname);
    sockets.add(client).add(toGateway);
    let carried = 0;
    client.on('data', (chunk: Buffer) => {
      upstream += chunk.length;
      carried += chunk.length;
      toGateway.write(chunk);
      if (cuts === 0 && carried > cutAfter) {
        cuts += 1;
        client.destroy();
        toGateway.destroy();
      }
    });
    toGateway.on('data', (chunk: Buffer) => client.write(chunk));
    const end = (): void => {
      client.destroy();
      toGateway.destroy();
    };
    client.on('close', end).on('error', end);
    toGateway.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}`,
    upstreamBytes: () => upstream,
    cuts: () => cuts,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('resumable sends', () => {
  it('the client resumes after its connection is cut at 40 %, from the offset, and the transfer completes', async () => {
    const content = randomBytes(4 * 1024 * 1024);
    const file = path.join(dir, 'cut.bin');
    await writeFile(file, content);
    const proxy = await cuttingProxy(0.4 * content.length);
    const client = createGatewayClient({ baseUrl: proxy.url, cert: hospital.cert, key: hospital.key, ca: zoneCaBundle() });
    try {
      const afterRetry: number[] = [];
      const retries: number[] = [];
      const manifest = { ...anonymisedResearchManifest(content), dataset: { ...anonymisedResearchManifest(content).dataset, format: 'other' } };
      const sent = await sendFile(client, { file, manifest, retryDelaysMs: [50, 100, 200, 400], onRetry: (attempt) => retries.push(attempt), onUploadProgress: (done) => {
          if (retries.length > 0) afterRetry.push(done);
        },
      });
      expect(proxy.cuts()).toBe(1);
      expect(retries.length).toBeGreaterThanOrEqual(1);
      expect(sent.record.status).toBe('available');
      // After the cut the progress goes on from what the gateway had, not from zero.
      expect(afterRetry.length).toBeGreaterThan(0);
      expect(Math.min(...afterRetry)).toBeGreaterThan(0.3 * content.length);
      expect(proxy.upstreamBytes()).toBeLessThan(1.05 * content.length);
    } finally {
      await client.close();
      await proxy.close();
    }
  });

  it('--resume continues an earlier upload of the same file after the client stopped, and refuses another file', async () => {
    const content = randomBytes(2 * 1024 * 1024);
    const file = path.join(dir, 'resume.bin');
    await writeFile(file, content);
    const manifest = { ...anonymisedResearchManifest(content), dataset: { ...anonymisedResearchManifest(content).dataset, format: 'other' } };
    const created = await createTransfer(gw.gateway.apiUrl, hospital, manifest);
    const id = String(created.body.id);
    const url = `${gw.gateway.apiUrl}/v1/transfers/${id}/tus`;
    const tusHeaders = { 'tus-resumable': '1.0.0' };
    // An earlier client sent the first MiB, then died with its connection.
    await request(url, { dispatcher: mtlsAgent(hospital), method: 'POST', headers: { ...tusHeaders, 'upload-length': String(content.length) } }).then((r) => r.body.dump());
    const body = new PassThrough();
    const cutter = new AbortController();
    const patching = request(url, { dispatcher: mtlsAgent(hospital), method: 'PATCH', headers: { ...tusHeaders, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' }, body, signal: cutter.signal }).catch(() => undefined);
    body.write(content.subarray(0, 1024 * 1024));
    for (let i = 0; i < 3000; i += 1) {
      const head = await request(url, { dispatcher: mtlsAgent(hospital), method: 'HEAD', headers: tusHeaders });
      await head.body.dump();
      if (head.headers['upload-offset'] === String(1024 * 1024)) break;
      await sleep(20);
    }
    cutter.abort();
    await patching;

    const other = path.join(dir, 'other.bin');
    await writeFile(other, randomBytes(content.length));
    const client = createGatewayClient({ baseUrl: gw.gateway.apiUrl, cert: hospital.cert, key: hospital.key, ca: zoneCaBundle() });
    try {
      await expect(resumeFile(client, { id, file: other })).rejects.toMatchObject({ code: 'ERR_TRANSFER_DIGEST_MISMATCH' });
    } finally {
      await client.close();
    }
    const ca = devFile('zone-ca-bundle.dev-only.pem');
    const resumed = await runHetao(['send', file, '--resume', id, '--gateway', gw.gateway.apiUrl, '--cert', devFile('institutions/sz-hospital.dev-only.cert.pem'), '--key', devFile('institutions/sz-hospital.dev-only.key.pem'), '--ca', ca]);
    expect(resumed.stdout).toContain(`transfer ${id}: resuming at byte ${1024 * 1024} of ${content.length}`);
    expect(resumed.code).toBe(0);
    const record = await request(`${gw.gateway.apiUrl}/v1/transfers/${id}`, { dispatcher: mtlsAgent(hospital) }).then((r) => r.body.json() as Promise<Record<string, unknown>>);
    expect(record.status).toBe('available');
  });
});
