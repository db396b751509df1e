// The audit journal contract on the file journal (journal.ndjson and checkpoints.ndjson in a fresh
// temporary folder, signed with the development key), reopened from that folder, and on the
// PostgreSQL journal of shared mode.
import { rm } from 'node:fs/promises';
import type { AuditJournal } from '../../gateway/audit/create-audit-journal.js';
import { openPgAuditJournal } from '../../gateway/audit/pg-audit-journal.js';
import { afterAll } from 'vitest';
import { openDatabase, type Database } from '../../gateway/database/database.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
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
/** One database for the run, emptied before each test (a database per test cost more than the tests). */
let contractDatabase: Promise<TestDatabase> | undefined;
afterAll(async () => {
  await (await contractDatabase)?.drop();
});

describeAuditJournalContract('PostgreSQL journal', async ({ clock }) => {
  contractDatabase ??= createTestDatabase();
  const database = await contractDatabase;
  const pools: Database[] = [];
  const pool = (poolSize: number): Database => {
    const opened = openDatabase({ url: database.url, poolSize });
    pools.push(opened);
    return opened;
  };
  await pool(1).query("TRUNCATE audit_entries, audit_checkpoints; UPDATE audit_head SET next_seq = 0, last_time = 'epoch'");
  const open = (): Promise<AuditJournal> => openPgAuditJournal({ database: pool(4), signer: devSigner(), clock, checkpointIntervalMs: 0 });
  return {
    journal: await open(),
    jwks: devSigner().publicJwks(),
    async reopen(journal) {
      await journal.close();
      return open();
    },
    cleanup: async () => {
      await Promise.all(pools.map((opened) => opened.close()));
    },
  };
});
