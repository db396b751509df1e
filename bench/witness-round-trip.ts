// Witness round trip (issue 18, not a test): the Hong Kong-side gateway, a real process on its dev
// identity, witnesses the Shenzhen-side log; this process plays the Shenzhen side, growing a real
// Merkle tree and sending each new signed checkpoint with its consistency proof over mutual TLS
// (POST /v1/witness/add-checkpoint), as the gateway's submitter does. Per checkpoint: the signature
// check, the proof check, the durable compare-and-store (fsync) and the cosignature. Baseline in the
// same run, on the same keep-alive connection: an authenticated request that does nothing
// (GET /v1/whoami). Compare ratios: these machines are noisy.
// Run: npx tsc -p tsconfig.bench.json && node dist/bench/witness-round-trip.js
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { parse, stringify } from 'yaml';
import { createCheckpointNoteSigner } from '../gateway/audit/checkpoint-note.js';
import { createMerkleTree } from '../gateway/audit/merkle-tree.js';
import { encodeHash, hashLeaf } from '../gateway/audit/merkle-hash.js';
import { PROJECT_ROOT } from '../gateway/config.js';
import { CERTS, identity, startChild } from './support/gateway-processes.js';
import { reportResult } from './support/report.js';

const CHECKPOINTS = Number(process.env.BENCH_CHECKPOINTS ?? 300);
const ENTRIES_PER_CHECKPOINT = 10;
const SZ_ORIGIN = 'hetao-gateway.local/audit';
const peer = (name: string) => path.join(CERTS, 'peers/hetao-hk-gateway', name);

const median = (samples: number[]): number => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)] ?? 0;
const p99 = (samples: number[]): number => [...samples].sort((a, b) => a - b)[Math.floor(samples.length * 0.99)] ?? 0;

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-bench-witness-'));
  // The Hong Kong side's registry: the dev registry with the Shenzhen gateway as its peer.
  const registryFile = path.join(dir, 'registry.yaml');
  const doc = parse(await readFile(path.join(PROJECT_ROOT, 'policies/registry.yaml'), 'utf8')) as { gateways?: unknown[] };
  const szSigningPem = await readFile(path.join(CERTS, 'gateway-signing.dev-only.key.pem'), 'utf8');
  const { kty, crv, x } = createPublicKey(createPrivateKey(szSigningPem)).export({ format: 'jwk' });
  const szClient = new X509Certificate(await readFile(path.join(CERTS, 'gateway-client.dev-only.cert.pem'))).raw;
  doc.gateways = [
    {
      id: 'hetao-sz-gateway',
      name: 'Hetao Shenzhen-side gateway (DEV)',
      operator: 'hetao-operator',
      apiUrl: 'https://127.0.0.1:1',
      certificates: [{ sha256: createHash('sha256').update(szClient).digest('hex') }],
      signingKey: { kty, crv, x },
      logOrigin: SZ_ORIGIN,
      witnessName: 'hetao-gateway.local/witness',
    },
  ];
  await writeFile(registryFile, stringify(doc));
  const crlFile = path.join(dir, 'crl.pem');
  await copyFile(path.join(CERTS, 'zone-crl.dev-only.pem'), crlFile);
  const { child, url } = await startChild(
    [path.join(PROJECT_ROOT, 'dist/gateway/app/main.js')],
    {
      HETAO_PORT: '0',
      HETAO_OPS_PORT: '0',
      HETAO_DATA_DIR: path.join(dir, 'data'),
      HETAO_REGISTRY_FILE: registryFile,
      HETAO_TLS_CRL: crlFile,
      HETAO_TLS_CERT: peer('gateway-server.dev-only.cert.pem'),
      HETAO_TLS_KEY: peer('gateway-server.dev-only.key.pem'),
      HETAO_PUSH_CLIENT_CERT: peer('gateway-client.dev-only.cert.pem'),
      HETAO_PUSH_CLIENT_KEY: peer('gateway-client.dev-only.key.pem'),
      HETAO_SIGNING_KEY: peer('gateway-signing.dev-only.key.pem'),
      HETAO_PROCESSING_KEY: peer('gateway-processing.dev-only.key.pem'),
      HETAO_AUDIT_ORIGIN: 'hetao-hk-gateway.local/audit',
      HETAO_WITNESS_NAME: 'hetao-hk-gateway.local/witness',
    },
    (line) => (line.msg === 'gateway listening' ? String(line.api) : undefined),
  );
  const client = await identity('gateway-client');
  const agent = new Agent({ connect: { cert: client.cert, key: client.key, ca: client.ca }, connections: 1 });
  try {
    const tree = createMerkleTree();
    const notes = createCheckpointNoteSigner({ name: SZ_ORIGIN, privateKeyPem: szSigningPem });
    let cosigned = 0;
    let entry = 0;
    const submit = async (): Promise<number> => {
      for (let i = 0; i < ENTRIES_PER_CHECKPOINT; i += 1) tree.append(hashLeaf(Buffer.from(`entry ${(entry += 1)}`)));
      const size = tree.size;
      const text = `${SZ_ORIGIN}\n${size}\n${encodeHash(tree.rootHash(size))}\n`;
      const proof = cosigned === 0 ? [] : tree.consistencyProof(cosigned, size).map(encodeHash);
      const body = `old ${cosigned}\n${proof.map((hash) => `${hash}\n`).join('')}\n${text}\n${notes.sign(text)}`;
      const started = performance.now();
      const answer = await request(`${url}/v1/witness/add-checkpoint`, { dispatcher: agent, method: 'POST', body });
      const text200 = await answer.body.text();
      const elapsed = performance.now() - started;
      if (answer.statusCode !== 200 || !text200.startsWith('— hetao-hk-gateway.local/witness ')) throw new Error(`witness answered ${answer.statusCode}: ${text200.slice(0, 200)}`);
      cosigned = size;
      return elapsed;
    };
    const whoami = async (): Promise<number> => {
      const started = performance.now();
      const answer = await request(`${url}/v1/whoami`, { dispatcher: agent });
      await answer.body.text();
      return performance.now() - started;
    };
    for (let i = 0; i < 20; i += 1) {
      await submit();
      await whoami();
    }
    const witnessMs: number[] = [];
    const baselineMs: number[] = [];
    // Interleaved, so that both see the same machine.
    for (let i = 0; i < CHECKPOINTS; i += 1) {
      witnessMs.push(await submit());
      baselineMs.push(await whoami());
    }
    const ratio = median(witnessMs) / median(baselineMs);
    console.log(`witness round trip, ${CHECKPOINTS} checkpoints of ${ENTRIES_PER_CHECKPOINT} entries each (tree size ${tree.size}), Node ${process.version}`);
    console.log('| request | median ms | p99 ms |');
    console.log('| --- | ---: | ---: |');
    console.log(`| baseline: GET /v1/whoami (mTLS, keep-alive) | ${median(baselineMs).toFixed(2)} | ${p99(baselineMs).toFixed(2)} |`);
    console.log(`| POST /v1/witness/add-checkpoint (verify, prove, fsync, cosign) | ${median(witnessMs).toFixed(2)} | ${p99(witnessMs).toFixed(2)} |`);
    reportResult({
      area: 'witness (issue 18)',
      name: 'witness round trip per checkpoint, median',
      value: median(witnessMs),
      unit: 'ms',
      baseline: { name: 'GET /v1/whoami on the same connection', value: median(baselineMs) },
    });
    console.log(`ratio to the baseline: ${ratio.toFixed(1)}×`);
  } finally {
    await agent.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
