// `npm run demo`: the gateway's closed loop in five steps, as the parties themselves would see it,
// with the development identities of certs-dev/. Starts its own gateway (dist/, embedded defaults,
// free ports, a fresh data folder) unless --gateway URL or HETAO_GATEWAY_URL names a running one.
// Exit 0 only when every step had the expected outcome.
//
//   npm run demo [-- --gateway https://127.0.0.1:8443] [-- --keep]
//   npm run demo -- --two-sides     a gateway on each side of the channel (two-sides/two-sides-demo.ts)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../gateway/config.js';
import type { DemoContext } from './demo/demo-context.js';
import { createClientPool } from './demo/dev-identities.js';
import { startGatewayProcess, type GatewayProcess } from './demo/gateway-process.js';
import { runSteps, type Say, type StepReport } from './demo/step-runner.js';
import { runTwoSidesDemo } from './demo/two-sides/two-sides-demo.js';
import { denyRecordsOutsideZone } from './demo/steps/deny-records-outside-zone.js';
import { quarantineLeakedIds } from './demo/steps/quarantine-leaked-ids.js';
import { receiveAndConfirm } from './demo/steps/receive-and-confirm.js';
import { regulatorVerifiesAudit } from './demo/steps/regulator-verifies-audit.js';
import { sendHgrGenomics } from './demo/steps/send-hgr-genomics.js';

const STEPS = [sendHgrGenomics, denyRecordsOutsideZone, quarantineLeakedIds, receiveAndConfirm, regulatorVerifiesAudit];

const USAGE = 'usage: npm run demo [-- --gateway URL] [-- --keep] [-- --two-sides]   (or HETAO_GATEWAY_URL=URL npm run demo)';

const say: Say = (line) => process.stdout.write(`${line}\n`);

/** The closing lines; the exit code (0 only when every step had its expected outcome). */
function summarise(reports: readonly StepReport[], startedAt: Date): number {
  const failed = reports.filter((report) => !report.outcome.ok);
  const seconds = ((Date.now() - startedAt.getTime()) / 1000).toFixed(1);
  say('');
  if (failed.length === 0) say(`All ${reports.length} steps had the expected outcome (${seconds} s).`);
  else say(`${failed.length} of ${reports.length} steps did not have the expected outcome (${seconds} s):`);
  for (const { number, outcome } of failed) say(`  step ${number}: ${outcome.summary}`);
  return failed.length === 0 ? 0 : 1;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { gateway: { type: 'string' }, keep: { type: 'boolean', default: false }, 'two-sides': { type: 'boolean', default: false }, help: { type: 'boolean', default: false } } });
  if (values.help) {
    say(USAGE);
    return 0;
  }
  const startedAt = new Date();
  const workDir = await mkdtemp(path.join(tmpdir(), 'hetao-demo-'));
  let gateway: GatewayProcess | undefined;
  let pool: ReturnType<typeof createClientPool> | undefined;
  try {
    if (values['two-sides']) {
      say('Hetao gateway demo, two sides of the channel: a Shenzhen-side and a Hong Kong-side gateway started for it.');
      return summarise(await runTwoSidesDemo(workDir, say, (line) => process.stderr.write(`${line}\n`)), startedAt);
    }
    let gatewayUrl = values.gateway ?? process.env.HETAO_GATEWAY_URL;
    if (gatewayUrl) {
      say(`Hetao gateway demo, on the running gateway ${gatewayUrl} (as the development identities of certs-dev/).`);
    } else {
      gateway = await startGatewayProcess({
        nodeArgs: [path.join(PROJECT_ROOT, 'dist/gateway/app/main.js')],
        dataDir: path.join(workDir, 'gateway-data'),
        onWarning: (line) => process.stderr.write(`${line}\n`),
      });
      gatewayUrl = gateway.apiUrl;
      say(`Hetao gateway demo, on a gateway started for it: ${gatewayUrl} (pid ${gateway.pid}, embedded dev defaults,`);
      say(`data in ${path.join(workDir, 'gateway-data')}).`);
    }
    pool = createClientPool(gatewayUrl);
    const context: DemoContext = { gatewayUrl, workDir, startedAt, client: pool.get, results: {} };
    return summarise(await runSteps(STEPS, context, say), startedAt);
  } finally {
    await pool?.closeAll();
    const code = await gateway?.stop();
    if (gateway && code !== 0) process.stderr.write(`the demo's gateway exited with ${code ?? 'a signal'} on SIGTERM\n`);
    if (values.keep) say(`Kept ${workDir} (--keep).`);
    else await rm(workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`demo stopped: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
