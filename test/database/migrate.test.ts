// Versioned migrations on a real PostgreSQL: applied once and in order, idempotent, safe when two
// instances migrate at once, and checked at start: a database not migrated, partly migrated, or
// migrated by a newer version is refused with ERR_DATABASE_SCHEMA.
import { afterEach, describe, expect, it } from 'vitest';
import { checkDatabaseSchema, migrateDatabase } from '../../gateway/database/migrate.js';
import { MIGRATIONS } from '../../gateway/database/migrations.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('database migrations', () => {
  const created: TestDatabase[] = [];
  afterEach(async () => {
    await Promise.all(created.splice(0).map((database) => database.drop()));
  });
  const fresh = async (): Promise<TestDatabase> => {
    const database = await createTestDatabase({ migrate: false });
    created.push(database);
    return database;
  };

  it('refuses an unmigrated database, migrates it, then accepts it; a second migrate applies nothing', async () => {
    const database = (await fresh()).open();
    await expect(checkDatabaseSchema(database)).rejects.toMatchObject({ code: 'ERR_DATABASE_SCHEMA', message: expect.stringMatching(/hetao db migrate/) });
    const first = await migrateDatabase(database);
    expect(first.applied.map((step) => step.version)).toEqual(MIGRATIONS.map((migration) => migration.version));
    await checkDatabaseSchema(database);
    const again = await migrateDatabase(database);
    expect(again.applied).toEqual([]);
    const { rows } = await database.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((row) => row.version)).toEqual(MIGRATIONS.map((migration) => migration.version));
  });

  it('two instances migrating at once apply each migration exactly once', async () => {
    const test = await fresh();
    const [a, b] = [test.open(), test.open()];
    const [first, second] = await Promise.all([migrateDatabase(a), migrateDatabase(b)]);
    expect([...first.applied, ...second.applied].map((step) => step.version).sort()).toEqual(MIGRATIONS.map((migration) => migration.version));
    await checkDatabaseSchema(a);
  });

  it('refuses a partly migrated database and one migrated by a newer version', async () => {
    const database = (await fresh()).open();
    await migrateDatabase(database, MIGRATIONS.slice(0, 1));
    await expect(checkDatabaseSchema(database)).rejects.toMatchObject({ code: 'ERR_DATABASE_SCHEMA', details: { missing: MIGRATIONS.slice(1).map((m) => m.version) } });
    await migrateDatabase(database);
    const newer = { version: MIGRATIONS.length + 1, name: 'from-the-future', sql: 'CREATE TABLE future (x int)' };
    await migrateDatabase(database, [...MIGRATIONS, newer]);
    await expect(checkDatabaseSchema(database)).rejects.toMatchObject({ code: 'ERR_DATABASE_SCHEMA', details: { unknown: [newer.version] } });
    await expect(migrateDatabase(database)).rejects.toMatchObject({ code: 'ERR_DATABASE_SCHEMA' });
  });

  it('a database that does not answer is ERR_DATABASE_UNAVAILABLE with a Retry-After, not a crash', async () => {
    const { openDatabase } = await import('../../gateway/database/database.js');
    const nowhere = openDatabase({ url: 'postgres://postgres@127.0.0.1:1/none', connectTimeoutMs: 2_000, retryAfterSeconds: 7 });
    await expect(nowhere.ping()).rejects.toMatchObject({ code: 'ERR_DATABASE_UNAVAILABLE', status: 503, details: { retryAfterSeconds: 7 } });
    await expect(checkDatabaseSchema(nowhere)).rejects.toMatchObject({ code: 'ERR_DATABASE_UNAVAILABLE' });
    await nowhere.close();
  });
});
