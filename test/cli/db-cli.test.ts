// `hetao db migrate` / `hetao db status` as an operator runs them, against a real PostgreSQL database.
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { runHetao } from '../support/run-cli.js';

describe('hetao db', () => {
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await database?.drop();
    database = undefined;
  });

  it('status refuses an unmigrated database, migrate applies every step once, then status accepts it', async () => {
    database = await createTestDatabase({ migrate: false });
    const env = { HETAO_DATABASE_URL: database.url };
    const before = await runHetao(['db', 'status'], env);
    expect(before.code).toBe(1);
    expect(before.stderr).toMatch(/ERR_DATABASE_SCHEMA: .*hetao db migrate/);
    const migrated = await runHetao(['db', 'migrate'], env);
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toMatch(/applied 1 transfer-records\napplied 2 audit-journal\napplied 3 transfer-pairs\napplied 4 witness-state\napplied 5 flow-counts\napplied 6 policy-history\ndatabase at schema version 6/);
    const again = await runHetao(['db', 'migrate'], env);
    expect(again.stdout).toMatch(/already at schema version/);
    const after = await runHetao(['db', 'status'], env);
    expect([after.code, after.stdout]).toEqual([0, 'database schema matches this version\n']);
  });

  it('says what is missing without HETAO_DATABASE_URL, and when the database does not answer', async () => {
    const none = await runHetao(['db', 'migrate']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/ERR_CONFIG_INVALID: hetao db needs HETAO_DATABASE_URL/);
    const down = await runHetao(['db', 'status'], { HETAO_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', HETAO_DATABASE_CONNECT_TIMEOUT_MS: '1000' });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/ERR_DATABASE_UNAVAILABLE/);
    const wrong = await runHetao(['db', 'drop']);
    expect(wrong.code).toBe(2);
  });
});
