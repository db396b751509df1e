// The sending gateway's forward stage: a transfer whose recipient is served by the peer gateway goes
// to it once stored and inspected here — first the signed forward record (the peer decides by its own
// rules), then, if the peer wants it, the envelope, streamed from the object store. The peer may
// inspect by its rules: the data key then travels wrapped to the peer's processing key too (re-wrapped
// here from this gateway's own processing wrap, in memory). Every step is idempotent on the transfer
// id: an offer the peer already holds answers what it holds, an envelope it already stored is not
// taken twice. A channel that is down, or a peer that is busy, is a wait, not a failure.
import type { KeyObject } from 'node:crypto';
import type { JSONWebKeySet } from 'jose';
import { readEnvelopeHeader, verifyEnvelopeHeader } from '../envelope/read-envelope-header.js';
import type { GatewaySigner } from '../envelope/gateway-signer.js';
import type { WrappedKey } from '../envelope/envelope-header.js';
import { unwrapDataKey, wrapDataKey } from '../envelope/wrap-data-key.js';
import type { PeerGateway } from '../identity/registry.js';
import { PermanentStageError, StageDeferredError } from '../queue/stage-queue.js';
import type { ObjectStore } from '../storage/object-store.js';
import { processingWrapKey } from '../transfer/envelope-objects.js';
import type { DeliveryFacts, PeerLink, TransferRecord } from '../transfer/transfer-record.js';
import { forwardRecordOf, signForwardRecord } from './forward-record.js';
import type { PeerAnswer, PeerClient } from './peer-client.js';

export type ForwardOutcome =
  | { readonly stage: 'forward'; readonly outcome: 'accepted'; readonly delivery: DeliveryFacts }
  | { readonly stage: 'forward'; readonly outcome: 'refused'; readonly refusal: NonNullable<PeerLink['refusal']> };

export interface ForwardDependencies {
  readonly objects: ObjectStore;
  readonly signer: GatewaySigner;
  /** This gateway's log origin: the forward record's. */
  readonly origin: string;
  /** This gateway's processing private key: opens its own processing wrap to re-wrap it for the peer. */
  readonly processingKey: KeyObject;
  /** This gateway's public keys, to read its own envelope header. */
  readonly jwks: () => JSONWebKeySet;
  readonly peerOf: (gateway: string) => PeerGateway | undefined;
  readonly client: PeerClient;
  readonly clock: () => Date;
  /** How long to wait before trying a peer that is unreachable or busy again (default 2 s). */
  readonly retryMs?: number;
}

/** Statuses of the peer's record that mean it holds the envelope already. */
const HOLDS_ENVELOPE = new Set(['queued', 'processing', 'available', 'delivered', 'received', 'quarantined']);

export function createTransferForwarder(deps: ForwardDependencies) {
  const retryMs = deps.retryMs ?? 2000;
  const wait = (why: string): never => {
    throw Object.assign(new StageDeferredError(retryMs), { message: `deferred for ${retryMs} ms: ${why}` });
  };
  /** The peer could not be asked (network, TLS, timeout): the transfer waits here. */
  const reach = async <T>(peer: PeerGateway, ask: () => Promise<T>): Promise<T> => {
    try {
      return await ask();
    } catch (error) {
      return wait(`the peer gateway ${peer.id} is unreachable: ${(error as Error).message}`);
    }
  };
  /** A refusal that waiting may mend (the peer busy, restarting, its queue down) waits; others fail the stage. */
  const refuseOrWait = (peer: PeerGateway, what: string, answer: PeerAnswer): never => {
    const code = String(answer.body?.code ?? answer.status);
    if (answer.status >= 500 || answer.status === 429 || answer.status === 408 || answer.status === 409) return wait(`the peer gateway ${peer.id} answered ${what} with ${code}`);
    throw new PermanentStageError(`the peer gateway ${peer.id} refused ${what}: ${code} ${String(answer.body?.detail ?? '')}`.trim());
  };

  /** The data key re-wrapped to the peer's processing key, when this gateway holds a processing wrap. */
  const processingWrapFor = async (peer: PeerGateway, record: TransferRecord, prefix: Buffer): Promise<WrappedKey | undefined> => {
    const stored = await deps.objects.get(processingWrapKey(record.id));
    if (!stored || !peer.encryptionKey) return undefined;
    const own = JSON.parse(stored.toString('utf8')) as WrappedKey;
    const { headerJws } = await readEnvelopeHeader(prefix);
    const { bindingHash } = await verifyEnvelopeHeader(headerJws, deps.jwks());
    const { dataKey } = await unwrapDataKey([own], deps.processingKey, bindingHash);
    try {
      const [wrap] = await wrapDataKey(dataKey, [{ institution: `gateway:${peer.id}`, role: 'processing', jwk: peer.encryptionKey }], bindingHash);
      return wrap;
    } finally {
      dataKey.fill(0);
    }
  };

  /**
   * Forwards `record` (available here) to the peer serving its recipient.
   * @throws StageDeferredError while the peer cannot be reached or is busy; PermanentStageError when it refuses the request itself.
   */
  return async function forward(record: TransferRecord, prefix: Buffer, envelope: () => AsyncIterable<Uint8Array>): Promise<ForwardOutcome> {
    const gateway = record.peer?.direction === 'outbound' ? record.peer.gateway : undefined;
    const peer = gateway === undefined ? undefined : deps.peerOf(gateway);
    if (!peer || (peer.status ?? 'active') !== 'active') throw new PermanentStageError(`the peer gateway ${gateway ?? '?'} serving ${record.recipient} is not an active peer in the registry`);
    if (!record.content) throw new PermanentStageError(`transfer ${record.id} has no content`);
    const forward = await signForwardRecord(forwardRecordOf(record, deps.origin, deps.clock()), deps.signer);
    const processingWrap = await processingWrapFor(peer, record, prefix);
    const offered = await reach(peer, () => deps.client.offer(peer, { forward, ...(processingWrap ? { processingWrap } : {}) }));
    if (offered.status === 403 && offered.body?.code === 'ERR_POLICY_DENIED') {
      const { decisionId, policyRevision, reasons } = offered.body;
      return {
        stage: 'forward',
        outcome: 'refused',
        refusal: { ...(typeof decisionId === 'string' ? { decisionId } : {}), ...(typeof policyRevision === 'string' ? { policyRevision } : {}), reasons: Array.isArray(reasons) ? reasons : [] },
      };
    }
    if (offered.status !== 200 && offered.status !== 201) return refuseOrWait(peer, 'the offer', offered);
    const at = () => deps.clock().toISOString();
    if (HOLDS_ENVELOPE.has(String(offered.body?.status))) {
      return { stage: 'forward', outcome: 'accepted', delivery: { endpoint: peer.apiUrl, envelopeSha256: String(offered.body?.envelopeSha256 ?? ''), acknowledgedAt: at(), duplicate: true } };
    }
    const sent = await reach(peer, () => deps.client.sendEnvelope(peer, record.id, envelope(), record.content?.envelopeSize ?? 0));
    if (sent.status !== 200 && sent.status !== 201) return refuseOrWait(peer, 'the envelope', sent);
    // The peer names the bytes it stored: anything else was not this envelope, whole.
    if (sent.body?.envelopeSha256 !== sent.sentSha256) return wait(`the peer gateway ${peer.id} acknowledged ${String(sent.body?.envelopeSha256)}, not the ${sent.sentSha256} sent`);
    return { stage: 'forward', outcome: 'accepted', delivery: { endpoint: peer.apiUrl, envelopeSha256: sent.sentSha256, acknowledgedAt: at(), duplicate: sent.body?.duplicate === true } };
  };
}

export type TransferForwarder = ReturnType<typeof createTransferForwarder>;
