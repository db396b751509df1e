// Step 1: exome data leaves the mainland under the HGR rules: allowed, with the filing checked and
// an escrow copy for the HGR office; the full-inspection obligation sends it down the queued path.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatBytes } from '../../../gateway/client/progress-display.js';
import { sendFile } from '../../../gateway/client/send-file.js';
import { isSettled, type CreatedTransfer, type TransferView } from '../../../gateway/client/transfer-view.js';
import type { DemoContext } from '../demo-context.js';
import { describeObligations, shortHash, shortRevision } from '../describe.js';
import { GBA_CONTRACT_FILING_ID, HGR_FILING_ID, hgrGenomicsManifest } from '../manifests.js';
import { exomeVcf } from '../sample-data.js';
import { expected, unexpected, type DemoStep, type Say, type StepOutcome } from '../step-runner.js';

const PATIENTS = 24;
const HGR_OFFICE = 'nhc-hgr-office';

function sayDecision(created: CreatedTransfer, say: Say): void {
  const { decision } = created;
  say(`Allowed: transfer ${created.id}, decision ${decision.decisionId} (policy revision ${shortRevision(decision.policyRevision)}),`);
  say(`rules ${decision.matchedRules.join(', ')}. The decision's obligations:`);
  const presented = (created.manifest.approvals as { type: string; id: string }[] | undefined) ?? [];
  for (const line of describeObligations(created.obligations, presented)) say(`  - ${line}`);
}

/** What step 1 must show: the HGR obligations in the decision, and the content available to its holders. */
function judge(created: CreatedTransfer, record: TransferView): StepOutcome {
  const escrow = (created.obligations.escrowTo as string[] | undefined) ?? [];
  const approvals = (created.obligations.requireApprovals as string[] | undefined) ?? [];
  if (!approvals.includes('hgr-filing')) return unexpected(`allowed, but without the HGR filing obligation (rules ${created.decision.matchedRules.join(', ')})`);
  if (!escrow.includes(HGR_OFFICE)) return unexpected(`allowed, but without an escrow copy for ${HGR_OFFICE}`);
  if (record.status !== 'available') return unexpected(`allowed, but the transfer ended ${record.status}, not available`);
  if (!record.content?.holders.some((holder) => holder.institution === HGR_OFFICE && holder.role === 'escrow')) {
    return unexpected(`available, but the envelope holds no key for ${HGR_OFFICE}`);
  }
  return expected(`allowed with HGR obligations (filing ${HGR_FILING_ID} presented, escrow copy for ${HGR_OFFICE}): transfer ${record.id} is available`);
}

export const sendHgrGenomics: DemoStep<DemoContext> = {
  title: 'Genomic data leaves the mainland under the HGR rules (Shenzhen → Hong Kong): allowed with obligations',
  async run(context, say) {
    say('The human genetic resources (HGR) rules, with their filing and the escrow copy for the HGR office, cover');
    say('genomic data leaving the mainland; from Hong Kong into Shenzhen the default policies ask for neither');
    say('(rule hk-to-mainland-deidentified-research). So this step runs Shenzhen → Hong Kong: the Shenzhen hospital');
    say(`(sz-hospital) sends an exome VCF of ${PATIENTS} pseudonymised patients to the HK genomics lab (hk-uni-genomics),`);
    say(`presenting its HGR filing ${HGR_FILING_ID} and its GBA contract filing ${GBA_CONTRACT_FILING_ID}.`);
    const file = path.join(context.workDir, 'exome-chr17.vcf');
    await writeFile(file, exomeVcf(PATIENTS, 400));

    const hospital = await context.client('institutions/sz-hospital');
    // The decision is printed as soon as it is made, before the upload starts.
    const sent = await sendFile(hospital, { file, manifest: hgrGenomicsManifest(PATIENTS), onCreated: (created) => sayDecision(created, say) });
    context.results.genomics = { id: sent.created.id, sha256: sent.sha256 };
    say(`Uploaded ${formatBytes(sent.sizeBytes)} (SHA-256 ${shortHash(sent.sha256)}); the gateway answered "${sent.record.status}".`);

    let record = sent.record;
    if (!isSettled(record.status)) {
      say('Full inspection runs in a worker (the queued path); waiting until it has read every byte.');
      const began = Date.now();
      record = await hospital.waitForStatus(record.id, { until: (polled) => isSettled(polled.status), intervalMs: 200, timeoutMs: 30_000 });
      say(`Now ${record.status} after ${((Date.now() - began) / 1000).toFixed(1)} s.`);
    }
    const holders = record.content?.holders.map((holder) => `${holder.institution} (${holder.role})`).join(' and ');
    if (holders) say(`The envelope's data key is wrapped for ${holders} only.`);
    return judge(sent.created, record);
  },
};
