// Step 5: a regulator pulls a signed audit export and the gateway's JWKS, then verifies the export
// offline with `hetao audit verify`'s own code, and looks for what the demo did in it.
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatBytes } from '../../../gateway/client/progress-display.js';
import { verifyAuditExportFile } from '../../../gateway/cli/audit-command.js';
import { downloadAuditExport, readExportedEvents, type ExportedEvent } from '../audit-export.js';
import type { DemoContext, DemoResults } from '../demo-context.js';
import { devTlsMaterial } from '../dev-identities.js';
import { expected, unexpected, type DemoStep } from '../step-runner.js';

const REGULATOR = 'people/regulator-wang';
/** The export starts this long before the demo did, in case the gateway's clock runs a little behind. */
const CLOCK_SLACK_MS = 60_000;

interface ExpectedEvent {
  readonly what: string;
  readonly matches: (event: ExportedEvent) => boolean;
}

/** The journal entries the earlier steps must have left, as far as those steps got. */
function eventsOfThisDemo(results: DemoResults): ExpectedEvent[] {
  const wanted: ExpectedEvent[] = [];
  const { genomics, deniedDecisionId, quarantinedId, receivedId } = results;
  if (genomics) wanted.push({ what: `authorisation of ${genomics.id}`, matches: (e) => e.type === 'transfer.authorized' && e.subject === genomics.id });
  if (deniedDecisionId) wanted.push({ what: `denial ${deniedDecisionId}`, matches: (e) => e.type === 'policy.denied' && e.details?.decisionId === deniedDecisionId });
  if (quarantinedId) wanted.push({ what: `quarantine of ${quarantinedId}`, matches: (e) => e.type === 'transfer.quarantined' && e.subject === quarantinedId });
  if (receivedId) wanted.push({ what: `receipt of ${receivedId}`, matches: (e) => e.type === 'transfer.received' && e.subject === receivedId });
  return wanted;
}

export const regulatorVerifiesAudit: DemoStep<DemoContext> = {
  title: 'A regulator pulls the audit export and verifies it offline',
  async run(context, say) {
    say(`The regulator Wang Fang (${REGULATOR}) pulls a signed export of the audit journal since the demo began`);
    say('and the gateway\'s public keys (JWKS), then verifies the export offline: every leaf hash, inclusion proof,');
    say('checkpoint signature and the signed manifest, with nothing but the two files.');
    const exportFile = path.join(context.workDir, 'audit-export.ndjson');
    const jwksFile = path.join(context.workDir, 'gateway-jwks.json');
    const regulator = await context.client(REGULATOR);
    await writeFile(jwksFile, `${JSON.stringify(await regulator.jwks(), null, 2)}\n`);
    await downloadAuditExport(context.gatewayUrl, await devTlsMaterial(REGULATOR), new Date(context.startedAt.getTime() - CLOCK_SLACK_MS), exportFile);
    say(`Wrote ${path.basename(exportFile)} (${formatBytes((await stat(exportFile)).size)}) and ${path.basename(jwksFile)} to ${context.workDir}.`);

    // Throws ERR_AUDIT_EXPORT_INVALID naming the first bad line when anything fails to verify.
    await verifyAuditExportFile({ exportFile, jwksFile, out: (line) => say(`hetao audit verify: ${line}`) });

    const events = await readExportedEvents(exportFile);
    const wanted = eventsOfThisDemo(context.results);
    const missing = wanted.filter((event) => !events.some(event.matches)).map((event) => event.what);
    say(`The export holds ${events.length} entries; of this demo's events it has ${wanted.length - missing.length} of ${wanted.length}.`);
    if (missing.length > 0) return unexpected(`the export verified, but lacks ${missing.join(', ')}`);
    return expected(`audit export verified: ${events.length} entries, with this demo's ${wanted.length} events`);
  },
};
