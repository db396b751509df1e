// The flow counts contract on each implementation: the file of increments (a fresh temporary folder,
// reopened from it) and the PostgreSQL table (a fresh database for the run, emptied per test). Then
// what only the file has: a torn last line from a crash is skipped, the rest kept.
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openFileFlowCounts } from '../../gateway/flows/file-flow-counts.js';
import { openPgFlowCounts } from '../../gateway/flows/pg-flow-counts.js';
import { contractPools, createTestDatabase, type TestDatabase } from '../support/database.js';
import { describeFlowCountsContract, describeFlowSummaryContract, type FlowCountsUnderTest } from './flow-counts.contract.js';

const openFile = async (): Promise<FlowCountsUnderTest> => {
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-flows-contract-'));
  return {
    flows: await openFileFlowCounts(dir),
    async reopen(flows) {
      await flows.close();
      return openFileFlowCounts(dir);
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
};
describeFlowCountsContract('file flow counts', openFile);
describeFlowSummaryContract('file flow counts', openFile);

let contractDatabase: Promise<TestDatabase> | undefined;
afterAll(async () => {
  await (await contractDatabase)?.drop();
});

const openPg = async (): Promise<FlowCountsUnderTest> => {
  contractDatabase ??= createTestDatabase();
  const database = await contractDatabase;
  const { pool, closeAll } = contractPools(database.url);
  await pool().query('TRUNCATE flow_counts');
  return {
    flows: openPgFlowCounts(pool()),
    async reopen(flows) {
      await flows.close();
      return openPgFlowCounts(pool());
    },
    cleanup: closeAll,
  };
};
describeFlowCountsContract('PostgreSQL flow counts', openPg);
describeFlowSummaryContract('PostgreSQL flow counts', openPg);

it('the file counts skip a torn last line from a crash, keep the rest, and count on after it', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-flows-torn-'));
  try {
    const flows = await openFileFlowCounts(dir);
    await flows.add({ day: '2026-12-01', category: 'genomics', direction: 'CN→HK', outcome: 'allowed', sender: 'a', recipient: 'b' }, 3);
    await flows.close();
    await appendFile(path.join(dir, 'flows.ndjson'), '{"day":"2026-12-01","categ');
    const reopened = await openFileFlowCounts(dir);
    expect(await reopened.query({ from: '2026-12-01', to: '2026-12-01' })).toEqual([expect.objectContaining({ transfers: 1, bytes: 3 })]);
    // What is counted after the crash is not glued onto the torn line.
    await reopened.add({ day: '2026-12-01', category: 'genomics', direction: 'CN→HK', outcome: 'allowed', sender: 'a', recipient: 'b' }, 4);
    await reopened.close();
    const again = await openFileFlowCounts(dir);
    expect(await again.query({ from: '2026-12-01', to: '2026-12-01' })).toEqual([expect.objectContaining({ transfers: 2, bytes: 7 })]);
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
