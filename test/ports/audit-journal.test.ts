// The audit journal contract on the file journal (journal.ndjson and checkpoints.ndjson in a fresh
// temporary folder, signed with the development key), reopened from that folder, and on the
// PostgreSQL journal of shared mode.
import { rm } from 'node:fs/promises';
import type { AuditJournal } from '../../gateway/audit/create-audit-journal.js';
import { openPgAuditJournal } from '../../gateway/audit/pg-audit-journal.js';
import { createTestDatabase } from '../support/database.js';
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

// The same contract on the shared journal: a fresh migrated database per test, reopened as after a
// restart (a new pool, a new journal on the same tables).
describeAuditJournalContract('PostgreSQL journal', async ({ clock }) => {
  const database = await createTestDatabase();
  const open = (): Promise<AuditJournal> => openPgAuditJournal({ database: database.open({ poolSize: 4 }), signer: devSigner(), clock, checkpointIntervalMs: 0 });
  return {
    journal: await open(),
    jwks: devSigner().publicJwks(),
    async reopen(journal) {
      await journal.close();
      return open();
    },
    cleanup: () => database.drop(),
  };
});
