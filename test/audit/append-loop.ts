// Child process of crash.test.ts (not a test): opens the journal in argv[2] and appends as fast as
// it can from 32 concurrent loops, printing "<seq> <leafHash>" for every append acknowledged, until
// it is killed. Writes to a pipe are synchronous on Linux: a printed seq was acknowledged first.
import { readFileSync } from 'node:fs';
import { createAuditJournal } from '../../gateway/audit/create-audit-journal.js';
import { createGatewaySigner } from '../../gateway/envelope/gateway-signer.js';

const [dir, keyFile] = process.argv.slice(2);
if (!dir || !keyFile) throw new Error('usage: append-loop.ts <journal dir> <signing key PEM>');
const journal = await createAuditJournal({ dir, signer: createGatewaySigner(readFileSync(keyFile, 'utf8')), checkpointIntervalMs: 15 });
if (journal.status().state !== 'ok') throw new Error(`journal not ok: ${JSON.stringify(journal.status())}`);
process.stdout.write(`ready ${journal.status().size}\n`);

let next = 0;
// Entries of a few KiB make each batch's write large, so a kill is likely to land inside one.
const padding = 'x'.repeat(3000);
await Promise.all(
  Array.from({ length: 32 }, async () => {
    for (;;) {
      const n = next++;
      const { seq, leafHash } = await journal.append({
        type: 'transfer.state-changed',
        actor: { kind: 'gateway', id: 'crash-test' },
        subject: `tr-${n % 50}`,
        details: { n, padding },
      });
      process.stdout.write(`${seq} ${leafHash}\n`);
    }
  }),
);
