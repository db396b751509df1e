// The receiving gateway's side of a forwarded transfer (docs/peering.md). The peer gateway offers a
// transfer with its signed forward record; this gateway decides it by its own inbound rules (it may
// refuse: the peer's sender then sees `refused-by-peer` with these reasons), records it and, if
// accepted, takes the envelope: streamed into the object store, its header checked as the peer's and
// as this transfer's, its size as announced — committed whole or not at all. It may then inspect by
// its own rules (the data key wrapped to its processing key travels with the offer; the wrap is
// deleted after). Every step is idempotent on the transfer id: an offer or an envelope repeated after
// a cut is answered with what is held, never stored twice.
import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type { JSONWebKeySet } from 'jose';
import { GatewayError } from '../errors.js';
import { parseEnvelopePrefix, PREFIX_FIXED_BYTES, MAX_HEADER_BYTES } from '../envelope/envelope-framing.js';
import type { WrappedKey } from '../envelope/envelope-header.js';
import { computeJwkThumbprint } from '../envelope/jwk-thumbprint.js';
import { verifyEnvelopeHeader } from '../envelope/read-envelope-header.js';
import type { PeerGateway, Registry } from '../identity/registry.js';
import type { Role } from '../identity/require-role.js';
import type { Party } from '../policy/decision-input.js';
import { decideTransfer } from '../policy/decide-transfer.js';
import type { PolicySet } from '../policy/load-policy-set.js';
import type { ObjectStore } from '../storage/object-store.js';
import { envelopeKeys, processingWrapKey } from '../transfer/envelope-objects.js';
import type { RecordChanges } from '../transfer/record-changes.js';
import type { RecordStore } from '../transfer/record-store.js';
import type { TransferActor, TransferEvents } from '../transfer/transfer-events.js';
import { authorizedRecord, transition, type TransferRecord } from '../transfer/transfer-record.js';
import { holdLease, newLease, type UploadLeasing } from '../transfer/upload-transfer.js';
import { verifyForwardRecord } from './forward-record.js';
import { remoteInstitutionOf } from './remote-institutions.js';
import type { SignedDirectoryPayload } from './signed-directory.js';

export interface InboundDependencies {
  readonly records: RecordStore;
  /** Refusals are announced here (the journal subscribes). */
  readonly events: TransferEvents;
  /** Where changes are saved and announced (transfer/record-changes.ts). */
  readonly changes: RecordChanges;
  readonly objects: ObjectStore;
  readonly policies: () => PolicySet;
  readonly registry: () => Registry;
  /** The peer's signed directory as last verified: where its senders' facts come from. */
  readonly directoryOf: (peer: string) => SignedDirectoryPayload | undefined;
  /** This gateway's keys and its peers' (peer-keys.ts): the envelope header is the peer's. */
  readonly jwks: () => JSONWebKeySet;
  readonly clock: () => Date;
  /** Whether the work queue can take an inspection now; an envelope is refused (to be retried) before its first byte otherwise. */
  readonly queueAvailable: () => boolean;
  readonly uploadLease?: UploadLeasing;
}

/** What the peer is told about a transfer it offered: enough to know whether to send the envelope. */
export interface InboundView {
  readonly transferId: string;
  readonly status: string;
  readonly decisionId: string;
  readonly policyRevision: string;
  readonly envelopeSha256?: string;
  readonly duplicate?: boolean;
}

/** Statuses in which the envelope is held whole (or was, and is gone by this side's rules). */
const HELD = new Set(['queued', 'processing', 'available', 'delivered', 'received', 'quarantined', 'expired']);

const viewOf = (record: TransferRecord, duplicate?: boolean): InboundView => ({
  transferId: record.id,
  status: record.status,
  decisionId: record.decision.decisionId,
  policyRevision: record.decision.policyRevision,
  ...(record.peer?.envelopeSha256 ? { envelopeSha256: record.peer.envelopeSha256 } : {}),
  ...(duplicate === undefined ? {} : { duplicate }),
});

const isWrappedKey = (value: unknown): value is WrappedKey => {
  const wrap = value as Partial<WrappedKey> | undefined;
  return typeof wrap === 'object' && wrap !== null && typeof wrap.jwe === 'string' && typeof wrap.kid === 'string' && typeof wrap.institution === 'string' && wrap.role === 'processing';
};

async function writeTo(stream: Writable, chunk: Uint8Array): Promise<void> {
  if (stream.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (error?: Error): void => {
      stream.off('drain', done);
      stream.off('error', done);
      if (error) reject(error);
      else resolve();
    };
    stream.once('drain', done);
    stream.once('error', done);
  });
}

export function createInboundTransfers(deps: InboundDependencies) {
  const peerCalling = (caller: { readonly id: string; readonly role: Role }): PeerGateway => {
    const peer = caller.role === 'peer-gateway' ? deps.registry().gateways.get(caller.id) : undefined;
    if (!peer || (peer.status ?? 'active') !== 'active') throw new GatewayError('ERR_PEER_UNKNOWN', `${caller.id} is not an active peer gateway of this one`);
    return peer;
  };
  const actorOf = (peer: PeerGateway): TransferActor => ({ kind: 'gateway', id: peer.id });

  /** The peer's sender as its signed directory describes it; unknown there, it is refused like any unknown party. */
  const senderOf = (peer: PeerGateway, id: string): Party | undefined => remoteInstitutionOf(deps.registry(), deps.directoryOf, id, peer.id);

  const inboundFrom = async (peer: PeerGateway, id: string): Promise<TransferRecord> => {
    const record = await deps.records.get(id);
    if (!record || record.peer?.direction !== 'inbound' || record.peer.gateway !== peer.id) throw new GatewayError('ERR_TRANSFER_NOT_FOUND', `no transfer ${id} offered by ${peer.id}`);
    return record;
  };

  return {
    /**
     * The peer offers a transfer: decided here by this side's rules, recorded if allowed.
     * @throws GatewayError ERR_PEER_UNKNOWN, ERR_PEER_FORWARD_INVALID, ERR_POLICY_DENIED (with this side's reasons), ERR_PEER_PROCESSING_WRAP_MISSING (this side inspects, no wrap given), ERR_TRANSFER_CONFLICT
     */
    async offer(caller: { readonly id: string; readonly role: Role }, body: unknown): Promise<{ created: boolean; view: InboundView }> {
      const peer = peerCalling(caller);
      const offer = (typeof body === 'object' && body !== null ? body : {}) as { forward?: unknown; processingWrap?: unknown };
      const forward = await verifyForwardRecord(offer.forward, peer);
      if (typeof forward === 'string') throw new GatewayError('ERR_PEER_FORWARD_INVALID', forward);
      if (offer.processingWrap !== undefined && !isWrappedKey(offer.processingWrap)) throw new GatewayError('ERR_PEER_FORWARD_INVALID', 'the processing wrap is not a wrapped key');
      const existing = await deps.records.get(forward.transferId);
      if (existing) {
        if (existing.peer?.direction === 'inbound' && existing.peer.gateway === peer.id && existing.manifestSha256 === forward.manifestSha256) return { created: false, view: viewOf(existing) };
        throw new GatewayError('ERR_TRANSFER_CONFLICT', `transfer ${forward.transferId} exists here with other facts`);
      }
      const now = deps.clock();
      const sender = senderOf(peer, forward.sender);
      const local = (id: string): Party | undefined => deps.registry().institutions.get(id);
      if (!sender) {
        throw new GatewayError('ERR_POLICY_DENIED', 'the transfer is denied by policy', {
          reasons: [{ ruleId: 'peering.sender-in-directory', code: 'sender-unknown', message: `${forward.sender} is not in the signed directory of ${peer.id} held here` }],
        });
      }
      const { manifest, decision } = decideTransfer(deps.policies(), { sender, manifest: forward.manifest, at: now, lookupInstitution: local });
      if (decision.input.manifestSha256 !== forward.manifestSha256) throw new GatewayError('ERR_PEER_FORWARD_INVALID', 'the manifest hashes to another digest here than in the forward record');
      if (decision.effect === 'deny') {
        await deps.events.emit({ type: 'refused', decision, manifest, actor: actorOf(peer) });
        throw new GatewayError('ERR_POLICY_DENIED', 'the transfer is denied by policy', { decisionId: decision.decisionId, policyRevision: decision.policyRevision, reasons: decision.reasons });
      }
      // This side's rules inspect it in full: without the data key wrapped to the processing key it could only be passed on uninspected.
      if (decision.obligations.fullInspection && offer.processingWrap === undefined) {
        throw new GatewayError('ERR_PEER_PROCESSING_WRAP_MISSING', `this side's rules inspect transfer ${forward.transferId} in full, and the offer carries no processingWrap to open it with`, {
          decisionId: decision.decisionId,
          policyRevision: decision.policyRevision,
        });
      }
      const record = authorizedRecord({
        id: forward.transferId,
        sender: forward.sender,
        manifest,
        decision,
        at: now,
        by: peer.id,
        detail: { senderDecisionId: forward.decision.decisionId },
        peer: {
          gateway: peer.id,
          direction: 'inbound',
          senderDecision: { decisionId: forward.decision.decisionId, policyRevision: forward.decision.policyRevision },
          offered: forward.content,
        },
      });
      // The wrap to this gateway's processing key is kept only if this side's rules inspect.
      if (offer.processingWrap !== undefined && decision.obligations.fullInspection) await deps.objects.put(processingWrapKey(record.id), Buffer.from(JSON.stringify(offer.processingWrap)));
      try {
        const stored = await deps.changes.save(record, 'authorized', actorOf(peer));
        return { created: true, view: viewOf(stored) };
      } catch (error) {
        // Two offers of one transfer at once: the other one recorded it.
        if (error instanceof GatewayError && error.code === 'ERR_TRANSFER_CONFLICT') return { created: false, view: viewOf(await inboundFrom(peer, record.id)) };
        throw error;
      }
    },

    /**
     * The envelope of an accepted transfer, streamed in: stored whole, or not at all.
     * An envelope already held is answered as such without a byte read (a retry after a lost answer);
     * every refusal known from the record comes before the first byte too.
     * @throws GatewayError ERR_PEER_FORWARD_INVALID (header not the peer's or not this transfer's),
     *   ERR_TRANSFER_SIZE_MISMATCH, ERR_TRANSFER_STATE, ERR_QUEUE_UNAVAILABLE
     */
    async receiveEnvelope(caller: { readonly id: string; readonly role: Role }, id: string, source: Readable, announcedBytes: number | undefined): Promise<InboundView> {
      const peer = peerCalling(caller);
      const offered = await inboundFrom(peer, id);
      if (HELD.has(offered.status)) return viewOf(offered, true);
      if (offered.status !== 'authorized') throw new GatewayError('ERR_TRANSFER_STATE', `transfer ${id} is ${offered.status} here`, { status: offered.status });
      const announced = offered.peer?.offered?.envelopeSize;
      if (announcedBytes !== announced) throw new GatewayError('ERR_TRANSFER_SIZE_MISMATCH', `the envelope is announced as ${String(announcedBytes)} bytes, the forward record said ${String(announced)}`);
      if (offered.obligations.fullInspection && !deps.queueAvailable()) throw new GatewayError('ERR_QUEUE_UNAVAILABLE', 'the inspection queue is unreachable right now; nothing was read', { retryAfterSeconds: 5 });
      const expected = offered.peer?.offered;
      if (!expected) throw new GatewayError('ERR_PEER_FORWARD_INVALID', `transfer ${id} was offered without its content facts`);
      const at = deps.clock();
      const started = await deps.changes.save(transition(offered, 'uploading', { at, event: 'upload-started', by: peer.id }, newLease(deps)), 'upload-started', actorOf(peer));
      const lease = holdLease(deps, id);
      const [headerKey, bodyKey] = envelopeKeys(id);
      const pending = await deps.objects.createPending(bodyKey);
      const hash = createHash('sha256');
      let prefix: Buffer | undefined;
      let holders: { institution: string; role: 'recipient' | 'escrow' }[] = [];
      try {
        let head = Buffer.alloc(0);
        let received = 0;
        for await (const piece of source as AsyncIterable<Buffer>) {
          received += piece.length;
          if (received > expected.envelopeSize) throw new GatewayError('ERR_TRANSFER_SIZE_MISMATCH', `the envelope runs past the ${expected.envelopeSize} bytes announced`);
          hash.update(piece);
          if (prefix) {
            await writeTo(pending.stream, piece);
            continue;
          }
          head = Buffer.concat([head, piece]);
          if (head.length < PREFIX_FIXED_BYTES) continue;
          const { headerLength } = parseEnvelopePrefix(head.subarray(0, PREFIX_FIXED_BYTES));
          if (headerLength > MAX_HEADER_BYTES) throw new GatewayError('ERR_PEER_FORWARD_INVALID', 'the envelope header is too large');
          if (head.length < PREFIX_FIXED_BYTES + headerLength) continue;
          prefix = head.subarray(0, PREFIX_FIXED_BYTES + headerLength);
          const verified = await verifyEnvelopeHeader(prefix.subarray(PREFIX_FIXED_BYTES).toString('ascii'), deps.jwks()).catch((error: unknown) => {
            // A header no key here verifies is, to the peer, a forward that does not verify.
            throw error instanceof GatewayError ? new GatewayError('ERR_PEER_FORWARD_INVALID', `the envelope header does not verify: ${error.message}`) : error;
          });
          const { binding, plaintext, wrappedKeys } = verified.header;
          if (verified.kid !== computeJwkThumbprint(peer.signingKey)) throw new GatewayError('ERR_PEER_FORWARD_INVALID', `the envelope header is signed by ${verified.kid}, not by ${peer.id}`);
          if (binding.transferId !== id || binding.sender !== offered.sender || binding.recipient !== offered.recipient) throw new GatewayError('ERR_PEER_FORWARD_INVALID', 'the envelope header binds another transfer');
          if (plaintext.size !== expected.plaintextSize || plaintext.sha256 !== expected.plaintextSha256) throw new GatewayError('ERR_PEER_FORWARD_INVALID', 'the envelope header states other content than the forward record');
          holders = wrappedKeys.filter((key) => key.role !== 'processing').map((key) => ({ institution: key.institution, role: key.role as 'recipient' | 'escrow' }));
          const rest = head.subarray(prefix.length);
          prefix = Buffer.from(prefix);
          if (rest.length > 0) await writeTo(pending.stream, rest);
        }
        if (received !== expected.envelopeSize || !prefix) throw new GatewayError('ERR_TRANSFER_SIZE_MISMATCH', `the envelope ended after ${received} of ${expected.envelopeSize} bytes`);
        lease.stop();
        await pending.commit();
        await deps.objects.put(headerKey, prefix);
      } catch (error) {
        lease.stop();
        await pending.abort().catch(() => undefined);
        const current = await deps.records.get(id);
        if (current?.status === 'uploading') {
          const code = error instanceof GatewayError ? error.code : 'ERR_UPLOAD_INTERRUPTED';
          await deps.changes.save(transition(current, 'authorized', { at: deps.clock(), event: 'upload-failed', by: 'gateway', detail: { code } }), 'upload-failed', { kind: 'gateway', id: 'gateway' });
        }
        throw error;
      }
      const envelopeSha256 = hash.digest('hex');
      const uploaded = (await deps.records.get(id)) ?? started;
      const content = { plaintextSize: expected.plaintextSize, plaintextSha256: expected.plaintextSha256, envelopeSize: expected.envelopeSize, holders };
      const peerLink = { ...(uploaded.peer ?? { gateway: peer.id, direction: 'inbound' as const }), envelopeSha256 };
      const inspect = uploaded.obligations.fullInspection && (await deps.objects.stat(processingWrapKey(id))) !== undefined;
      const done = inspect
        ? transition(uploaded, 'queued', { at: deps.clock(), event: 'queued', by: 'gateway', detail: { envelopeSha256 } }, { content, pendingStages: ['inspect'], peer: peerLink })
        : transition(uploaded, 'available', { at: deps.clock(), event: 'envelope-received', by: 'gateway', detail: { envelopeSha256 } }, { content, peer: peerLink });
      if (!inspect) await deps.objects.delete(processingWrapKey(id));
      const stored = await deps.changes.save(done, inspect ? 'queued' : 'envelope-received', { kind: 'gateway', id: 'gateway' });
      return viewOf(stored, false);
    },
  };
}

export type InboundTransfers = ReturnType<typeof createInboundTransfers>;
