// The audit journal contract on the file journal (journal.ndjson and checkpoints.ndjson in a fresh
// temporary folder, signed with the development key), reopened from that folder.
import { rm } from 'node:fs/promises';
import { devSigner, openJournal, tempDir } from '../audit/support.js';
import { describeAuditJournalContract } from './audit-journal.contract.js';

describeAuditJournalContract('file journal', async ({ clock }) => {
  const dir = await tempDir('hetao-journal-contract-');
  return {
    journal: await openJournal(dir, { clock }),
    jwks: devSigner().publicJwks(),
    async reopen(journal) {
      await journal.close();
      return openJournal(dir, { clock });
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
