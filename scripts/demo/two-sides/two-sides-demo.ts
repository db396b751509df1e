// `npm run demo -- --two-sides`: the channel as it is meant to run — a gateway on each side, each
// under its own registry, policies and keys — in four steps, as the parties would see them: a
// transfer allowed by both sides and its receipt coming back with the Hong Kong journal's proof; one
// the Shenzhen side allows and the Hong Kong side refuses by its own rules; and each regulator
// verifying its side's log as cosigned by the other side's witness.
import { readFile, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import path from 'node:path';
import { PROJECT_ROOT } from '../../../gateway/config.js';
import { verifyAuditExportFile } from '../../../gateway/cli/audit-command.js';
import type { GatewayClient } from '../../../gateway/client/gateway-client.js';
import { receiveTransfer } from '../../../gateway/client/receive-transfer.js';
import { freePort, HK_HOST, SZ_HOST, writeChannelSides } from '../../two-sides/channel-sides.js';
import { downloadAuditExport } from '../audit-export.js';
import { describeReasons, shortHash } from '../describe.js';
import { createClientPool, devTlsMaterial, encryptionKeyFile, type DevPrincipal } from '../dev-identities.js';
import { startGatewayProcess, type GatewayProcess } from '../gateway-process.js';
import { anonymisedCsvManifest, GBA_CONTRACT_FILING_ID } from '../manifests.js';
import { expected, runSteps, unexpected, type DemoStep, type Say, type StepReport } from '../step-runner.js';

interface Side {
  readonly name: string;
  readonly gateway: GatewayProcess;
  client(principal: DevPrincipal): Promise<GatewayClient>;
}

interface TwoSidesContext {
  readonly sz: Side;
  readonly hk: Side;
  readonly workDir: string;
  readonly startedAt: Date;
  forwardedId?: string;
}

const POLL = { intervalMs: 200, timeoutMs: 60_000 };
const WITNESS_WAIT_MS = 60_000;


function csvRows(rows: number): Buffer {
  const lines = ['site,age_band,score'];
  for (let i = 0; i < rows; i += 1) lines.push(`site-${i % 11},${20 + (i % 50)},${(i * 7919) % 1000}`);
  return Buffer.from(`${lines.join('\n')}\n`);
}

const sha256 = async (bytes: Buffer): Promise<string> => (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex');

type Readiness = { checks: { peers: { directories: Record<string, { institutions?: number }> }; witness: { vkey: string; peers: Record<string, { cosignedSize?: number }> } } };
const readinessOf = async (side: Side): Promise<Readiness> => (await (await fetch(`${side.gateway.opsUrl}/readyz`)).json()) as Readiness;

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const sendAcross: DemoStep<TwoSidesContext> = {
  title: 'A Shenzhen hospital sends to a Hong Kong lab: each side decides by its own rules',
  async run(context, say) {
    say('sz-hospital calls its own gateway (Shenzhen side) and names hk-uni-genomics, which the Shenzhen gateway knows');
    say("only from the Hong Kong gateway's signed directory. The Shenzhen side decides by the mainland and zone rules,");
    say('seals the data to the recipient, journals it and forwards the envelope with its signed decision.');
    const hospital = await context.sz.client('institutions/sz-hospital');
    const content = csvRows(5000);
    const manifest = { ...anonymisedCsvManifest(5000), recipient: 'hk-uni-genomics', dataset: { ...(anonymisedCsvManifest(5000).dataset as object), sizeBytes: content.length, sha256: await sha256(content) } };
    const created = await hospital.createTransfer(manifest);
    say(`Shenzhen side: allowed by ${created.decision.matchedRules.join(', ')} (decision ${created.decision.decisionId}).`);
    await hospital.uploadContent(created.id, Readable.from([content]), content.length);
    const sent = await hospital.waitForStatus(created.id, { ...POLL, until: (view) => view.status !== 'uploading' && view.status !== 'queued' && view.status !== 'processing' && view.status !== 'available' });
    if (sent.status !== 'delivered') return unexpected(`transfer ${created.id} is ${sent.status} at the Shenzhen side, not delivered`);
    const lab = await context.hk.client('institutions/hk-uni-genomics');
    const arrived = await lab.getTransfer(created.id);
    say(`Hong Kong side: its own decision ${arrived.decision.decisionId}, allowed by ${arrived.decision.matchedRules.join(', ')} (HK and zone rules);`);
    say(`the envelope verified as the Shenzhen gateway's and stored whole: ${arrived.status}.`);
    if (arrived.status !== 'available') return unexpected(`transfer ${created.id} is ${arrived.status} at the Hong Kong side`);
    context.forwardedId = created.id;
    return expected(`forwarded: ${created.id} is delivered at Shenzhen and available at Hong Kong`);
  },
};

const receiveAcross: DemoStep<TwoSidesContext> = {
  title: "The Hong Kong lab decrypts and confirms; the receipt goes back with the Hong Kong journal's proof",
  async run(context, say) {
    const id = context.forwardedId;
    if (!id) return unexpected('no transfer to receive: step 1 did not forward one');
    const lab = await context.hk.client('institutions/hk-uni-genomics');
    const received = await receiveTransfer(lab, { id, privateKey: await readFile(encryptionKeyFile('hk-uni-genomics'), 'utf8'), outFile: path.join(context.workDir, 'received.csv') });
    say(`hk-uni-genomics decrypted it with its own key (header signed by the Shenzhen gateway, ${received.opened.signingKid.slice(0, 12)}…) and`);
    say(`posted its receipt, SHA-256 ${shortHash(received.sha256)}. The Hong Kong gateway journals it and sends it back with its`);
    say('inclusion proof in a checkpoint it signed; the Shenzhen gateway checks both before it says received.');
    const hospital = await context.sz.client('institutions/sz-hospital');
    const back = await hospital.waitForStatus(id, { ...POLL, until: (view) => view.status === 'received' });
    const proof = (back as unknown as { peer?: { receiptProof?: { leafIndex: number; treeSize: number } } }).peer?.receiptProof;
    if (!proof) return unexpected('received, but without the Hong Kong proof');
    say(`Shenzhen side: received, proven by entry ${proof.leafIndex} of the Hong Kong log at tree size ${proof.treeSize}.`);
    return expected(`received at both sides: ${id}`);
  },
};

const refusedByPeer: DemoStep<TwoSidesContext> = {
  title: "Records the Shenzhen side allows are refused by the Hong Kong side's rules: refused-by-peer",
  async run(context, say) {
    say(`sz-hospital sends identified medical records under its GBA standard-contract filing ${GBA_CONTRACT_FILING_ID}.`);
    say('The mainland rules allow it; the Hong Kong gateway, which enforces only the HK and zone rules, finds no rule of its');
    say('own that allows it, refuses it, and the sender sees why.');
    const hospital = await context.sz.client('institutions/sz-hospital');
    const content = csvRows(800);
    const created = await hospital.createTransfer({
      recipient: 'hk-uni-genomics',
      project: { id: 'proj-hk-sz-cancer-genomics', title: 'Joint cancer genomics' },
      purpose: 'joint-research',
      dataset: { category: 'medical-records', format: 'csv', classification: { level: 'L4' }, deidentification: 'identified', subjects: 800, humanGeneticResources: false, sizeBytes: content.length, sha256: await sha256(content) },
      approvals: [{ type: 'gba-standard-contract-filing', id: GBA_CONTRACT_FILING_ID }],
      consent: { basis: 'separate-consent', reference: 'SZFH-CONSENT-2026-017' },
      retentionDays: 365,
    });
    say(`Shenzhen side: allowed by ${created.decision.matchedRules.join(', ')}.`);
    await hospital.uploadContent(created.id, Readable.from([content]), content.length);
    const refused = await hospital.waitForStatus(created.id, { ...POLL, until: (view) => view.status === 'refused-by-peer' || view.status === 'delivered' || view.status === 'failed' });
    if (refused.status !== 'refused-by-peer') return unexpected(`transfer ${created.id} is ${refused.status}`);
    const refusal = (refused as unknown as { peer: { refusal: { decisionId?: string; reasons: Parameters<typeof describeReasons>[0] } } }).peer.refusal;
    say(`Refused by the Hong Kong gateway (decision ${refusal.decisionId ?? '?'}):`);
    for (const line of describeReasons(refusal.reasons)) say(`  ${line}`);
    return expected(`refused-by-peer: ${created.id}, its content deleted at the Shenzhen side`);
  },
};

const witnessedLogs: DemoStep<TwoSidesContext> = {
  title: "Each side witnesses the other's log: each regulator verifies its export with the other side's cosignature",
  async run(context, say) {
    say("Each gateway sends its checkpoints to the other, which checks them against the last one it cosigned and cosigns");
    say("(C2SP tlog-witness). A regulator verifies its side's export offline with the other side's witness key.");
    const sides: [Side, Side, DevPrincipal][] = [
      [context.sz, context.hk, 'people/regulator-wang'],
      [context.hk, context.sz, 'people/regulator-ho'],
    ];
    for (const [side, peer, regulator] of sides) {
      const peerId = peer === context.hk ? 'hetao-hk-gateway' : 'hetao-sz-gateway';
      await waitFor(async () => ((await readinessOf(side)).checks.witness.peers[peerId]?.cosignedSize ?? 0) > 0, WITNESS_WAIT_MS, `a cosignature of the ${side.name} log`);
      const vkey = (await readinessOf(peer)).checks.witness.vkey;
      const exportFile = path.join(context.workDir, `${side.name}-export.ndjson`);
      const jwksFile = path.join(context.workDir, `${side.name}-jwks.json`);
      await writeFile(jwksFile, JSON.stringify(await (await side.client(regulator)).jwks()));
      await downloadAuditExport(side.gateway.apiUrl, await devTlsMaterial(regulator), new Date(context.startedAt.getTime() - 60_000), exportFile);
      await verifyAuditExportFile({ exportFile, jwksFile, witnesses: [vkey], out: (line) => say(`${regulator.slice(7)} (${side.name}): ${line}`) });
    }
    return expected('both exports verify, each cosigned by the other side');
  },
};

const STEPS = [sendAcross, receiveAcross, refusedByPeer, witnessedLogs];

/**
 * Starts both sides, runs the steps, stops both; the steps' reports.
 * @param nodeArgs how to run a gateway (default: the built dist/gateway/app/main.js)
 */
export async function runTwoSidesDemo(workDir: string, say: Say, onWarning: (line: string) => void, nodeArgs: readonly string[] = [path.join(PROJECT_ROOT, 'dist/gateway/app/main.js')]): Promise<StepReport[]> {
  const startedAt = new Date();
  const [szPort, hkPort] = [await freePort(SZ_HOST), await freePort(HK_HOST)];
  const env = await writeChannelSides(workDir, { hongKongFromShenzhen: `https://${HK_HOST}:${hkPort}`, shenzhenFromHongKong: `https://${SZ_HOST}:${szPort}` });
  const quick = { HETAO_AUDIT_CHECKPOINT_INTERVAL_MS: '500', HETAO_PEER_DIRECTORY_INTERVAL_MS: '500', HETAO_PEER_RETRY_MS: '500' };
  const started: GatewayProcess[] = [];
  const pools: ReturnType<typeof createClientPool>[] = [];
  try {
    const szGateway = await startGatewayProcess({ nodeArgs, dataDir: env.sz.HETAO_DATA_DIR as string, env: { ...env.sz, ...quick, HETAO_PORT: String(szPort) }, onWarning });
    started.push(szGateway);
    const hkGateway = await startGatewayProcess({ nodeArgs, dataDir: env.hk.HETAO_DATA_DIR as string, env: { ...env.hk, ...quick, HETAO_PORT: String(hkPort) }, onWarning });
    started.push(hkGateway);
    const side = (name: string, gateway: GatewayProcess): Side => {
      const pool = createClientPool(gateway.apiUrl);
      pools.push(pool);
      return { name, gateway, client: pool.get };
    };
    const context: TwoSidesContext = { sz: side('Shenzhen', szGateway), hk: side('Hong Kong', hkGateway), workDir, startedAt };
    say(`Shenzhen-side gateway ${szGateway.apiUrl} and Hong Kong-side gateway ${hkGateway.apiUrl}, each with its own registry,`);
    say(`policies (profiles CN,zone and HK,zone), keys and journal; data in ${workDir}.`);
    await waitFor(async () => ((await readinessOf(context.sz)).checks.peers.directories['hetao-hk-gateway']?.institutions ?? 0) > 0, WITNESS_WAIT_MS, "the Hong Kong side's signed directory at Shenzhen");
    return await runSteps(STEPS, context, say);
  } finally {
    for (const pool of pools) await pool.closeAll();
    for (const gateway of started.reverse()) await gateway.stop();
  }
}
