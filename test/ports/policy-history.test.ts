// The policy history contract on each implementation: the folder of files (a fresh temporary folder,
// reopened from it) and the PostgreSQL tables (a fresh database for the run, emptied per test). Then
// what only the folder has: a torn last line of reloads.ndjson (a crash mid-append) is skipped, the
// rest kept, and what is recorded after it reads back.
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openFilePolicyHistory } from '../../gateway/policy-history/file-policy-history.js';
import { createPgPolicyHistory } from '../../gateway/policy-history/pg-policy-history.js';
import { contractPools, createTestDatabase, type TestDatabase } from '../support/database.js';
import { describePolicyHistoryContract, type PolicyHistoryUnderTest } from './policy-history.contract.js';

describePolicyHistoryContract('file policy history', async (): Promise<PolicyHistoryUnderTest> => {
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-policy-history-contract-'));
  return {
    history: await openFilePolicyHistory(dir),
    async reopen(history) {
      await history.close();
      return openFilePolicyHistory(dir);
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

let contractDatabase: Promise<TestDatabase> | undefined;
afterAll(async () => {
  await (await contractDatabase)?.drop();
});

describePolicyHistoryContract('PostgreSQL policy history', async (): Promise<PolicyHistoryUnderTest> => {
  contractDatabase ??= createTestDatabase();
  const database = await contractDatabase;
  const { pool, closeAll } = contractPools(database.url);
  await pool().query('TRUNCATE policy_revisions, policy_reloads RESTART IDENTITY');
  return {
    history: createPgPolicyHistory(pool()),
    async reopen(history) {
      await history.close();
      return createPgPolicyHistory(pool());
    },
    cleanup: closeAll,
  };
});

describe('file policy history (its own files)', () => {
  const applied = (at: string) => ({ at, trigger: 'sighup', outcome: 'applied', before: 'a'.repeat(64), after: 'b'.repeat(64) }) as const;

  it('skips a torn last line of reloads.ndjson from a crash, keeps the rest, and what it records next reads back', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'hetao-policy-history-torn-'));
    try {
      const history = await openFilePolicyHistory(dir);
      await history.recordReload(applied('2026-12-01T08:00:00.000Z'));
      await history.close();
      await appendFile(path.join(dir, 'reloads.ndjson'), '{"at":"2026-12-01T09:00:00.000Z","trig');
      const reopened = await openFilePolicyHistory(dir);
      expect(await reopened.reloads()).toEqual([applied('2026-12-01T08:00:00.000Z')]);
      // Recorded after the crash: not glued onto the torn line.
      await reopened.recordReload(applied('2026-12-01T10:00:00.000Z'));
      expect(await reopened.reloads()).toEqual([applied('2026-12-01T10:00:00.000Z'), applied('2026-12-01T08:00:00.000Z')]);
      await reopened.close();
      const again = await openFilePolicyHistory(dir);
      expect(await again.reloads()).toEqual([applied('2026-12-01T10:00:00.000Z'), applied('2026-12-01T08:00:00.000Z')]);
      await again.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('writes one file per revision and leaves no temporary file; removes those a crash left', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'hetao-policy-history-files-'));
    try {
      const revision = 'c'.repeat(64);
      const history = await openFilePolicyHistory(dir);
      await history.keepRevision({ revision, at: '2026-12-01T08:00:00.000Z', files: [{ name: 'a.policy.yaml', text: '人类遗传资源\n' }] });
      await history.close();
      expect(await readdir(path.join(dir, 'revisions'))).toEqual([`${revision}.json`]);
      expect(JSON.parse(await readFile(path.join(dir, 'revisions', `${revision}.json`), 'utf8'))).toMatchObject({ revision, files: [{ name: 'a.policy.yaml', text: '人类遗传资源\n' }] });
      const leftOver = path.join(dir, 'revisions', `${'d'.repeat(64)}.json.0000.tmp`);
      await writeFile(leftOver, '{"revis');
      const reopened = await openFilePolicyHistory(dir);
      expect(await readdir(path.join(dir, 'revisions'))).toEqual([`${revision}.json`]);
      expect((await reopened.revisions()).map((entry) => entry.revision)).toEqual([revision]);
      await reopened.close();
      await expect(reopened.reloads()).rejects.toMatchObject({ code: 'ERR_SERVICE_UNAVAILABLE' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
