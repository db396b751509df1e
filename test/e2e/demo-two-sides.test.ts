// `npm run demo -- --two-sides` end to end: both gateway processes started by the demo itself (from
// the run's compiled gateway), every step run; each step checks its own outcome through the two
// gateways' APIs (a status that did not come, a proof or a cosignature that does not verify, fails it).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { runTwoSidesDemo } from '../../scripts/demo/two-sides/two-sides-demo.js';
import { nodeArgsFor } from '../support/run-cli.js';

it('the two-sides demo walks the loop across the channel: forwarded, received with the peer proof, refused by the peer, both logs cosigned', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-demo-two-sides-'));
  const lines: string[] = [];
  try {
    const reports = await runTwoSidesDemo(dir, (line) => lines.push(line), () => undefined, nodeArgsFor('app/main'));
    expect(reports.map((report) => report.outcome), lines.join('\n')).toEqual(reports.map(() => expect.objectContaining({ ok: true })));
    expect(reports).toHaveLength(4);
    const said = lines.join('\n');
    expect(said).toMatch(/Shenzhen side: received, proven by entry \d+ of the Hong Kong log at tree size \d+/);
    expect(said).toMatch(/rule default deny: no policy rule allows this transfer/);
    expect(said).toMatch(/cosigned by hetao-hk-gateway\.local\/witness at tree size \d+, consistent with this export, cosignature verified/);
    expect(said).toMatch(/cosigned by hetao-gateway\.local\/witness at tree size \d+, consistent with this export, cosignature verified/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);
