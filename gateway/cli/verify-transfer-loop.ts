// `hetao audit verify … --transfer <id> --peer-export <file> --peer-jwks <file>`: a regulator checks
// one transfer across the channel in both gateways' logs, offline. Both exports are verified whole
// first (every leaf, proof and signature); then the transfer's entries are read from each and joined:
// the receiving side's decision names the sending side's (`senderDecisionId`), and the sending side's
// `transfer.received` names the receiving side's receipt entry by leaf index and leaf hash, which
// must be exactly the entry the receiving side's export holds at that index. A refusal joins the
// same way: the sender's `refused-by-peer` names the peer's decision, which the peer's export holds
// as `policy.denied`.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { toCanonicalJson } from '../audit/canonical-json.js';
import { hashLeaf } from '../audit/merkle-hash.js';
import { GatewayError } from '../errors.js';

interface Entry {
  readonly seq: number;
  readonly type: string;
  readonly subject?: string;
  readonly details?: Record<string, unknown>;
}

/** The export's entries that concern `transferId` (by subject, or by a denied decision named later). */
async function entriesOf(exportFile: string, keep: (entry: Entry) => boolean): Promise<Entry[]> {
  const found: Entry[] = [];
  for await (const line of createInterface({ input: createReadStream(exportFile), crlfDelay: Infinity })) {
    if (!line.startsWith('{"entry":')) continue;
    const { entry } = JSON.parse(line) as { entry: Entry };
    if (keep(entry)) found.push(entry);
  }
  return found;
}

const detailOf = (entry: Entry | undefined): Record<string, unknown> => ((entry?.details?.detail ?? {}) as Record<string, unknown>);
const fail = (reason: string): never => {
  throw new GatewayError('ERR_AUDIT_EXPORT_INVALID', `transfer loop: ${reason}`);
};

/** Checks the loop of `transferId` between two verified exports (either may be the sending side's); prints what joins them. */
export async function verifyTransferLoop(options: { readonly transferId: string; readonly exportFile: string; readonly peerExportFile: string; readonly out: (line: string) => void }): Promise<void> {
  const { transferId, out } = options;
  const [mine, theirs] = await Promise.all([options.exportFile, options.peerExportFile].map((file) => entriesOf(file, (entry) => entry.subject === transferId)));
  const authorizedIn = (entries: readonly Entry[] | undefined): Entry | undefined => entries?.find((entry) => entry.type === 'transfer.authorized');
  if (!authorizedIn(mine)) fail(`the export holds no authorisation of ${transferId}`);
  // The receiving side's authorisation names the sending side's decision.
  const receiverFirst = authorizedIn(mine) && typeof detailOf(authorizedIn(mine)).senderDecisionId === 'string';
  const [senderFile, receiverFile] = receiverFirst ? [options.peerExportFile, options.exportFile] : [options.exportFile, options.peerExportFile];
  const [sender, receiver] = receiverFirst ? [theirs ?? [], mine ?? []] : [mine ?? [], theirs ?? []];
  const sent = authorizedIn(sender) ?? fail(`the sending side's export (${senderFile}) holds no authorisation of ${transferId}`);
  const senderDecision = String(sent.details?.decisionId);
  out(`sending side: ${transferId} authorised by decision ${senderDecision} (entry ${sent.seq})`);

  const refused = sender.find((entry) => entry.type === 'transfer.refused-by-peer');
  if (refused) {
    const peerDecision = String(detailOf(refused).decisionId ?? '');
    const [denied] = await entriesOf(receiverFile, (entry) => entry.type === 'policy.denied' && entry.details?.decisionId === peerDecision);
    if (!denied) fail(`the sending side says the peer refused it by decision ${peerDecision}, which the receiving side's export does not hold`);
    out(`receiving side: refused by decision ${peerDecision} (policy.denied, entry ${denied?.seq}); sending side recorded refused-by-peer (entry ${refused.seq})`);
    return;
  }
  const accepted = authorizedIn(receiver) ?? fail(`the receiving side's export (${receiverFile}) holds no authorisation of ${transferId}`);
  if (detailOf(accepted).senderDecisionId !== senderDecision) fail(`the receiving side's authorisation names sender decision ${String(detailOf(accepted).senderDecisionId)}, not ${senderDecision}`);
  out(`receiving side: its own decision ${String(accepted.details?.decisionId)} (entry ${accepted.seq}), naming the sending side's`);
  const received = sender.find((entry) => entry.type === 'transfer.received');
  if (!received) {
    out('not received yet: the sending side holds no proven receipt');
    return;
  }
  const { peerLeafIndex, peerLeafHash } = detailOf(received);
  const [receipt] = await entriesOf(receiverFile, (entry) => entry.seq === peerLeafIndex);
  if (!receipt || receipt.type !== 'transfer.received' || receipt.subject !== transferId) fail(`the receipt the sending side holds proof of (entry ${String(peerLeafIndex)}) is not this transfer's receipt in the receiving side's export`);
  const leafHash = hashLeaf(Buffer.from(toCanonicalJson(receipt) as string, 'utf8')).toString('base64');
  if (leafHash !== peerLeafHash) fail(`the receiving side's entry ${String(peerLeafIndex)} hashes to ${leafHash}, the sending side holds proof of ${String(peerLeafHash)}`);
  out(`received: the receiving side's receipt (entry ${String(peerLeafIndex)}, leaf ${leafHash}) is the one the sending side's entry ${received.seq} holds proof of`);
}
