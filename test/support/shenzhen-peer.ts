// The Shenzhen gateway as a test plays it against an in-process Hong Kong-side gateway: its client
// certificate, its signing key, its signed directory (served over mutual TLS as the Shenzhen side
// would), its decisions, forward records and envelopes, made by the gateway's own code. Used by the
// tests of the receiving side of a forwarded transfer (test/peering/inbound-*.test.ts).
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { expect, vi } from 'vitest';
import type { GatewayBackends } from '../../gateway/app/compose-gateway.js';
import { ENVELOPE_MEDIA_TYPE } from '../../gateway/delivery/push-envelope.js';
import type { WrappedKey } from '../../gateway/envelope/envelope-header.js';
import { createEnvelopeEncryptor } from '../../gateway/envelope/encrypt-envelope.js';
import { createGatewaySigner, type GatewaySigner } from '../../gateway/envelope/gateway-signer.js';
import type { KeyHolder } from '../../gateway/envelope/wrap-data-key.js';
import { parseRegistry, type Institution } from '../../gateway/identity/registry.js';
import type { ForwardRecord } from '../../gateway/peering/forward-record.js';
import { signDirectory } from '../../gateway/peering/signed-directory.js';
import { policyCheckContext } from '../../gateway/policy/check-policy-files.js';
import { decideTransfer } from '../../gateway/policy/decide-transfer.js';
import { loadPolicySet, type PolicySet } from '../../gateway/policy/load-policy-set.js';
import { newTransferId } from '../../gateway/transfer/transfer-service.js';
import { hongKongSideEnv, shenzhenPeerEntry, SZ_ORIGIN } from '../../scripts/two-sides/channel-sides.js';
import { devFile, devIdentity, POLICY_DIR, REGISTRY_FILE, zoneCaBundle, type ClientIdentity } from './dev-pki.js';
import { call, editRegistry, mtlsAgent, startTestGateway, type CallResult, type TestGateway } from './gateway.js';
import { anonymisedResearchManifest } from './manifests.js';
import { researchRows } from './research-csv.js';
import { sha256 } from './transfers.js';

const WAIT = { timeout: 20_000, interval: 50 };

export const SZ_SIGNING_PEM = readFileSync(devFile('gateway-signing.dev-only.key.pem'), 'utf8');
export const shenzhenSigner = createGatewaySigner(SZ_SIGNING_PEM);
/** The Shenzhen gateway's client certificate: what the Hong Kong side's registry binds to its peer. */
export const shenzhenGateway = devIdentity('gateway-client');
/** The dev registry, as the Shenzhen side holds it (its institutions, and the Hong Kong side's through its directory). */
export const devRegistry = parseRegistry(readFileSync(REGISTRY_FILE), REGISTRY_FILE);
export const institution = (id: string): Institution => {
  const found = devRegistry.institutions.get(id);
  if (!found) throw new Error(`${id} is not in the dev registry`);
  return found;
};

/** The Shenzhen side's rules (the dev policy folder under `CN,zone`), as it decides a transfer before forwarding it. */
export const loadShenzhenPolicies = (): Promise<PolicySet> => loadPolicySet(POLICY_DIR, { ...policyCheckContext(devRegistry), profiles: ['CN', 'zone'] });

/** The Shenzhen side's directory endpoint: its dev server certificate, its registry signed with its key, for callers with a zone client certificate. */
async function serveShenzhenDirectory(): Promise<Server> {
  const server = createServer(
    { cert: readFileSync(devFile('gateway-server.dev-only.cert.pem')), key: readFileSync(devFile('gateway-server.dev-only.key.pem')), ca: zoneCaBundle(), requestCert: true, rejectUnauthorized: true },
    (incoming, response) => {
      if (incoming.method !== 'GET' || incoming.url !== '/v1/peering/directory') {
        response.writeHead(404).end();
        return;
      }
      signDirectory(devRegistry, { origin: SZ_ORIGIN, signer: shenzhenSigner, now: new Date() }).then(
        (jws) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jws })),
        () => response.writeHead(500).end(),
      );
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

export interface HongKongSide {
  readonly hk: TestGateway;
  /** Stops the gateway and the Shenzhen directory endpoint. */
  close(): Promise<void>;
}

/**
 * One in-process gateway as the Hong Kong side (`HK,zone`), its registry listing the Shenzhen
 * gateway as its peer (at a directory endpoint served here); resolves once the Shenzhen directory
 * is held there, so the Shenzhen senders are known.
 * @param env settings over the Hong Kong side's (e.g. HETAO_POLICY_DIR).
 */
export async function startHongKongSide(env: Record<string, string> = {}, backends: GatewayBackends = {}): Promise<HongKongSide> {
  const directory = await serveShenzhenDirectory();
  const closeDirectory = async (): Promise<void> => {
    directory.closeAllConnections();
    await new Promise((resolve) => directory.close(resolve));
  };
  let hk: TestGateway | undefined;
  try {
    hk = await startTestGateway({ ...hongKongSideEnv(), HETAO_POLICY_PROFILES: 'HK,zone', HETAO_PEER_DIRECTORY_INTERVAL_MS: '200', ...env }, backends);
    const shenzhen = await shenzhenPeerEntry(`https://127.0.0.1:${(directory.address() as AddressInfo).port}`);
    await editRegistry(hk.registryFile, (document) => {
      document.gateways = [shenzhen];
    });
    await hk.gateway.reload('test');
    const opsUrl = hk.gateway.opsUrl;
    // Senders are known here only through the Shenzhen side's signed directory.
    await vi.waitFor(async () => {
      const readiness = (await (await fetch(`${opsUrl}/readyz`)).json()) as { checks: { peers: { directories: Record<string, { institutions?: number }> } } };
      expect(readiness.checks.peers.directories['hetao-sz-gateway']?.institutions).toBeGreaterThan(0);
    }, WAIT);
  } catch (error) {
    await hk?.close();
    await closeDirectory();
    throw error;
  }
  const started = hk;
  return {
    hk: started,
    async close() {
      await started.close();
      await closeDirectory();
    },
  };
}

/** A transfer as the Shenzhen side forwards it: its forward record (unsigned), its envelope and plaintext, and the data key wrapped to the peer's processing key when asked for. */
export interface ShenzhenTransfer {
  readonly id: string;
  readonly forward: ForwardRecord;
  readonly envelope: Buffer;
  readonly plaintext: Buffer;
  readonly processingWrap?: WrappedKey;
}

export interface ShenzhenTransferOptions {
  /** The content (default: 200 kB of anonymised research CSV), declared as anonymised research data. */
  readonly plaintext?: Buffer;
  /** Signs the envelope header with another key than the Shenzhen gateway's. */
  readonly headerSigner?: GatewaySigner;
  /** Binds the envelope to another transfer id; the forward record states its size and content all the same. */
  readonly bindTo?: string;
  /** Wraps the data key to this holder too, outside the envelope (the `processingWrap` of the offer). */
  readonly processingHolder?: KeyHolder;
}

/**
 * sz-hospital → hk-uni-genomics, decided by the Shenzhen rules and sealed as the Shenzhen gateway
 * seals it. `headerSigner` and `bindTo` make an envelope that is not this transfer's own; the forward
 * record states that envelope's size and content all the same, so only the header is wrong.
 */
export async function shenzhenTransfer(policies: PolicySet, options: ShenzhenTransferOptions = {}): Promise<ShenzhenTransfer> {
  const plaintext = options.plaintext ?? researchRows(200_000);
  const { manifest, decision } = decideTransfer(policies, {
    sender: institution('sz-hospital'),
    manifest: { ...anonymisedResearchManifest(plaintext), recipient: 'hk-uni-genomics' },
    at: new Date(),
    lookupInstitution: (id) => devRegistry.institutions.get(id),
  });
  expect(decision.effect).toBe('allow');
  const id = newTransferId(new Date());
  const encryptor = createEnvelopeEncryptor({
    transferId: options.bindTo ?? id,
    sender: 'sz-hospital',
    recipient: 'hk-uni-genomics',
    policyRevision: decision.policyRevision,
    decisionId: decision.decisionId,
  });
  encryptor.body.end(plaintext);
  const sealed: Buffer[] = [];
  for await (const piece of encryptor.body as AsyncIterable<Buffer>) sealed.push(piece);
  const { prefix, processingWrap } = await encryptor.finish({
    holders: [{ institution: 'hk-uni-genomics', role: 'recipient', jwk: institution('hk-uni-genomics').encryptionKey }],
    ...(options.processingHolder ? { processingHolder: options.processingHolder } : {}),
    signer: options.headerSigner ?? shenzhenSigner,
  });
  const envelope = Buffer.concat([prefix, ...sealed]);
  const forward: ForwardRecord = {
    transferId: id,
    origin: SZ_ORIGIN,
    sender: 'sz-hospital',
    recipient: 'hk-uni-genomics',
    manifest,
    manifestSha256: decision.input.manifestSha256,
    decision: { decisionId: decision.decisionId, policyRevision: decision.policyRevision, matchedRules: [...decision.matchedRules] },
    content: { plaintextSize: plaintext.length, plaintextSha256: sha256(plaintext), envelopeSize: envelope.length },
    issuedAt: new Date().toISOString(),
  };
  return { id, forward, envelope, plaintext, ...(processingWrap ? { processingWrap } : {}) };
}

/** POST /v1/peering/transfers as the Shenzhen gateway (or `caller`): `{forward, processingWrap?}`. */
export const offerTo = (apiUrl: string, body: { forward: string; processingWrap?: WrappedKey }, caller: ClientIdentity = shenzhenGateway): Promise<CallResult> =>
  call(apiUrl, caller, '/v1/peering/transfers', { method: 'POST', json: body });

/** PUT of the whole envelope as the Shenzhen gateway sends it. */
export async function putEnvelopeTo(apiUrl: string, id: string, envelope: Buffer): Promise<{ status: number; body: Record<string, unknown> }> {
  const dispatcher = mtlsAgent(shenzhenGateway);
  try {
    const response = await request(`${apiUrl}/v1/peering/transfers/${id}/envelope`, {
      dispatcher,
      method: 'PUT',
      headers: { 'content-type': ENVELOPE_MEDIA_TYPE, 'content-length': String(envelope.length) },
      body: envelope,
    });
    const text = await response.body.text();
    return { status: response.statusCode, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  } finally {
    await dispatcher.close();
  }
}
