// The witness state contract on each implementation: the file state (a fresh temporary folder,
// reopened from that folder) and the PostgreSQL one (a fresh database for the run, emptied per test,
// reopened on a new pool). Then what only each has: the file state's durable writes leave no
// temporary file behind and a crash's leftovers are swept at open; in shared mode two instances (two
// pools) race on one origin and exactly one wins, every round; a database that does not answer.
import { readdir, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../gateway/database/database.js';
import { openFileWitnessState } from '../../gateway/witness/file-witness-state.js';
import { openPgWitnessState } from '../../gateway/witness/pg-witness-state.js';
import { contractPools, createTestDatabase, type TestDatabase } from '../support/database.js';
import { describeWitnessStateContract, ORIGIN, witnessed } from './witness-state.contract.js';

describeWitnessStateContract('file witness state', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'hetao-witness-contract-'));
  return {
    state: await openFileWitnessState({ dir }),
    async reopen(state) {
      await state.close();
      return openFileWitnessState({ dir });
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

/** One database for the whole contract run, emptied before each test (as the record store's contract does). */
let contractDatabase: Promise<TestDatabase> | undefined;
afterAll(async () => {
  await (await contractDatabase)?.drop();
});

describeWitnessStateContract('PostgreSQL witness state', async () => {
  contractDatabase ??= createTestDatabase();
  const database = await contractDatabase;
  const { pool, closeAll } = contractPools(database.url);
  await pool().query('TRUNCATE witness_checkpoints');
  return {
    state: openPgWitnessState(pool()),
    async reopen(state) {
      await state.close();
      return openPgWitnessState(pool());
    },
    cleanup: closeAll,
  };
});

describe('file witness state on disk', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hetao-witness-files-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("holds one file per origin and no temporary file once a store is done; sweeps a crash's leftovers at open", async () => {
    const state = await openFileWitnessState({ dir });
    await Promise.all([state.compareAndStore(ORIGIN, 0, witnessed(2)), state.compareAndStore('gateway.hk.hetao.example/audit', 0, witnessed(2, 0, 'gateway.hk.hetao.example/audit'))]);
    await state.compareAndStore(ORIGIN, 2, witnessed(5));
    expect((await readdir(dir)).filter((name) => !name.endsWith('.json'))).toEqual([]);
    expect(await readdir(dir)).toHaveLength(2);
    await state.close();
    const [file] = (await readdir(dir)).sort();
    await writeFile(path.join(dir, `${file}.0f0e-crash.tmp`), '{"origin":');
    const reopened = await openFileWitnessState({ dir });
    expect(await readdir(dir)).toHaveLength(2);
    expect(await reopened.get(ORIGIN)).toEqual(witnessed(5));
    await reopened.close();
    await expect(reopened.get(ORIGIN)).rejects.toMatchObject({ code: 'ERR_SERVICE_UNAVAILABLE' });
  });
});

describe('PostgreSQL witness state in shared mode', () => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await createTestDatabase();
  });
  afterEach(async () => {
    await database.drop();
  });

  it('two instances (two pools) racing from one size: exactly one wins, every round, and both see the winner', async () => {
    const a = openPgWitnessState(database.open({ poolSize: 4 }));
    const b = openPgWitnessState(database.open({ poolSize: 4 }));
    let held = 0;
    for (let round = 1; round <= 25; round += 1) {
      const bySizeA = held + 2 * round;
      const bySizeB = held + 2 * round + 1;
      const outcomes = await Promise.all([a.compareAndStore(ORIGIN, held, witnessed(bySizeA)), b.compareAndStore(ORIGIN, held, witnessed(bySizeB))]);
      const won = outcomes.filter((outcome) => outcome.stored);
      expect(won).toHaveLength(1);
      const winner = outcomes[0]?.stored ? bySizeA : bySizeB;
      expect(outcomes.find((outcome) => !outcome.stored)).toEqual({ stored: false, currentSize: winner });
      expect(await a.get(ORIGIN)).toEqual(witnessed(winner));
      expect(await b.get(ORIGIN)).toEqual(witnessed(winner));
      held = winner;
    }
  });

  it('a database that does not answer: get and compare-and-store are ERR_DATABASE_UNAVAILABLE', async () => {
    const down = openDatabase({ url: 'postgres://postgres@127.0.0.1:1/hetao', connectTimeoutMs: 2_000, retryAfterSeconds: 7 });
    try {
      const state = openPgWitnessState(down);
      const unavailable = { code: 'ERR_DATABASE_UNAVAILABLE', status: 503, details: { retryAfterSeconds: 7 } };
      await expect(state.get(ORIGIN)).rejects.toMatchObject(unavailable);
      await expect(state.compareAndStore(ORIGIN, 0, witnessed(1))).rejects.toMatchObject(unavailable);
      await expect(state.compareAndStore(ORIGIN, 1, witnessed(2))).rejects.toMatchObject(unavailable);
    } finally {
      await down.close();
    }
  });
});
