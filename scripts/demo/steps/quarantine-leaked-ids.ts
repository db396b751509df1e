// Step 3: a CSV declared anonymised that carries mainland identity numbers. The policy allows the
// manifest (it says "anonymised"); the inspector reads the content on its way in and quarantines it.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GatewayClientError } from '../../../gateway/client/gateway-client-error.js';
import type { GatewayClient } from '../../../gateway/client/gateway-client.js';
import { formatBytes } from '../../../gateway/client/progress-display.js';
import { sendFile } from '../../../gateway/client/send-file.js';
import { isSettled } from '../../../gateway/client/transfer-view.js';
import type { DemoContext } from '../demo-context.js';
import { anonymisedCsvManifest } from '../manifests.js';
import { csvWithLeakedIds, LEAKED_IDS } from '../sample-data.js';
import { expected, unexpected, type DemoStep } from '../step-runner.js';

const ROWS = 300;

/** The recipient tries to download anyway: the gateway must refuse. Returns how it answered. */
async function recipientDownload(institute: GatewayClient, id: string): Promise<string> {
  try {
    const download = await institute.downloadEnvelope(id);
    download.stream.destroy();
    return 'served';
  } catch (error) {
    if (error instanceof GatewayClientError) return `refused (HTTP ${error.status} ${error.code})`;
    throw error;
  }
}

export const quarantineLeakedIds: DemoStep<DemoContext> = {
  title: 'An "anonymised" CSV that contains identity numbers: quarantined',
  async run(context, say) {
    say(`The Shenzhen hospital sends a research CSV of ${ROWS} rows, declared anonymised, to the Shenzhen Park institute`);
    say(`(hetao-sz-institute). Three free-text notes carry mainland identity numbers (valid check digits, e.g. ${LEAKED_IDS[0]?.slice(0, 6)}…).`);
    const file = path.join(context.workDir, 'cohort-anonymised.csv');
    await writeFile(file, csvWithLeakedIds(ROWS));

    const hospital = await context.client('institutions/sz-hospital');
    const sent = await sendFile(hospital, { file, manifest: anonymisedCsvManifest(ROWS) });
    context.results.quarantinedId = sent.created.id;
    say(`The policy allows the manifest (transfer ${sent.created.id}, rules ${sent.created.decision.matchedRules.join(', ')}): it says "anonymised".`);
    let record = sent.record;
    if (!isSettled(record.status)) record = await hospital.waitForStatus(record.id, { until: (polled) => isSettled(polled.status), intervalMs: 200, timeoutMs: 30_000 });
    say(`The inspector read the ${formatBytes(sent.sizeBytes)} on their way in; the transfer is ${record.status}.`);
    const reasons = record.inspection?.reasons ?? [];
    for (const reason of reasons) say(`  - inspector: ${reason}`);
    if (record.status !== 'quarantined') return unexpected(`the transfer is ${record.status}, not quarantined`);

    const answer = await recipientDownload(await context.client('institutions/hetao-sz-institute'), record.id);
    say(`The content stays encrypted and held for a security officer: the institute's download is ${answer}.`);
    if (answer === 'served') return unexpected(`quarantined, but the recipient could download transfer ${record.id}`);
    if (reasons.length === 0) return unexpected(`quarantined without the inspector's reasons`);
    return expected(`quarantined: transfer ${record.id} is held, the recipient cannot download it`);
  },
};
