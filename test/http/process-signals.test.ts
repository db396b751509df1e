// The real process: `gateway/main.ts` in a child process, driven by signals as an operator would.
// SIGHUP reloads the registry; SIGTERM lets an in-flight request finish, then exits 0 (the stops
// that hang, and the second signal, are in test/queue/shutdown.test.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { REGISTRY_FILE, devIdentity, zoneCaBundle } from '../support/dev-pki.js';
import { call, editRegistry } from '../support/gateway.js';

import { nodeArgsFor } from '../support/run-cli.js';

interface GatewayProcess {
  readonly child: ChildProcess;
  readonly apiUrl: string;
  /** The operations listener (plain HTTP on loopback). */
  readonly opsUrl: string;
  readonly logs: Record<string, unknown>[];
  readonly registryFile: string;
  readonly exited: Promise<number | null>;
}

let running: GatewayProcess | undefined;
let dir: string | undefined;
afterEach(async () => {
  if (running && running.child.exitCode === null) {
    running.child.kill('SIGKILL');
    await running.exited;
  }
  running = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function spawnGateway(): Promise<GatewayProcess> {
  dir = await mkdtemp(path.join(tmpdir(), 'hetao-proc-'));
  const registryFile = path.join(dir, 'registry.yaml');
  await copyFile(REGISTRY_FILE, registryFile);
  const child = spawn(process.execPath, nodeArgsFor('app/main'), {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HETAO_PORT: '0',
      HETAO_OPS_PORT: '0',
      HETAO_REGISTRY_FILE: registryFile,
      HETAO_WATCH_FILES: 'false',
      HETAO_SHUTDOWN_GRACE_MS: '10000',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const logs: Record<string, unknown>[] = [];
  const listening = new Promise<{ api: string; ops: string }>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (entry.msg === 'gateway listening') resolve({ api: entry.api as string, ops: entry.ops as string });
    });
    void exited.then((code) => reject(new Error(`gateway exited with ${code} before listening`)));
  });
  const { api, ops } = await listening;
  return { child, apiUrl: api, opsUrl: ops, logs, registryFile, exited };
}

describe('gateway process', () => {
  it('reloads the registry on SIGHUP', async () => {
    running = await spawnGateway();
    const hospital = devIdentity('institutions/sz-hospital');
    expect((await call(running.apiUrl, hospital, '/v1/whoami')).status).toBe(200);
    await editRegistry(running.registryFile, (doc) => {
      const entry = doc.institutions.find((i) => i.id === 'sz-hospital');
      if (entry) entry.status = 'suspended';
    });
    running.child.kill('SIGHUP');
    await vi.waitFor(async () => expect((await call(running?.apiUrl ?? '', hospital, '/v1/whoami')).status).toBe(403), { timeout: 5000, interval: 50 });
  });

  it('finishes an in-flight request on SIGTERM, refuses new connections, then exits 0', async () => {
    running = await spawnGateway();
    const lab = devIdentity('institutions/hk-uni-genomics');
    const { hostname, port } = new URL(running.apiUrl);
    // A request whose body is still arriving when the signal comes.
    const inFlight = httpsRequest({
      hostname,
      port,
      method: 'POST',
      path: '/v1/no-such-upload',
      headers: { 'content-type': 'application/json', 'x-request-id': 'in-flight-1' },
      cert: lab.cert,
      key: lab.key,
      ca: zoneCaBundle(),
    });
    const response = new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
      inFlight.on('response', (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }));
      });
      inFlight.on('error', reject);
    });
    let answered = false;
    void response.then(() => (answered = true));
    inFlight.write('{"part":');
    await vi.waitFor(() => expect(running?.logs.some((l) => l.reqId === 'in-flight-1')).toBe(true), { timeout: 5000, interval: 20 });

    running.child.kill('SIGTERM');
    await vi.waitFor(() => expect(running?.logs.some((l) => String(l.msg).startsWith('gateway shutting down'))).toBe(true), { timeout: 5000, interval: 20 });
    // The process is draining, alive and answering on its operations listener (readiness 503), the
    // request still unanswered: a round trip through its event loop after the signal, not a pause.
    const readiness = await request(`${running.opsUrl}/readyz`);
    expect([readiness.statusCode, ((await readiness.body.json()) as { checks: { api: { ok: boolean } } }).checks.api.ok]).toEqual([503, false]);
    expect(answered).toBe(false);
    expect(running.child.exitCode).toBeNull();
    await expect(call(running.apiUrl, lab, '/v1/whoami')).rejects.toMatchObject({ code: expect.stringMatching(/ECONNREFUSED|UND_ERR_SOCKET|ECONNRESET/) });

    inFlight.end('1}');
    const result = await response;
    expect(result.status).toBe(404);
    // Keep-alive clients are told to leave, so the process need not wait for idle sockets.
    expect(result.connection).toBe('close');
    expect(JSON.parse(result.body)).toMatchObject({ code: 'ERR_ROUTE_NOT_FOUND' });
    expect(await running.exited).toBe(0);
    expect(running.logs.some((l) => l.msg === 'gateway stopped')).toBe(true);
    // Nothing hung: every shutdown step finished within HETAO_SHUTDOWN_GRACE_MS.
    expect(running.logs.filter((l) => l.msg === 'shutdown step abandoned' || l.msg === 'shutdown step failed')).toEqual([]);
  });
});
