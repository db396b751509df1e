// The receipt's way back across the channel (docs/peering.md). On the receiving side, a recipient's
// receipt of a forwarded transfer is put in a durable outbox; a relay sends it to the sending gateway
// with the proof that this side's journal holds it: the journal entry itself, its RFC 9162 inclusion
// proof, and a checkpoint of this log as a C2SP signed note (signed with the key the peer's registry
// holds for this gateway). An entry not yet under a checkpoint, or a peer not reachable, waits for the
// next round. On the sending side, the proof is checked against the peer's key and the transfer's own
// content digest before the transfer becomes `received`: both journals then hold the whole loop.
import { createPublicKey } from 'node:crypto';
import { readEntries } from '../audit/read-entries.js';
import type { AuditJournal } from '../audit/create-audit-journal.js';
import { decodeHash, hashLeaf } from '../audit/merkle-hash.js';
import { verifyInclusion } from '../audit/verify-proof.js';
import { GatewayError } from '../errors.js';
import type { PeerGateway, Registry } from '../identity/registry.js';
import type { Role } from '../identity/require-role.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { RecordChanges } from '../transfer/record-changes.js';
import type { RecordStore } from '../transfer/record-store.js';
import type { TransferEvent } from '../transfer/transfer-events.js';
import { transition, type PeerReceiptProof, type TransferRecord } from '../transfer/transfer-record.js';
import { checkNoteSignature, parseCheckpointText, parseSignedNote } from '../witness/signed-note.js';
import type { PeerClient } from './peer-client.js';

const OUTBOX = 'peer-outbox/receipts/';
const outboxKey = (transferId: string): string => `${OUTBOX}${transferId}`;

export interface ReceiptMessage extends PeerReceiptProof {
  readonly receipt: { readonly at: string; readonly sha256: string };
}

/** The receiving side: receipts of inbound transfers, relayed to their sending gateway with proofs. */
export function createReceiptRelay(deps: {
  readonly objects: ObjectStore;
  readonly records: Pick<RecordStore, 'get'>;
  readonly journal: Pick<AuditJournal, 'checkpoint' | 'entriesFor' | 'proveInclusion' | 'exportRange'>;
  readonly registry: () => Registry;
  readonly client: PeerClient;
  readonly onError?: (transferId: string, reason: string) => void;
}) {
  /** The newest journal entry of `transferId` of type `type`, as its canonical text and seq. */
  const entryOf = async (transferId: string, type: string): Promise<{ seq: number; text: string } | undefined> => {
    const entries = await readEntries(deps.journal, [...(await deps.journal.entriesFor(transferId))].reverse());
    const found = entries.find(({ entry }) => entry.type === type);
    return found ? { seq: found.entry.seq, text: found.text } : undefined;
  };

  /** Sends one receipt; resolves whether it is done with (sent, or refused for good). */
  const relay = async (transferId: string): Promise<boolean> => {
    const record = await deps.records.get(transferId);
    const last = record?.receipts.at(-1);
    if (!record || record.peer?.direction !== 'inbound' || !last) return true;
    const peer = deps.registry().gateways.get(record.peer.gateway);
    if (!peer || (peer.status ?? 'active') !== 'active') return false;
    const entry = await entryOf(transferId, 'transfer.received');
    const checkpoint = await deps.journal.checkpoint();
    if (!entry || !checkpoint?.note || entry.seq >= checkpoint.treeSize) return false; // under the next checkpoint
    const { proof } = await deps.journal.proveInclusion(entry.seq, checkpoint.treeSize);
    const message: ReceiptMessage = { receipt: { at: last.at, sha256: last.sha256 }, entry: entry.text, leafIndex: entry.seq, treeSize: checkpoint.treeSize, proof, checkpoint: checkpoint.note };
    const answer = await deps.client.sendReceipt(peer, transferId, message);
    if (answer.status === 200) return true;
    const code = String(answer.body?.code ?? answer.status);
    deps.onError?.(transferId, `the peer gateway ${peer.id} answered the receipt with ${code}`);
    return answer.status >= 400 && answer.status < 500 && answer.status !== 409 && answer.status !== 429 && answer.status !== 408;
  };

  let running: Promise<void> | undefined;
  return {
    /** Its subscription to the transfer events (`after` the change): a receipt of an inbound transfer goes in the outbox. */
    async onTransferEvent(event: TransferEvent): Promise<void> {
      if (event.type !== 'changed' || event.change !== 'received' || event.record.peer?.direction !== 'inbound') return;
      await deps.objects.put(outboxKey(event.record.id), Buffer.from(event.record.peer.gateway));
      void this.relayAll();
    },
    /** One pass over the outbox; a call during one waits for it. */
    relayAll(): Promise<void> {
      running ??= (async () => {
        for (const key of await deps.objects.list(OUTBOX)) {
          const transferId = key.slice(key.lastIndexOf('/') + 1);
          try {
            if (await relay(transferId)) await deps.objects.delete(outboxKey(transferId));
          } catch (error) {
            deps.onError?.(transferId, (error as Error).message);
          }
        }
      })().finally(() => (running = undefined));
      return running;
    },
  };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Why a receipt message does not prove the receipt of `record` by `peer`'s journal; undefined when it does. */
export function checkPeerReceipt(message: unknown, record: TransferRecord, peer: PeerGateway): string | undefined {
  if (!isObject(message) || !isObject(message.receipt) || typeof message.entry !== 'string' || typeof message.checkpoint !== 'string') return 'the receipt lacks its entry, checkpoint or receipt';
  const { leafIndex, treeSize, proof } = message;
  if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize) || !Array.isArray(proof)) return 'the receipt lacks its inclusion proof';
  const note = parseSignedNote(message.checkpoint);
  if (typeof note === 'string') return `the checkpoint is not a signed note: ${note}`;
  if (checkNoteSignature(note, { name: peer.logOrigin, publicKey: createPublicKey({ key: peer.signingKey as never, format: 'jwk' }) }) !== 'verified') return `the checkpoint is not signed by ${peer.id}`;
  const checkpoint = parseCheckpointText(note.text);
  if (typeof checkpoint === 'string') return checkpoint;
  if (checkpoint.origin !== peer.logOrigin || checkpoint.treeSize !== treeSize) return 'the checkpoint is not of the peer log at the proof size';
  const hashes = proof.map(decodeHash);
  if (hashes.some((hash) => hash === undefined)) return 'the inclusion proof holds something that is not a hash';
  const leafHash = hashLeaf(Buffer.from(message.entry, 'utf8'));
  if (!verifyInclusion({ leafIndex: leafIndex as number, treeSize: treeSize as number, leafHash, proof: hashes as Buffer[], rootHash: checkpoint.rootHash })) return 'the inclusion proof does not lead to the checkpoint root';
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(message.entry) as Record<string, unknown>;
  } catch {
    return 'the entry is not JSON';
  }
  const hashesOf = isObject(entry.hashes) ? entry.hashes : {};
  if (entry.type !== 'transfer.received' || entry.subject !== record.id || entry.seq !== leafIndex) return 'the entry is not the receipt of this transfer';
  if (hashesOf.plaintext !== record.content?.plaintextSha256 || message.receipt.sha256 !== record.content?.plaintextSha256) return 'the receipt names other content than the one sent';
  return undefined;
}

/** The sending side: a peer's receipt of an outbound transfer, checked, makes it `received`. */
export function createPeerReceipts(deps: { readonly records: RecordStore; readonly changes: RecordChanges; readonly registry: () => Registry; readonly clock: () => Date }) {
  return {
    /**
     * @throws GatewayError ERR_PEER_UNKNOWN, ERR_TRANSFER_NOT_FOUND, ERR_TRANSFER_STATE (not forwarded yet: the peer retries), ERR_PEER_RECEIPT_INVALID
     */
    async accept(caller: { readonly id: string; readonly role: Role }, transferId: string, message: unknown): Promise<{ transferId: string; status: string }> {
      const peer = caller.role === 'peer-gateway' ? deps.registry().gateways.get(caller.id) : undefined;
      if (!peer || (peer.status ?? 'active') !== 'active') throw new GatewayError('ERR_PEER_UNKNOWN', `${caller.id} is not an active peer gateway of this one`);
      const record = await deps.records.get(transferId);
      if (!record || record.peer?.direction !== 'outbound' || record.peer.gateway !== peer.id) throw new GatewayError('ERR_TRANSFER_NOT_FOUND', `no transfer ${transferId} forwarded to ${peer.id}`);
      if (record.status === 'received') return { transferId, status: record.status };
      if (record.status !== 'delivered') throw new GatewayError('ERR_TRANSFER_STATE', `transfer ${transferId} is ${record.status} here`, { status: record.status });
      const problem = checkPeerReceipt(message, record, peer);
      if (problem) throw new GatewayError('ERR_PEER_RECEIPT_INVALID', problem);
      const proof = message as ReceiptMessage;
      const at = deps.clock();
      const receipts = [...record.receipts, { at: proof.receipt.at, by: peer.id, sha256: proof.receipt.sha256, matches: true }];
      const receiptProof: PeerReceiptProof = { entry: proof.entry, leafIndex: proof.leafIndex, treeSize: proof.treeSize, proof: proof.proof, checkpoint: proof.checkpoint };
      const detail = { peer: peer.id, sha256: proof.receipt.sha256, peerLeafIndex: proof.leafIndex, peerTreeSize: proof.treeSize, peerLeafHash: hashLeaf(Buffer.from(proof.entry, 'utf8')).toString('base64') };
      const received = transition(record, 'received', { at, event: 'received', by: peer.id, detail }, { receipts, peer: { ...record.peer, receiptProof } });
      const stored = await deps.changes.save(received, 'received', { kind: 'gateway', id: peer.id });
      return { transferId, status: stored.status };
    },
  };
}
