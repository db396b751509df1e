// Step 4: the recipient of step 1 downloads the envelope, decrypts it with its own key (which never
// leaves its process) and confirms receipt with the SHA-256 of what it decrypted.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { formatBytes } from '../../../gateway/client/progress-display.js';
import { receiveTransfer } from '../../../gateway/client/receive-transfer.js';
import type { DemoContext } from '../demo-context.js';
import { shortHash } from '../describe.js';
import { encryptionKeyFile } from '../dev-identities.js';
import { expected, unexpected, type DemoStep } from '../step-runner.js';

const RECIPIENT = 'hk-uni-genomics';

export const receiveAndConfirm: DemoStep<DemoContext> = {
  title: 'The recipient fetches, decrypts locally and confirms: received',
  async run(context, say) {
    const sent = context.results.genomics;
    if (!sent) return unexpected('no transfer to receive: step 1 did not create one');
    say(`The HK genomics lab (${RECIPIENT}) downloads the envelope of transfer ${sent.id},`);
    say("checks the gateway's signature on its header, decrypts it with its own encryption key (which never leaves");
    say('the lab) and posts the SHA-256 of the plaintext as its receipt.');
    const lab = await context.client(`institutions/${RECIPIENT}`);
    const received = await receiveTransfer(lab, {
      id: sent.id,
      privateKey: await readFile(encryptionKeyFile(RECIPIENT), 'utf8'),
      outFile: path.join(context.workDir, 'received-exome-chr17.vcf'),
    });
    const { holder, signingKid } = received.opened;
    say(`Envelope of ${formatBytes(received.envelopeBytes)} verified (header signed by gateway key ${signingKid.slice(0, 12)}…,`);
    say(`every segment authenticated), opened as ${holder.role} ${holder.institution}: ${formatBytes(received.sizeBytes)} of plaintext.`);
    const matches = received.sha256 === sent.sha256;
    say(`SHA-256 sent ${shortHash(sent.sha256)}, decrypted ${shortHash(received.sha256)}: ${matches ? 'they match' : 'THEY DIFFER'}.`);
    const receipt = received.record.receipts.at(-1);
    say(`Receipt ${received.receipt}; the gateway recorded it as ${receipt?.matches ? 'matching' : 'NOT matching'} its record, status ${received.record.status}.`);

    if (!matches) return unexpected(`the decrypted SHA-256 ${shortHash(received.sha256)} differs from the one sent`);
    if (received.record.status !== 'received' || receipt?.matches !== true) return unexpected(`transfer ${sent.id} is ${received.record.status} after the receipt`);
    context.results.receivedId = sent.id;
    return expected(`received: transfer ${sent.id}, SHA-256 ${shortHash(received.sha256)} matches`);
  },
};
