// The receiving side of a forwarded transfer, fail-closed: one in-process gateway runs as the Hong
// Kong side, and this test plays the Shenzhen gateway (test/support/shenzhen-peer.ts) — its client
// certificate, its signing key, its signed directory (served over mutual TLS as the Shenzhen side
// would), its forward records and its envelopes, made by the gateway's own encryption code. Every
// refusal is checked by its status, its problem code, and by what the Hong Kong side holds
// afterwards: the record's state as the recipient sees it, and that nothing can be downloaded. The
// sending side's receipt check runs on a real Merkle tree and a real signed checkpoint note.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { toCanonicalJson } from '../../gateway/audit/canonical-json.js';
import { createCheckpointNoteSigner, formatCheckpointNoteText } from '../../gateway/audit/checkpoint-note.js';
import { encodeHash, hashLeaf } from '../../gateway/audit/merkle-hash.js';
import { createMerkleTree } from '../../gateway/audit/merkle-tree.js';
import { ENVELOPE_MEDIA_TYPE } from '../../gateway/delivery/push-envelope.js';
import { createGatewaySigner, type GatewaySigner } from '../../gateway/envelope/gateway-signer.js';
import type { PeerGateway } from '../../gateway/identity/registry.js';
import { signForwardRecord } from '../../gateway/peering/forward-record.js';
import { checkPeerReceipt, type ReceiptMessage } from '../../gateway/peering/peer-receipts.js';
import type { PolicySet } from '../../gateway/policy/load-policy-set.js';
import type { TransferRecord } from '../../gateway/transfer/transfer-record.js';
import { newTransferId } from '../../gateway/transfer/transfer-service.js';
import { devIdentity } from '../support/dev-pki.js';
import { call, mtlsAgent, type TestGateway } from '../support/gateway.js';
import { HK_ORIGIN, hongKongSideFile } from '../../scripts/two-sides/channel-sides.js';
import { openRawTls, requestHead } from '../support/raw-tls.js';
import {
  devRegistry,
  loadShenzhenPolicies,
  offerTo,
  putEnvelopeTo,
  shenzhenGateway,
  shenzhenSigner,
  shenzhenTransfer as sealedByShenzhen,
  startHongKongSide,
  SZ_SIGNING_PEM,
  type HongKongSide,
  type ShenzhenTransfer,
} from '../support/shenzhen-peer.js';
import { decrypt, download, encryptionKey, jwksOf, sha256 } from '../support/transfers.js';

const WAIT = { timeout: 20_000, interval: 50 };

const HK_SIGNING_PEM = readFileSync(hongKongSideFile('gateway-signing.dev-only.key.pem'), 'utf8');
const hongKongSigner = createGatewaySigner(HK_SIGNING_PEM);
const hkLab = devIdentity('institutions/hk-uni-genomics');

let side: HongKongSide;
let hk: TestGateway;
let shenzhenPolicies: PolicySet;

beforeAll(async () => {
  shenzhenPolicies = await loadShenzhenPolicies();
  side = await startHongKongSide();
  hk = side.hk;
});

afterAll(async () => {
  await side?.close();
});

/**
 * sz-hospital → hk-uni-genomics, decided by the Shenzhen rules and sealed as the Shenzhen gateway
 * seals it. `headerSigner` and `bindTo` make an envelope that is not this transfer's own; the forward
 * record states that envelope's size and content all the same, so only the header is wrong.
 */
const shenzhenTransfer = (options: { headerSigner?: GatewaySigner; bindTo?: string } = {}): Promise<ShenzhenTransfer> => sealedByShenzhen(shenzhenPolicies, options);

/** POST /v1/peering/transfers as the Shenzhen gateway (or `caller`). */
const offer = (forward: string, caller = shenzhenGateway) => offerTo(hk.gateway.apiUrl, { forward }, caller);

/** Signs and offers the transfer as the Shenzhen gateway; it must be accepted. */
async function offered(transfer: ShenzhenTransfer): Promise<void> {
  const answer = await offer(await signForwardRecord(transfer.forward, shenzhenSigner));
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
}

/** PUT of the whole envelope as the Shenzhen gateway sends it. */
const putEnvelope = (id: string, envelope: Buffer) => putEnvelopeTo(hk.gateway.apiUrl, id, envelope);

const envelopePath = (id: string): string => `/v1/peering/transfers/${id}/envelope`;

type RecordView = { status: string; updatedAt: string; history: { event: string; detail?: Record<string, unknown> }[] };

/** The transfer as its recipient at the Hong Kong side sees it. */
async function recordAtHongKong(id: string): Promise<{ status: number; record: RecordView }> {
  const answer = await call(hk.gateway.apiUrl, hkLab, `/v1/transfers/${id}`);
  return { status: answer.status, record: answer.body as unknown as RecordView };
}

const eventsOf = (record: RecordView, event: string) => record.history.filter((entry) => entry.event === event);

/** Nothing of the transfer is held: no record at all. */
async function expectNoRecord(id: string): Promise<void> {
  const { status } = await recordAtHongKong(id);
  expect(status).toBe(404);
  expect((await download(hk.gateway.apiUrl, hkLab, id)).status).not.toBe(200);
}

/** Recorded as accepted, nothing of its envelope held: `authorized`, and no content to download. */
async function expectAuthorizedOnly(id: string): Promise<RecordView> {
  const { status, record } = await recordAtHongKong(id);
  expect(status).toBe(200);
  expect(record.status).toBe('authorized');
  expect((await download(hk.gateway.apiUrl, hkLab, id)).status).not.toBe(200);
  return record;
}

describe('offers of forwarded transfers', () => {
  it('are refused to a caller that is not a peer gateway (an institution): 403, nothing recorded', async () => {
    const transfer = await shenzhenTransfer();
    const answer = await offer(await signForwardRecord(transfer.forward, shenzhenSigner), hkLab);
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ code: 'ERR_IDENTITY_ROLE_FORBIDDEN' });
    await expectNoRecord(transfer.id);
  });

  it('are refused when the forward record is signed by another key, has another typ, names another origin, or misstates the manifest digest: 400, nothing recorded', async () => {
    const transfer = await shenzhenTransfer();
    const notTheShenzhenSide = [
      // The Hong Kong side's own key: known to this gateway, but not the peer's.
      await signForwardRecord(transfer.forward, hongKongSigner),
      // The Shenzhen key over something it signs for another purpose (a directory's typ).
      await shenzhenSigner.sign(transfer.forward, { typ: 'hetao-directory+jws' }),
      // Signed by the Shenzhen key, but as another log's record.
      await signForwardRecord({ ...transfer.forward, origin: HK_ORIGIN }, shenzhenSigner),
      // Signed by the Shenzhen key, but its manifest does not hash to the digest it states.
      await signForwardRecord({ ...transfer.forward, manifestSha256: sha256('another manifest') }, shenzhenSigner),
    ];
    for (const forward of notTheShenzhenSide) {
      const answer = await offer(forward);
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(answer.body).toMatchObject({ code: 'ERR_PEER_FORWARD_INVALID' });
    }
    await expectNoRecord(transfer.id);
  });

  it('is accepted once: 201 authorized, the same offer again answers 200 with the same decision, one record', async () => {
    const transfer = await shenzhenTransfer();
    const forward = await signForwardRecord(transfer.forward, shenzhenSigner);
    const first = await offer(forward);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ transferId: transfer.id, status: 'authorized', decisionId: expect.any(String), policyRevision: expect.any(String) });
    // This side decided by its own rules: its own decision, not the Shenzhen one.
    expect(first.body.decisionId).not.toBe(transfer.forward.decision.decisionId);
    const again = await offer(forward);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const record = await expectAuthorizedOnly(transfer.id);
    expect(eventsOf(record, 'authorized')).toHaveLength(1);
  });
});

describe('envelopes of forwarded transfers', () => {
  it('announced at another size than the forward record states are refused before their first byte (422), the record still authorized', async () => {
    const transfer = await shenzhenTransfer();
    await offered(transfer);
    for (const announced of [transfer.envelope.length - 1, transfer.envelope.length + 1]) {
      const connection = await openRawTls(hk.gateway.apiUrl, shenzhenGateway);
      try {
        // Only the head is sent: the answer comes with no body byte written at all.
        await connection.write(requestHead('PUT', envelopePath(transfer.id), { 'content-type': ENVELOPE_MEDIA_TYPE, 'content-length': announced }));
        const answer = await connection.response();
        expect(answer.status).toBe(422);
        expect(JSON.parse(answer.body)).toMatchObject({ code: 'ERR_TRANSFER_SIZE_MISMATCH' });
      } finally {
        connection.destroy();
      }
    }
    // Without any length (chunked): the size is not the one announced either.
    const dispatcher = mtlsAgent(shenzhenGateway);
    try {
      const chunked = await request(`${hk.gateway.apiUrl}${envelopePath(transfer.id)}`, { dispatcher, method: 'PUT', headers: { 'content-type': ENVELOPE_MEDIA_TYPE }, body: Readable.from([transfer.envelope]) });
      expect(chunked.statusCode).toBe(422);
      expect(await chunked.body.json()).toMatchObject({ code: 'ERR_TRANSFER_SIZE_MISMATCH' });
    } finally {
      await dispatcher.close();
    }
    const record = await expectAuthorizedOnly(transfer.id);
    expect(eventsOf(record, 'upload-started')).toHaveLength(0);
  });

  it('whose header is signed by another key or binds another transfer are refused (400): the record back to authorized, nothing downloadable', async () => {
    const signedByHongKong = await shenzhenTransfer({ headerSigner: hongKongSigner });
    const boundElsewhere = await shenzhenTransfer({ bindTo: newTransferId(new Date()) });
    for (const transfer of [signedByHongKong, boundElsewhere]) {
      await offered(transfer);
      const answer = await putEnvelope(transfer.id, transfer.envelope);
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(answer.body).toMatchObject({ code: 'ERR_PEER_FORWARD_INVALID' });
      const record = await expectAuthorizedOnly(transfer.id);
      expect(eventsOf(record, 'upload-failed')).toEqual([expect.objectContaining({ detail: { code: 'ERR_PEER_FORWARD_INVALID' } })]);
    }
  });

  it('whose header is signed by a key this gateway does not know at all is refused (400 ERR_PEER_FORWARD_INVALID): the record back to authorized, nothing downloadable', async () => {
    const strangerKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const transfer = await shenzhenTransfer({ headerSigner: createGatewaySigner(strangerKey) });
    await offered(transfer);
    const answer = await putEnvelope(transfer.id, transfer.envelope);
    // Not verifiable with any key of this gateway's JWKS: to the peer, a forward that does not verify.
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ code: 'ERR_PEER_FORWARD_INVALID' });
    const record = await expectAuthorizedOnly(transfer.id);
    expect(eventsOf(record, 'upload-failed')).toEqual([expect.objectContaining({ detail: { code: 'ERR_PEER_FORWARD_INVALID' } })]);
  });

  it('cut short is not kept; then whole it is stored once, downloadable and decryptable by the recipient; sent again it is answered as held', async () => {
    const transfer = await shenzhenTransfer();
    await offered(transfer);

    // The connection dies mid-body, once the Hong Kong side has begun taking it.
    const connection = await openRawTls(hk.gateway.apiUrl, shenzhenGateway);
    await connection.write(requestHead('PUT', envelopePath(transfer.id), { 'content-type': ENVELOPE_MEDIA_TYPE, 'content-length': transfer.envelope.length }));
    await connection.write(transfer.envelope.subarray(0, Math.floor(transfer.envelope.length / 2)));
    await vi.waitFor(async () => expect((await recordAtHongKong(transfer.id)).record.status).toBe('uploading'), WAIT);
    connection.destroy();
    await vi.waitFor(async () => expect(eventsOf((await recordAtHongKong(transfer.id)).record, 'upload-failed')).toHaveLength(1), WAIT);
    await expectAuthorizedOnly(transfer.id);

    // The whole envelope: stored, named by the digest of exactly the bytes sent.
    const whole = await putEnvelope(transfer.id, transfer.envelope);
    expect(whole.status, JSON.stringify(whole.body)).toBe(200);
    expect(whole.body).toMatchObject({ transferId: transfer.id, status: 'available', envelopeSha256: sha256(transfer.envelope), duplicate: false });
    const fetched = await download(hk.gateway.apiUrl, hkLab, transfer.id);
    expect(fetched.status).toBe(200);
    expect(fetched.bytes.equals(transfer.envelope)).toBe(true);
    // The recipient verifies the Shenzhen gateway's header with this gateway's JWKS (which carries the peer's key).
    expect((await decrypt(fetched.bytes, encryptionKey('hk-uni-genomics'), await jwksOf(hk.gateway.apiUrl, hkLab))).equals(transfer.plaintext)).toBe(true);
    const stored = (await recordAtHongKong(transfer.id)).record;
    expect(stored.status).toBe('available');
    expect(eventsOf(stored, 'envelope-received')).toHaveLength(1);

    // Sent again (a retry after a lost answer): answered as held, the record untouched.
    const repeated = await putEnvelope(transfer.id, transfer.envelope);
    expect(repeated.status).toBe(200);
    expect(repeated.body).toMatchObject({ transferId: transfer.id, status: 'available', envelopeSha256: sha256(transfer.envelope), duplicate: true });
    const after = (await recordAtHongKong(transfer.id)).record;
    expect(after.updatedAt).toBe(stored.updatedAt);
    expect(after.history).toEqual(stored.history);
  });
});

describe('the sending side’s check of a peer’s receipt', () => {
  const hongKongPeer = devRegistry.gateways.get('hetao-hk-gateway') as PeerGateway;
  const plaintextSha256 = sha256('the content the Shenzhen side sent');
  const transferId = newTransferId(new Date());
  // Only what the check reads of the outbound record: its id and its content digest.
  const outbound = { id: transferId, content: { plaintextSha256 } } as TransferRecord;
  const hongKongNotes = createCheckpointNoteSigner({ name: HK_ORIGIN, privateKeyPem: HK_SIGNING_PEM });

  /** Journal entries in canonical form, as the Hong Kong journal writes them; the one at `seq` is a receipt. */
  const journal = (receipt: { subject: string; plaintext: string }, seq = 2, size = 5): string[] =>
    Array.from({ length: size }, (_, at) =>
      toCanonicalJson(
        at === seq
          ? { seq: at, time: '2027-01-01T00:00:02.000Z', type: 'transfer.received', actor: { kind: 'institution', id: 'hk-uni-genomics' }, subject: receipt.subject, hashes: { plaintext: receipt.plaintext } }
          : { seq: at, time: `2027-01-01T00:00:0${at}.000Z`, type: 'transfer.authorized', actor: { kind: 'gateway', id: 'hetao-sz-gateway' }, subject: `tr-other-${at}` },
      ) as string,
    );

  /** The receipt message the Hong Kong relay sends for entry `seq` of `entries`, under a checkpoint signed by `notes`. */
  const receiptOf = (entries: string[], seq = 2, notes = hongKongNotes): ReceiptMessage => {
    const tree = createMerkleTree();
    for (const entry of entries) tree.append(hashLeaf(Buffer.from(entry, 'utf8')));
    const text = formatCheckpointNoteText({ origin: HK_ORIGIN, treeSize: tree.size, rootHash: encodeHash(tree.rootHash()) });
    return {
      receipt: { at: '2027-01-01T00:00:02.000Z', sha256: plaintextSha256 },
      entry: entries[seq] as string,
      leafIndex: seq,
      treeSize: tree.size,
      proof: tree.inclusionProof(seq, tree.size).map(encodeHash),
      checkpoint: `${text}\n${notes.sign(text)}`,
    };
  };

  const genuine = receiptOf(journal({ subject: transferId, plaintext: plaintextSha256 }));

  it('accepts the genuine receipt: the entry under the Hong Kong checkpoint, for this transfer and this content', () => {
    expect(checkPeerReceipt(genuine, outbound, hongKongPeer)).toBeUndefined();
  });

  it('refuses a tampered entry, a proof that does not lead to the root, a checkpoint signed by another key', () => {
    const tampered = { ...genuine, entry: genuine.entry.replace('hk-uni-genomics', 'hk-ctc') };
    expect(tampered.entry).not.toBe(genuine.entry);
    expect(checkPeerReceipt(tampered, outbound, hongKongPeer)).toMatch(/does not lead to the checkpoint root/);

    const otherSibling = [encodeHash(createHash('sha256').update(randomBytes(32)).digest()), ...genuine.proof.slice(1)];
    expect(checkPeerReceipt({ ...genuine, proof: otherSibling }, outbound, hongKongPeer)).toMatch(/does not lead to the checkpoint root/);
    expect(checkPeerReceipt({ ...genuine, leafIndex: 3 }, outbound, hongKongPeer)).toMatch(/does not lead to the checkpoint root/);

    const signedByShenzhen = receiptOf(journal({ subject: transferId, plaintext: plaintextSha256 }), 2, createCheckpointNoteSigner({ name: HK_ORIGIN, privateKeyPem: SZ_SIGNING_PEM }));
    expect(checkPeerReceipt(signedByShenzhen, outbound, hongKongPeer)).toMatch(/not signed by hetao-hk-gateway/);
  });

  it('refuses a genuine, included entry for another transfer, and a receipt of other content than the one sent', () => {
    const otherTransfer = receiptOf(journal({ subject: newTransferId(new Date()), plaintext: plaintextSha256 }));
    expect(checkPeerReceipt(otherTransfer, outbound, hongKongPeer)).toMatch(/not the receipt of this transfer/);

    const otherContentEntry = receiptOf(journal({ subject: transferId, plaintext: sha256('other content') }));
    expect(checkPeerReceipt(otherContentEntry, outbound, hongKongPeer)).toMatch(/other content than the one sent/);

    const otherReceiptDigest = { ...genuine, receipt: { ...genuine.receipt, sha256: sha256('other content') } };
    expect(checkPeerReceipt(otherReceiptDigest, outbound, hongKongPeer)).toMatch(/other content than the one sent/);
  });
});
